"""splice: two playhead columns, a quarter in from each side, are swept like arpeggios (down
the left, up the right, reversing every pass, faster and faster), each clip a short grain
stretched long; meanwhile the picture's pixel rows slide sideways, alternate rows opposite
ways, and fade to black, and the view zooms in.

The reference's behaviour (media-tools-renders.md §2.8, `compositions/splice.py`): columns
round((side−1)/4) and its mirror; passes from pad_before until the longest row cycle ends, pass
length lerp(column_pass_ms, ease(progress)), one row step = pass/side, rows skipped so a
column plays at most every min_play_step_ms; a clip plays at lerp(pass start, pass end −
step, ease(its place in the sweep)), only its first clip_play_ms, stretched lerp(stretch,
ease(progress)), volume lerp(volume, (1 − row/(side−1)) × bell(progress)), fade out 80 %,
flashing (20 % up, 80 % down) for the stretched length. The row shear (engine/shear.py) runs
from pad_before: middle rows travel `cycles` widths in cycle_ms[0], edges in cycle_ms[1],
quadInOut, fading past half way. The zoom goes from grid/grid0× to grid/grid1× over the longest
cycle (cubicInOut).

Pan follows where the clip's picture is when it sounds: its centre on screen (zoom applied),
displaced by the shear of the pixel row it sits on (the reference moved it by its column's
side, not the row's actual direction, and ignored the zoom); a clip off screen pans to the
side it left by. The fade out is stretched with the grain; the fade in stays the grain's own
(fading before the stretch, as the reference did, started every grain late).
"""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease_id, ease_name
from worker.render.engine.scene import Scene
from worker.render.engine.shear import RowShear
from worker.render.engine.tracks import Track
from worker.render.grid import (
    Composition,
    GridMembers,
    cell_rects,
    central_window,
    frames_for,
    picture_frames,
    picture_phase,
)
from worker.render.mix.plays import Plays
from worker.render.splice.params import SpliceParams
from worker.render.stretch.flashes import bell, flash_track


def playhead_columns(side: int) -> tuple[int, int]:
    """The two swept columns: a quarter in from the left, and its mirror."""
    left = round((side - 1) * 0.25)
    return left, side - left - 1


