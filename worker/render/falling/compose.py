"""falling: the camera falls down through the grid, which wraps around, swaying left and right;
each clip it passes sounds at the moment it was closest, then drops, slides and tilts.

The reference's behaviour (media-tools-renders.md §2.3): a fixed zoom of grid/view. Over
`duration_s` the view falls `grid_cycles` grid heights (quadInOut: accelerating to half-time,
then slowing) and sways max_column_delta × √(x/16) × sin(waves · 2π · x) columns, x running
0 → 1 over each half, mirrored in the second. A clip is passed while the view centre is
within `play_radius` cells of it (on the torus); once it has been out of reach for twice its
animation it plays at the moment it was closest, with closeness = 1 − distance/radius, unless
it played less than twice its animation before, or in the first `delay_play_ms`. Volume is
lerp(volume, min(1, sway speed / loud_speed) × closeness). A played clip brightens, drops by
up to 2 × translate × its height, slides against the sway and tilts (tilt and slide scale
with sway speed / tilt_speed, capped at 1, and with a bell over the fall), over 1.5–2× its
animation.

Here the camera moves (cam_x keyed at every frame, cam_y one quadInOut key pair) instead of
every clip, and each clip is drawn at the image of the torus nearest the camera: it jumps by
a whole grid only while it is half a grid away, out of sight (inside a tween, that tween is
keyed at every frame with the jump in it). Distances are measured from
cell centres (the reference measured from the cells' corners, and only looked in a 10×10
window, so its radius of 8 reached about 5 cells); clips still being passed when the fall
ends play too (the reference dropped them).
"""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease_id, ease_name
from worker.render.engine.keys import Keys, envelopes, frame_times
from worker.render.engine.scene import Scene
from worker.render.engine.tracks import Track
from worker.render.falling.params import FallingParams
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


