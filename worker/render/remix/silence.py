"""Cut points in silences: 100 ms windows whose peak is under a threshold, after enough sound.

A window is silent when its peak |x| is below the threshold: relative to the file's own level
(the 95th percentile of window peaks, so quiet and loud films cut alike) or, as the seed, an
absolute peak (0.02). A silent window is a cut when it is the first silent window or follows at
least `min_sound_ms` of sound since the previous silent window (the seed's 3 windows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from core.errors import MediaError

LEVEL_PERCENTILE = 95.0  # the file's level: this percentile of window peaks


@dataclass(frozen=True)
class WindowLevels:
    """Peak |x| of each window of a file's audio, and the window length in seconds."""

    peaks: np.ndarray
    window_s: float
    duration_s: float

    @property
    def level(self) -> float:
        """The file's own level: a high percentile of window peaks (0 for digital silence)."""
        return float(np.percentile(self.peaks, LEVEL_PERCENTILE)) if self.peaks.size else 0.0


def _native_blocks(path: str | Path) -> tuple[int, Iterator[np.ndarray]]:
    """The audio's native rate and its decoded frames as (channels, n) float arrays.

    No resampling and no downmix: a window's peak is the largest |x| of any channel, read
    straight from the decoder (several times faster than resampling two hours of sound).
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"cannot open {path}: {exc}") from exc
    if not container.streams.audio:
        container.close()
        raise MediaError(f"{path}: no audio stream")
    stream = container.streams.audio[0]
    stream.thread_type = "AUTO"
    rate = int(stream.codec_context.sample_rate or stream.rate or 0)

    def blocks() -> Iterator[np.ndarray]:
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    a = frame.to_ndarray()
                    if not frame.format.is_planar:
                        a = a.reshape(-1, len(frame.layout.channels)).T
                    if a.dtype.kind == "i":
                        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
                    yield a
        except av.FFmpegError as exc:
            raise MediaError(f"{path}: decoding failed: {exc}") from exc
        finally:
            container.close()

    if rate <= 0:
        container.close()
        raise MediaError(f"{path}: audio stream has no sample rate")
    return rate, blocks()


def window_peaks(path: str | Path, *, window_ms: float = 100.0) -> WindowLevels:
    """Peak |x| (over channels) of every whole `window_ms` window of the file's audio."""
    sr, blocks = _native_blocks(path)
    win = max(1, round(window_ms * sr / 1000.0))
    peaks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    have = 0
    total = 0
    chunk = win * 600  # about a minute of windows per reduction

    def reduce(buf: np.ndarray, n: int) -> np.ndarray:
        w = buf[:, : n * win].reshape(buf.shape[0], n, win)
        return np.maximum(w.max(axis=(0, 2)), -w.min(axis=(0, 2)))

    for a in blocks:
        pending.append(a)
        have += a.shape[1]
        total += a.shape[1]
        if have >= chunk:
            buf = np.concatenate(pending, axis=1)
            n = buf.shape[1] // win
            peaks.append(reduce(buf, n))
            rest = buf[:, n * win :]
            pending, have = ([rest] if rest.shape[1] else []), rest.shape[1]
    if have:
        buf = np.concatenate(pending, axis=1)
        n = buf.shape[1] // win
        if n:
            peaks.append(reduce(buf, n))
    if total == 0:
        raise MediaError(f"{path}: audio stream holds no decodable frames")
    return WindowLevels(np.concatenate(peaks) if peaks else np.zeros(0, np.float32),
                        win / sr, total / sr)


def threshold_for(levels: WindowLevels, *, relative_db: float,
                  absolute: float | None) -> float:
    """The peak under which a window is silent: absolute if given, else level × relative_db."""
    if absolute is not None:
        return float(absolute)
    return levels.level * 10.0 ** (relative_db / 20.0)


def cut_windows(silent: np.ndarray, min_sound_windows: int) -> np.ndarray:
    """Indices of silent windows that start a cut: the first, and those after enough sound."""
    idx = np.flatnonzero(silent)
    if idx.size == 0:
        return idx
    keep = np.concatenate([[True], np.diff(idx) - 1 >= min_sound_windows])
    return idx[keep]


@dataclass(frozen=True)
class SilenceCuts:
    """Where a file's audio may be cut (seconds, each the start of a silent window)."""

    cuts: np.ndarray
    threshold: float
    level: float
    levels: WindowLevels

    def silent_at(self, t: float) -> bool:
        """Whether the window holding time t is under the threshold."""
        k = int(t / self.levels.window_s)
        return 0 <= k < self.levels.peaks.size and bool(self.levels.peaks[k] < self.threshold)


def find_cuts(path: str | Path, *, window_ms: float = 100.0, min_sound_ms: float = 300.0,
              relative_db: float = -24.0, absolute: float | None = None) -> SilenceCuts:
    """Cut points of one file; MediaError when it has no audio or no silence at all."""
    levels = window_peaks(path, window_ms=window_ms)
    if levels.peaks.size == 0:
        raise MediaError(f"{path}: audio shorter than one {window_ms:g} ms window")
    if levels.peaks.max() <= 0.0:
        raise MediaError(f"{path}: the audio is digital silence throughout: no sound to cut")
    threshold = threshold_for(levels, relative_db=relative_db, absolute=absolute)
    silent = levels.peaks < threshold
    if not silent.any():
        how = (f"absolute peak {absolute:g}" if absolute is not None
               else f"{relative_db:g} dB under the file's level (peak {threshold:.4g})")
        raise MediaError(f"{path}: no silence to cut at: no {window_ms:g} ms window is quieter "
                         f"than {how}; quietest window peaks at {levels.peaks.min():.4g}")
    min_sound = max(0, round(min_sound_ms / window_ms))
    cuts = cut_windows(silent, min_sound) * levels.window_s
    return SilenceCuts(cuts, threshold, levels.level, levels)
