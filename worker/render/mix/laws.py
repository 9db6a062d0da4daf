"""Gain and pan laws: decibels as 20·log10 of amplitude, equal-power panning.

The reference computed 10·ln(v²) for a volume v (−13.9 dB for 0.5 instead of −6.02); here a
volume is an amplitude factor and its level is 20·log10(v).
"""

from __future__ import annotations

import numpy as np


def volume_db(volume: float | np.ndarray) -> np.ndarray:
    """Level change in dB of an amplitude factor (0 → −inf)."""
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(np.asarray(volume, dtype=np.float64))


def db_gain(db: float | np.ndarray) -> np.ndarray:
    """Amplitude factor of a level change in dB."""
    return 10.0 ** (np.asarray(db, dtype=np.float64) / 20.0)


def pan_gains(pan: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal-power (left, right) gains for pan in [-1, 1]: cos and sin of (pan + 1)·π/4.

    The power L² + R² is 1 at every position; the centre is −3.01 dB on each side.
    """
    theta = (np.clip(np.asarray(pan, dtype=np.float64), -1.0, 1.0) + 1.0) * np.pi / 4.0
    return np.cos(theta), np.sin(theta)


def rms_db(audio: np.ndarray) -> float:
    """RMS level of audio in dBFS (a full-scale sine is −3.01); −inf for silence."""
    if audio.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * float(np.log10(rms)) if rms > 0 else float("-inf")
