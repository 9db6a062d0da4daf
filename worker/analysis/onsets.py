"""Onset picking on a streamed onset envelope: librosa.onset.onset_detect's rules, made local.

librosa normalises the envelope by its maximum over the whole input, then peak-picks
(pre_max 1, post_max 1, pre_avg 4, post_avg 5, wait 1 frames at 22.05 kHz / hop 512) and
backtracks each peak to the preceding local minimum. Here the maximum is taken over a
centred window (norm_window_s), so each decision needs only a bounded neighbourhood and a
file streamed in blocks gets exactly the onsets of the whole signal; inputs shorter than
half that window are normalised exactly as librosa does. Backtracking also looks at a
short-window RMS and at where the envelope's rise starts (see OnsetTracker.update), which
puts sample starts within ~1 frame before the attack instead of up to 4 frames early.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from worker.analysis import params as P

BACKTRACK_FRAMES = 86  # look back at most ~2 s for the minimum before a peak
ENV_PAD = P.ONSET_LAG + P.N_FFT // (2 * P.HOP)  # leading envelope frames that are padding
RISE_FRACTION = 0.2  # an onset's rise starts after the last frame under this share of its peak


def _pick_params(sr: int) -> tuple[int, int, int, int, int]:
    """Return librosa onset_detect's default pre_max, post_max, pre_avg, post_avg, wait."""
    r = sr / P.HOP
    return (int(np.ceil(0.03 * sr // P.HOP)), int(np.ceil(0.00 * sr // P.HOP + 1)),
            int(np.ceil(0.10 * r // 1)), int(np.ceil(0.10 * r // 1 + 1)),
            int(np.ceil(0.03 * sr // P.HOP)))


class OnsetTracker:
    """Decide onsets frame by frame as the envelope grows; carries peak-picking state."""

    def __init__(self, sr: int, delta: float, norm_window_s: float) -> None:
        self.delta = float(delta)
        self.half_w = max(1, round(norm_window_s / 2 * sr / P.HOP))
        self.pre_max, self.post_max, self.pre_avg, self.post_avg, self.wait = _pick_params(sr)
        self.done = 0  # peaks at frames < done are decided
        self.last_peak = -(10**9)
        self.last_onset = -1

    @property
    def lookback(self) -> int:
        """Frames before `done` the next update needs from the store."""
        return self.half_w + BACKTRACK_FRAMES + self.pre_avg + 4

    @property
    def lookahead(self) -> int:
        """Frames after a peak needed before it can be decided (when not final)."""
        return self.half_w + self.post_avg + 1

    def update(self, env: np.ndarray, energy: np.ndarray, base: int, final: bool) -> np.ndarray:
        """Return new onset frames (backtracked, increasing) given frames [base, ...).

        env is the raw onset strength; energy is what peaks are backtracked on (librosa's
        `energy` argument): a short-window RMS, so samples start just before the attack.
        """
        end = base + env.size
        hi = end if final else end - self.lookahead
        if hi <= self.done:
            return np.zeros(0, np.int64)
        lo = max(0, self.done - self.lookback)
        if lo < base:
            raise RuntimeError("frame store trimmed too early")  # a bug, not bad input
        x = env[lo - base :].astype(np.float64)
        # Local maximum over a centred window; zeros beyond the region are exact at the true
        # edges (the envelope is >= 0) and irrelevant elsewhere (only inner frames are used).
        scale = scipy.ndimage.maximum_filter1d(x, 2 * self.half_w + 1, mode="constant", cval=0.0)
        x = x / (scale + 1e-12)
        n = x.size
        cand = np.arange(self.done - lo, hi - lo)
        # pre_max = post_max = 1: x[n] == max(x[n-1 : n+1])
        is_max = np.ones(cand.size, bool)
        for k in range(1, self.pre_max + 1):
            is_max &= x[cand] >= x[np.maximum(cand - k, 0)]
        for k in range(1, self.post_max):
            is_max &= x[cand] >= x[np.minimum(cand + k, n - 1)]
        csum = np.concatenate([[0.0], np.cumsum(x)])
        a0 = np.maximum(cand - self.pre_avg, 0)
        a1 = np.minimum(cand + self.post_avg, n)
        mean = (csum[a1] - csum[a0]) / (a1 - a0)
        ok = cand[is_max & (x[cand] >= mean + self.delta)]
        peaks = []
        for c in ok + lo:
            if c - self.last_peak > self.wait:
                peaks.append(c)
                self.last_peak = c
        self.done = hi
        if not peaks:
            return np.zeros(0, np.int64)
        # Backtrack (librosa's onset_backtrack rule) to the nearest local minimum at or before
        # each peak, of the envelope and of the short RMS, and to where the envelope's rise
        # starts (last frame under RISE_FRACTION of the peak); take the latest. The RMS minimum
        # sits just before the attack but may lie far back when a quieter tone starts during
        # a louder one's decay; the envelope minimum is always close but may be a few frames
        # early in noise, where the rise start is not.
        peaks_a = np.asarray(peaks, np.int64)
        env_back = np.maximum(_nearest_minimum(x, peaks_a, lo), _rise_start(x, peaks_a, lo))
        # The envelope's first frames are zero padding (lag + centring): no evidence there.
        env_back = np.where(env_back < ENV_PAD, 0, env_back)
        back = np.maximum(env_back, _nearest_minimum(energy[lo - base :], peaks_a, lo))
        back = np.where(peaks_a - back > BACKTRACK_FRAMES, peaks_a, back)
        out = []
        for b in back:
            if b > self.last_onset:
                out.append(int(b))
                self.last_onset = int(b)
        return np.asarray(out, np.int64)


def _nearest_minimum(e: np.ndarray, peaks: np.ndarray, lo: int) -> np.ndarray:
    """Return, per peak, the last local minimum of e (global offset lo) at or before it."""
    mid = e[1:-1]
    minima = np.flatnonzero((mid <= e[:-2]) & (mid < e[2:])) + 1 + lo
    if lo == 0:
        minima = np.concatenate([[0], minima])
    j = np.searchsorted(minima, peaks, side="right") - 1
    return np.where(j >= 0, minima[np.maximum(j, 0)], peaks - BACKTRACK_FRAMES - 1)


def _rise_start(x: np.ndarray, peaks: np.ndarray, lo: int) -> np.ndarray:
    """Return, per peak, the last frame before it where x <= RISE_FRACTION * x[peak]."""
    out = np.empty_like(peaks)
    for i, p in enumerate(peaks - lo):
        a = max(0, p - BACKTRACK_FRAMES)
        under = np.flatnonzero(x[a:p] <= RISE_FRACTION * x[p])
        out[i] = (a + under[-1] if under.size else a) + lo
    return out
