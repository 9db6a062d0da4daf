"""The composition engine: easing, keyframe tracks, ping-pong loops, the compositor's pixels,
the clip-frame store and H.264 segments joined into one file."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import av
import numba
import numpy as np
import pytest

from worker.render.engine.easing import CURVES, ease_id, ease_name
from worker.render.engine.encode import VideoCodec, encode_segment, join_segments
from worker.render.engine.raster import draw_clips, frame_planes, new_frame
from worker.render.engine.render import draw_frame, iter_frames, render_rgb
from worker.render.engine.scene import Scene, pingpong
from worker.render.engine.store import (
    StoreLayout,
    level_view,
    planes,
    rgb_to_yuv,
    store_from_rgb,
)
from worker.render.engine.tracks import Track

# ---------------------------------------------------------------- easing and tracks


@pytest.mark.parametrize("name", sorted(set(CURVES) - {"step"}))
def test_every_curve_runs_from_zero_to_one(name: str) -> None:
    u = np.linspace(0, 1, 101)
    y = ease_name(u, name)
    assert y[0] == pytest.approx(0.0, abs=1e-12) and y[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(y) >= -1e-12), "easing curves are monotonic"


def test_curves_match_the_reference_formulas() -> None:
    assert ease_name(0.25, "quadInOut") == pytest.approx(2 * 0.25**2)
    assert ease_name(0.75, "cubicInOut") == pytest.approx(4 * (0.75 - 1) ** 3 + 1)
    assert ease_name(0.5, "expIn") == pytest.approx(0.5**6)  # the reference's exp is a power
    assert ease_name(0.3, "sin") == pytest.approx((1 - np.cos(np.pi * 0.3)) / 2)


def _oracle(keys: list[tuple[float, float, int]], default: float, t: float) -> float:
    """One clip's value by a plain scan of its keys (what Track.at vectorises)."""
    if not keys:
        return default
    keys = sorted(keys, key=lambda k: k[0])
    if t < keys[0][0]:
        return keys[0][1]
    for (t0, v0, e), (t1, v1, _) in itertools.pairwise(keys):
        if t0 <= t < t1:
            from worker.render.engine.easing import NAMES
            return v0 + (v1 - v0) * float(CURVES[NAMES[e]](np.array((t - t0) / (t1 - t0))))
    return keys[-1][1]


def test_track_matches_a_per_clip_scan_on_random_keys() -> None:
    rng = np.random.default_rng(3)
    n = 300
    per_clip = {c: [] for c in range(n)}
    clip, t, v, e = [], [], [], []
    for c in range(n):
        for _ in range(rng.integers(0, 5)):  # some clips have no keys
            key = (float(rng.uniform(0, 1000)), float(rng.normal()), int(rng.integers(0, 10)))
            if any(abs(key[0] - k[0]) < 1e-6 for k in per_clip[c]):
                continue
            per_clip[c].append(key)
            clip.append(c), t.append(key[0]), v.append(key[1]), e.append(key[2])
    track = Track.build(n, 0.5, clip, t, v, e)
    for tq in (-10.0, 0.0, 123.4, 500.0, 999.9, 2000.0):
        expected = [_oracle(per_clip[c], 0.5, tq) for c in range(n)]
        np.testing.assert_allclose(track.at(tq), expected, rtol=0, atol=1e-9)


def test_track_interpolates_with_each_keys_easing() -> None:
    track = Track.build(2, 0.0, [0, 0, 1, 1], [0, 100, 0, 100], [0, 10, 0, 10],
                        [ease_id("linear"), 0, ease_id("quadIn"), 0])
    np.testing.assert_allclose(track.at(50), [5.0, 2.5])
    np.testing.assert_allclose(track.at(-5), [0.0, 0.0])
    np.testing.assert_allclose(track.at(500), [10.0, 10.0])


def test_pingpong_runs_forward_then_back() -> None:
    got = pingpong(np.arange(10), np.full(10, 4))
    assert got.tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert pingpong(np.arange(5), np.ones(5, int)).tolist() == [0] * 5


