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

from worker.analysis.kernels import comb_fill_root, lowest_partial, yin_pick

YIN_THRESHOLD = 0.1  # first CMND trough under this is the period (de Cheveigné & Kawahara)
_SILENT_POWER = 1e-10  # mean-square below this: no pitch, aperiodicity 1
# Chords (chord_root): partials more than CHORD_FLOOR_DB under a frame's strongest are silent;
# moving up one octave also needs the fundamental OCTAVE_FLOOR_DB under it (a note with a weak
# fundamental is not a chord). Fitted on the tuning split's struck/plucked chords (0/67 -> 40/67
# within 50 cents), checking that single notes of bowed, blown and bass instruments keep theirs.
CHORD_FLOOR_DB = 20.0
OCTAVE_FLOOR_DB = 35.0
CHORD_MAX_PARTIAL = 12
CHORD_MAX_HZ = 5000.0
CHORD_MIN_HZ = 45.0  # below, real low notes' weak fundamentals looked like chords (25 -> 23/25)
# Comb fill (kernels.comb_fill_root): presence of a partial runs linearly from FILL_FLOOR_DB
# under the frame's strongest bin (0) to level with it (1); a candidate's fill is the
# 1/h-weighted mean presence of its first FILL_HARMONICS partials. YIN's f0 stays when its fill
# reaches KEEP_FILL_LOW (f0 < CHORD_MIN_HZ) or KEEP_FILL; else the best-filled multiple (up to
# FILL_MAX_MULT, its own partial within CHORD_FLOOR_DB) if it reaches TAKE_FILL. On the tuning
# split, frames of notes below 45 Hz had f0 fills >= 0.41, chords' common fundamentals below
# 45 Hz <= 0.38 (95 % <= 0.32): KEEP_FILL_LOW sits between.
FILL_FLOOR_DB = 30.0
FILL_HARMONICS = 8
FILL_MAX_PARTIAL = 48
FILL_MAX_MULT = 12
KEEP_FILL_LOW = 0.34
KEEP_FILL = 0.4
TAKE_FILL = 0.3
FILL_MIN_PARTIALS = 3  # a multiple with fewer partials under CHORD_MAX_HZ is no candidate
# A moving candidate's fill gains RISE_WEIGHT x its partial's rise over the quietest of the
# RISE_FRAMES frames before (up to 20 dB): the note just struck beats the previous one still
# ringing (tune split 0.947 -> 0.949: vibraphone 0.959 -> 0.973, nylon 0.972 -> 0.986; flat
# from 0.1 to 0.2). At most frames.CONTEXT (8) frames, so blocks match the whole signal.
RISE_FRAMES = 8
RISE_WEIGHT = 0.15


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


def chord_root(f0: np.ndarray, power: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    """Return f0 moved up to the chord's note that sounds, per frame.

    On a chord YIN finds the period the notes share, the chord's common fundamental (C-E-G:
    two octaves below the C), at which nothing sounds. From 45 Hz, the lowest partial that
    sounds is taken as a chord note (kernels.lowest_partial), and where the comb test
    (kernels.comb_fill_root) also finds f0's own harmonic comb gappy, its best-filled multiple
    is taken instead (the lowest partial may be another note's overtone). Below 45 Hz only the
    comb test moves f0: a real low note fills its comb even with a weak fundamental, a chord's
    common fundamental does not. power: the frames' Hann-windowed power spectra (n_fft bins).
    """
    bin_hz = sr / n_fft
    fill = comb_fill_root(power, f0, bin_hz, CHORD_MAX_HZ, FILL_MAX_PARTIAL, FILL_HARMONICS,
                          FILL_FLOOR_DB, KEEP_FILL_LOW, KEEP_FILL, CHORD_MIN_HZ, TAKE_FILL,
                          FILL_MAX_MULT, CHORD_FLOOR_DB, FILL_MIN_PARTIALS,
                          RISE_FRAMES, RISE_WEIGHT)
    mult = lowest_partial(power, f0, bin_hz, CHORD_MAX_HZ, CHORD_MAX_PARTIAL,
                          10.0 ** (-CHORD_FLOOR_DB / 10.0), 10.0 ** (-OCTAVE_FLOOR_DB / 10.0),
                          CHORD_MIN_HZ)
    low = f0 < CHORD_MIN_HZ
    mult = np.where(low | ((mult > 1) & (fill > 1)), fill, mult)
    return (f0 * mult).astype(np.float32)
