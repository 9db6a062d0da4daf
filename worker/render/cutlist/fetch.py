"""Fetch source frames by index: one seek per run of frames, then sequential decoding.

A frame's index is its presentation time times the stream's frame rate (constant frame rate
assumed); asking for index i gives the last frame shown at or before i / fps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.errors import MediaError

SEEK_BACK_S = 2.0  # when a seek lands after the wanted frame, retry this much earlier


@dataclass(frozen=True)
class VideoInfo:
    """A file's video stream: frame rate, size, frame count and start time."""

    fps: Fraction
    width: int
    height: int
    frames: int
    t0: float


def probe_video(path: str | Path) -> VideoInfo:
    """Frame rate, size, frame count and start time of a file's first video stream."""
    with open_video(path) as src:
        return src.info


class VideoSource:
    """One open video file from which frames are read in increasing index order."""

    def __init__(self, path: str | Path, *, threads: int = 2) -> None:
        """Open the file and its first video stream, or raise MediaError."""
        self.path = Path(path)
        try:
            self.container = av.open(str(path), "r")
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise MediaError(f"cannot open {path}: {exc}") from exc
        if not self.container.streams.video:
            self.container.close()
            raise MediaError(f"{path}: no video stream")
        vs = self.container.streams.video[0]
        vs.thread_type = "AUTO"
        vs.codec_context.thread_count = threads
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        if not rate:
            self.container.close()
            raise MediaError(f"{path}: video stream has no frame rate")
        t0 = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
        frames = int(vs.frames or 0)
        if frames <= 0:
            dur = (float(vs.duration * vs.time_base) if vs.duration
                   else float(self.container.duration or 0) / av.time_base)
            frames = max(0, round(dur * float(rate)))
        self.stream = vs
        self.info = VideoInfo(Fraction(rate), vs.codec_context.width, vs.codec_context.height,
                              frames, t0)
        self._iter: Iterator[av.VideoFrame] | None = None
        self._current: tuple[int, av.VideoFrame] | None = None  # last frame decoded
        self._next: tuple[int, av.VideoFrame] | None = None  # decoded, not yet passed
        self._ended = False
        self._keyframes: np.ndarray | None = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self.container.close()

    def _index(self, frame: av.VideoFrame) -> int:
        """The frame's index from its timestamp."""
        t = frame.time if frame.time is not None else 0.0
        return round((t - self.info.t0) * self.info.fps)

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Decoded frames from the current position, decoder errors as MediaError."""
        try:
            for packet in self.container.demux(self.stream):
                yield from packet.decode()
        except av.FFmpegError as exc:
            raise MediaError(f"{self.path}: decoding failed: {exc}") from exc

    def _pull(self) -> tuple[int, av.VideoFrame] | None:
        """The next decoded frame with its index, or None at the end."""
        if self._iter is None:
            self._iter = self._decode()
        for frame in self._iter:
            return self._index(frame), frame
        self._ended = True
        return None

    def seek(self, index: int) -> None:
        """Position so that the next frames decoded reach `index` (keyframe at or before)."""
        target = self.info.t0 + max(0, index) / self.info.fps
        back = 0.0
        for _ in range(4):
            ts = max(0.0, target - back)
            try:
                self.container.seek(int(ts / self.stream.time_base), stream=self.stream,
                                    backward=True, any_frame=False)
            except av.FFmpegError as exc:
                raise MediaError(f"{self.path}: seek failed: {exc}") from exc
            self._iter, self._current, self._ended = None, None, False
            self._next = self._pull()
            if self._next is None or self._next[0] <= index or ts <= 0.0:
                return
            back += SEEK_BACK_S

    def frame_at(self, index: int) -> av.VideoFrame:
        """The frame shown at `index`: the last one at or before it (decoding forward)."""
        if self._current is not None and self._current[0] == index:
            return self._current[1]
        if self._next is None and not self._ended and self._current is None:
            self._next = self._pull()
        while self._next is not None and self._next[0] <= index:
            self._current = self._next
            self._next = self._pull()
        if self._current is None:
            if self._next is None:
                raise MediaError(f"{self.path}: no video frame decodes near index {index}")
            return self._next[1]  # the stream starts after `index`: show its first frame
        return self._current[1]

    def keyframes(self) -> np.ndarray:
        """Indices of the keyframes (from the packets, nothing decoded), read once, sorted."""
        if self._keyframes is None:
            keys = []
            try:
                self.container.seek(0, stream=self.stream, backward=True, any_frame=False)
                for packet in self.container.demux(self.stream):
                    if packet.is_keyframe and packet.pts is not None:
                        t = float(packet.pts * packet.time_base)
                        keys.append(round((t - self.info.t0) * self.info.fps))
            except av.FFmpegError as exc:
                raise MediaError(f"{self.path}: reading packets failed: {exc}") from exc
            self._keyframes = np.unique(np.array(keys or [0], np.int64))
            self._iter, self._current, self._next, self._ended = None, None, None, False
        return self._keyframes

    def frames(self, indices: Sequence[int]) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield (index, frame) for `indices` in the order given, decoding as little as it can.

        Moving forward, a seek happens only when a keyframe lies between the last frame decoded
        and the next one wanted (decoding through costs less otherwise); a backward step seeks.
        """
        keys = self.keyframes()
        position: int | None = None
        for i in indices:
            i = int(i)
            if position is None or i < position:
                self.seek(i)
            elif i > position:
                k = keys[max(0, int(np.searchsorted(keys, i, side="right")) - 1)]
                if k > position:
                    self.seek(i)
            position = i
            yield i, self.frame_at(i)


def open_video(path: str | Path, *, threads: int = 2) -> VideoSource:
    """Open a file's video stream for reading frames by index."""
    return VideoSource(path, threads=threads)


def group_runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Split frame indices into (first, last) runs where each index follows the previous."""
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [indices.size]]) - 1
    return [(int(indices[a]), int(indices[b])) for a, b in zip(starts, ends, strict=True)]
