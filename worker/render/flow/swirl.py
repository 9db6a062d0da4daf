"""The swirl flow and poster share: every clip circling its own cell centre, its phase set by a
diagonal gradient across the grid, so a wave flows from one corner to the other.

A clip's angle at rotation progress u (turns since the swirl began) is (1 − u)·2π + φ·freq,
φ = ((rows − row − 1) + col) / (rows + cols − 2) · 2π; its offset is radius·(cos, sin) of it.
For a moving swirl the offsets are keyframes every quarter turn, joined by the sinIn and
sinOut easings, which are exactly a quarter of a cosine, so the engine draws true circles
(radius changes between keys are eased) with 4 keys per turn per clip instead of one per frame.
"""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease_id
from worker.render.engine.tracks import Track


def phase(col: np.ndarray, row: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """Each clip's phase φ (radians) from the diagonal gradient (top-right 0, bottom-left 2π...)."""
    return ((rows - row - 1) + col) / max(rows + cols - 2, 1) * 2.0 * np.pi


def angle(u: np.ndarray | float, phi: np.ndarray, freq: np.ndarray | float) -> np.ndarray:
    """Angle (radians) at rotation progress u (turns) of clips with phase phi."""
    return (1.0 - np.asarray(u)) * 2.0 * np.pi + phi * freq


def still_offsets(phi: np.ndarray, radius: np.ndarray, u: float, freq: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) offsets of a swirl frozen at rotation progress u."""
    a = angle(u, phi, freq)
    return radius * np.cos(a), radius * np.sin(a)


def swirl_tracks(phi: np.ndarray, t0: float, turn_ms: float, turns: int, radius_at,
                 freq_at) -> tuple[Track, Track]:
    """x and y tracks of n clips circling from t0 for `turns` turns of turn_ms each.

    radius_at(t) gives each key's radius (an array over keys); freq_at(t) the frequency that
    multiplies φ. Keys sit every quarter turn, where the angle (at freq_at(t0)) crosses a
    multiple of π/2: there cos and sin are each 0 or ±1, and from an extreme to a zero a
    quarter of a cosine is exactly the "sinIn" easing, from a zero to an extreme "sinOut".
    Values use the angle at the key's own time, so a changing freq bends the wave smoothly;
    the radius is exact at the keys and eased between them (at the defaults it changes under
    a tenth of its largest value per quarter turn). Each clip starts and ends at its cell
    centre (offset 0).
    """
    n = phi.size
    f0 = float(np.asarray(freq_at(np.array([t0])))[0])
    # angle = jπ/2  ⇔  u = 1 + φf/(2π) − j/4
    shift = 1.0 + phi * f0 / (2.0 * np.pi)
    j_lo = np.ceil(4.0 * (shift - turns)).astype(np.int64)
    js = j_lo[:, None] + np.arange(4 * turns + 2)[None, :]
    u = shift[:, None] - js / 4.0
    inside = (u > 0) & (u < turns)
    clip = np.repeat(np.arange(n), inside.sum(axis=1))
    j, uu = js[inside], u[inside]
    t = t0 + uu * turn_ms
    a = angle(uu, phi[clip], freq_at(t))
    r = radius_at(t)
    ends = np.arange(n)
    sin_in, sin_out, sin = ease_id("sinIn"), ease_id("sinOut"), ease_id("sin")
    tracks = []
    for values, extreme in ((r * np.cos(a), j % 2 == 0), (r * np.sin(a), j % 2 == 1)):
        tracks.append(Track.build(
            n, 0.0, np.concatenate([ends, clip, ends]),
            np.concatenate([np.full(n, t0), t, np.full(n, t0 + turns * turn_ms)]),
            np.concatenate([np.zeros(n), values, np.zeros(n)]),
            np.concatenate([np.full(n, sin), np.where(extreme, sin_in, sin_out),
                            np.full(n, sin)])))
    return tracks[0], tracks[1]
