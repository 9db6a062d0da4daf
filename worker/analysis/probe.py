"""Probe a media file: container/stream facts and its real duration, without decoding."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av

from core.errors import MediaError
from worker.analysis.decode import ffmpeg_reason

_TAIL_S = 20.0  # when measuring, demux only this much before the claimed end (if it is there)


@dataclass(frozen=True)
class ProbeResult:
    """What a media file holds; None where the container does not say."""

    duration: float | None
    has_audio: bool
    has_video: bool
    container: str
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    video_codec: str | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None

    def to_dict(self) -> dict:
        """Return the fields as a plain dict (JSON/DB friendly)."""
        return asdict(self)


def _claimed_duration(container) -> float | None:
    """Return the duration the container metadata claims, in seconds, or None."""
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    best = None
    for s in container.streams:
        if s.duration and s.time_base:
            d = float(s.duration * s.time_base)
            best = d if best is None else max(best, d)
    return best


def _start(container) -> float:
    """Return the container's start time in seconds (0 when unknown)."""
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def _last_end(container, streams, path) -> tuple[float | None, int]:
    """Demux packets (no decoding) to the end; return the latest packet end (s) and count."""
    end = None
    count = 0
    try:
        for pkt in container.demux(*streams):
            if pkt.pts is None or pkt.time_base is None:
                continue
            count += 1
            t = float((pkt.pts + (pkt.duration or 0)) * pkt.time_base)
            end = t if end is None else max(end, t)
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: demuxing failed: {ffmpeg_reason(exc)}") from exc
    return end, count


def _measure(path: str, claimed: float | None) -> float | None:
    """Measure the real duration as the last packet end of the audio/video streams."""
    with av.open(path, "r") as container:
        streams = [s for s in container.streams if s.type in ("audio", "video")]
        if not streams:
            return None
        t0 = _start(container)
        if claimed is not None and claimed > 2 * _TAIL_S:
            target = t0 + claimed - _TAIL_S
            try:
                container.seek(int(target * av.time_base), backward=True)
                end, count = _last_end(container, streams, path)
                if count and end is not None and end >= target:
                    return max(0.0, end - t0)
            except av.FFmpegError:
                pass  # unseekable: fall back to demuxing everything
    with av.open(path, "r") as container:
        streams = [s for s in container.streams if s.type in ("audio", "video")]
        end, _ = _last_end(container, streams, path)
        return None if end is None else max(0.0, end - _start(container))


def probe_media(path: str | Path, *, fast: bool = False) -> ProbeResult:
    """Return a file's streams and duration; fast=True trusts the container's claimed duration.

    The default measures the real duration by demuxing packets (no decoding), so truncated
    files report what is actually there. Corrupt, truncated-beyond-use or unsupported files
    raise MediaError with the decoder's message; a file without audio is not an error.
    """
    spath = str(path)
    try:
        container = av.open(spath, "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"cannot open {path}: {ffmpeg_reason(exc)}") from exc
    with container:
        audio = container.streams.audio[0] if container.streams.audio else None
        video = container.streams.video[0] if container.streams.video else None
        if audio is None and video is None:
            raise MediaError(f"{path}: no audio or video stream")
        claimed = _claimed_duration(container)
        fields: dict = {
            "has_audio": audio is not None,
            "has_video": video is not None,
            "container": container.format.name,
        }
        if audio is not None:
            ctx = audio.codec_context
            fields.update(audio_codec=ctx.name, sample_rate=ctx.sample_rate or None,
                          channels=ctx.channels or None)
        if video is not None:
            ctx = video.codec_context
            rate = video.average_rate or video.guessed_rate
            fields.update(video_codec=ctx.name, fps=float(rate) if rate else None,
                          width=ctx.width or None, height=ctx.height or None)
    duration = claimed if fast else _measure(spath, claimed)
    return ProbeResult(duration=duration, **fields)
