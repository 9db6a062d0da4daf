"""Per-frame audio features: the log-power mel spectrum of each video frame's audio.

Audio is decoded in blocks (PyAV, 16 kHz mono) and cut into 32 ms Hann windows every 10 ms;
each window's mel power (40 bands, 40 Hz – 7.6 kHz) is averaged over the video frame that
holds its centre. Features are in dB relative to the file's own level (its mean power over
the whole file), floored at FLOOR_DB: a quiet recording and a loud one of the same sound get
the same features, as matching needs (the seed's author's note), while silence stays silent.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
import scipy.fft

from core.errors import MediaError
from worker.analysis.decode import iter_audio_blocks

SR = 16000
N_FFT = 512
HOP = 160
N_MELS = 40
FMIN, FMAX = 40.0, 7600.0
FLOOR_DB = -80.0  # relative to the file's level
POWER_EPS = 1e-12
VERSION = 1  # bump when the features change, so stored arrays are rebuilt


@dataclass(frozen=True)
class FrameFeatures:
    """One file's features: (frames, N_MELS) float32 at `fps`, and its level in dBFS."""

    feats: np.ndarray
    fps: Fraction
    level_db: float

    @property
    def frames(self) -> int:
        """Number of video frames described."""
        return int(self.feats.shape[0])


@lru_cache(maxsize=2)
def _mel_basis() -> tuple[np.ndarray, np.ndarray]:
    """The Hann window and the (N_FFT/2+1, N_MELS) mel basis."""
    import librosa

    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mel = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    return window, np.ascontiguousarray(mel.T.astype(np.float32))


