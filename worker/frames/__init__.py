"""The picture side of samplemill: per-frame fingerprints, loops, duplicates and frame maps.

Pure code: nothing here knows about Celery, the catalog or the scheduler. `fingerprint`
reads a video once; `store` keeps the per-file arrays; `loops` and `duplicates` search them;
`framemap` embeds frames in 2-D; `loop_plot` draws a file's loops along its timeline.
"""
