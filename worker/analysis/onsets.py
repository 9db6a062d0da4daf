"""Onsets from the sub-frame novelty (novelty.py): candidate peaks, a logistic decision, NMS.

1. Candidates: sub-frames where the persistent flux is the largest within +-PEAK_RADIUS
   sub-frames and at least CANDIDATE_MARGIN above its mean over [i - MEAN_BEFORE,
   i + MEAN_AFTER], WAIT sub-frames apart (librosa's peak-picking rules on a finer grid).
2. Decision: each candidate gets five features (FEATURES) and is an onset when
   p = 1 / (1 + exp(-(WEIGHTS . features + BIAS))) >= the threshold set by `delta`. The
   weights are a logistic regression fitted on the tuning split of the real-timbre set
   (`python bench/tune_onsets.py` prints them; tests/analysis/realtimbre.py renders the set).
3. Onsets closer than MIN_GAP_S keep the more probable one.
4. Timing: an onset is placed on its sub-frame's centre (ONSET_HOP = 11.6 ms grid at 22.05 kHz)
   minus the lateness predicted from the same features (TIMING_WEIGHTS, least squares on the
   tuning split, at most MAX_SHIFT_MS): sharp attacks peak early in the 46 ms window, soft
   ones late, and this keeps every instrument's median error within about 10 ms.

Every decision needs only a bounded neighbourhood, so a file streamed in blocks gets exactly
the onsets of the whole signal, and no normalisation over the file is involved.
"""

from __future__ import annotations

import math

import numpy as np

from worker.analysis.novelty import ONSET_HOP

PEAK_RADIUS_S = 0.035  # a candidate is the maximum of the flux within this distance
MEAN_BEFORE_S = 0.1  # ... and exceeds its mean over this much before
MEAN_AFTER_S = 0.07  # ... and this much after
CANDIDATE_MARGIN = 1.0  # ... by this much (log-magnitude units summed over bands)
WAIT_S = 0.02  # candidates at least this far apart
MIN_GAP_S = 0.05  # accepted onsets at least this far apart (keep the more probable)
LEVEL_SPAN = 4  # sub-frames averaged either side of a candidate for its level rise
SHARP_SPAN = 2  # sub-frames either side compared for sharpness

FEATURES = ("log_flux", "conc", "sharpness", "level_rise", "log_change")
# Logistic regression on FEATURES, fitted by bench/tune_onsets.py on the tuning split.
WEIGHTS = np.array([3.6892, 7.4413, -0.1711, -0.0236, 0.5132])
BIAS = -15.2095
# Predicted lateness (ms) of an onset's sub-frame centre, linear in FEATURES (same script).
TIMING_WEIGHTS = np.array([-5.66, -14.84, -1.12, 0.08, -2.61])
TIMING_BIAS = 41.93
MAX_SHIFT_MS = 30.0
P_ACCEPT = 0.25  # probability an accepted candidate must reach at the default delta
DEFAULT_DELTA = 0.07  # AnalyzeParams.delta's default, which means P_ACCEPT
DELTA_SCALE = 20.0  # each +0.05 of delta asks e times the odds of an onset


def threshold_logit(delta: float) -> float:
    """Return the logit an onset's probability must reach for a given `delta`."""
    return math.log(P_ACCEPT / (1 - P_ACCEPT)) + DELTA_SCALE * (delta - DEFAULT_DELTA)


class Grid:
    """Sub-frame counts of the picking windows at a sample rate."""

    def __init__(self, sr: int) -> None:
        per_s = sr / ONSET_HOP
        self.sr = sr
        self.max_shift = round(MAX_SHIFT_MS * sr / 1000.0)  # samples
        self.radius = max(1, round(PEAK_RADIUS_S * per_s))
        self.before = max(1, round(MEAN_BEFORE_S * per_s))
        self.after = max(1, round(MEAN_AFTER_S * per_s))
        self.wait = max(1, round(WAIT_S * per_s))
        self.min_gap = max(1, round(MIN_GAP_S * per_s))
        # Sub-frames after a candidate that its decision reads, and before it.
        self.lookahead = max(self.radius, self.after, LEVEL_SPAN, SHARP_SPAN) + 1
        self.lookback = max(self.radius, self.before, LEVEL_SPAN + 1, SHARP_SPAN) + 1


def find_candidates(flux: np.ndarray, lo: int, hi: int, grid: Grid) -> np.ndarray:
    """Return local indices i in [lo, hi) of flux peaks (before the WAIT rule)."""
    n = flux.size
    if hi <= lo:
        return np.zeros(0, np.int64)
    idx = np.arange(lo, hi)
    x = flux.astype(np.float64)
    is_max = x[idx] > 0
    for k in range(1, grid.radius + 1):
        is_max &= x[idx] >= x[np.maximum(idx - k, 0)]
        is_max &= x[idx] >= x[np.minimum(idx + k, n - 1)]
    csum = np.concatenate([[0.0], np.cumsum(x)])
    a0 = np.maximum(idx - grid.before, 0)
    a1 = np.minimum(idx + grid.after + 1, n)
    mean = (csum[a1] - csum[a0]) / (a1 - a0)
    return idx[is_max & (x[idx] >= mean + CANDIDATE_MARGIN)]