def sway_columns(u: np.ndarray, p: FallingParams) -> np.ndarray:
    """How far (columns) the content has swayed at progress u (0..1) of the fall."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    first = u <= 0.5
    nx = np.where(first, 2 * u, 2 * (1 - u))
    wave = np.sqrt(nx / 16.0) * np.sin(p.waves * 2 * np.pi * nx)
    return np.where(first, wave, -wave) * p.max_column_delta


def fallen_grids(u: np.ndarray, p: FallingParams) -> np.ndarray:
    """Grid heights fallen at progress u: quadIn to half of grid_cycles, then quadOut."""
    return p.grid_cycles * ease_name(np.clip(u, 0.0, 1.0), "quadInOut")


def bell(u: np.ndarray) -> np.ndarray:
    """0 at u = 0 and 1, 1 at u = 0.5 (the reference's easeSinInOutBell)."""
    return (np.sin((2.0 * u + 1.5) * np.pi) + 1.0) / 2.0


def passes(m: GridMembers, p: FallingParams, t: np.ndarray, gx: np.ndarray, gy: np.ndarray,
           thr: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every pass of the view centre (gx, gy at times t, in cell units) near a clip.

    Returns (clip, frame index of the closest moment, closeness) per pass: a pass ends once
    the clip has been out of reach for more than thr[clip] ms.
    """
    g, r = p.grid, p.play_radius
    reach = int(np.ceil(r)) + 1
    span = np.arange(-reach, reach + 1)
    cols = np.floor(gx)[:, None, None] + span[None, :, None]
    rows = np.floor(gy)[:, None, None] + span[None, None, :]
    d = np.hypot(cols - gx[:, None, None], rows - gy[:, None, None])
    close = 1.0 - d / r
    fi, ci, ri = np.nonzero(close > 0)
    near = close[fi, ci, ri]
    col = (np.floor(gx[fi]) + span[ci]).astype(np.int64) % g
    row = (np.floor(gy[fi]) + span[ri]).astype(np.int64) % g
    index = np.full(g * g, -1, dtype=np.int64)
    index[m.row * g + m.col] = np.arange(len(m))
    clip = index[row * g + col]
    order = np.lexsort((fi, clip))
    clip, fi, near = clip[order], fi[order], near[order]
    tt = t[fi]
    new = np.ones(clip.size, dtype=bool)
    new[1:] = (clip[1:] != clip[:-1]) | (tt[1:] - tt[:-1] > thr[clip[1:]])
    run = np.cumsum(new) - 1
    best = np.lexsort((fi, -near, run))
    first = np.ones(best.size, dtype=bool)
    first[1:] = run[best][1:] != run[best][:-1]
    pick = best[first]
    return clip[pick], fi[pick], near[pick]


def compose(members: GridMembers, p: FallingParams) -> Composition:
    """Plan the fall through the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n, g = len(m), p.grid
    rng = np.random.default_rng(p.seed)
    width, height = p.width, p.height
    cell_w, cell_h = width / g, height / g
    base = cell_rects(m.col, m.row, g, g, width, height, p.margin)
    dur = render_durations(m, rng, p.min_clip_ms, p.extra_clip_ms)
    t0 = p.pad_before_ms
    t1 = t0 + p.duration_s * 1000.0

    # the camera, keyed at every frame of the fall
    ft = frame_times(t0, t1, p.fps)
    u = (ft - t0) / (t1 - t0)
    sway = sway_columns(u, p)
    cam_x = width / 2 - sway * cell_w
    cam_y = height / 2 + fallen_grids(u, p) * height
    camera = {"zoom": Track.constant(1, g / p.view),
              "cam_x": Track.build(1, width / 2, np.zeros(ft.size), ft, cam_x),
              "cam_y": Track.build(1, height / 2, [0, 0], [t0, t1],
                                   [height / 2, height / 2 + p.grid_cycles * height],
                                   ease_id("quadInOut"))}

    # who is passed, and when it sounds
    speed = np.zeros(ft.size)  # sideways speed, columns per second (content moving right > 0)
    speed[1:] = np.diff(sway) / np.maximum(np.diff(ft), 1e-9) * 1000.0
    gx = cam_x / cell_w - 0.5
    gy = cam_y / cell_h - 0.5
    thr = 2.0 * dur
    clip, fi, near = passes(m, p, ft[1:], gx[1:], gy[1:], thr)
    fi = fi + 1
    keep = np.zeros(clip.size, dtype=bool)
    last: dict[int, float] = {}
    for i in np.lexsort((ft[fi], clip)):
        c, when = int(clip[i]), float(ft[fi[i]])
        if c not in last or when - last[c] > thr[c]:
            last[c] = when
            keep[i] = when > t0 + p.delay_play_ms
    clip, fi, near = clip[keep], fi[keep], near[keep]
    t, v, up = ft[fi], speed[fi], u[fi]

    # a played clip brightens, drops, slides and tilts, then returns ("sin")
    sp = bell(up)
    clip_ms = np.maximum(1000.0, np.round(dur[clip] * (1.5 + 0.5 * sp)))
    left = np.round(clip_ms * 0.5)
    h = base[clip, 3]
    ty = h * p.translate * sp * near * 2
    lean = np.clip(v / p.tilt_speed, -1.0, 1.0)  # at the defaults |v| stays under tilt_speed
    tx = h * p.translate * -lean * sp * near
    rot = p.rotate * sp * np.abs(lean)
    rot = np.where(tx > 0, -rot, rot)
    lo, hi = p.brightness
    offsets = np.stack([np.zeros(clip.size), left, clip_ms], axis=1)
    sin = ease_id("sin")

    def env(rest: float, peak: np.ndarray):
        vals = np.stack([np.full(clip.size, rest), peak, np.full(clip.size, rest)], axis=1)
        return envelopes(clip, t, offsets, vals, sin)

    windows = (clip, t, t + clip_ms)
    tracks = {
        "brightness": Keys(n, lo).add(*env(lo, lo + (hi - lo) * near)).track(),
        "rotation": Keys(n, 0.0).add(*env(0.0, rot)).track(),
        "x": _wrapped(n, env(0.0, tx), base[:, 0], ft, cam_x, width, windows, p.fps),
        "y": _wrapped(n, env(0.0, ty), base[:, 1], ft, cam_y, height, windows, p.fps),
    }

    lo_v, hi_v = p.volume
    volume = lo_v + (hi_v - lo_v) * np.minimum(1.0, np.abs(v) / p.loud_speed) * near
    fade_in, fade_out = fades(m.dur_ms[clip])
    plays = Plays.make(clip, t, volume=volume, pan=pan_for(m.col[clip], g),
                       fade_in_ms=fade_in, fade_out_ms=fade_out, reverb=p.reverb,
                       max_db=np.nan if p.max_db is None else p.max_db)
    end = float(max(t1, (plays.t_ms + m.dur_ms[plays.clip]).max(initial=0.0)))
    scene = Scene(width, height, p.fps, frames_for(end, p.pad_after_ms, p.fps), base,
                  picture_frames(m, p.fps), tracks, camera, plays.clip, plays.t_ms,
                  picture_phase(m))
    info = {"fall_ms": [t0, t1], "plays": len(plays), "clips": n,
            "max_sway_columns": float(np.abs(sway).max()),
            "max_tilt_deg": float(np.abs(rot).max(initial=0.0))}
    return Composition("falling", scene, plays, m, info)


def _wrapped(n: int, tween: tuple[np.ndarray, ...], pos: np.ndarray, ft: np.ndarray,
             cam: np.ndarray, size: float, windows: tuple[np.ndarray, ...], fps: int) -> Track:
    """One axis: each clip's tween offsets plus the whole-grid shifts that keep it drawn at
    the image of the torus nearest the camera (cam at frame times ft).

    A shift happens at the first frame the camera is more than half a grid away (a step
    key). When that falls inside one of the clip's tweens, the tween is keyed at every frame
    instead, with the shift in it: exact at frames, so the jump stays out of sight.
    """
    k0 = _nearest((cam[0] - pos) / size)  # the nearest image at the first frame
    ci, s, before, after = _image_changes(pos, cam, ft, size)
    order = np.lexsort((s, ci))
    ci, s, before, after = ci[order], s[order], before[order], after[order]
    tc, tt, tv, te = tween
    wc, ws, we = windows
    inside = np.full(ci.size, -1, dtype=np.int64)  # the tween a change falls in, if any
    if ci.size and wc.size:
        inside = _containing(wc, ws, we, ci, s)
    keys = Keys(n, 0.0)
    linear = ease_id("linear")
    hot = np.unique(inside[inside >= 0])
    drop = np.zeros(tc.size, dtype=bool)
    if hot.size:
        shape = Track.build(n, 0.0, tc, tt, tv, te)  # the tweens alone
        dense_c, dense_t = [], []
        for w in hot:
            drop |= (tc == wc[w]) & (tt >= ws[w]) & (tt <= we[w])
            times = frame_times(ws[w], we[w], fps)
            dense_c.append(np.full(times.size, wc[w]))
            dense_t.append(times)
        dc, dt = np.concatenate(dense_c), np.concatenate(dense_t)
        values = np.empty(dt.size)
        for t in np.unique(dt):
            at = dt == t
            values[at] = shape.at(float(t))[dc[at]]
        keys.add(dc, dt, values + _image_at(ci, s, after - before, k0, dc, dt) * size, linear)
    step = inside < 0
    keys.add(ci[step], s[step] - 1e-3, before[step] * size, linear)
    keys.add(ci[step], s[step], after[step] * size, linear)
    kc, kt = tc[~drop], tt[~drop]
    keys.add(kc, kt, tv[~drop] + _image_at(ci, s, after - before, k0, kc, kt) * size,
             te[~drop])
    # clips that never move and never shift still need their first image
    keys.add(np.arange(n), np.full(n, ft[0] - 1.0), k0 * size, linear)
    return keys.track()


def _containing(wc: np.ndarray, ws: np.ndarray, we: np.ndarray, c: np.ndarray,
                t: np.ndarray) -> np.ndarray:
    """For each (clip c, time t): the index of a window (wc, [ws, we]) of that clip holding
    t (the latest starting at or before t), or -1."""
    lo = float(min(ws.min(), t.min()))
    span = float(max(we.max(), t.max()) - lo) + 2.0
    order = np.lexsort((ws, wc))
    j = np.searchsorted(wc[order] * span + (ws[order] - lo), c * span + (t - lo),
                        side="right") - 1
    jj = np.maximum(j, 0)
    ok = (j >= 0) & (wc[order][jj] == c) & (t <= we[order][jj])
    return np.where(ok, order[jj], -1)


def _image_at(ci: np.ndarray, s: np.ndarray, delta: np.ndarray, k0: np.ndarray,
              qc: np.ndarray, qt: np.ndarray) -> np.ndarray:
    """Which image of the torus clip qc is drawn at at time qt: its first plus every change
    (ci, s, delta; sorted by clip and time) at or before qt."""
    out = k0[qc].astype(np.float64)
    if ci.size == 0 or qc.size == 0:
        return out
    lo = float(min(s.min(), qt.min()))
    span = float(max(s.max(), qt.max()) - lo) + 2.0
    cum = np.cumsum(delta)
    j = np.searchsorted(ci * span + (s - lo), qc * span + (qt - lo), side="right") - 1
    jj = np.maximum(j, 0)
    ok = (j >= 0) & (ci[jj] == qc)
    first = np.searchsorted(ci, qc)  # the clip's first change
    prior = np.where(first > 0, cum[np.maximum(first - 1, 0)], 0.0)
    return out + np.where(ok, cum[jj] - prior, 0.0)


def _image_changes(pos: np.ndarray, cam: np.ndarray, ft: np.ndarray,
                   size: float) -> tuple[np.ndarray, ...]:
    """Where each clip's nearest image changes: (clip, frame time, image before, after).

    Only clips whose image can change are looked at, a block at a time (a whole timeline of
    frames for every clip would not fit in memory).
    """
    kmin = _nearest((cam.min() - pos) / size)
    kmax = _nearest((cam.max() - pos) / size)
    cand = np.flatnonzero(kmin != kmax)
    if cand.size and np.all(np.diff(cam) >= 0):  # the fall: each image change is one crossing
        k0 = _nearest((cam[0] - pos[cand]) / size)
        steps = (_nearest((cam[-1] - pos[cand]) / size) - k0).astype(np.int64)
        clip = np.repeat(cand, steps)
        before = np.repeat(k0, steps) + (np.arange(clip.size) - np.repeat(
            np.cumsum(steps) - steps, steps))
        # the first frame at which the camera is past pos + (before + ½) grids
        f = np.searchsorted(cam, pos[clip] + (before + 0.5) * size, side="left")
        f = np.minimum(f, ft.size - 1)
        ok = _nearest((cam[f] - pos[clip]) / size) == before + 1
        return clip[ok], ft[f[ok]], before[ok], before[ok] + 1
    out = [[], [], [], []]
    block = max(1, 2_000_000 // max(cam.size, 1))
    for a in range(0, cand.size, block):
        idx = cand[a : a + block]
        k = _nearest((cam[None, :] - pos[idx, None]) / size)
        ci, fi = np.nonzero(np.diff(k, axis=1))
        out[0].append(idx[ci])
        out[1].append(ft[fi + 1])
        out[2].append(k[ci, fi])
        out[3].append(k[ci, fi + 1])
    if not cand.size:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate(o) for o in out)


def _nearest(x: np.ndarray) -> np.ndarray:
    """The nearest whole number, halves rounded up (np.round's halves-to-even would make the
    image change at different moments for even and odd images)."""
    return np.floor(np.asarray(x) + 0.5)
