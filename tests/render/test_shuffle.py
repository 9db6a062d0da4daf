"""shuffle: the sequencer's steps, the sliding-puzzle offsets and their return, the stretched
and reversed plays of each slide, and no clip jumping across the frame as it wraps."""

from __future__ import annotations

import numpy as np

from tests.render.kindcheck import grid_members, onscreen_jumps
from worker.render.engine.easing import ease_name
from worker.render.shuffle.compose import compose, sequencer_cells, shuffle_offsets
from worker.render.shuffle.params import ShuffleParams


def small(**kw) -> ShuffleParams:
    return ShuffleParams(**{"grid": 16, "grid0": 16, "grid1": 8, "width": 320, "height": 180,
                            "beat_ms": 1024, "beats_per_shuffle": 2, "count": 5,
                            "transition_ms": 1024, "max_offset": 4, **kw})


def test_sequencer_reads_the_middle_zig_zag() -> None:
    rows, cols = sequencer_cells(ShuffleParams())
    assert cols.tolist() == list(range(28, 36))
    assert rows.tolist() == [31, 32] * 4


def test_offsets_slide_rows_then_columns_more_near_the_centre() -> None:
    p = ShuffleParams()
    col, row = np.meshgrid(np.arange(64), np.arange(64))
    col, row = col.ravel(), row.ravel()
    off = shuffle_offsets(col, row, p)
    assert np.all(off[0] == 0)
    # shuffle 1 slides rows sideways: rows near the centre by 8, odd rows the other way
    dx = off[1, :, 1]
    assert np.all(off[1, :, 0] == 0)
    assert dx[row == 32][0] == 8 and dx[row == 31][0] == -8
    assert abs(dx[row == 0][0]) == 1 and abs(dx[row == 63][0]) == 1
    for r in (10, 20, 40):
        far = min(abs(r - 31.5) / 31.5 / 0.5, 1.0)
        want = round(8 - 7 * float(ease_name(far, "sin")))
        assert abs(dx[row == r][0]) == want
    assert len({int(d) for d in dx[row == 20]}) == 1  # a whole row moves as one
    # shuffle 2 slides columns, by the column each clip is in after shuffle 1
    dy = off[2, :, 0] - off[1, :, 0]
    assert np.all(off[2, :, 1] == off[1, :, 1])
    now_col = (col + off[1, :, 1]) % 64
    assert np.all(dy[now_col == 32] == 8) and np.all(dy[now_col == 33] == -8)
    # every round is a permutation of the cells
    for i in range(p.count):
        cells = ((row + off[i, :, 0]) % 64) * 64 + (col + off[i, :, 1]) % 64
        assert np.unique(cells).size == 64 * 64


def test_plays_steps_and_stretched_slides() -> None:
    p = ShuffleParams()
    comp = compose(grid_members(128), p)
    plays, seq = comp.plays, np.array(comp.info["sequencer"])
    plain = plays.stretch == 1
    assert plain.sum() == 5 * 8 * 8
    t = plays.t_ms[plain]
    first = t < 1000 + 16384
    np.testing.assert_allclose(np.sort(t[first]), np.sort(
        1000 + (np.arange(8)[:, None] * 2048 + np.arange(8)[None, :] * 256).ravel()))
    order = np.argsort(t[first], kind="stable")
    assert plays.clip[plain][first][order][:8].tolist() == seq[0].tolist()
    assert plays.volume[plain][first][order][:4].tolist() == [0.75, 0.5, 0.75, 0.5]
    assert np.all(plays.match_db[plain] == -16)
    # each slide plays the round's 8 cells stretched to 5120 ms: forward, then reversed back
    st = ~plain
    assert st.sum() == 8 * 8
    m = comp.members
    np.testing.assert_allclose(plays.stretch[st] * m.dur_ms[plays.clip[st]], 5120)
    np.testing.assert_allclose(plays.fade_out_ms[st], 0.5 * 5120)
    starts = np.unique(plays.t_ms[st])
    np.testing.assert_allclose(starts, [1000 + 16384 * (i + 1) + 4096 * i for i in range(4)]
                               + [1000 + 98304 + 4096 * q for q in range(4)])
    assert not plays.reverse[st & (plays.t_ms < 99304)].any()
    assert plays.reverse[st & (plays.t_ms >= 99304)].all()
    back = plays.clip[st & (plays.t_ms == 99304)]
    assert sorted(back.tolist()) == sorted(seq[4].tolist())
    assert plays.volume[st].max() == 0.5
    # zoom 1x -> 2x over the first half, 120 s in all (the last stretched play ends 1 s late)
    zoom = comp.scene.camera["zoom"]
    assert zoom.at(1000)[0] == 1.0 and zoom.at(1000 + 49152 + 1)[0] == 2.0
    assert comp.scene.n_frames / 24 == 120


