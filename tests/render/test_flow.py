"""flow: the swirl's keyframes draw true circles (radius swelling and shrinking, phase by the
diagonal), the ring brightens, the glide's plays are the brightest clips in map order, every
one inside the track (the reference put the first ~28 at negative times), and a render moves
every clip round its cell."""

from __future__ import annotations

import numpy as np
import pytest

from tests.render.test_proliferation import grid_members
from worker.render.flow.compose import compose, map_path, ring_weight
from worker.render.flow.params import FlowParams
from worker.render.flow.swirl import angle, phase
from worker.render.stretch.flashes import bell


def test_the_reference_timeline_at_its_defaults() -> None:
    comp = compose(grid_members(128), FlowParams())
    start, end = comp.info["swirl_ms"]
    assert end - start == 64000 and comp.info["play_step_ms"] == 109
    assert len(comp.plays) == 511  # 512, less the first (silent: the swell is 0 there)
    assert comp.plays.t_ms.min() == pytest.approx(1000.0 + 109)  # nothing before pad_before
    # the swirl, 6 s of padding after it, rounded up to a whole second
    assert comp.scene.n_frames == int(np.ceil((end + 6000) / 1000)) * 24


def test_swirl_keys_draw_circles_of_the_planned_radius_and_phase() -> None:
    p = FlowParams(grid=16, width=320, height=180, rotation_ms=2000, rotations=8,
                   play_ms=1000, clips_to_play=8)
    comp = compose(grid_members(16), p)
    sc, m = comp.scene, comp.members
    start, end = comp.info["swirl_ms"]
    phi = phase(m.col, m.row, 16, 16)
    clip_h = sc.base[0, 3]
    worst = 0.0
    for t in np.linspace(start, end, 97)[1:-1]:
        prog = (t - start) / (end - start)
        r = 4.0 * clip_h * bell(prog)
        a = angle((t - start) / 2000, phi, 2.0)
        dx, dy = sc.tracks["x"].at(t), sc.tracks["y"].at(t)
        worst = max(worst, np.abs(dx - r * np.cos(a)).max(), np.abs(dy - r * np.sin(a)).max())
    # exact at the keys; the radius, eased between keys, errs under 4 % of its largest value
    assert worst < 0.04 * 4.0 * clip_h
    assert np.abs(sc.tracks["x"].at(start - 1)).max() == 0
    assert np.abs(sc.tracks["y"].at(end + 1)).max() == 0
    # the diagonal gradient: top-right and bottom-left corners a whole wave apart
    assert phi[(m.row == 0) & (m.col == 15)][0] == pytest.approx(2 * np.pi)
    assert phi[(m.row == 15) & (m.col == 0)][0] == 0.0


def test_a_ring_halfway_out_brightens_and_its_clips_sound_in_map_order() -> None:
    p = FlowParams(grid=16, width=320, height=180, clips_to_play=40)
    comp = compose(grid_members(16), p)
    sc, m, plays = comp.scene, comp.members, comp.plays
    start, end = comp.info["swirl_ms"]
    ring = ring_weight(m.col, m.row, 16)
    b = sc.tracks["brightness"].at((start + end) / 2)
    np.testing.assert_allclose(b, 0.33 + 0.67 * ring)
    assert b.max() > 0.95 and sc.tracks["brightness"].at(end)[0] == 0.33
    chosen = set(plays.clip.tolist()) | {int(np.lexsort((np.arange(len(m)), -ring))[0])}
    assert len(plays) >= 39 and ring[list(chosen)].min() >= np.sort(ring)[-40]
    # neighbours in the glide are nearer on the map than clips picked at random
    xy = np.stack([m.map_x[plays.clip], m.map_y[plays.clip]], axis=1)
    step = np.linalg.norm(np.diff(xy, axis=0), axis=1).mean()
    rand = np.linalg.norm(xy[:, None] - xy[None], axis=2).mean()
    assert step < 0.6 * rand
    # every play inside the track, stretched to play_ms, the volume's swell and turn
    assert plays.t_ms.min() >= p.pad_before_ms and np.all(np.diff(plays.t_ms) > 0)
    np.testing.assert_allclose(plays.stretch * m.dur_ms[plays.clip], p.play_ms)
    ms = plays.t_ms - p.audio_offset_ms
    turn = ((ms - start) % p.rotation_ms) / p.rotation_ms
    np.testing.assert_allclose(plays.volume, (0.4 + 0.2 * bell(turn)) * bell((ms - start) / 64000))
    np.testing.assert_allclose(plays.fade_out_ms, 0.9 * p.play_ms)


def test_map_path_visits_every_point_once() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=50), rng.normal(size=50)
    order = map_path(x, y)
    assert sorted(order.tolist()) == list(range(50))
    assert np.array_equal(map_path(np.full(5, np.nan), np.zeros(5)), np.arange(5))
