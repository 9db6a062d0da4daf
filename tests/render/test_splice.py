"""splice: the row shear moves each pixel row by its planned shift (alternate rows opposite
ways, middle rows first, wrapping, fading past half travel), chroma with it, and is saved with
the scene; the sweeps follow the reference (two columns, passes quickening, rows skipped to
keep plays apart, grains of 128 ms stretched 12-18x), and each grain pans to where its picture
is."""

from __future__ import annotations

import numpy as np
import pytest

from tests.render.test_proliferation import grid_members
from worker.render.engine.easing import ease_name
from worker.render.engine.raster import frame_planes, new_frame
from worker.render.engine.scene import Scene
from worker.render.engine.shear import RowShear, apply_shear
from worker.render.splice.compose import compose, playhead_columns
from worker.render.splice.params import SpliceParams

W, H = 64, 32


def striped_frame() -> np.ndarray:
    """A yuv420p frame: luma 16 + 3·x (a ramp), chroma U = 60 + 4·x, V neutral."""
    buf = new_frame(W, H)
    y, u, _ = frame_planes(buf, W, H)
    y[:] = 16 + 3 * np.arange(W)[None, :]
    u[:] = 60 + 4 * np.arange(W // 2)[None, :]
    return buf


def test_rows_shift_by_their_planned_amount_alternately_and_wrap() -> None:
    shear = RowShear(0.0, (1000.0, 2000.0), 1.0, fade_from=1.0)
    t = 400.0
    shift, gain = shear.rows(t, W, H)
    assert np.all(gain == 1.0)
    # middle rows travel fastest, the edge rows slowest; odd rows go the other way
    mid, edge = H // 2, 0
    assert abs(shift[mid]) > abs(shift[edge]) > 0
    assert np.sign(shift[mid]) == -np.sign(shift[mid + 1])
    assert shift[edge] == pytest.approx(ease_name(t / 2000, "quadInOut") * W)
    buf = striped_frame()
    apply_shear(frame_planes(buf, W, H), shear, t)
    y = frame_planes(buf, W, H)[0].astype(float)
    src = np.arange(W) + shift[:, None]  # each row shows its own content from x + shift
    frac = src - np.floor(src)
    x0 = np.floor(src).astype(int) % W
    x1 = (x0 + 1) % W
    ramp = 16 + 3 * np.arange(W)
    want = ramp[x0] + (ramp[x1] - ramp[x0]) * frac
    np.testing.assert_allclose(y, np.floor(want + 0.5), atol=1)


def test_rows_fade_to_black_past_half_travel_and_chroma_follows() -> None:
    shear = RowShear(0.0, (1000.0, 1000.0), 1.0)
    _, gain = shear.rows(1000.0 * 0.85, W, H)  # eased progress past 0.5
    p = ease_name(0.85, "quadInOut")
    assert np.allclose(gain, 1 - (p - 0.5) / 0.5)
    buf = striped_frame()
    apply_shear(frame_planes(buf, W, H), shear, 850.0)
    y, u, v = frame_planes(buf, W, H)
    assert y.astype(float).mean() < (16 + 3 * (W - 1) / 2) * gain[0] + 16
    # chroma moves toward neutral by the rows' gains, and V (flat at neutral) stays so
    assert np.abs(u.astype(float) - 128).mean() < np.abs(60 + 4 * np.arange(W // 2) - 128).mean()
    assert np.all(v == 128)
    # before the start nothing moves
    buf2 = striped_frame()
    apply_shear(frame_planes(buf2, W, H), RowShear(5000.0), 100.0)
    assert np.array_equal(buf2, striped_frame())


def test_the_shear_is_saved_with_the_scene(tmp_path) -> None:
    shear = RowShear(250.0, (3000.0, 4000.0), 2.0, 0.25, "cubicInOut")
    scene = Scene(W, H, 24, 3, np.array([[32.0, 16.0, 8.0, 8.0]]), np.ones(1, np.int64),
                  shear=shear)
    scene.save(tmp_path / "s.npz")
    assert Scene.load(tmp_path / "s.npz").shear == shear
    with pytest.raises(Exception, match="fade_from"):
        RowShear(0.0, (1.0, 1.0), 1.0, fade_from=2.0)


def test_the_reference_sweeps_at_its_defaults() -> None:
    comp = compose(grid_members(128), SpliceParams())
    assert comp.info["columns"] == [32, 95] and playhead_columns(128) == (32, 95)
    plays, m = comp.plays, comp.members
    assert set(np.unique(m.col[plays.clip])) == {32, 95}
    assert comp.scene.shear == RowShear(1000.0, (64000.0, 96000.0), 1.0)
    # grains: the first 128 ms (or less), stretched 12x at the start rising to at most 18x
    np.testing.assert_allclose(plays.length_ms, np.minimum(m.dur_ms[plays.clip], 128.0))
    assert plays.stretch.min() == pytest.approx(12.0) and plays.stretch.max() <= 18.0
    order = np.argsort(plays.t_ms)
    assert np.all(np.diff(plays.stretch[order]) >= -1e-9)
    # the first pass (8 s over 128 rows: a row step of 62 ms, under 64) plays every other row
    first = plays.t_ms < 1000 + 8000  # the second pass starts at 9 s
    for col in (32, 95):
        rows = m.row[plays.clip[first & (m.col[plays.clip] == col)]]
        assert sorted(rows.tolist()) == list(range(0, 128, 2))
    # louder higher up, swelling over the run
    lo, hi = 0.25, 1.0
    ny = m.row[plays.clip] / 127
    assert plays.volume.max() <= hi and plays.volume.min() >= lo
    top = plays.volume[ny < 0.1].mean()
    bottom = plays.volume[ny > 0.9].mean()
    assert top > bottom
    # duration: the longest row cycle, the last grain's tail, the padding, whole seconds
    assert comp.scene.n_frames % 24 == 0 and comp.scene.n_frames / 24 >= 100


def test_grains_pan_to_where_their_picture_is() -> None:
    p = SpliceParams(grid=16, grid0=16, grid1=16, width=320, height=180,
                     cycle_ms=(8000.0, 12000.0), column_pass_ms=(2000.0, 1000.0))
    comp = compose(grid_members(16), p)
    plays, sc = comp.plays, comp.scene
    x = sc.base[plays.clip, 0]
    y = sc.base[plays.clip, 1]
    want = np.array([sc.shear.displaced_x(t, np.array([a]), np.array([b]), 320, 180)[0]
                     for t, a, b in zip(plays.t_ms, x, y, strict=True)])
    np.testing.assert_allclose(plays.pan, want / 320 * 2 - 1)
    early = plays.t_ms < 1100  # before the rows have moved: the column's own side
    left = comp.members.col[plays.clip] == playhead_columns(16)[0]
    assert np.all(plays.pan[early & left] < 0) and np.all(plays.pan[early & ~left] > 0)
    no_shear = compose(grid_members(16), SpliceParams(**{**p.model_dump(), "shear": False}))
    assert no_shear.scene.shear is None
    np.testing.assert_allclose(no_shear.plays.pan, x / 320 * 2 - 1)
