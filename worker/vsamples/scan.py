"""One sequential pass over a film's picture: a small thumbnail and a timestamp per frame.

Decoding is threaded (PyAV thread_type AUTO) and every frame is scaled down by swscale straight
from the decoder's planes, so the pass costs about one decode of the film. Frames are sampled
at no more than `max_fps` (a cut is still placed within one analysis frame). Long stretches no
sample needs can be skipped with a forward seek; the pass still runs once, in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from core.errors import MediaError

THUMB = (48, 27)  # analysis size (w, h): colour layout survives, noise and detail do not


@dataclass(frozen=True)
class FrameFeatures:
    """Per analysed frame: its time (ms) and an (h, w, 3) float32 RGB thumbnail (0-255)."""

    t_ms: np.ndarray
    thumbs: np.ndarray
    duration_ms: float

    @property
    def fps(self) -> float:
        """The analysis rate actually seen."""
        if self.t_ms.size < 2:
            return 0.0
        return 1000.0 / float(np.median(np.diff(self.t_ms)))


def scan_frames(path: str | Path, *, max_fps: float = 15.0,
                ranges_ms: list[tuple[float, float]] | None = None,
                skip_gap_ms: float = 20_000.0) -> FrameFeatures:
    """Thumbnails of the video stream's frames, at most max_fps, in one pass.

    With `ranges_ms`, only frames inside those (sorted, merged) spans are kept, and a gap
    longer than skip_gap_ms between them is crossed with one forward seek.
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot open: {exc}") from exc
    times: list[float] = []
    thumbs: list[np.ndarray] = []
    try:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base)
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        duration = (float(stream.duration * stream.time_base) if stream.duration
                    else (container.duration or 0) / 1e6) * 1000.0
        spans = _merge(ranges_ms) if ranges_ms else [(0.0, float("inf"))]
        si = 0
        next_t = -1.0
        step = 1000.0 / max_fps
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = (frame.pts * tb - start) * 1000.0
            while si < len(spans) and t >= spans[si][1]:
                si += 1
                if si < len(spans) and spans[si][0] - t > skip_gap_ms:
                    container.seek(int((spans[si][0] / 1000.0 + start - 1.0) / tb),
                                   stream=stream, backward=True)
                    break
            if si >= len(spans):
                break
            if t < spans[si][0] or t < next_t - 1e-6:
                continue
            next_t = t + step
            img = frame.reformat(width=THUMB[0], height=THUMB[1], format="rgb24",
                                 interpolation="AREA").to_ndarray()
            times.append(t)
            thumbs.append(img.astype(np.float32))
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: decoding failed: {exc}") from exc
    finally:
        container.close()
    if not thumbs:
        return FrameFeatures(np.zeros(0), np.zeros((0, THUMB[1], THUMB[0], 3), np.float32),
                             duration)
    return FrameFeatures(np.array(times), np.stack(thumbs), duration)


def _merge(ranges: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sort and merge overlapping (start, end) spans."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
