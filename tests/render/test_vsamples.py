"""vsamples: cuts, fades and dissolves found in one pass over a generated film (flashes and
camera motion are not cuts), and picture spans built from them as the reference builds them,
reproducibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.render.gridgen import shots_film
from worker.vsamples.cuts import detect_cuts
from worker.vsamples.scan import scan_frames
from worker.vsamples.spans import SpanParams, jitter, picture_spans, window_ms


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    plan = [("start", 3.0), ("cut", 2.5), ("fade", 3.0), ("dissolve", 3.0), ("cut", 2.0),
            ("cut", 3.0)]
    return shots_film(tmp_path_factory.mktemp("vs") / "shots.mp4", plan, pan_shot=4,
                      flash_at_s=1.5)


def test_every_kind_of_cut_is_found_and_nothing_else(film) -> None:
    path, truth = film
    features = scan_frames(path, max_fps=12)
    cuts = detect_cuts(features) / 1000.0
    step = 1 / features.fps
    assert len(cuts) == len(truth), (cuts, truth)
    np.testing.assert_allclose(cuts, truth, atol=1.01 * step)  # within one analysis frame


def test_a_flash_and_a_fast_pan_are_not_cuts(film) -> None:
    path, _ = film
    cuts = detect_cuts(scan_frames(path, max_fps=12)) / 1000.0
    assert not any(1.3 < c < 1.8 for c in cuts)  # the white frame at 1.5 s
    assert not any(12.1 < c < 13.8 for c in cuts)  # inside the panning shot


def test_scan_keeps_only_the_requested_ranges(film) -> None:
    path, _ = film
    f = scan_frames(path, max_fps=24, ranges_ms=[(1000, 2000), (8000, 8500)], skip_gap_ms=1000)
    assert f.t_ms.min() >= 1000 and f.t_ms.max() < 8500
    assert ((f.t_ms < 2000) | (f.t_ms >= 8000)).all()
    assert 30 <= f.t_ms.size <= 38  # 24 + 12 frames


def test_window_is_the_smallest_multiple_reaching_the_target() -> None:
    np.testing.assert_allclose(window_ms(np.array([100, 700, 1100, 1500]), 1200),
                               [1200, 1400, 2200, 1500])


def test_jitter_is_reproducible_and_distinct_per_file() -> None:
    p = SpanParams(seed=7)
    starts = np.arange(0, 50_000, 500.0)
    a = jitter("film-a", starts, p)
    assert (a >= 0).all() and (a <= 400).all()
    assert np.array_equal(a, jitter("film-a", starts, p))
    assert not np.array_equal(a, jitter("film-b", starts, p))
    assert not np.array_equal(a, jitter("film-a", starts, SpanParams(seed=8)))
    assert len(set(a.tolist())) > 50  # spread, not a constant


def test_spans_follow_the_reference_rules() -> None:
    p = SpanParams(var_ms=0)
    starts = np.array([1000.0, 5000.0, 9000.0, 20_000.0])
    durs = np.array([300.0, 500.0, 300.0, 300.0])
    cuts = np.array([1100.0, 1900.0, 5700.0, 9100.0, 9250.0])
    vs, vd = picture_spans(starts, durs, cuts, 21_000.0, "f", p)
    # a cut in the first 256 ms moves the start; the next one ends the span
    assert (vs[0], vd[0]) == (1100, 800)
    # no early cut: the span ends at the first cut (5700)
    assert (vs[1], vd[1]) == (5000, 700)
    # two short breaks in a row: start after the second (9250), run to the window's end
    assert (vs[2], vd[2]) == (9250, 9000 + 1200 - 9250)
    # past the picture's end: cut there
    assert (vs[3], vd[3]) == (20_000, 1000)


def test_spans_without_cuts_are_the_window_plus_jitter() -> None:
    p = SpanParams(seed=3)
    starts = np.array([0.0, 4000.0])
    durs = np.array([200.0, 1500.0])
    vs, vd = picture_spans(starts, durs, np.zeros(0), float("inf"), "k", p)
    j = jitter("k", starts, p)
    assert vs.tolist() == [0, 4000]
    assert vd.tolist() == [1200 + j[0], 1500 + j[1]]


def test_spans_from_a_film_stay_inside_one_shot(film) -> None:
    path, truth = film
    f = scan_frames(path, max_fps=12)
    cuts = detect_cuts(f)
    starts = np.array([2600.0, 2850.0, 6100.0, 11_800.0])
    vs, vd = picture_spans(starts, np.full(4, 150.0), cuts, f.duration_ms, "film")
    bounds = np.array([0.0, *[t * 1000 for t in truth], f.duration_ms])
    for a, d in zip(vs, vd, strict=True):
        shot = np.searchsorted(bounds, a + 1, side="right") - 1
        assert bounds[shot] - 90 <= a and a + d <= bounds[shot + 1] + 90, (a, d, bounds)
        assert d >= 200
