"""shuffle: an 8-step sequencer plays the cells in the middle of the grid; between rounds the
rows or the columns slide like a sliding puzzle on a torus, bringing new cells under the
sequencer; at the end the grid slides back, round by round, to where it began.

The reference's behaviour (media-tools-renders.md §2.5): the sequencer reads 2^beat_divisions
cells (the central columns, zig-zagging between the two middle rows by column parity), one
per sub-beat, volume alternating volume[1] (on) and volume[0] (off), matched to match_db,
each step flashing 0.33 → 1 → 0.33 over its animation (flash / 1 − flash, "sin"). `count`
rounds of beats_per_shuffle beats, with a shuffle of transition_ms between rounds: rows
slide sideways (odd shuffles) or columns up and down (even ones), by round(lerp(max_offset,
1, sin(distance from the centre))) cells, the distance measured against the zoomed view, in
a direction set by the row's (column's) parity. During each shuffle the last round's cells
play once, time-stretched to stretch × transition_ms (Rubber Band by default, the reference's
paulstretch smear on request: the mix's `stretch` and `stretch_method`; fades stretch with the
sound) at volume[0]. Then the shuffles run
backwards to restore the layout, each playing the cells under the sequencer reversed and
stretched. The view zooms in (cubicInOut) from grid/grid0× to grid/grid1× over the first
half of the rounds.

Fixed here: a clip sliding across the grid's edge is drawn at the image of the torus nearest
the centre of the view, switching sides when its centre crosses the edge, which is out of
sight once the view is zoomed in at all (the reference wrapped its top-left corner into the
grid, so a clip slid out on one side and popped in whole on the other); such crossings are
keyed at every frame, exactly.
"""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease_id, ease_name
from worker.render.engine.keys import Keys, envelopes, frame_times
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
from worker.render.shuffle.params import ShuffleParams


def shuffle_offsets(col: np.ndarray, row: np.ndarray, p: ShuffleParams) -> np.ndarray:
    """(count, n, 2) cumulative (rows, columns) each clip has slid by round i (unwrapped)."""
    g = p.grid
    out = np.zeros((p.count, col.size, 2), dtype=np.int64)
    ratio = min(p.grid0, p.grid1) / g
    centre = 0.5 * (g - 1)
    for i in range(1, p.count):
        oy, ox = out[i - 1, :, 0].copy(), out[i - 1, :, 1].copy()
        now_row, now_col = (row + oy) % g, (col + ox) % g
        along = now_col if i % 2 == 0 else now_row  # columns slide on even shuffles
        far = np.clip(np.abs(along - centre) / max(centre, 1e-9) / ratio, 0.0, 1.0)
        step = np.round(p.max_offset + (1 - p.max_offset) * ease_name(far, "sin"))
        step = np.where(along % 2 > 0, -step, step).astype(np.int64)
        if i % 2 == 0:
            oy = oy + step
        else:
            ox = ox + step
        out[i, :, 0], out[i, :, 1] = oy, ox
    return out


