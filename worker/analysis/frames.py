"""Per-frame features on the fixed STFT grid, computed block by block with exact continuity.

Frame k is centred on sample k * HOP (librosa's center=True with zero padding), so the
frames of a file cut into blocks equal those of the whole signal: each block is computed
with CONTEXT extra frames either side (for deltas and the lagged onset flux) and trimmed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
import scipy.fft

from worker.analysis import params as P
from worker.analysis.pitch import yin

CONTEXT = 8  # frames of context either side of a block; >= 4 (delta width 9, lag+centre 4)
DB_FLOOR_POWER = 1e-6  # mel power floor (~ -78 dB re full-scale noise): fixed, not per-file
_DELTA_WIDTH = 9
ENERGY_WINDOW = 512  # samples (23 ms) of the short RMS used to backtrack onsets


@dataclass
class FrameChunk:
    """Features of frames [start, start + len) on the global frame grid."""

    start: int
    env: np.ndarray  # (n,) raw onset strength (SuperFlux on 138-band log-mel); zeros if unused
    rms: np.ndarray  # (n,) RMS of the 2048-sample frame, linear
    f0: np.ndarray  # (n,) YIN f0 Hz
    aper: np.ndarray  # (n,) YIN aperiodicity 0..1
    mfcc: np.ndarray  # (n, 39) MFCC + delta + delta2 from a 128-band mel in dB
    energy: np.ndarray  # (n,) RMS of the central 512 samples: sharp in time, for backtracking

    def __len__(self) -> int:
        return int(self.rms.size)

    def sliced(self, lo: int, hi: int) -> FrameChunk:
        """Return local frames [lo, hi) as a chunk with the right global start."""
        return FrameChunk(self.start + lo, self.env[lo:hi], self.rms[lo:hi], self.f0[lo:hi],
                          self.aper[lo:hi], self.mfcc[lo:hi], self.energy[lo:hi])


@lru_cache(maxsize=8)
def _bases(sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the hann window, onset mel basis (empty bands dropped) and vector mel basis."""
    window = librosa.filters.get_window("hann", P.N_FFT, fftbins=True).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fmax 16 kHz > Nyquist at 22.05 kHz: empty top bands
        onset = librosa.filters.mel(sr=sr, n_fft=P.N_FFT, n_mels=P.ONSET_N_MELS,
                                    fmin=P.ONSET_FMIN, fmax=P.ONSET_FMAX)
    onset = onset[onset.sum(axis=1) > 0]  # empty bands only add a constant factor to the mean
    vector = librosa.filters.mel(sr=sr, n_fft=P.N_FFT, n_mels=P.VECTOR_N_MELS)
    return window, np.ascontiguousarray(onset.T), np.ascontiguousarray(vector.T)


def _db(power: np.ndarray) -> np.ndarray:
    """Convert power to dB with a fixed absolute floor (so results never depend on the block)."""
    return 10.0 * np.log10(np.maximum(power, DB_FLOOR_POWER))


def _onset_env(mel_db: np.ndarray) -> np.ndarray:
    """SuperFlux onset strength per frame (librosa.onset.onset_strength, lag 2, max_size 3)."""
    # mel_db is (n, bands); librosa wants (bands, n). centre shift n_fft // (2 * hop) = 2.
    return librosa.onset.onset_strength(S=mel_db.T, lag=P.ONSET_LAG, max_size=P.ONSET_MAX_SIZE,
                                        n_fft=P.N_FFT, hop_length=P.HOP).astype(np.float32)


def _mfcc39(mel_db: np.ndarray) -> np.ndarray:
    """13 MFCC (DCT-II of the 128-band log-mel) with delta and delta-delta, as (n, 39)."""
    mfcc = scipy.fft.dct(mel_db, type=2, norm="ortho", axis=1)[:, : P.N_MFCC].T
    n = mfcc.shape[1]
    if n >= _DELTA_WIDTH:
        d1 = librosa.feature.delta(mfcc, width=_DELTA_WIDTH, order=1)
        d2 = librosa.feature.delta(mfcc, width=_DELTA_WIDTH, order=2)
    else:  # too few frames for a delta window: no change measurable
        d1 = d2 = np.zeros_like(mfcc)
    return np.ascontiguousarray(np.concatenate([mfcc, d1, d2]).T, dtype=np.float32)


