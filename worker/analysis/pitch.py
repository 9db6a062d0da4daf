"""Vectorised YIN over many frames at once: f0 and aperiodicity (librosa.yin hides the latter)."""

from __future__ import annotations

import numpy as np
import scipy.fft

YIN_THRESHOLD = 0.1  # first CMND trough under this is the period (de Cheveigné & Kawahara)
_SILENT_POWER = 1e-10  # mean-square below this: no pitch, aperiodicity 1


def yin(frames: np.ndarray, sr: int, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (f0 Hz, aperiodicity 0..1) per row of frames (n, L), as librosa.yin would pick.

    Aperiodicity is the cumulative-mean-normalised difference at the chosen period: ~0 for
    a clean periodic frame, ~1 for noise or silence; 1 - aperiodicity is the frame's clarity.
    """
    n, length = frames.shape
    if n == 0:
        return np.zeros(0, np.float32), np.ones(0, np.float32)
    win = length // 2
    min_p = max(1, int(np.floor(sr / fmax)))
    max_p = min(int(np.ceil(sr / fmin)), length - win - 2)
    x = frames.astype(np.float32, copy=False)
    spec = scipy.fft.rfft(x, n=length, axis=1)
    head = x.copy()
    head[:, win:] = 0.0
    spec_w = scipy.fft.rfft(head, axis=1)
    acf = scipy.fft.irfft(np.conj(spec_w) * spec, n=length, axis=1)[:, : max_p + 2]
    c = np.zeros((n, win + max_p + 3), np.float32)
    np.cumsum(np.square(x[:, : win + max_p + 2]), axis=1, out=c[:, 1:])
    energy = c[:, win : win + max_p + 2] - c[:, : max_p + 2]  # sum x[j]^2, j in [tau, tau+win)
    diff = energy[:, :1] + energy - 2.0 * acf
    diff[:, 0] = 0.0
    np.maximum(diff, 0.0, out=diff)
    denom = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_p + 2)
    cmnd = diff[:, 1:] / np.maximum(denom, 1e-12)  # cmnd[:, i] is tau = i + 1
    band = cmnd[:, min_p - 1 : max_p]  # taus min_p .. max_p - 1, plus neighbours below
    left = cmnd[:, min_p - 2 : max_p - 1] if min_p >= 2 else np.concatenate(
        [np.full((n, 1), np.inf), cmnd[:, : max_p - 1]], axis=1)
    right = cmnd[:, min_p : max_p + 1]
    trough = (band < left) & (band <= right)
    # First trough under the threshold, which is raised to (global min + threshold) in noise
    # so a slightly deeper trough at twice the period does not win (subharmonic errors).
    limit = np.maximum(YIN_THRESHOLD, band.min(axis=1, keepdims=True) + YIN_THRESHOLD)
    ok = trough & (band < limit)
    first = np.argmax(ok, axis=1)
    idx = np.where(ok.any(axis=1), first, np.argmin(band, axis=1))
    rows = np.arange(n)
    a, b, cc = left[rows, idx], band[rows, idx], right[rows, idx]
    a = np.where(np.isfinite(a), a, b)
    den = a - 2 * b + cc
    shift = np.where(np.abs(den) > 1e-12, 0.5 * (a - cc) / np.where(den == 0, 1, den), 0.0)
    shift = np.clip(shift, -1.0, 1.0)
    period = idx + min_p + shift
    f0 = (sr / period).astype(np.float32)
    aper = np.clip(b, 0.0, 1.0).astype(np.float32)
    silent = energy[:, 0] / win < _SILENT_POWER
    aper[silent] = 1.0
    f0[silent] = 0.0
    return f0, aper