def _stream_times(path: Path) -> tuple[Fraction | None, int, float, float]:
    """Video frame rate and count (None, 0 if no video), audio and video start times."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise MediaError(f"{path}: no audio stream")
            a = c.streams.audio[0]
            a0 = float(a.start_time * a.time_base) if a.start_time is not None else 0.0
            if not c.streams.video:
                return None, 0, a0, a0
            v = c.streams.video[0]
            v0 = float(v.start_time * v.time_base) if v.start_time is not None else 0.0
            rate = v.average_rate or v.guessed_rate or v.base_rate
            frames = int(v.frames or 0)
            if frames <= 0 and rate:
                dur = (float(v.duration * v.time_base) if v.duration
                       else float(c.duration or 0) / av.time_base)
                frames = round(dur * float(rate))
            return (Fraction(rate) if rate else None), frames, a0, v0
    except av.FFmpegError as exc:
        raise MediaError(f"cannot open {path}: {exc}") from exc


class _Accumulator:
    """Sum of mel power and window count per video frame, grown as audio arrives."""

    def __init__(self, fps: Fraction, offset_s: float) -> None:
        self.fps, self.offset = float(fps), offset_s
        self.sums = np.zeros((1024, N_MELS), np.float64)
        self.counts = np.zeros(1024, np.int64)
        self.total_power = 0.0
        self.windows = 0

    def add(self, first_window: int, mel_power: np.ndarray) -> None:
        """Add windows first_window, first_window + 1, ... to the frames holding their centres."""
        k = first_window + np.arange(mel_power.shape[0])
        centre = (k * HOP + N_FFT / 2) / SR + self.offset
        frame = np.floor(centre * self.fps).astype(np.int64)
        ok = frame >= 0
        frame, mel_power = frame[ok], mel_power[ok]
        self.total_power += float(mel_power.sum(dtype=np.float64))
        self.windows += int(mel_power.shape[0])
        if frame.size == 0:
            return
        need = int(frame[-1]) + 1
        if need > self.counts.size:
            grow = max(need, self.counts.size * 2)
            self.sums = np.concatenate([self.sums, np.zeros((grow - self.counts.size, N_MELS))])
            self.counts = np.concatenate([self.counts, np.zeros(grow - self.counts.size,
                                                                np.int64)])
        starts = np.flatnonzero(np.concatenate([[True], frame[1:] != frame[:-1]]))
        idx = frame[starts]
        self.sums[idx] += np.add.reduceat(mel_power, starts, axis=0)
        self.counts[idx] += np.diff(np.concatenate([starts, [frame.size]]))


def frame_features(path: str | Path, *, fps: float | Fraction | None = None,
                   block_seconds: float = 60.0) -> FrameFeatures:
    """Features of every video frame of `path` (or of 1/fps steps of an audio-only file)."""
    path = Path(path)
    vfps, vframes, a0, v0 = _stream_times(path)
    rate = Fraction(fps).limit_denominator(1001000) if fps else vfps
    if rate is None:
        raise MediaError(f"{path}: no video stream; give the frame rate to cut its audio by")
    acc = _Accumulator(rate, a0 - v0 if vfps is not None else 0.0)
    window, mel = _mel_basis()
    carry = np.zeros(0, np.float32)
    next_window = 0
    total = 0
    for block in iter_audio_blocks(path, sr=SR, block_seconds=block_seconds):
        total += block.size
        buf = np.concatenate([carry, block]) if carry.size else block
        n = (buf.size - N_FFT) // HOP + 1 if buf.size >= N_FFT else 0
        if n:
            acc.add(next_window, _mel_power(buf, n, window, mel))
            next_window += n
            carry = buf[n * HOP :]
        else:
            carry = buf
    if carry.size:  # the last windows, zero-padded, while their centre is inside the audio
        n = max(0, -(-(carry.size - N_FFT // 2) // HOP))
        if n:
            buf = np.concatenate([carry, np.zeros(N_FFT + n * HOP, np.float32)])
            acc.add(next_window, _mel_power(buf, n, window, mel))
    frames = vframes if vfps is not None and fps is None else int(np.ceil(total / SR * rate))
    return _normalise(acc, frames, rate)


def _mel_power(buf: np.ndarray, n: int, window: np.ndarray, mel: np.ndarray) -> np.ndarray:
    """Mel power of n windows of buf starting every HOP samples."""
    frames = np.lib.stride_tricks.as_strided(
        buf, shape=(n, N_FFT), strides=(buf.strides[0] * HOP, buf.strides[0]), writeable=False)
    spec = scipy.fft.rfft(frames * window, axis=1, workers=1)
    power = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32)
    return power @ mel


def _normalise(acc: _Accumulator, frames: int, rate: Fraction) -> FrameFeatures:
    """Mean power per frame in dB, relative to the file's level, floored."""
    sums = np.zeros((frames, N_MELS))
    counts = np.zeros(frames)
    m = min(frames, acc.counts.size)
    sums[:m], counts[:m] = acc.sums[:m], acc.counts[:m]
    power = sums / np.maximum(counts, 1)[:, None]
    level = acc.total_power / max(acc.windows, 1)  # mean total mel power per window
    level_db = 10.0 * np.log10(level + POWER_EPS)
    db = 10.0 * np.log10(power + POWER_EPS) - level_db
    feats = np.maximum(db, FLOOR_DB).astype(np.float32)
    return FrameFeatures(feats, rate, float(level_db))


def save_features(path: Path, features: FrameFeatures) -> Path:
    """Store a file's features as one .npz (written to a temporary name, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part.npz")
    np.savez(tmp, feats=features.feats, fps=np.array([features.fps.numerator,
             features.fps.denominator]), level_db=np.array(features.level_db),
             version=np.array(VERSION))
    tmp.replace(path)
    return path


def load_features(path: Path) -> FrameFeatures:
    """Read features stored by save_features; MediaError if missing or of another version."""
    try:
        with np.load(path) as z:
            if int(z["version"]) != VERSION:
                raise MediaError(f"{path}: features of version {int(z['version'])}, "
                                 f"need {VERSION}")
            num, den = (int(v) for v in z["fps"])
            return FrameFeatures(z["feats"], Fraction(num, den), float(z["level_db"]))
    except (OSError, KeyError, ValueError) as exc:
        raise MediaError(f"cannot read frame features {path}: {exc}") from exc