def _one_clip_scene(n_frames=48, plays=(), phase=0.0, clip_frames=10) -> Scene:
    return Scene(64, 32, 24, n_frames, np.array([[32.0, 16.0, 10.0, 10.0]]),
                 np.array([clip_frames]), play_clip=np.zeros(len(plays), int),
                 play_t=np.array(plays, float), phase_ms=np.array([phase]))


def test_loop_restarts_at_each_play_phased_to_the_sound() -> None:
    scene = _one_clip_scene(plays=(1000.0,), phase=125.0)  # sound starts 3 frames into span
    clips = np.array([0])
    # before the play: the composition clock, step 12 of a 10-frame ping-pong is frame 6
    assert scene.loop_frame(500.0, clips)[0] == 6
    assert scene.loop_frame(1000.0, clips)[0] == 3  # at the play: the sound's picture
    assert scene.loop_frame(1000.0 + 2000 / 24, clips)[0] == 5


# ---------------------------------------------------------------- store


def test_store_layout_packs_levels_without_overlap() -> None:
    layout = StoreLayout.plan([112, 14, 1], [60, 8, 1], [40, 30, 5])
    assert layout.lw[0, :4].tolist() == [112, 56, 28, 14] and layout.lh[0, 1] == 30
    assert layout.nlev[2] == 1
    spans = []
    for c in range(3):
        for lev in range(int(layout.nlev[c])):
            w, h = layout.lw[c, lev], layout.lh[c, lev]
            size = layout.nframes[c] * (w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2))
            spans.append((int(layout.off[c, lev]), int(layout.off[c, lev] + size)))
    spans.sort()
    assert spans[0][0] == 0 and spans[-1][1] == layout.total
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_store_holds_the_colour_at_every_level() -> None:
    rgb = np.zeros((3, 12, 20, 3), np.uint8)
    rgb[...] = (200, 40, 90)
    data, layout = store_from_rgb([rgb])
    expect = rgb_to_yuv(np.array([200, 40, 90], np.uint8))
    for lev in range(int(layout.nlev[0])):
        y, u, v = planes(data, layout, 0, lev, 2)
        assert np.abs(y.astype(float) - expect[0]).max() <= 0.5
        assert np.abs(u.astype(float) - expect[1]).max() <= 0.5
        assert np.abs(v.astype(float) - expect[2]).max() <= 0.5
    assert level_view(data, layout, 0, 0)[0].shape == (3, 12, 20)


# ---------------------------------------------------------------- compositor


def _solid_store(colours, w=16, h=8, nframes=1):
    clips = [np.broadcast_to(np.array(c, np.uint8), (nframes, h, w, 3)).copy() for c in colours]
    return store_from_rgb(clips)


def _draw(data, layout, rects, *, bright=None, alpha=None, rot=None, width=64, height=32,
          level=0):
    n = len(rects)
    rects = np.asarray(rects, float)
    buf = new_frame(width, height)
    y, u, v = frame_planes(buf, width, height)
    lev = np.full(n, level)
    clips = np.arange(n)
    rot = np.zeros(n) if rot is None else np.asarray(rot, float)
    draw_clips(y, u, v, data, layout.frame_offset(clips, lev, np.zeros(n, int)),
               layout.lw[clips, lev], layout.lh[clips, lev], rects[:, 0], rects[:, 1],
               rects[:, 2], rects[:, 3], np.cos(rot), np.sin(rot),
               np.ones(n) if bright is None else np.asarray(bright, float),
               np.ones(n) if alpha is None else np.asarray(alpha, float))
    return buf, y, u, v


def test_a_clip_fills_exactly_the_pixels_whose_centres_it_covers() -> None:
    data, layout = _solid_store([(255, 255, 255)])
    _, y, u, _ = _draw(data, layout, [(20.0, 10.0, 16.0, 8.0)])  # x 12..28, y 6..14
    inside = np.zeros_like(y, bool)
    inside[6:14, 12:28] = True
    assert (y[inside] == 235).all() and (y[~inside] == 16).all()
    assert (u[3:7, 6:14] == 128).all()  # white has neutral chroma
    _, y2, _, _ = _draw(data, layout, [(20.6, 10.0, 16.0, 8.0)])  # 12.6..28.6: pixels 13..28
    assert y2[8, 12] == 16 and y2[8, 13] == 235 and y2[8, 28] == 235 and y2[8, 29] == 16


