"""falling: the camera's fall and sway follow the reference's formulas, clips sound once per
pass at their closest moment with the reference's volume, and the wrapping grid never jumps
on screen."""

from __future__ import annotations

import numpy as np
import pytest

from tests.render.kindcheck import grid_members, onscreen_jumps
from worker.render.engine.easing import ease_name
from worker.render.falling.compose import bell, compose, sway_columns
from worker.render.falling.params import FallingParams


def small(**kw) -> FallingParams:
    return FallingParams(**{"grid": 16, "view": 4, "width": 320, "height": 180,
                            "duration_s": 20.0, "play_radius": 3, **kw})


def test_sway_and_fall_follow_the_formulas() -> None:
    p = FallingParams()
    u = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])
    nx = np.where(u <= 0.5, 2 * u, 2 * (1 - u))
    want = np.sqrt(nx / 16) * np.sin(4 * 2 * np.pi * nx) * 16
    want = np.where(u <= 0.5, want, -want)
    np.testing.assert_allclose(sway_columns(u, p), want, atol=1e-12)
    assert np.abs(sway_columns(np.linspace(0, 1, 10001), p)).max() == pytest.approx(3.87, 0.01)
    comp = compose(grid_members(16), small())
    cam = comp.scene.camera
    t0, t1 = comp.info["fall_ms"]
    assert cam["zoom"].at(0)[0] == 4.0
    for x in (0.0, 0.25, 0.5, 0.8, 1.0):
        t = t0 + x * (t1 - t0)
        assert cam["cam_y"].at(t)[0] == pytest.approx(90 + 2 * 180 * ease_name(x, "quadInOut"))
    f = 240  # at a frame time the sway is exact
    t = comp.scene.t_ms(f)
    sway = sway_columns(np.array([(t - t0) / (t1 - t0)]), small())[0]
    assert cam["cam_x"].at(t)[0] == pytest.approx(160 - sway * 20)


def test_each_pass_plays_once_at_its_closest_moment() -> None:
    p = small()
    comp = compose(grid_members(16), p)
    s, m, plays = comp.scene, comp.members, comp.plays
    assert len(plays) > 30
    t0, _ = comp.info["fall_ms"]
    assert plays.t_ms.min() > t0 + p.delay_play_ms
    for i in range(0, len(plays), 7):
        c, t = int(plays.clip[i]), plays.t_ms[i]
        _, cx, cy = s.camera_at(t)
        gx, gy = cx / 20 - 0.5, cy / 11.25 - 0.5
        dx = (m.col[c] - gx + 8) % 16 - 8
        dy = (m.row[c] - gy + 8) % 16 - 8
        d = np.hypot(dx, dy)
        assert d < p.play_radius
        # volume: lerp(0.25, 0.8, min(1, speed / 0.8) × closeness) ≤ closeness
        near = 1 - d / p.play_radius
        assert 0.25 - 1e-9 <= plays.volume[i] <= 0.25 + 0.55 * near + 1e-6
        # closest moment of this pass: a frame either side is no closer
        for df in (-1, 1):
            _, ax, ay = s.camera_at(t + df * 1000 / p.fps)
            da = np.hypot((m.col[c] - ax / 20 + 0.5 + 8) % 16 - 8,
                          (m.row[c] - ay / 11.25 + 0.5 + 8) % 16 - 8)
            assert da >= d - 1e-6
    # no clip plays again within twice its animation
    for c in np.unique(plays.clip):
        t = np.sort(plays.t_ms[plays.clip == c])
        assert np.all(np.diff(t) > 2 * 1200)


def test_a_played_clip_brightens_drops_and_tilts_then_returns() -> None:
    p = small()
    comp = compose(grid_members(16), p)
    s, plays = comp.scene, comp.plays
    mid = np.argmin(np.abs(plays.t_ms - np.mean(comp.info["fall_ms"])))
    c, t = int(plays.clip[mid]), plays.t_ms[mid]
    keys = s.tracks["brightness"].t[s.tracks["brightness"].clip == c]
    k = int(np.flatnonzero(np.isclose(keys, t))[0])
    peak, end = keys[k + 1], keys[k + 2]
    assert end - t >= 1000 and end - t == pytest.approx(2 * (peak - t), abs=1)
    assert s.tracks["brightness"].at(peak)[c] > 0.33
    assert s.tracks["y"].at(peak)[c] - s.tracks["y"].at(t)[c] > 0  # drops
    assert abs(s.tracks["rotation"].at(peak)[c]) <= 12.0
    assert s.tracks["rotation"].at(end + 1)[c] == pytest.approx(0.0)
    assert bell(np.array([0.0, 0.5, 1.0])) == pytest.approx([0.0, 1.0, 0.0])


def test_the_wrapping_grid_never_jumps_on_screen() -> None:
    p = small()
    comp = compose(grid_members(16), p)
    s = comp.scene
    fast = s.n_frames // 2  # the fall is fastest at half-time
    for a in (fast - 48, s.n_frames // 4, 3 * s.n_frames // 4):  # clips wrap all along
        assert not onscreen_jumps(s, range(a, a + 48), limit=10.0)
    seen = set()
    for f in range(0, s.n_frames, 6):
        st = s.state(f)
        assert st.clip.size >= 16  # the view is always full
        seen.update(st.clip.tolist())
    rows = set(comp.members.row[sorted(seen)].tolist())
    assert rows == set(range(16))  # falling through the whole grid, wrapping round


def test_default_length_matches_the_reference() -> None:
    comp = compose(grid_members(128), FallingParams())
    assert 184 <= comp.scene.n_frames / 24 <= 185
    assert comp.info["max_tilt_deg"] <= 12.0


def test_a_clip_wrapping_during_its_tween_keeps_the_view_full() -> None:
    # a small grid falling fast: clips are still dropping and tilting when they must wrap
    p = FallingParams(grid=8, view=4, width=256, height=144, duration_s=10, play_radius=2,
                      waves=2, max_column_delta=8, delay_play_ms=500, pad_before_ms=500,
                      pad_after_ms=500)
    comp = compose(grid_members(8), p)
    s = comp.scene
    assert len(comp.plays) > 20
    assert min(s.state(f).clip.size for f in range(s.n_frames)) >= 16  # never a gap
    assert not onscreen_jumps(s, range(s.n_frames), limit=10.0)
