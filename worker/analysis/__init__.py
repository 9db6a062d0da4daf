"""Audio analysis: decoding, onset segmentation, sample features. Plain functions, no Celery, no DB."""