def test_slides_are_eased_held_and_undone() -> None:
    p = small()
    comp = compose(grid_members(16), p)
    s, m = comp.scene, comp.members.take(np.arange(256))  # the clips, not their ghosts
    off = shuffle_offsets(m.col, m.row, p)
    cw, ch = 320 / 16, 180 / 16
    (a1, b1), *_ = comp.info["slides_ms"]
    for t, k in ((a1 - 1, 0), (b1 + 1, 1)):  # held at each round's layout (on the torus)
        x = s.tracks["x"].at(t)[:256] / cw + m.col
        y = s.tracks["y"].at(t)[:256] / ch + m.row
        assert np.allclose(np.mod(x, 16), np.mod(m.col + off[k, :, 1], 16))
        assert np.allclose(np.mod(y, 16), np.mod(m.row + off[k, :, 0], 16))
        assert x.min() >= -0.5 and x.max() < 15.5  # drawn inside the grid
    t = s.t_ms(round((a1 + b1) / 2 * 24 / 1000))  # a frame time: wraps are keyed at frames
    mid = s.tracks["x"].at(t)[:256] / cw + m.col
    half = m.col + off[1, :, 1] * ease_name((t - a1) / (b1 - a1), "sin")
    assert np.allclose(np.mod(mid + 0.5, 16), np.mod(half + 0.5, 16))
    end = comp.info["slides_ms"][-1][1]
    assert np.allclose(s.tracks["x"].at(end + 1)[:256], 0)
    assert np.allclose(s.tracks["y"].at(end + 1)[:256], 0)


def test_no_clip_jumps_across_the_view_as_it_wraps() -> None:
    p = small()
    comp = compose(grid_members(16), p)
    s = comp.scene
    frames = []
    for a, b in comp.info["slides_ms"][:2] + comp.info["slides_ms"][-2:]:
        frames += list(range(int(a * 24 / 1000) - 1, int(b * 24 / 1000) + 2))
    assert not onscreen_jumps(s, frames, limit=20.0, identity=comp.members.sample_id)
    # some clips did cross the edge (keyed frame by frame)
    assert s.tracks["x"].t.size > 16 * 16 * 2 * 4


def test_at_zoom_one_a_crossing_clip_shows_on_both_sides() -> None:
    p = small(grid1=16)  # no zoom: the grid's edges are the frame's
    comp = compose(grid_members(16), p)
    s, m = comp.scene, comp.members
    assert comp.info["ghosts"] > 0 and len(m) == 256 + comp.info["ghosts"]
    assert np.all(comp.plays.clip < 256)  # ghosts only draw: they never sound
    frames = []
    for a, b in comp.info["slides_ms"][:2] + comp.info["slides_ms"][-1:]:
        frames += list(range(int(a * 24 / 1000) - 1, int(b * 24 / 1000) + 2))
    assert not onscreen_jumps(s, frames, limit=20.0, identity=m.sample_id)
    ghost = 256  # the first ghost: hidden outside its slide, drawn during it
    a, b = comp.info["slides_ms"][0]
    alpha = s.tracks["alpha"]
    assert alpha.at(a - 1)[ghost] == 0 and alpha.at((a + b) / 2)[ghost] == 1
    assert alpha.at(b + 1)[ghost] == 0


def test_slides_stretch_with_the_chosen_stretcher() -> None:
    comp = compose(grid_members(16), small())
    st = comp.plays.stretch != 1
    assert st.any() and np.all(comp.plays.stretch_method[st] == 0)  # Rubber Band
    comp = compose(grid_members(16), small(stretch_method="paulstretch"))
    st = comp.plays.stretch != 1
    assert np.all(comp.plays.stretch_method[st] == 1)
