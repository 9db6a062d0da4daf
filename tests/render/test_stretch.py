"""stretch: the plan follows the reference (pairs of middle-row clips from the centre out,
growing to full-height strips while their columns make way, shrinking back, the zoom out),
replays stretched ever longer and quieter, the engine's scale_y draws a clip taller and no
wider, and a render of test cards shows the strips."""

from __future__ import annotations

import numpy as np
import pytest

from tests.render.test_proliferation import grid_members
from worker.render.engine.easing import ease_name
from worker.render.engine.render import render_rgb
from worker.render.engine.scene import Scene
from worker.render.engine.store import StoreLayout
from worker.render.engine.testcard import testcard_store as card_store
from worker.render.engine.tracks import Track
from worker.render.stretch.compose import column_steps, compose, replays
from worker.render.stretch.flashes import flash_track
from worker.render.stretch.params import StretchParams


def test_scale_y_draws_the_picture_taller_and_the_cache_keeps_its_aspect() -> None:
    base = np.array([[80.0, 45.0, 20.0, 10.0]])
    scene = Scene(160, 90, 24, 2, base, np.ones(1, np.int64),
                  {"scale_y": Track.build(1, 1.0, [0, 0], [0.0, 1000 / 24], [1.0, 4.0])})
    w, h = scene.max_screen_sizes()
    assert (w[0], h[0]) == (20.0, 10.0)  # the store is sized by the clip's own aspect
    layout = StoreLayout.plan([20], [10], [1])
    data = card_store(layout, np.array([[250, 250, 250]], np.uint8))
    tall = render_rgb(scene, data, layout, 1).mean(axis=2) > 60
    rows, cols = np.flatnonzero(tall.any(axis=1)), np.flatnonzero(tall.any(axis=0))
    assert rows.size == pytest.approx(40, abs=1) and cols.size == pytest.approx(20, abs=1)
    assert rows.mean() == pytest.approx(44.5, abs=0.6)  # about its centre


def test_the_reference_timeline_at_its_defaults() -> None:
    comp = compose(grid_members(128), StretchParams())
    assert comp.info["pairs"] == 64 and comp.info["strip_row"] == 63
    assert comp.info["run_ms"] == 63 * 2048 + 2 * 16384
    assert comp.scene.n_frames == 166 * 24  # the reference's 166 s


def test_pairs_grow_from_the_centre_out_and_columns_make_way() -> None:
    p = StretchParams(grid=16, grid0=4, grid1=16, width=320, height=180)
    comp = compose(grid_members(16), p)
    m, sc = comp.members, comp.scene
    steps = column_steps(m.col, 16)
    top = m.row == 0
    assert [int(steps[top & (m.col == c)][0]) for c in (7, 8, 0, 15)] == [0, 0, 7, 7]
    clip_h = sc.base[0, 3]
    full = (180 + 180 / 16) / clip_h
    sy, y = sc.tracks["scale_y"], sc.tracks["y"]
    strip = np.flatnonzero(m.row == 7)
    for c in strip:
        grow = 1000 + steps[c] * 2048
        assert sy.at(grow - 1)[c] == 1.0
        assert sy.at(grow + 16384 / 2)[c] == pytest.approx(1 + (full - 1) * 0.5)
        assert sy.at(grow + 16384)[c] == pytest.approx(full)
    # the rest of a column moves out of the strip's way: up above it, down below it
    c_up = np.flatnonzero((m.row == 2) & (m.col == 9))[0]
    c_dn = np.flatnonzero((m.row == 12) & (m.col == 9))[0]
    t = 1000 + steps[c_up] * 2048 + 16384
    delta = (180 + 180 / 16 - clip_h) / 2
    assert y.at(t)[c_up] == pytest.approx(-delta) and y.at(t)[c_dn] == pytest.approx(delta)
    # strips shrink back, never before full, and all are back by the end of the run
    end = 1000 + comp.info["run_ms"]
    assert np.allclose(sy.at(end + 1)[strip], 1.0) and np.allclose(y.at(end + 1), 0.0)
    run = comp.info["run_ms"]
    for c in strip:
        still_full = max(1000 + steps[c] * 2048 + 16384, 1000 + round(run * 0.5))
        assert sy.at(still_full)[c] == pytest.approx(full)
    # the zoom: 4x to 1x over the first half of the run, cubicInOut
    zoom = sc.camera["zoom"]
    z0, z1 = comp.info["zoom_ms"]
    assert zoom.at(z0)[0] == 4.0 and zoom.at(z1)[0] == 1.0
    assert zoom.at((z0 + z1) / 2)[0] == pytest.approx(4 - 3 * ease_name(0.5, "cubicInOut"))


