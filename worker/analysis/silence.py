"""Silence segmentation: sound between stretches whose peak level stays under a threshold."""

from __future__ import annotations

import numpy as np


class SilenceSegmenter:
    """Stream audio; emit (start, end) sample ranges of sound, capped at max_len samples.

    Audio is cut into frames of frame_len samples; a frame is silent when its peak |x| is
    under threshold_db dBFS. A run of silent frames lasting at least min_gap samples ends a
    segment (at the run's first frame); the next loud frame starts one. A segment yields one
    sample: its first max_len samples (emitted as soon as max_len is reached, so memory and
    latency stay bounded however long the sound lasts). Quiet runs shorter than min_gap are
    kept inside the segment.
    """

    def __init__(self, frame_len: int, threshold_db: float, min_gap: int, max_len: int) -> None:
        self.frame_len = max(1, frame_len)
        self.threshold = 10.0 ** (threshold_db / 20.0)
        self.gap_frames = max(1, int(np.ceil(min_gap / self.frame_len)))
        self.max_len = max_len
        self.rest = np.zeros(0, np.float32)
        self.frame_index = 0  # global index of the next frame
        self.seg_start: int | None = None  # sample where the open segment began
        self.emitted = False  # the open segment's (capped) sample was already emitted
        self.quiet_run = 0  # silent frames in a row inside the open segment

    @property
    def open_start(self) -> int | None:
        """Start sample of a segment not yet emitted (frames before it may be dropped)."""
        return None if self.seg_start is None or self.emitted else self.seg_start

    def push(self, y: np.ndarray) -> list[tuple[int, int]]:
        """Feed audio; return segments completed so far."""
        buf = np.concatenate([self.rest, np.asarray(y, np.float32)])
        n = buf.size // self.frame_len
        self.rest = buf[n * self.frame_len :]
        if n == 0:
            return []
        peaks = np.abs(buf[: n * self.frame_len].reshape(n, self.frame_len)).max(axis=1)
        return self._run(peaks >= self.threshold, self.frame_index)

    def finish(self, n_samples: int) -> list[tuple[int, int]]:
        """Flush the last partial frame and close an open segment at the end of the audio."""
        out: list[tuple[int, int]] = []
        if self.rest.size:
            loud = np.array([np.abs(self.rest).max() >= self.threshold])
            self.rest = np.zeros(0, np.float32)
            out += self._run(loud, self.frame_index)
        if self.seg_start is not None and not self.emitted:
            end = n_samples
            if self.quiet_run:
                end = min(end, (self.frame_index - self.quiet_run) * self.frame_len)
            out.append((self.seg_start, min(end, self.seg_start + self.max_len)))
        self.seg_start = None
        return out

    def _run(self, loud: np.ndarray, first: int) -> list[tuple[int, int]]:
        """Advance the state machine over frames first, first+1, ... with loudness flags."""
        out: list[tuple[int, int]] = []
        fl = self.frame_len
        for i, is_loud in enumerate(loud.tolist()):
            j = first + i
            if self.seg_start is None:
                if is_loud:
                    self.seg_start, self.emitted, self.quiet_run = j * fl, False, 0
            else:
                self.quiet_run = 0 if is_loud else self.quiet_run + 1
                if self.quiet_run >= self.gap_frames:
                    if not self.emitted:
                        end = (j + 1 - self.quiet_run) * fl
                        out.append((self.seg_start, min(end, self.seg_start + self.max_len)))
                    self.seg_start = None
                elif not self.emitted and (j + 1 - self.quiet_run) * fl >= (
                        self.seg_start + self.max_len):  # sound (not a maybe-gap) reached cap
                    out.append((self.seg_start, self.seg_start + self.max_len))
                    self.emitted = True
            # emitted segments still track quiet runs so the next segment starts correctly
        self.frame_index = first + loud.size
        return out
