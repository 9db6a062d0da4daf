"""flow: every clip circles its own cell centre, the phases set by a diagonal gradient so a
wave flows across the grid; the circles swell and shrink over the run, and a ring halfway
between centre and edge brightens; the ring's clips play one after another, each stretched
long, in the order of the sound map, so the sound glides through timbres.

The reference's behaviour (media-tools-renders.md §2.7, `compositions/flow.py`): `rotations`
turns of `rotation_ms`; radius = radius × clip height × bell(progress); angle =
(1 − turn progress)·2π + φ·freq (swirl.py); brightness lerp(brightness, bell(progress) ×
bell(ring)), ring = distance from the centre normalised over (0.5, side/2 − 0.5). Audio: the
`clips_to_play` brightest clips, ordered along the sound map (the reference used a 1-D t-SNE
column; here a nearest-neighbour path through the 2-D map, from one end of its main axis), one
every (swirl − play_ms)/count ms, each stretched to play_ms, volume lerp(volume, bell(turn
progress)) × bell(progress), fade out over 90 % of its stretched length (fade in: 10 % of the
sound's own length, so it starts when planned), matched to match_db, panned by column.

Fixed: the reference shifted every play by −rotation/2 from a swirl starting at pad_before,
so the first ~28 plays fell at negative times (and, by pydub's slicing, into the end of the
track). Here the swirl starts at pad_before − audio_offset_ms, so the first play is at
pad_before and every play is inside the track; silent (volume 0) plays are not scheduled.
"""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease_id
from worker.render.engine.scene import Scene
from worker.render.engine.tracks import Track
from worker.render.flow.params import FlowParams
from worker.render.flow.swirl import phase, swirl_tracks
from worker.render.grid import (
    Composition,
    GridMembers,
    cell_rects,
    central_window,
    frames_for,
    pan_for,
    picture_frames,
    picture_phase,
)
from worker.render.mix.plays import Plays
from worker.render.stretch.flashes import bell


def ring_weight(col: np.ndarray, row: np.ndarray, side: int) -> np.ndarray:
    """bell of the distance from the centre over (0.5, side/2 − 0.5): 1 on a ring halfway."""
    c = (side - 1) / 2.0
    d = np.hypot(col - c, row - c)
    lo, hi = 0.5, max(side / 2.0 - 0.5, 0.5 + 1e-9)
    return bell(np.clip((d - lo) / (hi - lo), 0.0, 1.0))


def map_path(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """An order of points along a nearest-neighbour path through the map, starting at the
    point furthest along its main axis: neighbours in the order sound alike (a glide)."""
    n = x.size
    if n <= 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return np.arange(n)
    pts = np.stack([x - x.mean(), y - y.mean()], axis=1)
    axis = np.linalg.svd(pts, full_matrices=False)[2][0]
    cur = int(np.argmin(pts @ axis))
    left = np.ones(n, bool)
    order = np.empty(n, np.int64)
    for i in range(n):
        order[i] = cur
        left[cur] = False
        if i + 1 < n:
            d = np.where(left, np.hypot(pts[:, 0] - pts[cur, 0], pts[:, 1] - pts[cur, 1]),
                         np.inf)
            cur = int(np.argmin(d))
    return order


def compose(members: GridMembers, p: FlowParams) -> Composition:
    """Plan the flow of the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n, side = len(m), p.grid
    base = cell_rects(m.col, m.row, side, side, p.width, p.height, p.margin)
    swirl_ms = p.rotation_ms * p.rotations
    start = p.pad_before_ms - p.audio_offset_ms  # so the first play is at pad_before
    end = start + swirl_ms

    def progress(t: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(t) - start) / swirl_ms, 0.0, 1.0)

    f_lo, f_hi = p.freq
    phi = phase(m.col, m.row, side, side)
    x, y = swirl_tracks(phi, start, p.rotation_ms, p.rotations,
                        lambda t: p.radius * float(base[0, 3]) * bell(progress(t)),
                        lambda t: f_lo + (f_hi - f_lo) * bell(progress(t)))
    ring = ring_weight(m.col, m.row, side)
    lo, hi = p.brightness
    ids = np.repeat(np.arange(n), 3)
    bright = Track.build(n, lo, ids, np.tile([start, start + swirl_ms / 2, end], n),
                         np.stack([np.full(n, lo), lo + (hi - lo) * ring, np.full(n, lo)],
                                  axis=1).ravel(), ease_id("sin"))

    plays = _plays(m, p, ring, start, swirl_ms)
    last = float(max(end, (plays.t_ms + p.play_ms).max(initial=0.0)))
    scene = Scene(p.width, p.height, p.fps, frames_for(last, p.pad_after_ms, p.fps), base,
                  picture_frames(m, p.fps), {"x": x, "y": y, "brightness": bright}, {},
                  plays.clip, plays.t_ms, picture_phase(m))
    info = {"swirl_ms": [start, end], "plays": len(plays), "clips": n,
            "play_step_ms": round((swirl_ms - p.play_ms) / min(p.clips_to_play, n))}
    return Composition("flow", scene, plays, m, info)


def _plays(m: GridMembers, p: FlowParams, ring: np.ndarray, start: float,
           swirl_ms: float) -> Plays:
    """The ring's clips, one after another along the sound map, each stretched to play_ms."""
    count = min(p.clips_to_play, len(m))
    brightest = np.lexsort((np.arange(len(m)), -ring))[:count]
    clip = brightest[map_path(m.map_x[brightest], m.map_y[brightest])]
    step = round((swirl_ms - p.play_ms) / count)
    ms = start + np.arange(count) * step
    turn = ((ms - start) % p.rotation_ms) / p.rotation_ms
    lo, hi = p.volume
    volume = (lo + (hi - lo) * bell(turn)) * bell((ms - start) / swirl_ms)
    factor = p.play_ms / m.dur_ms[clip]
    keep = volume > 0
    clip, ms, volume, factor = clip[keep], ms[keep], volume[keep], factor[keep]
    return Plays.make(clip, ms + p.audio_offset_ms, volume=volume,
                      pan=pan_for(m.col[clip], p.grid), fade_in_ms=0.1 * m.dur_ms[clip],
                      fade_out_ms=0.9 * p.play_ms, reverb=p.reverb, stretch=factor,
                      match_db=np.nan if p.match_db is None else p.match_db,
                      stretch_method=p.stretch_method)
