"""orbits: every square ring of the grid turns like a conveyor belt, one cell per beat,
clockwise for half its turning and back for the other half; a clip sounds and flashes each
time it passes the play position on the right side of its ring.

The reference's behaviour (media-tools-renders.md §2.4): ring r (8r − 4 cells, clockwise from
its top-left) starts turning at pad_before + the sum of the gaps before it + a fraction of a
beat from a binary subdivision into 2^beat_divisions (0, ½, ¼, ¾, ⅛, ...), so ring hits
interleave. The gap after ring r is round(lerp(ring_offset, 1, sin(progress / ½))) beats for
the inner half of the rings and 1 beat from the middle ring on. Each ring turns grid/4 cells
forward and as many back (cubicInOut from cell to cell), then stays. A clip sounds as it
passes `play_position` of the way round, at lerp(volume, sin(1 − how far the ring is through
its turning)), centred (pan 0), and flashes to full brightness, fading linearly over its
animation. The view zooms out (quadInOut) from grid/grid0× to grid/grid1× between 80 % of
the way to the start of the first ring outside the opening view and the last ring's start.
"""

from __future__ import annotations

import math

import numpy as np

from worker.render.engine.easing import ease_id, ease_name
from worker.render.engine.keys import Keys, envelopes
from worker.render.engine.scene import Scene
from worker.render.engine.tracks import Track
from worker.render.grid import (
    Composition,
    GridMembers,
    cell_rects,
    central_window,
    fades,
    frames_for,
    picture_frames,
    picture_phase,
    render_durations,
)
from worker.render.mix.plays import Plays
from worker.render.orbits.params import OrbitsParams


def subdivision_offset(count: int, index: int) -> float:
    """The index-th fraction of a binary subdivision of a beat into `count`: 0, ½, ¼, ¾, ⅛, ⅜,
    ⅝, ⅞, 1/16, ... (the reference's getOffset)."""
    if count < 2 or index < 1:
        return 0.0
    level = (index).bit_length() - 1  # index 1 → ½; 2, 3 → ¼, ¾; 4..7 → ⅛..⅞
    first = 2**level
    if level >= math.ceil(math.log2(count)):
        return 0.0
    return (2 * (index - first) + 1) / 2 ** (level + 1)


def ring_starts(n_rings: int, p: OrbitsParams) -> np.ndarray:
    """When each ring (1 = innermost) starts turning, ms."""
    sub = 2**p.beat_divisions
    starts, gap_ms = [], 0.0
    for step in range(n_rings):
        progress = step / max(n_rings - 1, 1)
        offset = round(subdivision_offset(sub, step % sub) * p.beat_ms)
        starts.append(p.pad_before_ms + gap_ms + offset)
        if progress >= 0.5:
            gap = 1
        else:
            gap = round(p.ring_offset + (1 - p.ring_offset) * float(ease_name(progress / 0.5,
                                                                                "sin")))
        gap_ms += gap * p.beat_ms
    return np.array(starts)


