"""poster: one still of the flow swirl, zoomed in, the centre darkened, a title drawn on top;
the print size and dpi on request; and the handler's steps (plan, clip cache, frame, title,
PNG) on generated films."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ConfigError
from tests.render.gridgen import flash_beep_film
from tests.render.test_proliferation import grid_members
from worker.render.flow.swirl import angle, phase
from worker.render.grid import GridMembers
from worker.render.gridvideo import build_cache, plan_video
from worker.render.poster.compose import compose
from worker.render.poster.handler import write_poster
from worker.render.poster.params import PosterParams
from worker.render.poster.title import draw_title, parse


def test_the_swirl_is_frozen_where_asked_and_the_centre_is_dark() -> None:
    p = PosterParams(grid=32, grid1=8, width=320, height=180)
    comp = compose(grid_members(32), p)
    sc, m = comp.scene, comp.members
    assert sc.n_frames == 1 and np.all(sc.clip_frames == 1) and len(comp.plays) == 0
    assert sc.camera_at(0.0)[0] == 4.0
    a = angle(0.6, phase(m.col, m.row, 32, 32), 2.4)
    r = 8.0 * sc.base[:, 3]
    np.testing.assert_allclose(sc.tracks["x"].at(0.0), r * np.cos(a))
    np.testing.assert_allclose(sc.tracks["y"].at(0.0), r * np.sin(a))
    b = sc.tracks["brightness"].at(0.0)
    st = sc.state(0)
    d = np.hypot(st.cx - 160, st.cy - 90)
    assert b[st.clip[d.argmin()]] < 0.4 and b[st.clip[d.argmax()]] > 0.8
    bright = compose(grid_members(32), PosterParams(grid=32, grid1=8, width=320, height=180,
                                                    bright=True))
    assert np.all(bright.scene.tracks["brightness"].at(0.0) == 1.0)


def test_print_size_and_limits() -> None:
    p = PosterParams(print_dpi=300)
    assert p.size() == (7200, 4050)
    assert compose(grid_members(128), p).scene.width == 7200
    with pytest.raises(ConfigError, match="8192"):
        PosterParams(print_dpi=600)
    with pytest.raises(ConfigError, match="grid1"):
        PosterParams(grid=16, grid1=32)


def test_title_lines_are_drawn_in_the_middle() -> None:
    assert parse("# Big\n## Sub\n\nbody\n\n") == [("#", "Big"), ("##", "Sub"), ("", ""),
                                                 ("", "body")]
    img = np.zeros((180, 320, 3), np.uint8)
    out = draw_title(img, "# samplemill\nbody", (255, 255, 255))
    white = out.mean(axis=2) > 200
    rows = np.flatnonzero(white.any(axis=1))
    assert white.sum() > 200 and 40 < rows.mean() < 140
    assert not white[:, :40].any() and not white[:, -40:].any()  # centred
    assert np.array_equal(draw_title(img, "", (255, 255, 255)), img)


def test_the_poster_of_generated_films(tmp_path: Path) -> None:
    films = [flash_beep_film(tmp_path / f"f{i}.mp4", [0.5], 2.0, shade=40 + 60 * i)
             for i in range(2)]
    side = 8
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    n = side * side
    m = GridMembers(col.ravel(), row.ravel(), np.zeros(n), np.zeros(n), np.full(n, 400.0),
                    np.full(n, 300.0), np.full(n, 200.0), np.full(n, 1200.0),
                    (col.ravel() >= side // 2).astype(int), np.arange(n), tuple(map(str, films)))
    p = PosterParams(grid=side, grid1=4, width=320, height=180, title="# poster", bright=True,
                     print_dpi=96, print_width_in=4.0)
    comp = compose(m, p)
    plan = plan_video(comp, p, tmp_path / "work", tmp_path / "cache")
    assert build_cache(plan) == []
    out = write_poster(plan, p, tmp_path / "poster.png")
    img = Image.open(out)
    assert img.size == (384, 216) and round(img.info["dpi"][0]) == 96
    a = np.asarray(img.convert("RGB")).astype(float).mean(axis=2)
    # both films' shades show (luma ~35 and ~100 as RGB), and the white title
    assert ((a > 28) & (a < 45)).sum() > 1000 and ((a > 90) & (a < 115)).sum() > 1000
    assert (a > 240).sum() > 100
