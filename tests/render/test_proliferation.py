"""proliferation: the plan follows the reference's rules (rings, timing, zoom, audio caps and
volumes), and a render of generated films, in one process, has the planned frames and length
with each cell flashing when its beep sounds."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.render.gridgen import flash_beep_film
from worker.render.engine.easing import ease_name
from worker.render.grid import GridMembers
from worker.render.gridvideo import frames_png, render_all
from worker.render.proliferation.compose import compose, rings
from worker.render.proliferation.params import ProliferationParams


def grid_members(side: int, seed: int = 0, sources=("a.mp4",)) -> GridMembers:
    rng = np.random.default_rng(seed)
    n = side * side
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    start = rng.uniform(0, 3000, n)
    return GridMembers(col.ravel(), row.ravel(), rng.normal(size=n), rng.normal(size=n), start,
                       rng.uniform(100, 900, n), start, rng.uniform(1200, 2400, n),
                       rng.integers(0, len(sources), n), np.arange(n) + 100, sources)


def test_rings_are_square_and_grow_by_eight() -> None:
    col, row = np.meshgrid(np.arange(16), np.arange(16))
    r = rings(col.ravel(), row.ravel(), 16)
    assert [int((r == k).sum()) for k in range(1, 9)] == [8 * k - 4 for k in range(1, 9)]


def test_plan_follows_the_reference_timing_zoom_and_audio_caps() -> None:
    p = ProliferationParams(grid=32, grid0=8, width=320, height=180)
    comp = compose(grid_members(32), p)
    ring_ms = np.array(comp.info["ring_ms"])
    np.testing.assert_allclose(ring_ms, np.round(4 * 4096 / np.arange(1, 17)))
    lit = comp.scene.play_t[np.argsort(comp.scene.play_clip)]
    r = rings(comp.members.col, comp.members.row, 32)
    starts = 1000 + np.concatenate([[0], np.cumsum(ring_ms)[:-1]])
    for k in (1, 5, 16):
        in_ring = np.sort(lit[r == k])
        assert in_ring[0] == pytest.approx(starts[k - 1])
        np.testing.assert_allclose(np.diff(in_ring), ring_ms[k - 1] / (8 * k - 4))  # even
    # within a ring, nearest to ring 1's mean sound goes first
    m = comp.members
    centre = np.array([m.map_x[r == 1].mean(), m.map_y[r == 1].mean()])
    ring5 = np.flatnonzero(r == 5)
    d = np.hypot(m.map_x[ring5] - centre[0], m.map_y[ring5] - centre[1])
    assert np.all(np.diff(d[np.argsort(lit[ring5])]) >= 0)
    # zoom: 4x (32/8) until 55 % of the way to ring 5, 1x once the last ring starts
    z0, z1 = comp.info["zoom_ms"]
    assert z0 == pytest.approx(1000 + 0.55 * (starts[4] - 1000)) and z1 == starts[-1]
    zoom = comp.scene.camera["zoom"]
    assert zoom.at(z0 - 1)[0] == 4.0 and zoom.at(z1 + 1)[0] == 1.0
    mid = 0.5 * (z0 + z1)
    assert zoom.at(mid)[0] == pytest.approx(4 - 3 * ease_name(0.5, "quadInOut"))
    # audio: at most one clip per 16 ms of a ring, no clip twice; volume by ring
    plays = comp.plays
    assert np.unique(plays.clip).size == plays.clip.size
    for k in range(1, 17):
        sounding = int((r[plays.clip] == k).sum())
        assert sounding == min(8 * k - 4, round(ring_ms[k - 1] / 16))
    k = r[plays.clip]
    np.testing.assert_allclose(plays.volume, 0.25 + 0.75 * (1 - (k - 1) / 15) ** 6)
    np.testing.assert_allclose(plays.pan, m.col[plays.clip] / 31 * 2 - 1)
    assert comp.scene.n_frames % comp.scene.fps == 0  # whole seconds


def test_brightness_flashes_then_settles() -> None:
    p = ProliferationParams(grid=8, grid0=4, width=160, height=90)
    comp = compose(grid_members(8), p)
    b = comp.scene.tracks["brightness"]
    c = 0
    t_lit = comp.scene.play_t[comp.scene.play_clip == c][0]
    assert b.at(t_lit - 10)[c] == 0.0
    peaks = [b.at(t_lit + x)[c] for x in np.linspace(0, 3000, 301)]
    assert max(peaks) == pytest.approx(1.0) and peaks[-1] == pytest.approx(0.33)


def test_plan_is_reproducible_and_seeded() -> None:
    p = ProliferationParams(grid=16, grid0=4, width=160, height=90)
    a, b = compose(grid_members(16), p), compose(grid_members(16), p)
    assert np.array_equal(a.plays.clip, b.plays.clip)
    assert np.array_equal(a.scene.tracks["brightness"].t, b.scene.tracks["brightness"].t)
    c = compose(grid_members(16), p.model_copy(update={"seed": 2}))
    assert not np.array_equal(a.scene.tracks["brightness"].t, c.scene.tracks["brightness"].t)


def test_a_larger_layout_uses_its_central_window() -> None:
    p = ProliferationParams(grid=8, grid0=4, width=160, height=90)
    comp = compose(grid_members(12), p)
    assert len(comp.members) == 64
    assert comp.members.col.min() == 0 and comp.members.col.max() == 7
    assert set(comp.members.sample_id.tolist()) == {100 + r * 12 + c for r in range(2, 10)
                                                   for c in range(2, 10)}


# ---------------------------------------------------------------- a real render


def sync_members(tmp: Path, side: int = 4) -> tuple[GridMembers, dict[int, float]]:
    """Members cut from two flash+beep films; returns them and each clip's beep offset (ms)."""
    events = [0.6, 1.6, 2.6, 3.6, 4.6, 5.6, 6.6, 7.6]
    films = [str(flash_beep_film(tmp / f"film{i}.mp4", events, 8.4)) for i in range(2)]
    n = side * side
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    src = np.arange(n) % 2
    ev = np.array(events)[np.arange(n) // 2 % len(events)]
    start = (ev - 0.12) * 1000
    vstart = start - np.where(np.arange(n) % 3 == 0, 200.0, 0.0)  # some spans start earlier
    rng = np.random.default_rng(5)
    m = GridMembers(col.ravel(), row.ravel(), rng.normal(size=n), rng.normal(size=n), start,
                    np.full(n, 300.0), vstart, np.full(n, 700.0), src, np.arange(n), films)
    return m, {c: 120.0 for c in range(n)}


def decode_planned(out: Path, comp) -> tuple[np.ndarray, np.ndarray]:
    """The mp4's grey frames and audio, after checking its frame count, rate and length."""
    with av.open(str(out)) as c:
        rate = c.streams.video[0].average_rate
        frames = np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)])
    with av.open(str(out)) as c:
        audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
        assert c.duration / 1e6 == pytest.approx(comp.scene.duration_s, abs=0.05)
    assert frames.shape[0] == comp.scene.n_frames
    assert rate == comp.scene.fps
    return frames, audio