def compose(members: GridMembers, p: SpliceParams) -> Composition:
    """Plan the splice of the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n, side = len(m), p.grid
    base = cell_rects(m.col, m.row, side, side, p.width, p.height, p.margin)
    start = p.pad_before_ms
    longest = p.cycle_ms[1] * p.cycles
    end = start + longest
    zoom = Track.build(1, 1.0, [0, 0], [start, end], [side / p.grid0, side / p.grid1],
                       ease_id("cubicInOut"))
    shear = RowShear(start, (p.cycle_ms[0] * p.cycles, p.cycle_ms[1] * p.cycles),
                     float(p.cycles)) if p.shear else None

    clip, t, factor, length, passes = _sweeps(m, p, start, end)
    lo, hi = p.brightness
    bright = flash_track(n, clip, t, length * factor, lo, hi)
    playing = _can_play(m, p, clip, t, start, end)
    plays = _plays(m, p, base, zoom, shear, clip[playing], t[playing], factor[playing],
                   length[playing], start, end)
    last = float(max(end, (t + length * factor).max(initial=0.0)))
    scene = Scene(p.width, p.height, p.fps, frames_for(last, p.pad_after_ms, p.fps), base,
                  picture_frames(m, p.fps), {"brightness": bright}, {"zoom": zoom},
                  plays.clip, plays.t_ms, picture_phase(m), shear=shear)
    info = {"columns": list(playhead_columns(side)), "passes": passes, "plays": len(plays),
            "flashes": int(clip.size), "clips": n, "zoom_ms": [start, end]}
    return Composition("splice", scene, plays, m, info)


def _pass_plan(p: SpliceParams, side: int, ms: float, start: float, end: float):
    """(pass length, row step, play every k rows, stretch) of a pass starting at ms."""
    e = float(ease_name((ms - start) / (end - start), "sin"))
    col_ms = round(p.column_pass_ms[0] + (p.column_pass_ms[1] - p.column_pass_ms[0]) * e)
    step = round(col_ms / side)
    every = int(np.ceil(p.min_play_step_ms / max(step, 1))) if step < p.min_play_step_ms else 1
    return col_ms, step, every, p.stretch[0] + (p.stretch[1] - p.stretch[0]) * e


def _sweeps(m: GridMembers, p: SpliceParams, start: float, end: float):
    """Every flash of the two columns, pass by pass: (clip, t, stretch, grain ms, passes)."""
    left, right = playhead_columns(p.grid)
    heads = np.flatnonzero((m.col == left) | (m.col == right))
    ny = m.row[heads] / max(p.grid - 1, 1)
    seq0 = np.where(m.col[heads] == left, ny, 1.0 - ny)  # down the left, up the right
    grain = np.minimum(m.dur_ms[heads], p.clip_play_ms)
    clip, t, factor, length = [], [], [], []
    ms, i = start, 0
    while ms < end:
        col_ms, step, _, s = _pass_plan(p, p.grid, ms, start, end)
        seq = seq0 if i % 2 == 0 else 1.0 - seq0
        clip.append(heads)
        t.append(ms + (col_ms - step) * ease_name(seq, "sin"))
        factor.append(np.full(heads.size, s))
        length.append(grain)
        ms += col_ms
        i += 1
    return (np.concatenate(clip), np.concatenate(t), np.concatenate(factor),
            np.concatenate(length), i)


def _can_play(m: GridMembers, p: SpliceParams, clip: np.ndarray, t: np.ndarray, start: float,
              end: float) -> np.ndarray:
    """Which flashes sound: every k-th row, k keeping plays in a column min_play_step apart."""
    keep = np.ones(clip.size, bool)
    ms, i0 = start, 0
    per_pass = np.flatnonzero((m.col == playhead_columns(p.grid)[0])
                              | (m.col == playhead_columns(p.grid)[1])).size
    while ms < end and i0 < clip.size:
        col_ms, _, every, _ = _pass_plan(p, p.grid, ms, start, end)
        rows = m.row[clip[i0 : i0 + per_pass]]
        keep[i0 : i0 + per_pass] = rows % every == 0
        ms += col_ms
        i0 += per_pass
    return keep


def _plays(m: GridMembers, p: SpliceParams, base: np.ndarray, zoom: Track,
           shear: RowShear | None, clip: np.ndarray, t: np.ndarray, factor: np.ndarray,
           length: np.ndarray, start: float, end: float) -> Plays:
    """The sounding grains: level, fades and the pan of where each one's picture is."""
    lo, hi = p.volume
    ny = m.row[clip] / max(p.grid - 1, 1)
    volume = lo + (hi - lo) * (1.0 - ny) * bell((t - start) / (end - start))
    z = np.array([zoom.at(x)[0] for x in t])
    sx = (base[clip, 0] - p.width / 2) * z + p.width / 2
    sy = (base[clip, 1] - p.height / 2) * z + p.height / 2
    x = sx.copy()
    on = (sx >= 0) & (sx < p.width) & (sy >= 0) & (sy < p.height)
    if shear is not None:
        for i in np.flatnonzero(on):
            x[i] = shear.displaced_x(float(t[i]), sx[i:i + 1], sy[i:i + 1], p.width,
                                     p.height)[0]
    pan = np.clip(x / p.width * 2.0 - 1.0, -1.0, 1.0)
    return Plays.make(clip, t, volume=volume, pan=pan, fade_in_ms=0.2 * length,
                      fade_out_ms=0.8 * length * factor, reverb=p.reverb, stretch=factor,
                      match_db=np.nan if p.match_db is None else p.match_db,
                      stretch_method=p.stretch_method, length_ms=length)