def test_brightness_scales_about_black_and_alpha_blends() -> None:
    data, layout = _solid_store([(255, 255, 255), (255, 0, 0)])
    _, y, _, _ = _draw(data, layout, [(20, 10, 16, 8), (44, 10, 16, 8)], bright=[0.5, 1.0])
    assert y[10, 20] == round(16 + (235 - 16) * 0.5)
    red = rgb_to_yuv(np.array([255, 0, 0], np.uint8))
    # red at alpha 0.25 over white
    _, y, _, v = _draw(data, layout, [(20, 10, 16, 8), (20, 10, 16, 8)], alpha=[1.0, 0.25])
    assert abs(int(y[10, 20]) - (235 + (red[0] - 235) * 0.25)) <= 1
    assert abs(int(v[5, 10]) - (128 + (red[2] - 128) * 0.25)) <= 1


def test_later_clips_draw_over_earlier_ones() -> None:
    data, layout = _solid_store([(255, 255, 255), (0, 0, 255)])
    _, y, _, _ = _draw(data, layout, [(20, 10, 16, 8), (24, 10, 16, 8)])
    blue_y = round(rgb_to_yuv(np.array([0, 0, 255], np.uint8))[0])
    assert y[10, 14] == 235 and y[10, 20] == blue_y and y[10, 30] == blue_y


def test_rotating_a_clip_a_quarter_turn_swaps_its_extent() -> None:
    data, layout = _solid_store([(255, 255, 255)])
    _, y, _, _ = _draw(data, layout, [(32.0, 16.0, 20.0, 8.0)], rot=[np.pi / 2])
    rows, cols = np.nonzero(y > 100)
    assert cols.min() == 28 and cols.max() == 35  # 8 wide
    assert rows.min() == 6 and rows.max() == 25  # 20 tall


def test_a_rotated_picture_turns_with_it() -> None:
    rgb = np.zeros((1, 8, 16, 3), np.uint8)
    rgb[:, :, 8:] = 255  # right half white
    data, layout = store_from_rgb([rgb])
    _, y, _, _ = _draw(data, layout, [(32.0, 16.0, 16.0, 8.0)], rot=[np.pi / 2])
    # clockwise a quarter turn: the right half now points down
    assert y[20, 32] > 200 and y[12, 32] < 30


def test_half_size_draws_sample_the_next_level() -> None:
    rgb = np.zeros((1, 8, 16, 3), np.uint8)
    rgb[:, :, ::2] = 255  # one-pixel stripes: average grey once halved
    data, layout = store_from_rgb([rgb])
    lev = layout.level_for(np.array([0]), np.array([8.0]), np.array([4.0]))
    assert lev[0] == 1
    _, y, _, _ = _draw(data, layout, [(20, 10, 8, 4)], level=1)
    assert abs(int(y[10, 20]) - round((235 + 16) / 2)) <= 2


def test_threads_do_not_change_a_single_byte() -> None:
    rng = np.random.default_rng(1)
    clips = [rng.integers(0, 255, (2, 9, 13, 3), dtype=np.uint8) for _ in range(60)]
    data, layout = store_from_rgb(clips)
    rects = np.column_stack([rng.uniform(0, 160, 60), rng.uniform(0, 96, 60),
                             rng.uniform(4, 40, 60), rng.uniform(4, 30, 60)])
    args = dict(rot=rng.uniform(0, 1, 60) * (rng.random(60) < 0.5), width=160, height=96,
                alpha=rng.uniform(0.2, 1, 60), bright=rng.uniform(0, 1.5, 60))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _draw(data, layout, rects, **args)[0].copy()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _draw(data, layout, rects, **args)[0]
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, two)
    assert (one[:96] != 16).mean() > 0.3  # something was drawn


# ---------------------------------------------------------------- scenes and encoding