def beep_onset(env: np.ndarray, t_beep: float, sr: int = 48000) -> float:
    """The beep's onset (ms) in the mix's envelope, searched within 60 ms of t_beep."""
    a, b = int((t_beep - 60) * sr / 1000), int((t_beep + 60) * sr / 1000)
    seg = env[a:b]
    return (a + int(np.argmax(seg > 0.3 * seg.max()))) * 1000 / sr


def cell_box(scene, c: int, f: int) -> tuple[int, int, int, int]:
    """The middle third of clip c's rectangle at frame f."""
    st = scene.state(f)
    j = int(np.flatnonzero(st.clip == c)[0])
    return (int(st.cx[j] - st.sw[j] / 3), int(st.cy[j] - st.sh[j] / 3),
            int(st.cx[j] + st.sw[j] / 3), int(st.cy[j] + st.sh[j] / 3))


def assert_planned_and_in_sync(out: Path, comp, offsets: dict[int, float]) -> int:
    """The mp4 has the plan's frames and length, and every play's beep onset (its clip's
    offset after the play) is within 20 ms of plan and one frame of its cell's flash (a
    one-frame spike of brightness)."""
    frames, audio = decode_planned(out, comp)
    sr = 48000
    env = np.abs(audio).max(axis=0)
    scene = comp.scene
    checked = 0
    for i in range(len(comp.plays)):
        c = int(comp.plays.clip[i])
        t_beep = comp.plays.t_ms[i] + offsets[c]
        onset = beep_onset(env, t_beep, sr)  # in the mixed audio, near where it was planned
        assert onset == pytest.approx(t_beep, abs=20)
        # the cell's picture: the flash is a one-frame spike of brightness
        f_lit = scene.play_t[scene.play_clip == c][0] * scene.fps / 1000
        lum = cell_luma(frames, cell_box(scene, c, int(f_lit) + 3))
        f0 = int(t_beep * scene.fps / 1000)
        window = np.arange(max(f0 - 4, 1), min(f0 + 5, len(lum) - 1))
        spike = lum[window] - 0.5 * (lum[window - 1] + lum[window + 1])
        flash_frame = window[int(np.argmax(spike))]
        assert spike.max() > 15, (c, lum[window])
        assert abs(flash_frame * 1000 / scene.fps - onset) <= 1000 / scene.fps + 1, (c,)
        checked += 1
    assert checked == len(comp.plays)
    return checked


