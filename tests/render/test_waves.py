"""waves: the plan follows the reference's rules (wave order and timing, push/scale/brightness
envelopes, zoom, volumes) with its distance and audio-limiter bugs fixed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.render.kindcheck import grid_members
from worker.render.engine.easing import ease_name
from worker.render.waves.compose import compose, limit_audio_clips
from worker.render.waves.params import WavesParams


def small(**kw) -> WavesParams:
    return WavesParams(**{"grid": 8, "grid0": 8, "grid1": 4, "width": 320, "height": 180,
                          "steps": 3, "beat_ms": 4000, "wave_ms": 3000, "max_audio_clips": 0,
                          **kw})


def test_first_wave_reaches_every_clip_centre_out_evenly() -> None:
    p = small()
    comp = compose(grid_members(8), p)
    m, plays = comp.members, comp.plays
    first = plays.t_ms < p.pad_before_ms + p.beat_ms
    assert first.sum() == 64  # all in view at zoom 1, all sound (no limit)
    clip, t = plays.clip[first], plays.t_ms[first]
    order = np.argsort(t, kind="stable")
    np.testing.assert_allclose(t[order], 1000 + np.round(3000 * np.arange(64) / 64))
    c = 3.5
    d = np.hypot(m.col[clip[order]] - c, m.row[clip[order]] - c)
    assert np.all(np.diff(d) >= -1e-9)  # centre first
    ang = np.degrees(np.arctan2(m.row - c, m.col - c))
    ring1 = clip[order][:4]
    assert np.all(np.diff(ang[ring1]) > 0)  # then by angle


def test_a_reached_clip_pushes_out_grows_brightens_and_returns() -> None:
    p = small(translate=0.8, scale=1.5)
    comp = compose(grid_members(8), p)
    s, m = comp.scene, comp.members
    c = 0  # a corner clip: pushed up and left
    t = comp.plays.t_ms[comp.plays.clip == c][0]
    wt, ht = s.base[c, 2], s.base[c, 3]
    dur = s.tracks["scale"]  # find the peak: keys of clip c
    keys = dur.t[dur.clip == c]
    half = keys[1] - keys[0]
    peak_t = t + half
    push = 0.8 * min(wt, ht)
    ang = np.arctan2(m.row[c] - 3.5, m.col[c] - 3.5)
    assert s.tracks["x"].at(peak_t)[c] == pytest.approx(push * np.cos(ang))
    assert s.tracks["y"].at(peak_t)[c] == pytest.approx(push * np.sin(ang))
    assert s.tracks["scale"].at(peak_t)[c] == pytest.approx(1.5)
    assert s.tracks["brightness"].at(t - 1)[c] == pytest.approx(0.33)
    assert s.tracks["brightness"].at(peak_t)[c] == pytest.approx(0.33)  # farthest: no flash
    centre = int(np.flatnonzero((m.col == 3) & (m.row == 3))[0])
    tc = comp.plays.t_ms[comp.plays.clip == centre][0]
    kc = s.tracks["scale"].t[s.tracks["scale"].clip == centre]
    assert s.tracks["brightness"].at(tc + kc[1] - kc[0])[centre] == pytest.approx(1.0)
    back = keys[2] - keys[1]
    assert back == pytest.approx(2 * half, abs=2)  # out over half the animation, back over all
    assert s.tracks["x"].at(t + half + back + 1)[c] == pytest.approx(0.0)
    assert s.tracks["scale"].at(t + half + back + 1)[c] == pytest.approx(1.0)
    # the centre is drawn on top
    z = s.tracks["z"].at(0)
    assert z[centre] > z[c]


def test_zoom_and_volumes_follow_the_reference() -> None:
    p = small(volume=(0.3, 0.9))
    comp = compose(grid_members(8), p)
    zoom = comp.scene.camera["zoom"]
    end = 1000 + 3 * 4000
    assert zoom.at(999)[0] == 1.0 and zoom.at(end + 1)[0] == 2.0
    assert zoom.at((1000 + end) / 2)[0] == pytest.approx(1 + ease_name(0.5, "quadInOut"))
    # step 0 plays at the floor; later steps by distance among the clips in view
    plays = comp.plays
    step = np.floor((plays.t_ms - 1000) / 4000).astype(int)
    assert np.allclose(plays.volume[step == 0], 0.3)
    later = step == 2
    assert plays.volume[later].max() > 0.5 and plays.volume[later].min() >= 0.3
    # the nearest clip in view gets its full random loudness (distance range from its min)
    first_of_step2 = np.argmin(np.where(later, plays.t_ms, np.inf))
    assert plays.volume[first_of_step2] > 0.3 + 0.6 * 0.33 * 0.1 - 1e-9
    np.testing.assert_allclose(plays.pan, comp.members.col[plays.clip] / 7 * 2 - 1)


def test_audio_limiter_keeps_the_centre_and_draws_without_replacement() -> None:
    rng = np.random.default_rng(3)
    ndist = np.linspace(0, 1, 400)
    chosen = limit_audio_clips(ndist, 100, 20, rng)
    assert chosen.sum() == 100  # distinct clips, as many as asked
    assert chosen[:20].all()  # the 20 nearest always
    assert chosen[20:200].sum() > chosen[200:].sum()  # weighted towards the centre
    assert limit_audio_clips(ndist, 0, 20, rng).all()
    comp = compose(grid_members(8), small(max_audio_clips=16, keep_audio_clips=4))
    assert np.unique(comp.plays.clip).size == 16 == comp.info["sounding_clips"]


def test_default_length_matches_the_reference() -> None:
    comp = compose(grid_members(128), WavesParams())
    assert comp.info["reached"][0] == 128 * 128
    assert 104 <= comp.scene.n_frames / 24 <= 106  # 104 s in the reference (+ the last sound)
