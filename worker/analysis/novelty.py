"""Onset novelty on a finer grid than the feature frames: persistent log-frequency flux.

Each 2048-sample feature frame k (centred on sample k * HOP) gets SUB = 2 onset sub-frames,
centred on samples (2k + r) * ONSET_HOP, r = 0, 1, from a 1024-sample Hann window: 46 ms at
22.05 kHz, so an attack is placed within a few ms instead of the 93 ms feature window's blur.
The magnitude spectrum is pooled into bands of a quarter tone (24 per octave, bins merged where
they are wider), compressed as log(1 + LOG_GAIN * |X|), and the novelty of sub-frame i is

    flux[i] = sum over bands b of
              max(0, min(L[i .. i + PERSIST, b]) - max(L[i - 1, b - 1 .. b + 1]))

SuperFlux's maximum over neighbouring bands ignores vibrato up to a quarter tone; taking the
minimum over the next PERSIST sub-frames keeps only energy that stays, so the splatter of a
note that stops abruptly, a click or a breath does not count while a new note does, however
softly it begins. Because the flux is of log magnitudes it does not depend on the level of the
recording, and needs no normalisation over the file (analysis can stream).

A second cue, `change`, sees pitch changes the 46 ms window cannot resolve: in the low register
(a cello's or tuba's notes a semitone apart lie within one bin of a 1024-sample FFT) and in
legato, where the new note has no attack and the old one rings on in reverb. It is the same
kind of rise on a 93 ms window (10.8 Hz bins; the signal decimated by 4, so a 512-point FFT)
once per feature frame, in quarter-tone bands from CHANGE_FMIN to CHANGE_FMAX: the rise of
frame k over the largest of frames k - 2 and k - 1 in a band and its neighbours, so vibrato
under a quarter tone either way does not count.
Sub-frame 2k reads frame k's value and sub-frame 2k + 1 frame k + 1's (the frame centred on or
just after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
import scipy.fft
import scipy.signal

from worker.analysis.kernels import persistent_rise

ONSET_WINDOW = 1024  # samples: 46 ms at 22.05 kHz
ONSET_HOP = 256  # samples: 11.6 ms at 22.05 kHz; HOP // ONSET_HOP sub-frames per frame
SUB = 2
BANDS_PER_OCTAVE = 24
BAND_FMIN = 30.0
BAND_FMAX = 10000.0
LOG_GAIN = 100.0
PERSIST = 4  # sub-frames a rise must last (46 ms)
TOP_SHARE = 0.1  # `conc` is the share of a sub-frame's flux in its strongest tenth of bands
CHANGE_WINDOW = 2048  # samples: the pitch-change cue's window (93 ms), one per feature frame
CHANGE_FMIN = 40.0  # Hz: its quarter-tone bands span these
CHANGE_FMAX = 2500.0  # (and below 0.45 of the decimated rate)
CHANGE_BEFORE = 2  # frames a band's new level is compared with
CHANGE_DECIMATE = 4  # the cue reads the signal decimated by this (5.5 kHz at 22.05 kHz)
DECIMATE_TAPS = 33


CUES = ("conc", "change")  # the channels of Novelty.conc


@dataclass
class Novelty:
    """Onset novelty per sub-frame, arrays aligned with n feature frames."""

    flux: np.ndarray  # (n, SUB) persistent log-frequency flux (see module doc)
    # (n, SUB, len(CUES)): [..., 0] 0..1, how concentrated the flux is in few bands (notes) vs
    # all (noise); [..., 1] the pitch-change cue (module doc). One array so that FrameChunk's
    # `conc` field carries both (onsets.split_cues takes them apart).
    conc: np.ndarray
    level: np.ndarray  # (n, SUB) dB of the ONSET_HOP samples centred on the sub-frame


@lru_cache(maxsize=8)
def log_filterbank(sr: int) -> np.ndarray:
    """Return a (ONSET_WINDOW // 2 + 1, bands) triangular filterbank, BANDS_PER_OCTAVE per
    octave from BAND_FMIN to min(BAND_FMAX, Nyquist); bands sharing an FFT bin are merged."""
    return _bands(ONSET_WINDOW // 2 + 1, ONSET_WINDOW, sr, BAND_FMIN, BAND_FMAX)


def _bands(n_bins: int, window: int, sr: int, fmin: float, fmax: float) -> np.ndarray:
    """Return a (n_bins, bands) triangular filterbank, BANDS_PER_OCTAVE per octave from fmin
    to min(fmax, 0.45 sr), for an FFT of `window` samples; bands sharing a bin are merged."""
    fmax = min(fmax, 0.45 * sr)
    count = int(np.floor(BANDS_PER_OCTAVE * np.log2(fmax / fmin)))
    centres = fmin * 2.0 ** (np.arange(count + 2) / BANDS_PER_OCTAVE)
    bins = np.unique(np.round(centres * window / sr).astype(np.int64))
    bins = bins[bins < n_bins]
    fb = np.zeros((n_bins, max(0, bins.size - 2)), np.float32)
    for i in range(bins.size - 2):
        lo, mid, hi = bins[i], bins[i + 1], bins[i + 2]
        fb[lo : mid + 1, i] = np.linspace(0.0, 1.0, mid - lo + 1)
        fb[mid : hi + 1, i] = np.linspace(1.0, 0.0, hi - mid + 1)
        fb[mid, i] = 1.0
    return fb


@lru_cache(maxsize=8)
def change_filterbank(sr: int) -> np.ndarray:
    """Return the pitch-change cue's filterbank on the decimated signal's spectrum,
    (CHANGE_WINDOW // CHANGE_DECIMATE // 2 + 1, bands)."""
    win = CHANGE_WINDOW // CHANGE_DECIMATE
    return _bands(win // 2 + 1, win, sr // CHANGE_DECIMATE, CHANGE_FMIN, CHANGE_FMAX)


@lru_cache(maxsize=4)
def _window(size: int = ONSET_WINDOW) -> np.ndarray:
    """Periodic Hann window of `size` samples."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)).astype(np.float32)


@numba.njit(cache=True, nogil=True)
def band_rise(bands: np.ndarray, before: int) -> np.ndarray:
    """Per row k >= before of log band magnitudes, the sum over bands b of
    max(0, bands[k, b] - max(bands[k - before .. k - 1, b - 1 .. b + 1])); rows < before: 0."""
    n, nb = bands.shape
    out = np.zeros(n, np.float32)
    for k in range(before, n):
        total = 0.0
        for b in range(nb):
            ref = bands[k - 1, b]
            for j in range(k - before, k):
                for c in range(max(0, b - 1), min(nb, b + 2)):
                    if bands[j, c] > ref:
                        ref = bands[j, c]
            r = bands[k, b] - ref
            if r > 0.0:
                total += r
        out[k] = total
    return out


@numba.njit(cache=True, nogil=True)
def decimate(x: np.ndarray, taps: np.ndarray, factor: int, n_out: int) -> np.ndarray:
    """Return n_out samples of x low-pass filtered by the odd-length FIR `taps` (centred) and
    kept every `factor`-th: out[j] = sum_k taps[k] x[factor j + k - len(taps) // 2], zeros
    outside x. Only the kept samples are computed."""
    half = taps.size // 2
    out = np.zeros(n_out, np.float32)
    for j in range(n_out):
        c = factor * j - half
        acc = 0.0
        for k in range(max(0, -c), min(taps.size, x.size - c)):
            acc += taps[k] * x[c + k]
        out[j] = acc
    return out


@lru_cache(maxsize=2)
def _decimation_taps() -> np.ndarray:
    """The anti-aliasing FIR of the cue's decimation (cut-off 90 % of the new Nyquist)."""
    return scipy.signal.firwin(DECIMATE_TAPS, 0.9 / CHANGE_DECIMATE).astype(np.float32)


def change_cue(audio: np.ndarray, n_frames: int, hop: int, sr: int) -> np.ndarray:
    """Return the pitch-change cue of the sub-frames of n_frames frames, (n_frames, SUB).

    Frame j's window is audio[j * hop : j * hop + CHANGE_WINDOW] (the feature frame), read
    after decimating by CHANGE_DECIMATE (the bands end below the new Nyquist), so the FFT is
    CHANGE_WINDOW // CHANGE_DECIMATE long at the same 10.8 Hz resolution. Frames before 0 and
    after the audio read silence, as at the ends of a signal (inside a stream those frames
    belong to the context the caller drops).
    """
    q = CHANGE_DECIMATE
    pad = CHANGE_BEFORE * hop
    need = (n_frames + 1) * hop + CHANGE_WINDOW
    seg = np.zeros(pad + need, np.float32)
    part = audio[:need]
    seg[pad : pad + part.size] = part
    low = decimate(seg, _decimation_taps(), q, seg.size // q)
    win = CHANGE_WINDOW // q
    frames = np.lib.stride_tricks.sliding_window_view(low, win)[:: hop // q]
    frames = frames[: n_frames + 1 + CHANGE_BEFORE]  # frames -CHANGE_BEFORE .. n_frames
    mag = np.abs(scipy.fft.rfft(frames * _window(win), axis=1))
    bands = np.log1p(LOG_GAIN * (mag @ change_filterbank(sr))).astype(np.float32)
    rise = band_rise(bands, CHANGE_BEFORE)[CHANGE_BEFORE:]  # frames 0 .. n_frames
    return np.stack([rise[:-1], rise[1:]], axis=1)  # sub-frame 2k: frame k; 2k + 1: k + 1


def novelty(audio: np.ndarray, n_frames: int, frame_len: int, hop: int, sr: int) -> Novelty:
    """Compute the novelty of the sub-frames of n_frames feature frames of `audio`.

    `audio` is laid out as for the feature frames: frame j covers audio[j * hop : j * hop +
    frame_len], centred at j * hop + frame_len // 2. Sub-frames at the edges of `audio` see
    truncated context (the caller computes extra frames either side and drops them).
    """
    n_sub = SUB * n_frames
    centre0 = frame_len // 2  # local index of the centre of frame 0 (= sub-frame 0)
    first = centre0 - ONSET_HOP - ONSET_WINDOW // 2  # window start of sub-frame -1
    if first < 0:
        raise ValueError("audio lacks the context of sub-frame -1")  # a bug, not bad input
    need = first + (n_sub + PERSIST) * ONSET_HOP + ONSET_WINDOW
    seg = audio[first:need]
    if seg.size < need - first:  # end of the signal: silence after it, as the frames assume
        seg = np.concatenate([seg, np.zeros(need - first - seg.size, np.float32)])
    frames = np.lib.stride_tricks.sliding_window_view(seg, ONSET_WINDOW)[::ONSET_HOP]
    frames = frames[: n_sub + 1 + PERSIST]  # sub-frames -1 .. n_sub - 1 + PERSIST
    mag = np.abs(scipy.fft.rfft(frames * _window(), axis=1))
    bands = np.log1p(LOG_GAIN * (mag @ log_filterbank(sr)))
    k_top = max(1, round(TOP_SHARE * bands.shape[1]))
    flux, conc = persistent_rise(bands.astype(np.float32, copy=False), n_sub, PERSIST, k_top)
    # Fine level: mean square of the ONSET_HOP samples centred on each sub-frame.
    mid = frames[1 : n_sub + 1, (ONSET_WINDOW - ONSET_HOP) // 2 : (ONSET_WINDOW + ONSET_HOP) // 2]
    level = 10.0 * np.log10(np.einsum("ij,ij->i", mid, mid) / ONSET_HOP + 1e-10)
    shape = (n_frames, SUB)
    change = change_cue(audio, n_frames, hop, sr) if SUB == 2 else np.zeros(shape, np.float32)
    cues = np.stack([conc.astype(np.float32).reshape(shape), change.astype(np.float32)], axis=-1)
    return Novelty(flux.astype(np.float32).reshape(shape), cues,
                   level.astype(np.float32).reshape(shape))