def sequencer_cells(p: ShuffleParams) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) the sequencer reads, step by step."""
    sub = 2**p.beat_divisions
    c_row = round(p.grid * 0.5)
    first = round((p.grid - sub) * 0.5)
    cols = first + np.arange(sub)
    rows = np.where(cols % 2 == 0, c_row - 1, c_row)
    return rows, cols


def compose(members: GridMembers, p: ShuffleParams) -> Composition:
    """Plan the shuffle of the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n, g = len(m), p.grid
    rng = np.random.default_rng(p.seed)
    base = cell_rects(m.col, m.row, g, g, p.width, p.height, p.margin)
    dur = render_durations(m, rng, p.min_clip_ms, p.extra_clip_ms)
    off = shuffle_offsets(m.col, m.row, p)
    rows = m.row[None, :] + off[:, :, 0]  # (count, n) unwrapped
    cols = m.col[None, :] + off[:, :, 1]
    at = np.empty((p.count, g, g), dtype=np.int64)  # which clip is where, round by round
    for i in range(p.count):
        at[i, rows[i] % g, cols[i] % g] = np.arange(n)
    seq_rows, seq_cols = sequencer_cells(p)
    seq = at[:, seq_rows, seq_cols]  # (count, steps)

    round_ms = p.beats_per_shuffle * p.beat_ms
    period = round_ms + p.transition_ms
    shuffles_ms = period * p.count - p.transition_ms
    back_at = p.pad_before_ms + shuffles_ms
    # the slides: (start, end, from round, to round)
    segments = [(p.pad_before_ms + i * period + round_ms,
                 p.pad_before_ms + (i + 1) * period, i, i + 1) for i in range(p.count - 1)]
    segments += [(back_at + q * p.transition_ms, back_at + (q + 1) * p.transition_ms,
                  p.count - 1 - q, p.count - 2 - q) for q in range(p.count - 1)]
    zoom_end = p.pad_before_ms + round(shuffles_ms * 0.5)
    zoom = Track.build(1, g / p.grid0, [0, 0], [p.pad_before_ms, zoom_end],
                       [g / p.grid0, g / p.grid1], ease_id("cubicInOut"))
    cell = {"x": p.width / g, "y": p.height / g}
    x_parts, x_cross = _slides(m.col, cols, segments, g, cell["x"], p.fps)
    y_parts, y_cross = _slides(m.row, rows, segments, g, cell["y"], p.fps)
    ghosts = _ghosts(g, zoom, x_cross, y_cross, (m.col, m.row), (cols, rows), segments, cell)
    total = n + ghosts["of"].size
    tracks = {"x": Keys(total, 0.0), "y": Keys(total, 0.0)}
    for name, parts in (("x", x_parts), ("y", y_parts)):
        for part in parts + ghosts[name]:
            tracks[name].add(*part)

    plays, flash_ms = _plays(m, p, seq, dur, round_ms, period, back_at)
    lo, hi = p.brightness
    left = np.round(flash_ms * p.flash)
    offsets = np.stack([np.zeros(len(plays)), left, flash_ms], axis=1)
    tracks["brightness"] = Keys(total, lo).add(*envelopes(
        plays.clip, plays.t_ms, offsets, np.array([lo, hi, lo]), ease_id("sin")))
    tracks["alpha"] = Keys(total, 1.0).add(*ghosts["alpha"])
    timeline = back_at + p.transition_ms * (p.count - 1)
    sound_end = plays.t_ms + m.dur_ms[plays.clip] * plays.stretch
    end = float(max(timeline, sound_end.max(initial=0.0)))
    # a ghost is a second drawing of a clip crossing the edge: same picture, in step with it
    shown = m.take(np.concatenate([np.arange(n), ghosts["of"]]))
    where = np.concatenate([np.arange(n), ghosts["of"]])
    pic_clip = np.concatenate([plays.clip] + [np.full(int((plays.clip == c).sum()), n + k)
                                              for k, c in enumerate(ghosts["of"])])
    pic_t = np.concatenate([plays.t_ms] + [plays.t_ms[plays.clip == c] for c in ghosts["of"]])
    scene = Scene(p.width, p.height, p.fps, frames_for(end, p.pad_after_ms, p.fps),
                  base[where], picture_frames(shown, p.fps),
                  {k: v.track() for k, v in tracks.items()}, {"zoom": zoom}, pic_clip, pic_t,
                  picture_phase(shown))
    m = shown
    info = {"rounds": p.count, "sequencer": seq.tolist(), "slides_ms": [s[:2] for s in segments],
            "zoom_ms": [p.pad_before_ms, zoom_end], "plays": len(plays),
            "stretched_plays": int((plays.stretch != 1).sum()), "clips": n,
            "ghosts": int(ghosts["of"].size)}
    return Composition("shuffle", scene, plays, m, info)


def wrap(x: np.ndarray, g: int) -> np.ndarray:
    """A cell position on the torus as the image whose centre lies inside the grid."""
    return np.mod(x + 0.5, g) - 0.5


def _slides(home: np.ndarray, pos: np.ndarray, segments: list, g: int, cell: float,
            fps: int) -> tuple[list, list]:
    """One axis of every clip: held between slides, eased ("sin") through each slide, drawn
    at the image nearest the centre; a slide across the edge is keyed at every frame.

    Returns the key parts and the crossings: (slide index, clips, frame times, where each
    clip is shown at each of them, in cells).
    """
    n = home.size
    sin, linear = ease_id("sin"), ease_id("linear")
    parts = [(np.arange(n), np.full(n, -1.0), (wrap(pos[0], g) - home) * cell, linear)]
    crossings = []
    for k, (ta, tb, a, b) in enumerate(segments):
        shown_a = wrap(pos[a], g)
        shown_b = shown_a + (pos[b] - pos[a])
        stays = (shown_b >= -0.5) & (shown_b < g - 0.5)
        plain = np.flatnonzero(stays & (pos[b] != pos[a]))
        parts.append((plain, np.full(plain.size, ta), (shown_a[plain] - home[plain]) * cell, sin))
        parts.append((plain, np.full(plain.size, tb), (shown_b[plain] - home[plain]) * cell, sin))
        cross = np.flatnonzero(~stays)
        if cross.size:
            ft = frame_times(ta, tb, fps)
            u = ease_name((ft - ta) / (tb - ta), "sin")
            path = pos[a][cross, None] + (pos[b] - pos[a])[cross, None] * u[None, :]
            shown = wrap(path, g)
            shown[:, 0] = shown_a[cross]  # exact at the ends
            shown[:, -1] = wrap(pos[b][cross], g)
            parts.append((np.repeat(cross, ft.size), np.tile(ft, cross.size),
                          ((shown - home[cross, None]) * cell).ravel(), linear))
            crossings.append((k, cross, ft, shown))
    return parts, crossings