def ring_order(col: np.ndarray, row: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(ring, index round the ring clockwise from its top-left) of each cell."""
    c = (side - 1) / 2.0
    ring = np.ceil(np.maximum(np.abs(col - c), np.abs(row - c))).astype(np.int64)
    upper = col >= row  # top and right sides, then bottom and left going back
    a = np.where(upper, col, -col)
    b = np.where(upper, row, -row)
    order = np.lexsort((b, a, ~upper, ring))
    first = np.searchsorted(ring[order], ring[order])  # each cell's ring's first position
    index = np.empty(col.size, dtype=np.int64)
    index[order] = np.arange(col.size) - first
    return ring, index


def compose(members: GridMembers, p: OrbitsParams) -> Composition:
    """Plan the orbits of the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n = len(m)
    rng = np.random.default_rng(p.seed)
    base = cell_rects(m.col, m.row, p.grid, p.grid, p.width, p.height, p.margin)
    dur = render_durations(m, rng, p.min_clip_ms, p.extra_clip_ms)
    ring, j = ring_order(m.col, m.row, p.grid)
    n_rings = p.grid // 2
    count = 8 * ring - 4
    half = n_rings // 2  # cells turned each way
    starts = ring_starts(n_rings, p)
    start = starts[ring - 1]
    turn = start + half * p.beat_ms  # when the ring reverses
    stop = turn + half * p.beat_ms

    # where position q of ring r is: the clip that starts there
    at = np.full((n_rings + 1, int(count.max())), -1, dtype=np.int64)
    at[ring, j] = np.arange(n)
    k = np.arange(2 * half + 1)
    steps = np.where(k <= half, k, 2 * half - k)
    pos = at[ring[:, None], (j[:, None] + steps[None, :]) % count[:, None]]
    times = start[:, None] + k[None, :] * p.beat_ms
    cubic = ease_id("cubicInOut")
    clips = np.repeat(np.arange(n), k.size)
    tracks = {"x": Track.build(n, 0.0, clips, times, base[pos, 0] - base[:, :1], cubic),
              "y": Track.build(n, 0.0, clips, times, base[pos, 1] - base[:, 1:2], cubic)}

    plays = _plays(m, p, count, j, half, start, turn, stop)
    lo, hi = p.brightness
    pc, pt = plays.clip, plays.t_ms
    offsets = np.stack([np.full(pc.size, -1e-3), np.zeros(pc.size), dur[pc]], axis=1)
    values = np.array([lo, hi, lo])
    tracks["brightness"] = Keys(n, lo).add(
        *envelopes(pc, pt, offsets, values, ease_id("linear"))).track()

    zoom0, zoom1 = p.grid / p.grid0, p.grid / p.grid1
    first_outside = p.grid0 // 2  # 0-based index of the first ring outside the opening view
    if first_outside < n_rings and zoom0 != zoom1:
        z_start = round(p.pad_before_ms + 0.8 * (starts[first_outside] - p.pad_before_ms))
        z_end = max(float(starts[-1]), z_start + 1.0)
    else:
        z_start = z_end = p.pad_before_ms
    zoom = Track.build(1, zoom0, [0, 0], [z_start, z_end], [zoom0, zoom1], ease_id("quadInOut"))

    end = float(max(stop.max() + p.beat_ms, (pt + m.dur_ms[pc]).max(initial=0.0)))
    scene = Scene(p.width, p.height, p.fps, frames_for(end, p.pad_after_ms, p.fps), base,
                  picture_frames(m, p.fps), tracks, {"zoom": zoom}, pc, pt, picture_phase(m))
    info = {"rings": n_rings, "ring_starts_ms": starts.tolist(), "zoom_ms": [z_start, z_end],
            "plays": len(plays), "clips": n}
    return Composition("orbits", scene, plays, m, info)


def _plays(m: GridMembers, p: OrbitsParams, count: np.ndarray, j: np.ndarray, half: int,
           start: np.ndarray, turn: np.ndarray, stop: np.ndarray) -> Plays:
    """Each time a clip passes the play position: forward until the turn, back until the stop."""
    ring_ms = count * p.beat_ms
    fwd = np.mod(p.play_position * count - j, count) * p.beat_ms
    back = np.mod((1 - p.play_position) * count + (j + half) % count, count) * p.beat_ms
    clip, t = [], []
    laps = int(np.ceil(half * p.beat_ms / ring_ms.min())) + 1
    for lap in range(laps):
        for first, until in ((start + fwd, turn), (turn + back, stop)):
            when = first + lap * ring_ms
            ok = when <= until
            clip.append(np.flatnonzero(ok))
            t.append(when[ok])
    clip_a, t_a = np.concatenate(clip), np.concatenate(t)
    order = np.lexsort((clip_a, t_a))
    clip_a, t_a = clip_a[order], t_a[order]
    through = np.clip((t_a - start[clip_a]) / (stop[clip_a] - start[clip_a]), 0.0, 1.0)
    lo, hi = p.volume
    volume = lo + (hi - lo) * ease_name(1.0 - through, "sin")
    fade_in, fade_out = fades(m.dur_ms[clip_a])
    return Plays.make(clip_a, t_a, volume=volume, pan=0.0, fade_in_ms=fade_in,
                      fade_out_ms=fade_out, reverb=p.reverb,
                      max_db=np.nan if p.max_db is None else p.max_db)
