# One image for the scheduler, the workers and Flower. PyAV's wheels carry FFmpeg, so no
# system ffmpeg is needed; libsndfile comes with the soundfile wheel.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SAMPLEMILL_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY worker ./worker
COPY scheduler ./scheduler
COPY db ./db
RUN pip install ".[flower]"

RUN useradd --create-home --uid 1000 samplemill && mkdir -p /data && chown samplemill /data
USER samplemill
VOLUME ["/data"]
ENTRYPOINT ["samplemill"]
CMD ["--help"]
