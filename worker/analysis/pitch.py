"""YIN over every frame at once: f0 and aperiodicity (librosa.yin hides the latter).

The difference function needs, per frame, the correlation of the frame's first half (the
"head") with the whole frame, and the energy of every lag's window. The correlation comes from
spectra the feature frames compute anyway (frames.py: one FFT per hop serves the STFT, YIN and
the novelty), through one inverse FFT; the rest (window energies, the cumulative-mean-normalised
difference and the choice of its trough) is one compiled pass per frame (kernels.yin_pick).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from worker.analysis.kernels import yin_pick

YIN_THRESHOLD = 0.1  # first CMND trough under this is the period (de Cheveigné & Kawahara)
_SILENT_POWER = 1e-10  # mean-square below this: no pitch, aperiodicity 1


def lag_range(sr: int, fmin: float, fmax: float, length: int) -> tuple[int, int]:
    """Return (min_p, max_p): the periods searched, in samples, for frames of `length`."""
    min_p = max(2, int(np.floor(sr / fmax)))
    max_p = min(int(np.ceil(sr / fmin)), length - length // 2 - 2)
    return min_p, max_p


def yin(cross: np.ndarray, audio: np.ndarray, hop: int, sr: int, fmin: float, fmax: float,
        length: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (f0 Hz, aperiodicity 0..1) per frame, as librosa.yin would pick.

    Frame f is audio[f * hop : f * hop + length]; cross[f] is conj(rfft of its first half,
    zero-padded to `length`) times the rfft of the whole frame. The first trough of the
    cumulative-mean-normalised difference under YIN_THRESHOLD is the period; in noise the
    threshold is raised to (global minimum + YIN_THRESHOLD), so a slightly deeper trough at
    twice the period does not win (subharmonic errors). Aperiodicity is that difference at
    the chosen period: ~0 for a clean periodic frame, ~1 for noise or silence; 1 -
    aperiodicity is the frame's clarity.
    """
    n = cross.shape[0]
    if n == 0:
        return np.zeros(0, np.float32), np.ones(0, np.float32)
    min_p, max_p = lag_range(sr, fmin, fmax, length)
    acf = scipy.fft.irfft(cross, n=length, axis=1)
    return yin_pick(acf, audio, hop, length // 2, min_p, max_p, float(sr), YIN_THRESHOLD,
                    _SILENT_POWER)
