"""stretch: from the middle row outward, pairs of clips grow into full-height strips while the
rest of their column slides out of the way; each strip's sound replays back to back, every
replay stretched longer and quieter; then the strips shrink back, and the view zooms out.

The reference's behaviour (media-tools-renders.md §2.6, `compositions/stretch.py`): row
(grid−1)//2 is the strip row; pair i (columns ⌊mid⌋−i and ⌈mid⌉+i) starts at pad + i·step and
grows (scale_y, quadInOut over stretch_ms) to the frame height plus one cell, while the other
clips of those columns move up or down by half that (quadInOut). Strips shrink back from
`transition_back_at` of the run, staggered by pair, never before they are fully grown. The
camera zooms from grid/grid0× to grid/grid1× over the first half of the run (cubicInOut).
Audio: a strip's clip replays back to back until stretch_ms has passed, replay k stretched
lerp(1, stretch_to_ms/dur, progress) (Rubber Band by default, pitch kept), at volume
lerp(volume, (1 − progress)(1 − pair/last)), matched to match_db, panned by column, each
replay a brightness flash (20 % up, 80 % down). The fade out is the clip's, stretched with
it; the fade in stays as short as the clip's (the reference faded before stretching, which
smeared every onset late by up to its factor; here a replay starts when it is planned).
"""

from __future__ import annotations

import math

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
)
from worker.render.mix.plays import Plays
from worker.render.stretch.flashes import flash_track
from worker.render.stretch.params import StretchParams


def column_steps(col: np.ndarray, side: int) -> np.ndarray:
    """Which pair each column belongs to: 0 for the two middle columns, side/2 − 1 outermost."""
    mid = (side - 1) / 2.0
    return np.where(col < mid, math.floor(mid) - col, col - math.ceil(mid)).astype(np.int64)


def replays(dur_ms: float, stretch_ms: float, stretch_to_ms: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One strip's replays back to back: (offset ms, stretch factor, progress) each, until
    stretch_ms has passed (the reference's loop: the last one starts at progress ≤ 1)."""
    target = stretch_to_ms / dur_ms
    offs, factors, prog = [], [], []
    elapsed, progress = 0.0, 0.0
    while progress <= 1.0:
        s = 1.0 + (target - 1.0) * progress
        offs.append(elapsed)
        factors.append(s)
        prog.append(progress)
        elapsed += max(1.0, round(dur_ms * s))
        progress = elapsed / stretch_ms
    return np.array(offs), np.array(factors), np.array(prog)


def compose(members: GridMembers, p: StretchParams) -> Composition:
    """Plan the stretch of the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n, side = len(m), p.grid
    base = cell_rects(m.col, m.row, side, side, p.width, p.height, p.margin)
    clip_h = float(base[0, 3])
    strip_h = p.height + p.height / side  # the frame height plus one cell
    pairs = round(side * 0.5)
    start = p.pad_before_ms
    run_ms = (pairs - 1) * p.step_ms + 2.0 * p.stretch_ms  # grow, then shrink back
    end = start + run_ms

    step = column_steps(m.col, side)
    grow = start + step * p.step_ms
    back_all = start + round(run_ms * p.transition_back_at)
    back_step = round((run_ms - round(run_ms * p.transition_back_at) - p.stretch_ms) / pairs)
    back = np.maximum(back_all + step * back_step, grow + p.stretch_ms)  # never before full

    strip_row = (side - 1) // 2
    strip = m.row == strip_row
    quad = ease_id("quadInOut")
    ks = np.stack([grow, grow + p.stretch_ms, back, back + p.stretch_ms], axis=1)
    eases = np.tile([quad, quad, quad, quad], n)
    full = strip_h / clip_h
    sy_v = np.tile([1.0, full, full, 1.0], (n, 1))
    s_idx = np.flatnonzero(strip)
    scale_y = Track.build(n, 1.0, np.repeat(s_idx, 4), ks[s_idx], sy_v[s_idx],
                          eases[: 4 * s_idx.size])
    o_idx = np.flatnonzero(~strip)
    delta = (strip_h - clip_h) * 0.5 * np.where(m.row[o_idx] > (side - 1) / 2.0, 1.0, -1.0)
    y_v = np.stack([np.zeros(o_idx.size), delta, delta, np.zeros(o_idx.size)], axis=1)
    y = Track.build(n, 0.0, np.repeat(o_idx, 4), ks[o_idx], y_v, eases[: 4 * o_idx.size])

    plays, flashes = _plays(m, p, s_idx, grow, step, pairs)
    lo, hi = p.brightness
    bright = flash_track(n, *flashes, lo, hi)
    zoom = Track.build(1, 1.0, [0, 0], [start, start + round(run_ms * 0.5)],
                       [side / p.grid0, side / p.grid1], ease_id("cubicInOut"))
    last = float(max(end, (plays.t_ms + flashes[2].max(initial=0.0)).max(initial=0.0)))
    scene = Scene(p.width, p.height, p.fps, frames_for(last, p.pad_after_ms, p.fps), base,
                  picture_frames(m, p.fps), {"brightness": bright, "y": y, "scale_y": scale_y},
                  {"zoom": zoom}, plays.clip, plays.t_ms, picture_phase(m))
    info = {"pairs": pairs, "strip_row": int(strip_row), "run_ms": run_ms,
            "zoom_ms": [start, start + round(run_ms * 0.5)], "plays": len(plays), "clips": n}
    return Composition("stretch", scene, plays, m, info)


def _plays(m: GridMembers, p: StretchParams, strips: np.ndarray, grow: np.ndarray,
           step: np.ndarray, pairs: int) -> tuple[Plays, tuple[np.ndarray, ...]]:
    """Every strip's replays, and its flashes (clip, start, length)."""
    clip, t, factor, progress, nstep = [], [], [], [], []
    for c in strips:
        offs, s, prog = replays(float(m.dur_ms[c]), p.stretch_ms, p.stretch_to_ms)
        clip.append(np.full(offs.size, c))
        t.append(grow[c] + offs)
        factor.append(s)
        progress.append(prog)
        nstep.append(np.full(offs.size, step[c] / max(pairs - 1, 1)))
    clip, t = np.concatenate(clip), np.concatenate(t)
    factor, progress = np.concatenate(factor), np.concatenate(progress)
    nstep = np.concatenate(nstep)
    lo, hi = p.volume
    volume = lo + (hi - lo) * (1.0 - progress) * (1.0 - nstep)
    fade_in, fade_out = fades(m.dur_ms[clip])
    length = np.maximum(1.0, np.round(m.dur_ms[clip] * factor))
    plays = Plays.make(clip, t, volume=volume, pan=pan_for(m.col[clip], p.grid),
                       fade_in_ms=fade_in, fade_out_ms=fade_out * factor,
                       reverb=p.reverb, stretch=factor,
                       match_db=np.nan if p.match_db is None else p.match_db,
                       stretch_method=p.stretch_method)
    return plays, (clip, t, length)
