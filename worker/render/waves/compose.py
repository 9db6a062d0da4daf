"""waves: every beat a wave radiates from the centre through the clips in view; each clip it
reaches pushes outward, grows and brightens, then settles back, while the view zooms in.

The reference's behaviour (media-tools-renders.md §2.2): `steps` waves, one every `beat_ms`
from pad_before. A wave reaches the clips visible at that moment's zoom in order of (distance,
angle) from the centre, evenly over `wave_ms`. A reached clip moves out along its angle by
translate × the smaller side of its clip, scales 1 → `scale` and brightens to
lerp(brightness, sin(1 − its normalised distance)) over half its animation ("sin"), then
returns over the next full animation length. The centre is drawn on top. The zoom runs
quadInOut from grid/grid0× to grid/grid1× over steps × beat.

Audio: volume = (1 − sin(distance among the clips in view)) × a per-clip random 0.33..1,
ramped in over the first 10 % of each wave, × sin(step / (steps − 1)), mapped into `volume`.
Fixed here: the distance range among visible clips is their real minimum to maximum (the
reference pre-filled its list with zeros, so its minimum was always 0), and the clips allowed
to sound are the `keep_audio_clips` nearest the centre plus a centre-weighted draw WITHOUT
replacement (the reference kept the top rows and drew with replacement, so fewer distinct
clips sounded than asked).
"""

from __future__ import annotations

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
    pan_for,
    picture_frames,
    picture_phase,
    render_durations,
)
from worker.render.mix.plays import Plays
from worker.render.waves.params import WavesParams


