"""proliferation: square rings of clips light up from the centre outward, faster and faster,
while the view zooms out from the central grid0×grid0 cells to the whole grid.

The reference's behaviour (media-tools-renders.md §2.1): ring r (Chebyshev distance from the
centre; 8r−4 cells on an even grid) lasts 4·beat/r ms; inside a ring clips fire evenly
spaced, nearest first by t-SNE map distance from the centre ring's mean sound; each clip
flashes to full brightness over `flash` of its animation then settles dim ("sin" easing); the
zoom runs quadInOut from grid/grid0× to 1× between `zoom_start` of the way to the first ring
outside the opening view and the last ring's start. At most one clip per `audio_every_ms` of a
ring sounds (a seeded draw without replacement, unlike the reference's duplicates), at
lerp(volume) of (1 − ring/last)⁶, panned by column, reverb, capped at max_db.
"""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease_id
from worker.render.engine.scene import Scene
from worker.render.engine.tracks import Track
from worker.render.grid import (
    Composition,
    GridMembers,
    cell_rects,
    central_window,
    fades,
    frames_for,
    pan_for,
    picture_frames,
    picture_phase,
    render_durations,
)
from worker.render.mix.plays import Plays
from worker.render.proliferation.params import ProliferationParams


def rings(col: np.ndarray, row: np.ndarray, side: int) -> np.ndarray:
    """Square ring of each cell, 1 at the centre (the central 2×2 on an even grid)."""
    centre = (side - 1) / 2.0
    return np.floor(np.maximum(np.abs(col - centre), np.abs(row - centre))).astype(np.int64) + 1


def firing_order(m: GridMembers, ring: np.ndarray) -> np.ndarray:
    """Clip indices ring by ring, nearest first by map distance from ring 1's mean sound.

    Members without a map point fall back to grid distance from the centre.
    """
    x, y = m.map_x, m.map_y
    inner = ring == ring.min()
    if np.isfinite(x).all() and np.isfinite(y).all():
        d = np.hypot(x - x[inner].mean(), y - y[inner].mean())
    else:
        d = np.hypot(m.col - m.col[inner].mean(), m.row - m.row[inner].mean())
    return np.lexsort((np.arange(len(m)), d, ring))


def compose(members: GridMembers, p: ProliferationParams) -> Composition:
    """Plan the proliferation of the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n = len(m)
    rng = np.random.default_rng(p.seed)
    ring = rings(m.col, m.row, p.grid)
    n_rings = int(ring.max())
    ring_ms = np.round(4.0 * p.beat_ms / np.arange(1, n_rings + 1))
    ring_start = p.pad_before_ms + np.concatenate([[0.0], np.cumsum(ring_ms)[:-1]])

    order = firing_order(m, ring)
    counts = np.bincount(ring, minlength=n_rings + 1)[1:]
    first_of_ring = np.concatenate([[0], np.cumsum(counts)[:-1]])
    r_sorted = ring[order]
    rank = np.arange(n) - first_of_ring[r_sorted - 1]
    lit = np.empty(n)
    lit[order] = ring_start[r_sorted - 1] + rank * ring_ms[r_sorted - 1] / counts[r_sorted - 1]

    dur = render_durations(m, rng, p.min_clip_ms, p.extra_clip_ms)
    settled, peak = p.brightness
    sin = ease_id("sin")
    ids = np.repeat(np.arange(n), 3)
    bright = Track.build(
        n, 0.0, ids,
        np.stack([lit, lit + p.flash * dur, lit + dur], axis=1),
        np.tile([0.0, peak, settled], n), np.tile([sin, sin, sin], n))
    alpha = Track.build(n, 0.0, np.repeat(np.arange(n), 2),
                        np.stack([lit - 1e-3, lit], axis=1), np.tile([0.0, 1.0], n),
                        ease_id("step"))

    zoom0 = p.grid / p.grid0
    first_outside = min(p.grid0 // 2 + 1, n_rings)
    z_start = p.pad_before_ms + p.zoom_start * (ring_start[first_outside - 1] - p.pad_before_ms)
    z_end = max(ring_start[-1], z_start + 1.0)
    zoom = Track.build(1, 1.0, [0, 0], [z_start, z_end], [zoom0, 1.0], ease_id("quadInOut"))

    plays = _plays(m, p, ring, lit, ring_ms, n_rings)
    end = float(max((lit + dur).max(), (plays.t_ms + m.dur_ms[plays.clip]).max(initial=0.0)))
    scene = Scene(p.width, p.height, p.fps, frames_for(end, p.pad_after_ms, p.fps),
                  cell_rects(m.col, m.row, p.grid, p.grid, p.width, p.height, p.margin),
                  picture_frames(m, p.fps), {"brightness": bright, "alpha": alpha},
                  {"zoom": zoom}, np.arange(n), lit, picture_phase(m))
    info = {"rings": n_rings, "ring_ms": ring_ms.tolist(), "zoom_ms": [z_start, z_end],
            "plays": len(plays), "clips": n}
    return Composition("proliferation", scene, plays, m, info)


def _plays(m: GridMembers, p: ProliferationParams, ring: np.ndarray, lit: np.ndarray,
           ring_ms: np.ndarray, n_rings: int) -> Plays:
    """Which clips sound and how: per ring a draw seeded by (seed, ring), so adding rings
    does not reshuffle the others, capped by the ring's length."""
    chosen = []
    for r in range(1, n_rings + 1):
        members = np.flatnonzero(ring == r)
        cap = min(members.size, max(1, round(ring_ms[r - 1] / p.audio_every_ms)))
        pick = np.random.default_rng([p.seed, r]).choice(members.size, cap, replace=False)
        chosen.append(np.sort(members[pick]))
    clip = np.concatenate(chosen)
    step = ring[clip] - 1
    lo, hi = p.volume
    volume = lo + (hi - lo) * (1.0 - step / max(n_rings - 1, 1)) ** 6
    fade_in, fade_out = fades(m.dur_ms[clip])
    return Plays.make(clip, lit[clip], volume=volume, pan=pan_for(m.col[clip], p.grid),
                      fade_in_ms=fade_in, fade_out_ms=fade_out, reverb=p.reverb,
                      max_db=np.nan if p.max_db is None else p.max_db)
