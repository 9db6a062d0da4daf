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
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

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


@dataclass
class Novelty:
    """Onset novelty per sub-frame, (n, SUB) arrays aligned with n feature frames."""

    flux: np.ndarray  # persistent log-frequency flux (see module doc)
    conc: np.ndarray  # 0..1: how concentrated the flux is in few bands (notes) vs all (noise)
    level: np.ndarray  # dB of the ONSET_HOP samples centred on the sub-frame (fine loudness)


@lru_cache(maxsize=8)
def log_filterbank(sr: int) -> np.ndarray:
    """Return a (ONSET_WINDOW // 2 + 1, bands) triangular filterbank, BANDS_PER_OCTAVE per
    octave from BAND_FMIN to min(BAND_FMAX, Nyquist); bands sharing an FFT bin are merged."""
    n_bins = ONSET_WINDOW // 2 + 1
    fmax = min(BAND_FMAX, 0.45 * sr)
    count = int(np.floor(BANDS_PER_OCTAVE * np.log2(fmax / BAND_FMIN)))
    centres = BAND_FMIN * 2.0 ** (np.arange(count + 2) / BANDS_PER_OCTAVE)
    bins = np.unique(np.round(centres * ONSET_WINDOW / sr).astype(np.int64))
    bins = bins[bins < n_bins]
    fb = np.zeros((n_bins, max(0, bins.size - 2)), np.float32)
    for i in range(bins.size - 2):
        lo, mid, hi = bins[i], bins[i + 1], bins[i + 2]
        fb[lo : mid + 1, i] = np.linspace(0.0, 1.0, mid - lo + 1)
        fb[mid : hi + 1, i] = np.linspace(1.0, 0.0, hi - mid + 1)
        fb[mid, i] = 1.0
    return fb


@lru_cache(maxsize=2)
def _window() -> np.ndarray:
    """Periodic Hann window of ONSET_WINDOW samples."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(ONSET_WINDOW) / ONSET_WINDOW)).astype(
        np.float32)


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
    return Novelty(flux.astype(np.float32).reshape(shape), conc.astype(np.float32).reshape(shape),
                   level.astype(np.float32).reshape(shape))
