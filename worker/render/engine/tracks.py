"""Keyframe tracks for many clips at once, evaluated with one vectorised search per frame.

A track holds one property's keyframes for every clip, sorted by (clip, time), as flat arrays.
`Track.at(t)` finds each clip's segment with a single `searchsorted` over composite keys
(clip index × span + time), so evaluating 16k clips costs a few array ops, never a Python loop
over clips. Before its first key a clip holds the first value, after its last key the last; a
clip with no keys holds the track's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.errors import ConfigError
from worker.render.engine.easing import ease


@dataclass(frozen=True)
class Track:
    """One property's keyframes for n clips: flat (clip, t ms, value, easing-to-next) arrays."""

    n: int
    default: float
    clip: np.ndarray  # int64, sorted
    t: np.ndarray  # float64 ms, sorted within each clip
    v: np.ndarray  # float64
    ease: np.ndarray  # int16: the curve from this key to the next

    @classmethod
    def build(cls, n: int, default: float, clip=(), t=(), v=(), ease_ids=0) -> Track:
        """Sort keys by (clip, time) (stable, so equal times keep their order) and check them."""
        clip = np.asarray(clip, dtype=np.int64).ravel()
        t = np.asarray(t, dtype=np.float64).ravel()
        v = np.asarray(v, dtype=np.float64).ravel()
        e = np.broadcast_to(np.asarray(ease_ids, dtype=np.int16), clip.shape).copy()
        if not (clip.shape == t.shape == v.shape):
            raise ConfigError("track keys need equal-length clip, t and v arrays")
        if clip.size and (clip.min() < 0 or clip.max() >= n):
            raise ConfigError(f"track keys name clips outside 0..{n - 1}")
        if not (np.isfinite(t).all() and np.isfinite(v).all()):
            raise ConfigError("track keys must be finite")
        order = np.lexsort((t, clip))
        return cls(n, float(default), clip[order], t[order], v[order], e[order])

    @classmethod
    def constant(cls, n: int, value: float) -> Track:
        """A track with no keys: every clip holds `value`."""
        return cls.build(n, value)

    @property
    def keyed(self) -> bool:
        """Whether any clip has keys."""
        return self.clip.size > 0

    @cached_property
    def _index(self) -> tuple[float, float, np.ndarray, np.ndarray]:
        """(earliest time, span per clip, composite keys, each clip's first key) for searches."""
        lo, hi = (float(self.t.min()), float(self.t.max())) if self.t.size else (0.0, 0.0)
        span = (hi - lo) + 1.0
        return lo, span, self.clip * span + (self.t - lo), np.searchsorted(
            self.clip, np.arange(self.n + 1))

    def at(self, t_ms: float) -> np.ndarray:
        """Every clip's value at time t_ms, shape (n,)."""
        if not self.keyed:
            return np.full(self.n, self.default)
        lo, span, keys, starts = self._index
        tq = min(max(t_ms - lo, -0.5), span - 0.5)  # stay inside each clip's key range
        j = np.searchsorted(keys, np.arange(self.n) * span + tq, side="right") - 1
        first, end = starts[:-1], starts[1:]
        out = np.full(self.n, self.default)
        has = end > first
        before = has & (j < first)
        out[before] = self.v[first[before]]
        last = has & (j >= end - 1)
        out[last] = self.v[end[last] - 1]
        mid = has & ~before & ~last
        if mid.any():
            a = j[mid]
            t0, t1 = self.t[a], self.t[a + 1]
            u = np.where(t1 > t0, (t_ms - t0) / np.where(t1 > t0, t1 - t0, 1.0), 1.0)
            out[mid] = self.v[a] + (self.v[a + 1] - self.v[a]) * ease(u, self.ease[a])
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The track as named arrays, for saving in an npz."""
        return {f"{prefix}.clip": self.clip, f"{prefix}.t": self.t, f"{prefix}.v": self.v,
                f"{prefix}.ease": self.ease,
                f"{prefix}.meta": np.array([self.n, self.default], dtype=np.float64)}

    @classmethod
    def from_arrays(cls, d, prefix: str) -> Track:
        """Rebuild a track saved by `arrays`."""
        n, default = d[f"{prefix}.meta"]
        return cls(int(n), float(default), d[f"{prefix}.clip"], d[f"{prefix}.t"],
                   d[f"{prefix}.v"], d[f"{prefix}.ease"])


def latest_at_or_before(clip: np.ndarray, t: np.ndarray, n: int, t_ms: float) -> np.ndarray:
    """For each of n clips, the index of its latest event with time ≤ t_ms, or -1.

    `clip` and `t` are flat arrays sorted by (clip, t), as a Track's keys are.
    """
    if clip.size == 0:
        return np.full(n, -1, dtype=np.int64)
    lo, hi = float(t.min()), float(t.max())
    span = (hi - lo) + 2.0
    tq = min(max(t_ms - lo, -0.5), span - 1.0)
    keys = clip * span + (t - lo)
    j = np.searchsorted(keys, np.arange(n) * span + tq, side="right") - 1
    ok = (j >= 0) & (clip[np.clip(j, 0, None)] == np.arange(n))
    return np.where(ok, j, -1)
