"""orbits: rings turn clockwise one cell per beat and back, starting at the reference's
staggered times; each clip sounds and flashes as it passes the play position."""

from __future__ import annotations

import numpy as np
import pytest

from tests.render.kindcheck import grid_members
from worker.render.engine.easing import ease_name
from worker.render.orbits.compose import compose, ring_order, ring_starts, subdivision_offset
from worker.render.orbits.params import OrbitsParams


def small(**kw) -> OrbitsParams:
    return OrbitsParams(**{"grid": 8, "grid0": 4, "grid1": 8, "width": 320, "height": 180,
                           "beat_ms": 500, **kw})


def test_rings_run_clockwise_from_the_top_left() -> None:
    col, row = np.meshgrid(np.arange(6), np.arange(6))
    ring, j = ring_order(col.ravel(), row.ravel(), 6)
    assert [int((ring == r).sum()) for r in (1, 2, 3)] == [4, 12, 20]
    j = j.reshape(6, 6)
    assert j[0].tolist() == [0, 1, 2, 3, 4, 5]  # top, left to right
    assert j[:, 5].tolist() == [5, 6, 7, 8, 9, 10]  # right side, down
    assert j[5].tolist() == [15, 14, 13, 12, 11, 10]  # bottom, right to left
    assert j[:, 0].tolist() == [0, 19, 18, 17, 16, 15]  # left side, up


def test_ring_starts_interleave_on_sub_beats() -> None:
    assert [subdivision_offset(16, i) for i in range(8)] == [0, .5, .25, .75, .125, .375,
                                                               .625, .875]
    p = OrbitsParams()
    starts = ring_starts(32, p)
    gaps, total = [], 0.0
    for step in range(32):
        x = step / 31
        gaps.append(total)
        total += (1 if x >= 0.5 else round(4 - 3 * float(ease_name(x / 0.5, "sin")))) * 1024
    want = 1000 + np.array(gaps) + np.round([subdivision_offset(16, s % 16) * 1024
                                             for s in range(32)])
    np.testing.assert_allclose(starts, want)


def test_clips_step_round_their_ring_then_back_home() -> None:
    p = small()
    comp = compose(grid_members(8), p)
    s, m = comp.scene, comp.members
    ring, j = ring_order(m.col, m.row, 8)
    starts = np.array(comp.info["ring_starts_ms"])
    r = 3
    clips = np.flatnonzero(ring == r)
    by_index = clips[np.argsort(j[clips])]
    count = 8 * r - 4
    t0 = starts[r - 1]
    for k in (0, 1, 2):  # forward: clip at index q sits where index q + k was
        t = t0 + k * 500
        x, y = s.tracks["x"].at(t), s.tracks["y"].at(t)
        for q in (0, 5, 11):
            c, dest = by_index[q], by_index[(q + k) % count]
            assert s.base[c, 0] + x[c] == pytest.approx(s.base[dest, 0])
            assert s.base[c, 1] + y[c] == pytest.approx(s.base[dest, 1])
    half = 2  # grid 8: 4 rings, two cells each way
    end = t0 + 2 * half * 500
    assert np.allclose(s.tracks["x"].at(end + 1)[clips], 0)  # home again
    # halfway between beats the move is half done (cubicInOut)
    c, dest = by_index[0], by_index[1]
    mid = s.base[c, 0] + s.tracks["x"].at(t0 + 250)[c]
    assert mid == pytest.approx((s.base[c, 0] + s.base[dest, 0]) / 2)


def test_plays_at_the_play_position_with_fading_volume() -> None:
    p = small()
    comp = compose(grid_members(8), p)
    s, m, plays = comp.scene, comp.members, comp.plays
    ring, _ = ring_order(m.col, m.row, 8)
    right = s.base[:, 0].max()
    for i in range(len(plays)):
        c, t = int(plays.clip[i]), plays.t_ms[i]
        r = ring[c]
        # on the right side of its ring, halfway down it (0.375 of the way round)
        x = s.base[c, 0] + s.tracks["x"].at(t)[c]
        y = s.base[c, 1] + s.tracks["y"].at(t)[c]
        col_x = np.unique(s.base[ring == r, 0]).max()
        assert x == pytest.approx(col_x)
        assert y == pytest.approx(90, abs=1e-6)  # the middle row line
        assert s.tracks["brightness"].at(t)[c] == pytest.approx(1.0)
    assert right > 0 and np.all(plays.pan == 0)
    assert len(plays) == 4 * 2 * 2  # each ring: a play per beat forward and back
    starts = np.array(comp.info["ring_starts_ms"])
    through = np.clip((plays.t_ms - starts[ring[plays.clip] - 1]) / 2000, 0, 1)
    np.testing.assert_allclose(plays.volume, 0.25 + 0.75 * ease_name(1 - through, "sin"))


def test_default_zoom_and_length_match_the_reference() -> None:
    comp = compose(grid_members(128), OrbitsParams())
    assert len(comp.members) == 64 * 64
    starts = np.array(comp.info["ring_starts_ms"])
    z0, z1 = comp.info["zoom_ms"]
    assert z0 == round(1000 + 0.8 * (starts[16] - 1000)) and z1 == starts[31]
    zoom = comp.scene.camera["zoom"]
    assert zoom.at(z0 - 1)[0] == 2.0 and zoom.at(z1 + 1)[0] == 1.0
    assert comp.scene.n_frames / 24 == 97  # as the reference