def assert_cells_light_on_their_beeps(out: Path, comp, offsets: dict[int, float]) -> int:
    """As assert_planned_and_in_sync for films whose flash lasts several frames and starts
    with the sample: the first white frame of each cell is within a frame of its beep."""
    frames, audio = decode_planned(out, comp)
    env = np.abs(audio).max(axis=0)
    scene = comp.scene
    frame_ms = 1000 / scene.fps
    for i in range(len(comp.plays)):
        c = int(comp.plays.clip[i])
        t_lit = comp.plays.t_ms[i]
        onset = beep_onset(env, t_lit + offsets[c])
        assert onset == pytest.approx(t_lit + offsets[c], abs=20)
        lum = cell_luma(frames, cell_box(scene, c, int(t_lit / frame_ms) + 3))
        f = int(t_lit / frame_ms)
        white = [g for g in range(max(f - 1, 0), min(f + 6, len(lum))) if lum[g] > 150]
        assert white, (c, lum[f - 1 : f + 6])
        assert abs(white[0] * frame_ms - onset) <= frame_ms + 1, (c, white, onset)
    return len(comp.plays)


def cell_luma(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return frames[:, y0:y1, x0:x1].mean(axis=(1, 2))


def test_render_has_the_planned_frames_and_each_flash_meets_its_beep(tmp_path: Path) -> None:
    members, offsets = sync_members(tmp_path)
    # plays at least 250 ms apart and dry, so each beep's onset stands alone in the mix
    p = ProliferationParams(grid=4, grid0=2, beat_ms=1500, width=256, height=144, fps=24,
                            chunk_s=1.0, preset="ultrafast", crf=18, reverb=0,
                            pad_before_ms=500, pad_after_ms=500)
    comp = compose(members, p)
    out = tmp_path / "out.mp4"
    plan = render_all(comp, p, out, tmp_path / "work", tmp_path / "cache")
    assert len(plan.chunks) > 3 and plan.frames == comp.scene.n_frames
    assert assert_planned_and_in_sync(out, comp, offsets) == 16
    sheet = frames_png(plan, list(np.linspace(0, plan.frames - 1, 8).astype(int)),
                       tmp_path / "sheet.png")
    assert sheet.stat().st_size > 1000


def test_a_second_render_reuses_the_clip_cache(tmp_path: Path) -> None:
    members, _ = sync_members(tmp_path)
    p = ProliferationParams(grid=4, grid0=2, beat_ms=300, width=128, height=72,
                            preset="ultrafast", pad_before_ms=200, pad_after_ms=200)
    comp = compose(members, p)
    plan = render_all(comp, p, tmp_path / "a.mp4", tmp_path / "w1", tmp_path / "cache")
    stamp = {f: f.stat().st_mtime_ns for f in (plan.cache / "sources").iterdir()}
    plan2 = render_all(comp, p, tmp_path / "b.mp4", tmp_path / "w2", tmp_path / "cache")
    assert plan2.cache == plan.cache
    assert {f: f.stat().st_mtime_ns for f in (plan.cache / "sources").iterdir()} == stamp
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    other = compose(members, p.model_copy(update={"width": 192, "height": 108}))
    plan3 = render_all(other, p.model_copy(update={"width": 192, "height": 108}),
                       tmp_path / "c.mp4", tmp_path / "w3", tmp_path / "cache")
    assert plan3.cache != plan.cache  # other sizes: its own cache, the first untouched


def test_replanning_under_the_same_name_drops_the_old_plans_parts(tmp_path: Path) -> None:
    members, _ = sync_members(tmp_path)
    p = ProliferationParams(grid=4, grid0=2, beat_ms=300, width=128, height=72,
                            preset="ultrafast", pad_before_ms=200, pad_after_ms=200)
    plan = render_all(compose(members, p), p, tmp_path / "a.mp4", tmp_path / "w", tmp_path / "c")
    q = p.model_copy(update={"beat_ms": 200.0, "pad_after_ms": 2200.0})
    comp = compose(members, q)
    plan2 = render_all(comp, q, tmp_path / "b.mp4", tmp_path / "w", tmp_path / "c")
    assert plan2.frames == comp.scene.n_frames != plan.frames
    with av.open(str(tmp_path / "b.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == comp.scene.n_frames
