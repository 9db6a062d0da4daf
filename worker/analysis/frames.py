"""Per-frame features on the fixed STFT grid, computed block by block with exact continuity.

Frame k is centred on sample k * HOP (librosa's center=True with zero padding), so the
frames of a file cut into blocks equal those of the whole signal: each block is computed
with CONTEXT extra frames either side (for deltas and the onset novelty) and trimmed. Onset
novelty lives on a finer grid of SUB sub-frames per frame (see novelty.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

from worker.analysis import params as P
from worker.analysis.kernels import frame_spectra
from worker.analysis.novelty import SUB, novelty
from worker.analysis.pitch import chord_root, yin

CONTEXT = 8  # frames of context either side of a block; >= 4 (delta width 9, novelty 3)
DB_FLOOR_POWER = 1e-6  # mel power floor (~ -78 dB re full-scale noise): fixed, not per-file
_DELTA_WIDTH = 9


@dataclass
class FrameChunk:
    """Features of frames [start, start + len) on the global frame grid."""

    start: int
    rms: np.ndarray  # (n,) RMS of the 2048-sample frame, linear
    f0: np.ndarray  # (n,) YIN f0 Hz
    aper: np.ndarray  # (n,) YIN aperiodicity 0..1
    mfcc: np.ndarray  # (n, 39) MFCC + delta + delta2 from a 128-band mel in dB
    flux: np.ndarray  # (n, SUB) onset novelty of the sub-frames (novelty.py); zeros if unused
    conc: np.ndarray  # (n, SUB) share of that novelty in its strongest bands
    level: np.ndarray  # (n, SUB) dB of the ONSET_HOP samples centred on each sub-frame

    _FIELDS = ("rms", "f0", "aper", "mfcc", "flux", "conc", "level")

    def __len__(self) -> int:
        return int(self.rms.size)

    def sliced(self, lo: int, hi: int) -> FrameChunk:
        """Return local frames [lo, hi) as a chunk with the right global start."""
        return FrameChunk(self.start + lo, *(getattr(self, f)[lo:hi] for f in self._FIELDS))

    @classmethod
    def empty(cls, start: int = 0) -> FrameChunk:
        """Return a chunk with no frames."""
        e = np.zeros(0, np.float32)
        s = np.zeros((0, SUB), np.float32)
        return cls(start, e, e, e, np.zeros((0, 39), np.float32), s, s, s)

    @classmethod
    def concat(cls, parts: list[FrameChunk]) -> FrameChunk:
        """Concatenate contiguous chunks (the first one's start)."""
        return cls(parts[0].start, *(np.concatenate([getattr(p, f) for p in parts])
                                     for f in cls._FIELDS))


@lru_cache(maxsize=8)
def _mel_basis(sr: int) -> np.ndarray:
    """Return the vector mel basis, (bins, mels)."""
    vector = librosa.filters.mel(sr=sr, n_fft=P.N_FFT, n_mels=P.VECTOR_N_MELS)
    return np.ascontiguousarray(vector.T)


def _db(power: np.ndarray) -> np.ndarray:
    """Convert power to dB with a fixed absolute floor (so results never depend on the block)."""
    return 10.0 * np.log10(np.maximum(power, DB_FLOOR_POWER))


@lru_cache(maxsize=4)
def _delta_filter(order: int) -> np.ndarray:
    """librosa.feature.delta's filter (Savitzky-Golay, width _DELTA_WIDTH) for convolve1d.

    Its edge handling differs from librosa's 'interp', but edge frames are CONTEXT frames
    that are computed only to be dropped (CONTEXT >= _DELTA_WIDTH // 2).
    """
    return scipy.signal.savgol_coeffs(_DELTA_WIDTH, order, deriv=order, use="conv")


def _mfcc39(mel_db: np.ndarray) -> np.ndarray:
    """13 MFCC (DCT-II of the 128-band log-mel) with delta and delta-delta, as (n, 39)."""
    mfcc = scipy.fft.dct(mel_db, type=2, norm="ortho", axis=1)[:, : P.N_MFCC].T
    n = mfcc.shape[1]
    if n >= _DELTA_WIDTH:  # librosa.feature.delta's Savitzky-Golay filters, coefficients cached
        d1 = scipy.ndimage.convolve1d(mfcc, _delta_filter(1), axis=1, mode="nearest")
        d2 = scipy.ndimage.convolve1d(mfcc, _delta_filter(2), axis=1, mode="nearest")
    else:  # too few frames for a delta window: no change measurable
        d1 = d2 = np.zeros_like(mfcc)
    return np.ascontiguousarray(np.concatenate([mfcc, d1, d2]).T, dtype=np.float32)


def compute_frames(audio: np.ndarray, sr: int, *, with_onsets: bool) -> FrameChunk:
    """Compute features for every frame of `audio` (already padded: frame j starts at j*HOP).

    One FFT per hop serves the STFT, YIN and the onset novelty: frame j's first half (its
    "head", audio[j*HOP : j*HOP + N_FFT/2], zero-padded to N_FFT) is transformed once; since
    N_FFT/2 is a whole number of hops, frame j is head j plus head j + N_FFT/(2*HOP) shifted by
    N_FFT/2, whose spectrum is the head's times (-1)^k; the Hann-windowed STFT follows by a
    3-tap filter across bins (kernels.frame_spectra).
    """
    vector_basis = _mel_basis(sr)
    half = P.N_FFT // 2
    n = (audio.size - P.N_FFT) // P.HOP + 1
    step = half // P.HOP  # heads between a frame's head and its second half
    heads = np.lib.stride_tricks.sliding_window_view(audio, half)[:: P.HOP][: n + step]
    head_spec = scipy.fft.rfft(heads, n=P.N_FFT, axis=1)
    power, cross = frame_spectra(head_spec, step, n)
    vec_db = _db(power @ vector_basis)
    frames = np.lib.stride_tricks.sliding_window_view(audio, P.N_FFT)[:: P.HOP]
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames) / P.N_FFT).astype(np.float32)
    f0, aper = yin(cross, audio, P.HOP, sr, P.PITCH_FMIN, P.PITCH_FMAX, P.N_FFT)
    f0 = chord_root(f0, power, sr, P.N_FFT)
    if with_onsets:
        nov = novelty(audio, n, P.N_FFT, P.HOP, sr)
        flux, conc, level = nov.flux, nov.conc, nov.level
    else:
        flux = conc = level = np.zeros((n, SUB), np.float32)
    return FrameChunk(0, rms, f0, aper, _mfcc39(vec_db), flux, conc, level)


class FrameStream:
    """Turn audio blocks of any size into FrameChunks on the global frame grid."""

    def __init__(self, sr: int, *, with_onsets: bool = True) -> None:
        self.sr = sr
        self.with_onsets = with_onsets
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
        chunk = compute_frames(self.buf[lo:hi], self.sr, with_onsets=self.with_onsets)
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
                self._cat = FrameChunk.empty(self.base)
            elif len(self.parts) == 1:
                self._cat = self.parts[0]
            else:
                self._cat = FrameChunk.concat(self.parts)
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
