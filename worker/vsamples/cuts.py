"""Scene boundaries in a run of thumbnails: hard cuts, fades through black and dissolves.

The reference took one number per frame (the mean of H, S and V) and a z-score over a
40-frame window: it missed cuts between shots of similar colour, called flashes cuts and
never saw fades or dissolves. Here frames are compared as small colour pictures:

- a hard cut is a jump between neighbouring frames far above the local level of change, in
  the pictures or in their colour histograms (camera motion moves pixels, not histograms),
  unless the picture comes straight back (a flash, a single bad frame) or the step is the
  same picture scaled brighter or darker (a fade);
- a fade through black is a run of near-black frames: its first frame ends a shot and its
  last begins the next (a cut is placed at both edges);
- a dissolve is a span over which the picture changes a lot while no single step does, and
  whose middle frame is the average of its ends (camera motion changes as much but is not an
  average), placed at its middle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

from worker.vsamples.scan import FrameFeatures


@dataclass(frozen=True)
class CutParams:
    """Thresholds, in mean absolute difference of 0-255 thumbnails (MAD)."""

    hard_min: float = 18.0  # a cut's jump is at least this ...
    hard_ratio: float = 4.0  # ... and this many times the local median change ...
    hist_min: float = 0.15  # ... or its histogram distance (0-1) is at least this and ratio×
    fade_resid: float = 0.35  # a step this close (× the jump) to a scaled previous frame
    flash_back: float = 0.5  # if frames 1 or 2 later are this close (× the jump): a flash
    black: float = 18.0  # mean level below which a frame is black (fades)
    dissolve_s: float = 0.4  # half-span of a dissolve test
    dissolve_min: float = 24.0  # change across the span
    dissolve_blend: float = 0.3  # middle frame's distance from the ends' average (× change)


def _mad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference between stacks of thumbnails, one value per pair."""
    return np.abs(a - b).mean(axis=(1, 2, 3))


def _histograms(x: np.ndarray, bins: int = 16) -> np.ndarray:
    """Per frame, its three 16-bin channel histograms as fractions, shape (n, 3, bins)."""
    q = np.clip((x / 256.0 * bins).astype(np.int64), 0, bins - 1)
    n = x.shape[0]
    flat = q.reshape(n, -1, 3)
    out = np.zeros((n, 3, bins))
    for c in range(3):
        idx = flat[:, :, c] + bins * np.arange(n)[:, None]
        out[:, c] = np.bincount(idx.ravel(), minlength=n * bins).reshape(n, bins)
    return out / flat.shape[1]


def _fade_step(a: np.ndarray, b: np.ndarray) -> float:
    """How far b is from a scaled by the best single gain (MAD): small for a fade step."""
    g = float((a * b).sum() / max((a * a).sum(), 1e-9))
    return float(np.abs(b - g * a).mean())


def detect_cuts(f: FrameFeatures, p: CutParams | None = None) -> np.ndarray:
    """Sorted times (ms) of the first frame of each new shot."""
    p = p or CutParams()
    x = f.thumbs
    n = x.shape[0]
    if n < 3:
        return np.zeros(0)
    cuts: list[float] = []
    d1 = np.concatenate([[0.0], _mad(x[1:], x[:-1])])
    local = median_filter(d1, size=15, mode="nearest")
    hist = _histograms(x)
    dh = np.concatenate([[0.0], 0.5 * np.abs(hist[1:] - hist[:-1]).sum(axis=2).mean(axis=1)])
    local_h = median_filter(dh, size=15, mode="nearest")
    level = x.mean(axis=(1, 2, 3))
    is_black = level < p.black
    jump = (d1 > p.hard_min) & ((d1 > p.hard_ratio * np.maximum(local, 1.0))
                                | (dh > np.maximum(p.hist_min, p.hard_ratio * local_h)))
    for i in np.flatnonzero(jump):
        if is_black[i] or is_black[i - 1]:
            continue  # fades handle transitions into and out of black
        near = [_mad(x[i - 1 : i], x[j : j + 1])[0] for j in (i + 1, i + 2) if j < n]
        near += [_mad(x[i - 2 : i - 1], x[i : i + 1])[0]] if i >= 2 else []
        if near and min(near) < p.flash_back * d1[i]:
            continue  # the picture came back (or had just left): a flash, not a new shot
        if (_fade_step(x[i - 1], x[i]) < p.fade_resid * d1[i]
                or abs(level[i] - level[i - 1]) > (1 - p.fade_resid) * d1[i]):
            continue  # the same picture, brighter or darker: part of a fade
        cuts.append(float(f.t_ms[i]))
    # fades through black: the edges of each black run, where the picture is not black
    edges = np.flatnonzero(np.diff(is_black.astype(np.int8)))
    for e in edges:
        cuts.append(float(f.t_ms[e + 1]))
    # dissolves: big change across ±k frames, no big single step, middle ≈ average of ends
    k = max(2, round(p.dissolve_s * f.fps)) if f.fps else 0
    if k and n > 2 * k:
        mid = np.arange(k, n - k)
        across = _mad(x[mid - k], x[mid + k])
        blend = _mad(x[mid], 0.5 * (x[mid - k] + x[mid + k]))
        steps = np.lib.stride_tricks.sliding_window_view(d1, 2 * k)[1 : n - 2 * k + 1].max(axis=1)
        fading = np.abs(level[mid + k] - level[mid - k]) > (1 - p.fade_resid) * across
        candidate = ((across > p.dissolve_min) & (blend < p.dissolve_blend * across)
                     & (steps < np.maximum(p.hard_min, across / 3)) & ~is_black[mid]
                     & ~fading)
        for j in np.flatnonzero(candidate):
            lo, hi = max(0, j - k), min(candidate.size, j + k + 1)
            if across[j] == across[lo:hi][candidate[lo:hi]].max():  # the span's strongest
                cuts.append(float(f.t_ms[mid[j]]))
    return _dedupe(np.array(sorted(cuts)), min_gap_ms=150.0)


def _dedupe(cuts: np.ndarray, min_gap_ms: float) -> np.ndarray:
    """Drop cuts closer than min_gap_ms to the previous kept one."""
    kept: list[float] = []
    for c in cuts:
        if not kept or c - kept[-1] >= min_gap_ms:
            kept.append(float(c))
    return np.array(kept)