def test_replays_run_back_to_back_each_longer_and_quieter() -> None:
    offs, factors, prog = replays(400.0, 16384.0, 8192.0)
    assert offs[0] == 0 and factors[0] == 1.0
    np.testing.assert_allclose(np.diff(offs), np.maximum(1, np.round(400 * factors[:-1])))
    assert np.all(np.diff(factors) > 0) and factors[-1] <= 8192 / 400
    assert prog[-1] <= 1.0 and offs[-1] + 400 * factors[-1] > 16384  # until it has passed
    p = StretchParams(grid=8, grid0=4, grid1=8, width=160, height=90,
                      stretch_method="paulstretch")
    comp = compose(grid_members(8), p)
    plays, m = comp.plays, comp.members
    assert set(np.unique(m.row[plays.clip])) == {3}  # only the strip row sounds
    assert all(plays.method(i) == "paulstretch" for i in range(len(plays)))
    for c in np.unique(plays.clip):
        mine = plays.clip == c
        assert np.all(np.diff(plays.volume[mine]) <= 0)  # quieter replay after replay
        if column_steps(m.col[c : c + 1], 8)[0] == 0:
            assert np.all(np.diff(plays.volume[mine]) < 0)
        assert np.all(np.diff(plays.stretch[mine]) > 0)
        np.testing.assert_allclose(plays.fade_out_ms[mine], 0.5 * m.dur_ms[c] * plays.stretch[mine])
    assert np.all(plays.match_db == -16.0)
    lo, hi = p.volume
    assert plays.volume.max() <= hi and plays.volume.min() >= lo


def test_flashes_take_over_where_the_last_one_stands() -> None:
    tr = flash_track(2, [0, 0], [0.0, 500.0], [1000.0, 1000.0], 0.33, 1.0)
    assert tr.at(-1)[0] == 0.33 and tr.at(200)[0] == pytest.approx(1.0)
    before, after = tr.at(499.9)[0], tr.at(500.1)[0]
    assert before == pytest.approx(after, abs=0.01)  # no jump when the next flash starts
    assert tr.at(700)[0] == pytest.approx(1.0) and tr.at(1500)[0] == pytest.approx(0.33)
    assert tr.at(700)[1] == 0.33  # a clip with no flash rests
    assert np.all(np.diff(tr.t[tr.clip == 0]) >= 0)


def test_a_render_shows_full_height_strips() -> None:
    p = StretchParams(grid=8, grid0=8, grid1=8, width=160, height=90, stretch_ms=2000,
                      step_ms=500, transition_back_at=1.0)
    comp = compose(grid_members(8), p)
    sc = comp.scene
    w, h = sc.max_screen_sizes()
    layout = StoreLayout.plan(np.maximum(1, np.ceil(w)).astype(int),
                              np.maximum(1, np.ceil(h)).astype(int), sc.clip_frames)
    data = card_store(layout, np.full((sc.n, 3), 200, np.uint8))
    f = round((1000 + 3 * 500 + 2000) / 1000 * sc.fps) + 1  # every strip fully grown
    lit = render_rgb(sc, data, layout, f).mean(axis=2) > 40
    tall_cols = lit.all(axis=0)  # a column lit from top to bottom: a strip
    assert tall_cols.sum() >= 8 * (160 / 8 - 160 / 8 * p.margin) - 8
