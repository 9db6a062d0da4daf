"""Compiled per-frame loops of the analysis (numba): the parts numpy can only do in many passes.

Each kernel walks one frame (or onset sub-frame) at a time, reading only that frame's inputs,
so a block gives the same numbers as the whole signal. Compiled on first use and cached on
disk (numba's cache=True), like the other numba code in the project.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def frame_spectra(head_spec: np.ndarray, step: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """From the rfft of each hop's zero-padded half frame ("head"), return for n frames:

    power: |rfft(frame * periodic Hann)|^2, the frame being head j plus head j + step shifted
    by half the FFT length (spectrum times (-1)^k), windowed by a 3-tap filter across bins
    (X_w[k] = 0.5 X[k] - 0.25 (X[k - 1] + X[k + 1]), conjugate bins at the ends);
    cross: conj(head j) * X, whose inverse FFT is YIN's head-by-frame correlation.
    """
    bins = head_spec.shape[1]
    power = np.empty((n, bins), np.float32)
    cross = np.empty((n, bins), np.complex64)
    x = np.empty(bins + 2, np.complex64)
    for j in range(n):
        sign = np.float32(1.0)
        for k in range(bins):
            h = head_spec[j, k]
            v = h + sign * head_spec[j + step, k]
            x[k + 1] = v
            cross[j, k] = np.conj(h) * v
            sign = -sign
        x[0] = np.conj(x[2])
        x[bins + 1] = np.conj(x[bins - 1])
        for k in range(bins):
            w = np.float32(0.5) * x[k + 1] - np.float32(0.25) * (x[k] + x[k + 2])
            power[j, k] = w.real * w.real + w.imag * w.imag
    return power, cross


@numba.njit(cache=True, nogil=True)
def yin_pick(acf: np.ndarray, audio: np.ndarray, hop: int, win: int, min_p: int, max_p: int,
             sr: float, threshold: float, silent_power: float) -> tuple[np.ndarray, np.ndarray]:
    """YIN's choice per frame from acf[f, t] = sum_j audio[f*hop + j] audio[f*hop + j + t]
    (j < win, t <= max_p + 1): returns (f0 Hz, aperiodicity 0..1), as pitch.yin documents."""
    n = acf.shape[0]
    f0 = np.zeros(n, np.float32)
    aper = np.ones(n, np.float32)
    cmnd = np.empty(max_p + 2, np.float64)  # cmnd[tau], tau = 1 .. max_p + 1
    for f in range(n):
        base = f * hop
        e0 = 0.0
        for j in range(base, base + win):
            e0 += float(audio[j]) * float(audio[j])
        if e0 / win < silent_power:
            continue
        energy = e0
        total = 0.0
        for tau in range(1, max_p + 2):
            a_out = float(audio[base + tau - 1])
            a_in = float(audio[base + tau - 1 + win])
            energy += a_in * a_in - a_out * a_out
            d = e0 + energy - 2.0 * float(acf[f, tau])
            if d < 0.0:
                d = 0.0
            total += d
            denom = total / tau
            cmnd[tau] = d / (denom if denom > 1e-12 else 1e-12)
        lowest = np.inf
        best = min_p
        for tau in range(min_p, max_p + 1):
            if cmnd[tau] < lowest:
                lowest = cmnd[tau]
                best = tau
        limit = max(threshold, lowest + threshold)
        for tau in range(min_p, max_p + 1):
            # min_p >= 2, so the neighbour below is a real lag
            if cmnd[tau] < cmnd[tau - 1] and cmnd[tau] <= cmnd[tau + 1] and cmnd[tau] < limit:
                best = tau
                break
        a, b, c = cmnd[best - 1], cmnd[best], cmnd[best + 1]
        den = a - 2.0 * b + c
        shift = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
        shift = min(1.0, max(-1.0, shift))
        f0[f] = sr / (best + shift)
        aper[f] = min(1.0, max(0.0, b))
    return f0, aper


@numba.njit(cache=True, nogil=True)
def persistent_rise(bands: np.ndarray, n_sub: int, persist: int,
                    k_top: int) -> tuple[np.ndarray, np.ndarray]:
    """Onset flux and its concentration (novelty.py) from log band magnitudes.

    bands rows are sub-frames -1 .. n_sub - 1 + persist. For sub-frame i the rise in band b is
    max(0, min(bands[i .. i + persist, b]) - max(bands[i - 1, b - 1 .. b + 1])); flux is its sum
    over bands, conc the share of that sum in the k_top largest rises.
    """
    nb = bands.shape[1]
    flux = np.zeros(n_sub, np.float32)
    conc = np.zeros(n_sub, np.float32)
    top = np.zeros(k_top, np.float64)  # the k_top largest rises so far, ascending
    for i in range(n_sub):
        total = 0.0
        top[:] = 0.0
        for b in range(nb):
            ref = bands[i, b]
            if b > 0 and bands[i, b - 1] > ref:
                ref = bands[i, b - 1]
            if b + 1 < nb and bands[i, b + 1] > ref:
                ref = bands[i, b + 1]
            low = bands[i + 1, b]
            for k in range(2, persist + 2):
                if bands[i + k, b] < low:
                    low = bands[i + k, b]
            r = float(low - ref)
            if r <= 0.0:
                continue
            total += r
            if r > top[0]:  # insert r, dropping the smallest
                j = 1
                while j < k_top and top[j] < r:
                    top[j - 1] = top[j]
                    j += 1
                top[j - 1] = r
        flux[i] = total
        if total > 0.0:
            conc[i] = top.sum() / max(total, 1e-9)
    return flux, conc


@numba.njit(cache=True, nogil=True)
def lowest_partial(power: np.ndarray, f0: np.ndarray, bin_hz: float, max_hz: float,
                   max_partial: int, floor_ratio: float, octave_ratio: float,
                   min_hz: float) -> np.ndarray:
    """Per frame, the multiple m of f0 whose partial is the lowest one sounding (1 if none, or
    if f0 < min_hz).

    The peak power within a bin of each multiple m * f0 (m <= max_partial, below max_hz) is
    compared with the strongest; partials weaker than floor_ratio times it are silent. A chord
    makes YIN report the chord's common fundamental (C-E-G: two octaves below C), where no
    partial sounds; m * f0 is then the chord's lowest note.
    """
    n, bins = power.shape
    out = np.ones(n, np.int64)
    peaks = np.zeros(max_partial + 1, np.float64)
    for f in range(n):
        if f0[f] < min_hz:
            continue
        step = f0[f] / bin_hz  # bins between partials
        reach = 1 if step >= 3.0 else 0
        strongest = 0.0
        count = 0
        for m in range(1, max_partial + 1):
            hz = m * f0[f]
            if hz > max_hz:
                break
            c = int(hz / bin_hz + 0.5)
            p = 0.0
            for b in range(max(0, c - reach), min(bins, c + reach + 1)):
                if power[f, b] > p:
                    p = power[f, b]
            peaks[m] = p
            if p > strongest:
                strongest = p
            count = m
        for m in range(1, count + 1):
            if peaks[m] >= floor_ratio * strongest:
                out[f] = m
                break
        if out[f] == 2 and peaks[1] >= octave_ratio * strongest:
            out[f] = 1  # a weak fundamental under a strong octave: a note, not a chord
    return out


@numba.njit(cache=True, nogil=True)
def comb_fill_root(power: np.ndarray, f0: np.ndarray, bin_hz: float, max_hz: float,
                   max_partial: int, n_harm: int, floor_db: float, keep_low: float,
                   keep_high: float, split_hz: float, take_fill: float, max_mult: int,
                   partial_floor_db: float, min_partials: int, rise_frames: int,
                   rise_weight: float) -> np.ndarray:
    """Per frame, the multiple m of f0 whose harmonic comb is best filled (1: keep f0).

    Partial k of f0 (k <= max_partial, k f0 <= max_hz) is the peak power within a bin of
    k f0 in dB re the frame's strongest bin below max_hz; its presence is that level mapped
    linearly from -floor_db (0) to 0 dB (1). A candidate m f0's fill is the mean presence of
    its first n_harm partials weighted 1/h. A real note fills its own comb even when its
    fundamental is weak; the common fundamental YIN reports on a chord leaves gaps. f0 is kept
    when its fill reaches keep_low (f0 < split_hz) or keep_high; else the best-filled m >= 2
    whose own partial is within partial_floor_db of the strongest and which has at least
    min_partials partials in range (a candidate near max_hz is judged on too few), if its fill
    reaches take_fill. A candidate's fill gains rise_weight times its partial's rise over the
    quietest of the rise_frames frames before (0 at 0 dB, full at 20 dB): of a new note and
    the previous one still ringing, the new one's partial has just risen. rise_frames must not
    exceed the frames of context a block is computed with (frames.CONTEXT), so blocks give
    the numbers of the whole signal.
    """
    n, bins = power.shape
    out = np.ones(n, np.int64)
    top_bin = min(bins, int(max_hz / bin_hz))
    level = np.empty(max_partial + 1, np.float64)  # level[k], dB; -99 when out of range
    for f in range(n):
        g = f0[f]
        if g <= 0.0:
            continue
        top = 0.0
        for b in range(top_bin):
            if power[f, b] > top:
                top = power[f, b]
        top += 1e-30
        reach = 1 if g / bin_hz >= 3.0 else 0
        for k in range(1, max_partial + 1):
            hz = k * g
            if hz > max_hz:
                level[k] = -99.0
                continue
            c = min(int(np.rint(hz / bin_hz)), bins - 1)
            p = 0.0
            for b in range(max(0, c - reach), min(bins, c + reach + 1)):
                if power[f, b] > p:
                    p = power[f, b]
            level[k] = 10.0 * np.log10(p / top + 1e-30)
        keep = keep_low if g < split_hz else keep_high
        best, best_fill = 1, -1.0
        for m in range(1, max_mult + 1):
            if m > max_partial or level[m] <= -98.0:
                continue
            num, den, used = 0.0, 0.0, 0
            for h in range(1, n_harm + 1):
                k = m * h
                if k > max_partial or level[k] <= -98.0:
                    continue
                used += 1
                w = 1.0 / h
                num += w * min(1.0, max(0.0, (level[k] + floor_db) / floor_db))
                den += w
            fill = num / max(den, 1e-9)
            if m > 1 and rise_weight > 0.0 and f > 0:
                c = min(int(np.rint(m * g / bin_hz)), bins - 1)
                now = 0.0
                for b in range(max(0, c - reach), min(bins, c + reach + 1)):
                    now = max(now, power[f, b])
                low = np.inf
                for r in range(1, min(rise_frames, f) + 1):
                    q = 0.0
                    for b in range(max(0, c - reach), min(bins, c + reach + 1)):
                        q = max(q, power[f - r, b])
                    low = min(low, q)
                rise = 10.0 * np.log10((now + 1e-30) / (low + 1e-30))
                fill += rise_weight * min(1.0, max(0.0, rise / 20.0))
            if m == 1:
                if fill >= keep:
                    break
                continue
            if level[m] >= -partial_floor_db and used >= min_partials and fill > best_fill:
                best, best_fill = m, fill
        if best > 1 and best_fill >= take_fill:
            out[f] = best
    return out