def split_cues(cues: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (conc, change) per sub-frame from the novelty's cue channels, flattened or not
    (novelty.CUES; a bare concentration array gives no change cue)."""
    c = np.asarray(cues).reshape(n, -1)
    change = c[:, 1] if c.shape[1] > 1 else np.zeros(n, c.dtype)
    return c[:, 0], change


def candidate_features(flux: np.ndarray, cues: np.ndarray, level: np.ndarray,
                       idx: np.ndarray) -> np.ndarray:
    """Return the (len(idx), len(FEATURES)) feature matrix of candidates at local indices;
    cues as split_cues takes them."""
    n = flux.size
    conc, change = split_cues(cues, n)
    x = flux.astype(np.float64)
    lev = level.astype(np.float64)
    side = (x[np.maximum(idx - SHARP_SPAN, 0)] + x[np.minimum(idx + SHARP_SPAN, n - 1)]) / 2
    sharp = np.log((x[idx] + 0.3) / (side + 0.3))
    csum = np.concatenate([[0.0], np.cumsum(lev)])
    b0, b1 = np.maximum(idx - LEVEL_SPAN - 1, 0), np.maximum(idx - 1, 1)
    a0, a1 = np.minimum(idx + 1, n - 1), np.minimum(idx + 1 + LEVEL_SPAN, n)
    before = (csum[b1] - csum[b0]) / np.maximum(b1 - b0, 1)
    after = (csum[a1] - csum[a0]) / np.maximum(a1 - a0, 1)
    return np.stack([np.log1p(x[idx]), conc[idx].astype(np.float64), sharp, after - before,
                     np.log1p(change[idx].astype(np.float64))], axis=1)


def logits(features: np.ndarray) -> np.ndarray:
    """Return the onset logit of each candidate's features."""
    return features @ WEIGHTS + BIAS


def onset_samples(idx: np.ndarray, features: np.ndarray, sr: int) -> np.ndarray:
    """Return the sample positions of onsets at sub-frames idx, corrected for lateness."""
    late_ms = np.clip(features @ TIMING_WEIGHTS + TIMING_BIAS, -MAX_SHIFT_MS, MAX_SHIFT_MS)
    return np.maximum(0, idx * ONSET_HOP - np.round(late_ms * sr / 1000.0)).astype(np.int64)


class OnsetTracker:
    """Decide onsets sub-frame by sub-frame as the novelty grows; carries the picking state."""

    def __init__(self, sr: int, delta: float) -> None:
        self.grid = Grid(sr)
        self.threshold = threshold_logit(delta)
        self.done = 0  # candidates at sub-frames < done are decided
        self.last_cand = -(10**9)
        self.pending: tuple[int, float, int] | None = None  # accepted: sub-frame, logit, sample
        self.last_out = -1  # onsets come out strictly increasing

    @property
    def lookback(self) -> int:
        """Sub-frames before `done` the next update needs."""
        return self.grid.lookback + self.grid.wait

    @property
    def settled(self) -> int:
        """No onset decided later lies before this sample."""
        first = min(self.done, self.pending[0]) if self.pending else self.done
        return max(0, first * ONSET_HOP - self.grid.max_shift)

    def update(self, flux: np.ndarray, conc: np.ndarray, level: np.ndarray, base: int,
               final: bool) -> list[int]:
        """Return new onsets (sample positions, increasing) given sub-frames [base, ...);
        conc is the novelty's cue channels (novelty.Novelty.conc), flattened or not."""
        end = base + flux.size
        hi = end if final else end - self.grid.lookahead
        out: list[int] = []
        if hi > self.done:
            lo = self.done - base
            if self.done - self.lookback < base and self.done > 0:
                raise RuntimeError("novelty trimmed too early")  # a bug, not bad input
            cand = find_candidates(flux, lo, hi - base, self.grid)
            keep = []
            for c in cand + base:
                if c - self.last_cand > self.grid.wait:
                    keep.append(c)
                    self.last_cand = c
            if keep:
                local = np.asarray(keep, np.int64) - base
                feats = candidate_features(flux, conc, level, local)
                z = logits(feats)
                at = onset_samples(local + base, feats, self.grid.sr)
                for c, zi, a in zip(keep, z.tolist(), at.tolist(), strict=True):
                    if zi >= self.threshold:
                        out += self._accept(int(c), zi, int(a))
            self.done = hi
        if self.pending and (final or self.done - self.pending[0] > self.grid.min_gap):
            out += self._emit(self.pending[2])
            self.pending = None
        return out

    def _accept(self, c: int, z: float, at: int) -> list[int]:
        """Hold an accepted onset back until no better one can come within MIN_GAP_S."""
        if self.pending is None:
            self.pending = (c, z, at)
            return []
        if c - self.pending[0] <= self.grid.min_gap:
            if z > self.pending[1]:
                self.pending = (c, z, at)
            return []
        done, self.pending = self.pending[2], (c, z, at)
        return self._emit(done)

    def _emit(self, at: int) -> list[int]:
        """Return [at] unless it would not come after the previous onset."""
        if at <= self.last_out:
            return []
        self.last_out = at
        return [at]
