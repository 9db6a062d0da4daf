"""Building keyframes for many clips at once: envelopes that may overlap, and paths sampled at
the output frames.

Compositions queue "tweens" per clip (a flash, a push out and back): each is a short run of
keys. When a clip's next tween starts before its previous one has ended, `envelopes` cuts the
earlier one there and starts the later one from the value the earlier had reached, so a
track never jumps back (the reference sorted overlapping keyframes and let them fight).
`frame_times` gives the times to key a motion no easing curve describes (a camera sway, a wrap
across the grid's edge) at every output frame: exact where the engine evaluates it.
"""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease
from worker.render.engine.tracks import Track


class Keys:
    """Keys for one property of n clips, gathered in parts and built into one Track."""

    def __init__(self, n: int, default: float) -> None:
        """An empty key set for n clips holding `default` where no key is given."""
        self.n, self.default = n, float(default)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, clip, t, v, ease_ids) -> Keys:
        """Add keys (arrays of one length; ease_ids may be a scalar)."""
        clip = np.asarray(clip, dtype=np.int64).ravel()
        e = np.broadcast_to(np.asarray(ease_ids, dtype=np.int16), clip.shape)
        self.parts.append((clip, np.asarray(t, np.float64).ravel(),
                           np.asarray(v, np.float64).ravel(), e))
        return self

    def track(self) -> Track:
        """The keys as a Track (sorted by clip and time; equal times keep their order)."""
        if not self.parts:
            return Track.constant(self.n, self.default)
        c, t, v, e = (np.concatenate([p[i] for p in self.parts]) for i in range(4))
        return Track.build(self.n, self.default, c, t, v, e)


def envelopes(clip: np.ndarray, start: np.ndarray, offsets: np.ndarray, values: np.ndarray,
              eases: np.ndarray | int) -> tuple[np.ndarray, ...]:
    """Keys of per-clip events: event i has keys at start[i] + offsets[i, j] with values[i, j]
    and curve eases[i, j] from key j to j + 1 (offsets ascending per row).

    An event that starts before the previous event of its clip has ended cuts that one at its
    start, and begins from the value reached there. Returns flat (clip, t, v, ease) arrays.
    """
    clip = np.asarray(clip, dtype=np.int64)
    start = np.asarray(start, dtype=np.float64)
    e_count, k = np.shape(offsets)
    t = start[:, None] + np.asarray(offsets, dtype=np.float64)
    v = np.array(np.broadcast_to(values, (e_count, k)), dtype=np.float64)
    e = np.array(np.broadcast_to(np.asarray(eases, dtype=np.int16), (e_count, k)))
    order = np.lexsort((start, clip))
    clip, t, v, e = clip[order], t[order], v[order], e[order]
    keep = np.ones((e_count, k), dtype=bool)
    if e_count > 1:
        same = clip[1:] == clip[:-1]
        cut = np.flatnonzero(same & (t[1:, 0] < t[:-1, -1]))
        for i in cut:  # a handful: overlaps are rare
            s = t[i + 1, 0]
            j = max(int(np.searchsorted(t[i], s, side="right")) - 1, 0)
            if j >= k - 1:
                val = v[i, -1]
            else:
                span = t[i, j + 1] - t[i, j]
                u = (s - t[i, j]) / span if span > 0 else 1.0
                shape = float(ease(np.array([u]), int(e[i, j]))[0])
                val = v[i, j] + (v[i, j + 1] - v[i, j]) * shape
            keep[i, j + 1 :] = False
            v[i + 1, 0] = val
    flat = keep.ravel()
    return (np.repeat(clip, k)[flat], t.ravel()[flat], v.ravel()[flat], e.ravel()[flat])


def frame_times(t0: float, t1: float, fps: int) -> np.ndarray:
    """The output frame times (ms) in [t0, t1], plus t0 and t1 themselves."""
    f0, f1 = int(np.ceil(t0 * fps / 1000.0 - 1e-9)), int(np.floor(t1 * fps / 1000.0 + 1e-9))
    inner = np.arange(f0, f1 + 1) * 1000.0 / fps
    return np.unique(np.concatenate([[t0], inner, [t1]]))
