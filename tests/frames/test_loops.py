"""Loops within a file: planted repeats found at segment level with exact boundaries, and
static shots, black frames and fades never reported."""

from __future__ import annotations

import numpy as np

from tests.frames.filmgen import Shot, repeats, write_film
from tests.frames.scoring import score
from worker.frames.align import Seq
from worker.frames.fingerprint import FingerprintParams, fingerprint_file
from worker.frames.loop_plot import plot_loops
from worker.frames.loops import LoopParams, find_loops


def _seq(fp, fps: float | None = None) -> Seq:
    f = fp.frames
    return Seq.from_arrays(f.phash, f.dhash, f.stats, f.thumb_gray, f.t,
                           fps or fp.info.fps, min_contrast=LoopParams().min_contrast)


def test_planted_loops_precision_recall_and_boundaries(loop_films):
    found, truth = [], []
    for k, item in enumerate(loop_films):
        loops = find_loops(_seq(item.fp))
        found += [(k, lp.first, lp.repeat, lp.frames) for lp in loops]
        truth += [(k, r.first, r.repeat, r.length) for r in repeats(item.film)]
    s = score(found, truth, keys=1, tol=1)
    print(f"loops: {len(truth)} planted, {len(found)} found, precision {s.precision:.3f}, "
          f"recall {s.recall:.3f}, worst boundary error {s.worst_boundary} frame(s)")
    assert len(truth) == 20
    assert s.precision >= 0.95 and s.recall >= 0.95, (s.false, s.missed)
    assert s.worst_boundary <= 1


def test_distractors_never_loop(loop_films):
    for item in loop_films:
        film = item.film
        loops = find_loops(_seq(item.fp))
        moving = np.zeros(film.frames, bool)
        for shot, start in zip(film.shots, film.starts, strict=True):
            if shot.kind == "motion":
                moving[start : start + shot.length] = True
        for lp in loops:  # every reported frame is moving picture, on both sides
            assert moving[lp.first : lp.first + lp.frames].all(), lp
            assert moving[lp.repeat : lp.repeat + lp.frames].all(), lp
        # the films show a static shot and a black stretch twice: neither is a loop
        kinds = {s.kind for s in film.shots}
        assert {"static", "black", "fade"} <= kinds


def test_back_to_back_repeats_carry_their_period(loop_films):
    film = loop_films[0].film
    loops = find_loops(_seq(loop_films[0].fp))
    last = film.shots[-4:-1]  # the stretch shown three times back to back
    period = last[0].length
    rows = [lp for lp in loops if lp.first == film.starts[-4]]
    assert [lp.repeat - lp.first for lp in rows] == [period, 2 * period]
    for lp in rows:
        assert abs(lp.period - period / 25) < 1e-6 and lp.copies == 3
    others = [lp for lp in loops if lp.first != film.starts[-4]]
    assert all(lp.period is None and lp.copies == 2 for lp in others)


def test_regular_spacing_is_a_period(tmp_path):
    shots = [Shot(71, 0, 50)]
    for k in range(3):  # the same stretch every 90 frames, other content between
        shots += [Shot(70, 10, 40, noise=3, seed=k), Shot(72 + k, 0, 50)]
    film = write_film(tmp_path / "regular.mp4", shots, size=(160, 90))
    loops = find_loops(_seq(fingerprint_file(film.path)))
    assert [(lp.first, lp.repeat, lp.frames) for lp in loops] == [(50, 140, 40), (50, 230, 40)]
    assert all(abs(lp.period - 90 / 25) < 1e-6 and lp.copies == 3 for lp in loops)
    assert loops[0].first_start == 2.0 and loops[0].repeat_start == 5.6


def test_every_second_frame_finds_the_same_loops(loop_films):
    item = loop_films[1]
    half = fingerprint_file(item.film.path, FingerprintParams(every=2))
    loops = find_loops(_seq(half, fps=item.fp.info.fps / 2))
    found = [(lp.first_start, lp.repeat_start, lp.length) for lp in loops]
    truth = [(r.first / 25, r.repeat / 25, r.length / 25) for r in repeats(item.film)]
    s = score([tuple(round(x * 25) for x in f) for f in found],
              [tuple(round(x * 25) for x in t) for t in truth], tol=2)
    assert s.precision >= 0.9 and s.recall >= 0.9, (s.false, s.missed)


def test_loop_plot_shows_the_loops(loop_films, tmp_path):
    from PIL import Image

    item = loop_films[0]
    loops = find_loops(_seq(item.fp))
    f = item.fp.frames
    path = plot_loops(loops, float(f.t[-1]) + 0.04, tmp_path / "loops.png", t=f.t,
                      color=f.color, title="loops-1.mp4")
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape[0] > 300 and img.shape[1] > 1000
    colours = {tuple(c) for c in img.reshape(-1, 3)[::97]}
    assert len(colours) > 50  # barcode, bars and arcs, not a blank canvas
    empty = plot_loops([], 10.0, tmp_path / "none.png", title="no loops")
    assert empty.stat().st_size > 1000
