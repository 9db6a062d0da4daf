"""Cut lists: runs of source video frames fetched in order and written to H.264/AAC mp4.

Shared by the sound-led renders (remix, resynth). Plain functions: no Celery, no catalog.
"""