def compute_frames(audio: np.ndarray, sr: int, *, with_env: bool) -> FrameChunk:
    """Compute features for every frame of `audio` (already padded: frame j starts at j*HOP)."""
    window, onset_basis, vector_basis = _bases(sr)
    frames = np.lib.stride_tricks.sliding_window_view(audio, P.N_FFT)[:: P.HOP]
    n = frames.shape[0]
    spec = scipy.fft.rfft(frames * window, axis=1)
    power = np.square(np.abs(spec))
    vec_db = _db(power @ vector_basis)
    env = _onset_env(_db(power @ onset_basis)) if with_env else np.zeros(n, np.float32)
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames) / P.N_FFT).astype(np.float32)
    off = (P.N_FFT - P.PITCH_FRAME) // 2
    f0, aper = yin(frames[:, off : off + P.PITCH_FRAME], sr, P.PITCH_FMIN, P.PITCH_FMAX)
    mid = frames[:, (P.N_FFT - ENERGY_WINDOW) // 2 : (P.N_FFT + ENERGY_WINDOW) // 2]
    energy = np.sqrt(np.einsum("ij,ij->i", mid, mid) / ENERGY_WINDOW).astype(np.float32)
    return FrameChunk(0, env, rms, f0, aper, _mfcc39(vec_db), energy)


class FrameStream:
    """Turn audio blocks of any size into FrameChunks on the global frame grid."""

    def __init__(self, sr: int, *, with_env: bool = True) -> None:
        self.sr = sr
        self.with_env = with_env
        self.half = P.N_FFT // 2
        self.buf = np.zeros(self.half, np.float32)  # centre padding before sample 0
        self.buf_start = -self.half  # global sample index of buf[0]
        self.n_samples = 0
        self.next_frame = 0

    def push(self, y: np.ndarray) -> FrameChunk | None:
        """Add audio; return the frames now computable exactly (None if none yet)."""
        self.buf = np.concatenate([self.buf, np.asarray(y, np.float32)])
        self.n_samples += len(y)
        buf_end = self.buf_start + self.buf.size
        k1 = (buf_end - self.half) // P.HOP - CONTEXT + 1
        if k1 <= self.next_frame:
            return None
        return self._compute(k1, CONTEXT)

    def finish(self) -> FrameChunk | None:
        """Return the remaining frames up to the end of the signal (zero padded like librosa)."""
        n_total = 1 + self.n_samples // P.HOP
        if n_total <= self.next_frame:
            return None
        self.buf = np.concatenate([self.buf, np.zeros(self.half, np.float32)])
        return self._compute(n_total, 0)

    def _compute(self, k1: int, right: int) -> FrameChunk:
        """Compute frames [next_frame, k1) with context, then drop audio no longer needed."""
        k0 = self.next_frame
        left = min(CONTEXT, k0)
        lo = (k0 - left) * P.HOP - self.half - self.buf_start
        hi = (k1 + right - 1) * P.HOP + self.half - self.buf_start
        chunk = compute_frames(self.buf[lo:hi], self.sr, with_env=self.with_env)
        chunk = chunk.sliced(left, left + (k1 - k0))
        chunk.start = k0
        self.next_frame = k1
        keep = (k1 - CONTEXT) * P.HOP - self.half
        if keep > self.buf_start:
            self.buf = self.buf[keep - self.buf_start :].copy()
            self.buf_start = keep
        return chunk


class FrameStore:
    """A sliding window of frame features [base, end) with trimming of old frames."""

    def __init__(self) -> None:
        self.base = 0
        self.parts: list[FrameChunk] = []
        self._cat: FrameChunk | None = None

    @property
    def end(self) -> int:
        """Global index one past the last stored frame."""
        return self.base + sum(len(p) for p in self.parts)

    def append(self, chunk: FrameChunk | None) -> None:
        """Append the next contiguous chunk."""
        if chunk is not None and len(chunk):
            self.parts.append(chunk)
            self._cat = None

    def all(self) -> FrameChunk:
        """Return all stored frames as one chunk (start == base)."""
        if self._cat is None:
            if not self.parts:
                e = np.zeros(0, np.float32)
                self._cat = FrameChunk(self.base, e, e, e, e, np.zeros((0, 39), np.float32), e)
            elif len(self.parts) == 1:
                self._cat = self.parts[0]
            else:
                ps = self.parts
                self._cat = FrameChunk(
                    self.base, np.concatenate([p.env for p in ps]),
                    np.concatenate([p.rms for p in ps]), np.concatenate([p.f0 for p in ps]),
                    np.concatenate([p.aper for p in ps]), np.concatenate([p.mfcc for p in ps]),
                    np.concatenate([p.energy for p in ps]))
                self.parts = [self._cat]
        return self._cat

    def trim_before(self, frame: int) -> None:
        """Forget frames before global index `frame`."""
        if frame <= self.base:
            return
        whole = self.all()
        cut = min(frame - self.base, len(whole))
        rest = whole.sliced(cut, len(whole))
        self.base += cut
        rest.start = self.base
        self.parts = [rest] if len(rest) else []
        self._cat = None
