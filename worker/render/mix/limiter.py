"""True-peak measurement and a look-ahead true-peak limiter.

True peak is estimated as ITU-R BS.1770 does: the signal upsampled 4× (polyphase FIR), its
largest absolute value. The limiter computes, per sample, the gain that keeps the 4×-upsampled
peak around it under the ceiling, takes the minimum over a look-ahead window so the gain is
already down when a peak arrives, smooths the attack over that window and recovers with a
release time constant; a final hard clip at the ceiling guarantees that no sample exceeds it.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

OVERSAMPLE = 4


def _upsampled_abs_peak(audio: np.ndarray) -> np.ndarray:
    """Per original sample, the largest |x| of its 4 upsampled phases, over channels."""
    up = resample_poly(audio.astype(np.float64), OVERSAMPLE, 1, axis=-1)
    n = audio.shape[-1]
    up = np.abs(up[..., : n * OVERSAMPLE]).reshape(*audio.shape[:-1], n, OVERSAMPLE).max(-1)
    return up.max(axis=0) if up.ndim > 1 else up


def true_peak(audio: np.ndarray) -> float:
    """Largest absolute value of (channels, n) audio upsampled 4×: the true-peak estimate."""
    if audio.size == 0:
        return 0.0
    return float(max(_upsampled_abs_peak(audio).max(), np.abs(audio).max()))


@numba.njit(cache=True)
def _release(g: np.ndarray, coef: float) -> np.ndarray:
    """Let the gain fall at once but rise back towards 1 with a one-pole release."""
    out = np.empty_like(g)
    level = 1.0
    for i in range(g.size):
        level = min(g[i], level + (1.0 - level) * coef)
        out[i] = level
    return out


def limit(audio: np.ndarray, sr: int, ceiling_db: float = -1.0, *, lookahead_ms: float = 5.0,
          release_ms: float = 80.0) -> np.ndarray:
    """Limit (channels, n) float audio so its true peak stays at or under ceiling_db (dBTP)."""
    if audio.size == 0:
        return audio.astype(np.float32)
    ceiling = 10.0 ** (ceiling_db / 20.0)
    peak = np.maximum(_upsampled_abs_peak(audio), np.abs(audio).max(axis=0))
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    if need.min() >= 1.0:
        return np.clip(audio, -ceiling, ceiling).astype(np.float32)
    la = max(1, round(lookahead_ms * sr / 1000.0))
    # the minimum over [n - la, n + la] then an la-long average: the average of la values
    # each ≤ need[n] never exceeds need[n], and the gain ramps down over the look-ahead
    g = minimum_filter1d(need, size=2 * la + 1, mode="nearest")
    g = uniform_filter1d(g, size=la, mode="nearest")
    g = np.minimum(g, need)
    g = _release(g, 1.0 - np.exp(-1.0 / (release_ms * sr / 1000.0)))
    out = audio * g[np.newaxis, :]
    return np.clip(out, -ceiling, ceiling).astype(np.float32)