def grid_scene(side=6, width=192, height=108, n_frames=36, fps=24):
    """A side×side grid of solid cards, zooming 2x → 1x over the scene."""
    rng = np.random.default_rng(0)
    n = side * side
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    cw, ch = width / side, height / side
    base = np.column_stack([(col.ravel() + 0.5) * cw, (row.ravel() + 0.5) * ch,
                            np.full(n, cw - 2), np.full(n, ch - 2)])
    zoom = Track.build(1, 1.0, [0, 0], [0, n_frames * 1000 / fps], [2.0, 1.0],
                       ease_id("quadInOut"))
    scene = Scene(width, height, fps, n_frames, base, np.full(n, 6), camera={"zoom": zoom})
    clips = [np.broadcast_to(rng.integers(30, 255, 3).astype(np.uint8),
                             (6, int(2 * ch), int(2 * cw), 3)).copy() for _ in range(n)]
    clips = [c.copy() for c in clips]
    for k, c in enumerate(clips):
        c[k % 6, :, : c.shape[2] // 3] = 255  # a bar that moves with the loop
    data, layout = store_from_rgb(clips)
    return scene, data, layout


def test_zoom_scales_the_grid_about_the_centre() -> None:
    scene, data, layout = grid_scene()
    first = draw_frame(scene, data, layout, 0)[: scene.height]  # the luma plane
    last = draw_frame(scene, data, layout, scene.n_frames - 1)[: scene.height]
    lit0 = np.argwhere(first > 40)
    lit1 = np.argwhere(last > 40)
    assert lit0[:, 1].min() == 0 and lit0[:, 1].max() == 191  # 2x: the grid overflows
    assert lit1[:, 1].min() > 0 and lit1[:, 1].max() < 191  # ~1x: margins show
    state = scene.state(0)
    assert state.sw.max() == pytest.approx(2 * (192 / 6 - 2))


def test_frames_do_not_depend_on_the_compositor_threads() -> None:
    """iter_frames composites inline with threads=1 (no thread started) and in a compositor
    thread otherwise: the frames are the same bytes either way."""
    import threading

    scene, data, layout = grid_scene()
    before = threading.active_count()
    inline = iter_frames(scene, data, layout, 0, 12, threads=1)
    one = [next(inline).copy()]
    assert threading.active_count() == before  # nothing runs beside the caller
    one += [b.copy() for b in inline]
    two = [b.copy() for b in iter_frames(scene, data, layout, 0, 12, threads=2)]
    assert len(one) == len(two) == 12
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))


def test_segments_join_into_one_file_of_the_planned_length(tmp_path: Path) -> None:
    scene, data, layout = grid_scene()
    codec = VideoCodec(preset="ultrafast", crf=23, gop_s=0.5)
    segs = []
    for i, (a, b) in enumerate([(0, 12), (12, 30), (30, 36)]):
        segs.append(tmp_path / f"seg{i}.mp4")
        encode_segment(segs[-1], iter_frames(scene, data, layout, a, b), scene.width,
                       scene.height, scene.fps, codec)
    sr = 48000
    audio = np.zeros((2, int(sr * scene.duration_s)), np.float32)
    audio[:, sr // 2 : sr // 2 + 480] = 0.5
    out = join_segments(segs, tmp_path / "out.mp4", audio=audio, sr=sr) and tmp_path / "out.mp4"
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert c.streams.audio[0].codec_context.name == "aac"
        assert float(c.duration / 1e6) == pytest.approx(scene.duration_s, abs=0.03)
    assert len(frames) == scene.n_frames
    # the decoded picture is the composited picture (within H.264's loss)
    for f in (0, 12, 29, 35):
        ref = render_rgb(scene, data, layout, f).astype(int)
        assert np.abs(frames[f].astype(int) - ref).mean() < 6.0
    # same input, same bytes
    again = join_segments(segs, tmp_path / "again.mp4", audio=audio, sr=sr)
    assert again == scene.n_frames
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest()
              for n in ("out.mp4", "again.mp4")]
    assert digest[0] == digest[1]


def test_a_segment_encodes_to_the_same_bytes_every_time(tmp_path: Path) -> None:
    scene, data, layout = grid_scene(n_frames=24)
    codec = VideoCodec(preset="veryfast", crf=20, threads=2)
    digests = set()
    for i in range(2):
        p = tmp_path / f"s{i}.mp4"
        encode_segment(p, (draw_frame(scene, data, layout, f) for f in range(24)),
                       scene.width, scene.height, scene.fps, codec)
        digests.add(hashlib.sha256(p.read_bytes()).hexdigest())
    assert len(digests) == 1