def _ghosts(g: int, zoom: Track, x_cross: list, y_cross: list, home: tuple, pos: tuple,
            segments: list, cell: dict) -> dict:
    """Second drawings of clips crossing the grid's edge while the edge is in view (the view
    zoomed in less than g/(g − 2)): on the torus a crossing clip is partly on both sides, so
    its other image slides in on the far side while it slides out. Each ghost shows only
    during its slide. Returns its source clips ("of"), its x and y key parts and alpha keys."""
    of, alpha_c, alpha_t, alpha_v = [], [], [], []
    parts: dict[str, list] = {"x": [], "y": []}
    n = home[0].size
    for axis, other, crossings in (("x", "y", x_cross), ("y", "x", y_cross)):
        i_ax, i_ot = (0, 1) if axis == "x" else (1, 0)
        for k, clips, ft, shown in crossings:
            if min(float(zoom.at(t)[0]) for t in ft) >= g / (g - 2):
                continue  # the edge is out of sight the whole slide
            ta, tb, a, _ = segments[k]
            ids = n + len(of) + np.arange(clips.size)
            of.extend(clips.tolist())
            far = np.where(shown < (g - 1) / 2, shown + g, shown - g)
            parts[axis].append((np.repeat(ids, ft.size), np.tile(ft, clips.size),
                                ((far - home[i_ax][clips, None]) * cell[axis]).ravel(),
                                ease_id("linear")))
            still = (wrap(pos[i_ot][a][clips], g) - home[i_ot][clips]) * cell[other]
            parts[other].append((ids, np.full(ids.size, ta), still, ease_id("linear")))
            alpha_c.append(np.repeat(ids, 3))
            alpha_t.append(np.tile([-1.0, ta, tb], ids.size))
            alpha_v.append(np.tile([0.0, 1.0, 0.0], ids.size))
    return {"of": np.array(of, dtype=np.int64), "x": parts["x"], "y": parts["y"],
            "alpha": (_cat(alpha_c, np.int64), _cat(alpha_t, float), _cat(alpha_v, float),
                      ease_id("step"))}


def _cat(arrays: list, dtype) -> np.ndarray:
    """The arrays end to end (an empty array of dtype when there are none)."""
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype)


def _plays(m: GridMembers, p: ShuffleParams, seq: np.ndarray, dur: np.ndarray,
           round_ms: float, period: float, back_at: float) -> tuple[Plays, np.ndarray]:
    """The sequencer's steps and the stretched plays of each slide; with each play's flash
    length."""
    sub = seq.shape[1]
    sub_ms = round(p.beat_ms / sub)
    rnd, beat, step = np.meshgrid(np.arange(p.count), np.arange(p.beats_per_shuffle),
                                  np.arange(sub), indexing="ij")
    rnd, beat, step = rnd.ravel(), beat.ravel(), step.ravel()
    t = np.round(p.pad_before_ms + period * rnd + beat * p.beat_ms + step * sub_ms)
    clip = seq[rnd, step]
    volume = np.where((step + 1) % 2 == 1, p.volume[1], p.volume[0])
    stretch_to = round(p.transition_ms * p.stretch)
    slides = []
    for i in range(p.count - 1):  # forward: the round just played, stretched
        slides.append((p.pad_before_ms + round_ms * (i + 1) + p.transition_ms * i, i, False))
    for q in range(p.count - 1):  # back: the round about to be undone, reversed
        slides.append((back_at + q * p.transition_ms, p.count - 1 - q, True))
    s_clip = np.concatenate([seq[i] for _, i, _ in slides]) if slides else np.zeros(0, int)
    s_t = np.repeat([w for w, _, _ in slides], sub).astype(float)
    s_rev = np.repeat([r for _, _, r in slides], sub).astype(bool)
    factor = stretch_to / m.dur_ms[s_clip]
    fade_in, fade_out = fades(m.dur_ms[clip])
    s_in, s_out = fades(m.dur_ms[s_clip])
    match = np.nan if p.match_db is None else p.match_db
    steps = Plays.make(clip, t, volume=volume, pan=pan_for(m.col[clip], p.grid),
                       fade_in_ms=fade_in, fade_out_ms=fade_out, reverb=p.reverb,
                       match_db=match)
    stretched = Plays.make(s_clip, s_t, volume=p.volume[0], pan=pan_for(m.col[s_clip], p.grid),
                           fade_in_ms=s_in * factor, fade_out_ms=s_out * factor,
                           reverb=p.reverb, stretch=factor, match_db=match, reverse=s_rev,
                           stretch_method=p.stretch_method)
    plays = Plays.concat([steps, stretched])
    flash = np.concatenate([dur[clip], np.full(s_clip.size, float(stretch_to))])
    return plays, flash