def limit_audio_clips(ndist: np.ndarray, max_clips: int, keep: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Which clips may sound (bool per clip): all when max_clips is 0 or covers them; else the
    `keep` nearest the centre and a draw without replacement of the rest, weighted
    (1 − normalised distance)⁴ (the weight the reference's quartOut trick amounts to)."""
    n = ndist.size
    if max_clips <= 0 or max_clips >= n:
        return np.ones(n, dtype=bool)
    order = np.lexsort((np.arange(n), ndist))
    keep = min(keep, max_clips)
    chosen = np.zeros(n, dtype=bool)
    chosen[order[:keep]] = True
    rest = order[keep:]
    w = (1.0 - ndist[rest]) ** 4 + 1e-12
    pick = rng.choice(rest.size, max_clips - keep, replace=False, p=w / w.sum())
    chosen[rest[pick]] = True
    return chosen


def visible_at_zoom(base: np.ndarray, zoom: float, width: int, height: int) -> np.ndarray:
    """Whether each clip's resting rectangle is in the frame at this zoom (about the centre)."""
    cx = (base[:, 0] - width / 2) * zoom + width / 2
    cy = (base[:, 1] - height / 2) * zoom + height / 2
    hw, hh = base[:, 2] * zoom / 2, base[:, 3] * zoom / 2
    return (cx + hw > 0) & (cx - hw < width) & (cy + hh > 0) & (cy - hh < height)


def compose(members: GridMembers, p: WavesParams) -> Composition:
    """Plan the waves over the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n = len(m)
    rng = np.random.default_rng(p.seed)
    c = (p.grid - 1) / 2.0
    dist = np.hypot(m.col - c, m.row - c)
    ndist = (dist - dist.min()) / max(float(np.ptp(dist)), 1e-9)
    angle = np.arctan2(m.row - c, m.col - c)
    base = cell_rects(m.col, m.row, p.grid, p.grid, p.width, p.height, p.margin)
    push = np.minimum(base[:, 2], base[:, 3]) * p.translate
    tx, ty = push * np.cos(angle), push * np.sin(angle)
    loud = rng.uniform(0.33, 1.0, n)
    dur = render_durations(m, rng, p.min_clip_ms, p.extra_clip_ms)
    sounds = limit_audio_clips(ndist, p.max_audio_clips, p.keep_audio_clips, rng)
    play_order = np.lexsort((np.degrees(angle), dist))  # centre first, then by angle
    rank = np.empty(n, dtype=np.int64)
    rank[play_order] = np.arange(n)

    zoom0, zoom1 = p.grid / p.grid0, p.grid / p.grid1
    zoom_end = p.pad_before_ms + p.steps * p.beat_ms
    ev_clip, ev_t, ev_ndist, ev_step, ev_prog = [], [], [], [], []
    for step in range(p.steps):
        ms = p.pad_before_ms + step * p.beat_ms
        zoom = zoom0 + (zoom1 - zoom0) * float(ease_name(step / p.steps, "quadInOut"))
        vis = play_order[visible_at_zoom(base[play_order], zoom, p.width, p.height)]
        if vis.size == 0:
            continue
        d = dist[vis]
        span = float(d.max() - d.min())
        prog = np.arange(vis.size) / vis.size
        ev_clip.append(vis)
        ev_t.append(ms + np.round(p.wave_ms * prog))
        ev_ndist.append((d - d.min()) / span if span > 0 else np.zeros(vis.size))
        ev_step.append(np.full(vis.size, step))
        ev_prog.append(prog)
    clip = np.concatenate(ev_clip)
    t = np.concatenate(ev_t)
    vis_ndist, step_of, prog = (np.concatenate(a) for a in (ev_ndist, ev_step, ev_prog))

    # motion: out over half the animation, back over the whole of it ("sin")
    half = np.floor(dur[clip] / 2)
    back = (dur[clip] - half) * 2
    offsets = np.stack([np.zeros(clip.size), half, half + back], axis=1)
    sin = ease_id("sin")
    lo, hi = p.brightness
    peak = lo + (hi - lo) * ease_name(1.0 - ndist[clip], "sin")
    tracks = {}
    for name, rest, far in (("x", 0.0, tx[clip]), ("y", 0.0, ty[clip]),
                            ("scale", 1.0, np.full(clip.size, p.scale)),
                            ("brightness", lo, peak)):
        values = np.stack([np.full(clip.size, rest), far, np.full(clip.size, rest)], axis=1)
        keys = Keys(n, rest).add(*envelopes(clip, t, offsets, values, sin))
        tracks[name] = keys.track()
    tracks["z"] = Track.build(n, 0.0, np.arange(n), np.zeros(n), (n - rank).astype(float))
    zoom = Track.build(1, zoom0, [0, 0], [p.pad_before_ms, zoom_end], [zoom0, zoom1],
                       ease_id("quadInOut"))

    plays = _plays(m, p, clip, t, vis_ndist, step_of, prog, loud, sounds)
    timeline = zoom_end + max(0.0, p.wave_ms - p.beat_ms)  # the last wave's remainder
    end = float(max(timeline, (plays.t_ms + m.dur_ms[plays.clip]).max(initial=0.0)))
    scene = Scene(p.width, p.height, p.fps, frames_for(end, p.pad_after_ms, p.fps), base,
                  picture_frames(m, p.fps), tracks, {"zoom": zoom}, plays.clip, plays.t_ms,
                  picture_phase(m))
    info = {"steps": p.steps, "reached": [int((step_of == s).sum()) for s in range(p.steps)],
            "zoom_ms": [p.pad_before_ms, zoom_end], "plays": len(plays), "clips": n,
            "sounding_clips": int(sounds.sum())}
    return Composition("waves", scene, plays, m, info)


def _plays(m: GridMembers, p: WavesParams, clip: np.ndarray, t: np.ndarray,
           vis_ndist: np.ndarray, step: np.ndarray, prog: np.ndarray, loud: np.ndarray,
           sounds: np.ndarray) -> Plays:
    """The waves' plays: every reached clip allowed to sound, at the moment it is reached."""
    nvol = (1.0 - ease_name(vis_ndist, "sin")) * loud[clip]
    ramp = prog <= 0.1
    nvol[ramp] *= 0.1 + 0.9 * ease_name(prog[ramp] / 0.1, "sin")
    nvol *= ease_name(step / max(p.steps - 1, 1), "sin")
    lo, hi = p.volume
    keep = sounds[clip]
    clip, t, nvol = clip[keep], t[keep], nvol[keep]
    fade_in, fade_out = fades(m.dur_ms[clip])
    return Plays.make(clip, t, volume=lo + (hi - lo) * nvol, pan=pan_for(m.col[clip], p.grid),
                      fade_in_ms=fade_in, fade_out_ms=fade_out, reverb=p.reverb,
                      max_db=np.nan if p.max_db is None else p.max_db)
