"""Benchmark grid videos: proliferation frames/s, moviepy and PNG+veryslow baselines, worker
scaling, peak RSS, and the clip-cache build rate.

Run: python bench/render.py [--quick] [--kinds a,b,...] [--chunks 3] [--skip-moviepy]

- grid kinds (`--kinds`, default every registered grid kind): one row per kind, frames/s end
  to end at 1920×1080, 24 fps, default quality, from a built test-card cache (the kind's own
  default parameters on a 128×128 grid of synthetic members), three windows of `--kind-s`
  seconds at the start, middle and end of its timeline, and the ratio to proliferation
  measured the same way in the same command. With `--kinds` alone only this table runs.

- proliferation 128×128 at 1920×1080, 24 fps, default quality (x264 veryfast, CRF 20, 2 slice
  threads), from a clip cache that is already built (synthetic test-card clips, so no film
  collection is needed; the frame path is the same as with film clips): whole chunks taken
  from the start, middle and end of the 85 s timeline, rendered and encoded to segments.
- two render workers: the same chunks split over two processes against one process, each held
  to one core (x264 and the compositor on one thread; a 2-thread worker already fills both
  cores here, so its own row is the machine's rate).
- moviepy: `CompositeVideoClip` of a 32×32 grid of clips for a few seconds at 1080p
  (positions only: no zoom or brightness, which would cost moviepy more), against the engine
  rendering the same grid and timeline with everything on; per-frame times.
- reference style: the engine's frames written as PNGs, then read back and encoded by x264
  `veryslow` CRF 18 (what the reference does after its compositor).
- clip cache: generated 640×360 films, spans as vsamples gives, built per source file.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.render.gridgen

from worker.render.engine.encode import VideoCodec, encode_segment
from worker.render.engine.render import draw_frame, iter_frames, yuv_to_rgb
from worker.render.engine.store import StoreLayout
from worker.render.engine.testcard import card_colours, card_frames, testcard_store
from worker.render.grid import Composition, GridMembers
from worker.render.gridkind import grid_kind, grid_kind_names

FPS_FLOOR = 24.0
MOVIEPY_FLOOR = 10.0
SCALING_FLOOR = 1.8
RSS_FLOOR_GB = 2.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def members(side: int, seed: int = 0) -> GridMembers:
    rng = np.random.default_rng(seed)
    n = side * side
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    start = rng.uniform(0, 60_000, n)
    return GridMembers(col.ravel(), row.ravel(), rng.normal(size=n), rng.normal(size=n), start,
                       rng.uniform(80, 1000, n), start, rng.uniform(1200, 2800, n),
                       np.zeros(n, int), np.arange(n), ("synthetic",))


def kind_params(kind: str, side: int, width: int, height: int, fps: int = 24):
    """The kind's default parameters at this frame size and rate (and grid side, if it has one)."""
    model = grid_kind(kind).params
    kw: dict = {"width": width, "height": height, "fps": fps}
    if "grid" in model.model_fields:
        kw["grid"] = side
    if kind == "proliferation":
        kw["grid0"] = max(1, side // 8)
    return model(**kw)


def compose_kind(kind: str, side: int, width: int, height: int, fps: int = 24) -> Composition:
    """A kind's composition of a side×side grid of synthetic members."""
    return grid_kind(kind).compose(members(side), kind_params(kind, side, width, height, fps))


def synthetic_plan(side: int, width: int, height: int, folder: Path, kind: str = "proliferation"):
    """Compose, size the cache, fill it with test cards on disk; return (comp, layout, path,
    scene path). The card file is written under a temporary name then renamed, so benches
    run side by side never read a half-written one."""
    comp = compose_kind(kind, side, width, height)
    w, h = comp.scene.max_screen_sizes()
    layout = StoreLayout.plan(np.maximum(1, np.ceil(w - 1e-6)).astype(int),
                              np.maximum(1, np.ceil(h - 1e-6)).astype(int),
                              comp.scene.clip_frames)
    tag = f"{side}-{width}" if kind == "proliferation" else f"{kind}-{side}-{width}"
    path = folder / f"cards-{tag}.bin"
    scene_path = folder / f"scene-{tag}.npz"
    tmp_scene = folder / f".scene-{tag}.{os.getpid()}.npz"
    comp.scene.save(tmp_scene)
    os.replace(tmp_scene, scene_path)
    if not path.exists() or path.stat().st_size != layout.total:
        data = testcard_store(layout, card_colours(comp.members.map_x, comp.members.map_y))
        tmp = folder / f".cards-{tag}.{os.getpid()}.part"
        data.tofile(tmp)
        os.replace(tmp, path)
    return comp, layout, path, scene_path


def bench_kind(folder: Path, kind: str, side: int, seconds: float) -> dict:
    """frames/s end to end (composite + encode) of one kind at 1920×1080, 24 fps, cache built:
    three windows of seconds/3 at the start, middle and end of the timeline, in this process."""
    comp, layout, data_path, _ = synthetic_plan(side, 1920, 1080, folder, kind)
    scene = comp.scene
    data = np.asarray(np.memmap(data_path, dtype=np.uint8, mode="r"))
    n = max(1, min(scene.n_frames // 3, round(seconds * scene.fps / 3)))
    starts = sorted({0, (scene.n_frames - n) // 2, scene.n_frames - n})
    draw_frame(scene, data, layout, starts[0])  # compile / load the kernel outside the timing
    frames = 0
    t0, c0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        for a in starts:
            frames += encode_segment(Path(tmp) / f"{a:06d}.mp4",
                                     iter_frames(scene, data, layout, a, a + n),
                                     scene.width, scene.height, scene.fps, VideoCodec())
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"kind": kind, "clips": scene.n, "frames_total": scene.n_frames, "frames": frames,
            "fps": frames / secs, "cpu_ms": 1000 * cpu / frames, "store_gb": layout.total / 1e9,
            "load": load()}


def kinds_table(folder: Path, kinds: list[str], side: int, seconds: float) -> list[dict]:
    """One row per kind with its ratio to proliferation (measured first, the same way),
    printed as each is measured; a kind that fails gets its row with the error."""
    print(f"grid kinds {side}x{side} at 1920x1080@24, cache built, {seconds:g} s per kind "
          f"(3 windows), veryfast CRF 20; floor for proliferation {FPS_FLOOR} frames/s",
          flush=True)
    ref = bench_kind(folder, "proliferation", side, seconds)
    rows = [ref]
    for k in ["proliferation", *[k for k in kinds if k != "proliferation"]]:
        if k != "proliferation":
            try:
                rows.append(bench_kind(folder, k, side, seconds))
            except Exception as exc:  # the other kinds' rows are still worth having
                rows.append({"kind": k, "error": f"{type(exc).__name__}: {exc}"})
        r = rows[-1]
        if "error" in r:
            print(f"  {r['kind']:<16} failed: {r['error']}", flush=True)
            continue
        print(f"  {r['kind']:<16} {r['fps']:6.1f} frames/s  x{r['fps'] / ref['fps']:.2f} of "
              f"proliferation  CPU {r['cpu_ms']:.0f} ms/frame (all threads; x"
              f"{ref['cpu_ms'] / r['cpu_ms']:.2f})  ({r['clips']} clips, "
              f"{r['frames_total']} frames in all, store "
              f"{r['store_gb']:.2f} GB, load {r['load']})", flush=True)
    return rows


def _render_chunks(args) -> dict:
    """Worker: render chunks to segments, optionally pinned to one CPU; its frames, seconds,
    CPU seconds (all its threads), peak RSS kB and thread count."""
    scene_path, layout_arrays, data_path, chunks, out_dir, codec, threads, cpu = args
    import numba

    from worker.render.engine.scene import Scene

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # held to one core: the OS cannot lend it the other
    numba.set_num_threads(threads)
    scene = Scene.load(scene_path)
    layout = StoreLayout.plan(*layout_arrays)
    data = np.asarray(np.memmap(data_path, dtype=np.uint8, mode="r"))
    draw_frame(scene, data, layout, 0)  # compile / load the kernel outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for a, b in chunks:
        n += encode_segment(Path(out_dir) / f"{a:06d}.mp4",
                            iter_frames(scene, data, layout, a, b, threads=threads),
                            scene.width, scene.height, scene.fps, codec)
    secs, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": n, "secs": secs, "cpu": cpu_s,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def frame_split(scene, data: np.ndarray, layout: StoreLayout, chunks, codec: VideoCodec) -> dict:
    """CPU ms per frame of each step of a one-thread worker, in this thread (x264 threads=1,
    compositor 1 thread, one after the other): evaluate keyframes, composite, encode."""
    import numba

    from worker.render.engine.encode import SegmentWriter
    from worker.render.engine.raster import clear, draw_clips, frame_planes, new_frame

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    buf = new_frame(scene.width, scene.height)
    t = {"state": 0.0, "composite": 0.0, "encode": 0.0}
    n = 0
    clock = time.thread_time
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for a, b in chunks:
                with SegmentWriter(Path(tmp) / f"{a}.mp4", scene.width, scene.height, scene.fps,
                                   replace(codec, threads=1)) as seg:
                    for f in range(a, b):
                        c0 = clock()
                        st = scene.state(f)
                        lev = layout.level_for(st.clip, st.sw, st.sh)
                        k = np.minimum(st.k, layout.nframes[st.clip] - 1)
                        off = layout.frame_offset(st.clip, lev, k)
                        c1 = clock()
                        clear(buf, scene.width, scene.height)
                        if st.clip.size:
                            draw_clips(*frame_planes(buf, scene.width, scene.height), data, off,
                                       layout.lw[st.clip, lev], layout.lh[st.clip, lev],
                                       st.cx, st.cy, st.sw, st.sh, np.cos(st.rotation),
                                       np.sin(st.rotation), st.brightness, st.alpha)
                        c2 = clock()
                        seg.write(buf)
                        c3 = clock()
                        t["state"] += c1 - c0
                        t["composite"] += c2 - c1
                        t["encode"] += c3 - c2
                        n += 1
    finally:
        numba.set_num_threads(before)
    return {k: 1000 * v / n for k, v in t.items()}


def _copy_kernel(args) -> tuple[float, float]:
    """Worker: stream `per_frame` bytes read and written per 'frame' through buffers far larger
    than the caches (touched before the timing), pinned to one CPU; (frames/s, CPU ms/frame)."""
    cpu, per_frame, frames = args
    os.sched_setaffinity(0, {cpu})
    ring = 8
    src = np.ones((ring, per_frame), np.uint8)
    dst = np.ones((ring, per_frame), np.uint8)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(frames):
        np.copyto(dst[i % ring], src[(i * 3 + 1) % ring])
    return frames / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / frames


def copy_scaling(per_frame: int, frames: int) -> dict:
    """The memory system's own scaling: one copy worker pinned to CPU 0 against two pinned to
    CPUs 0 and 1, each moving per_frame bytes a frame (read + write)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        one, one_ms = pool.apply(_copy_kernel, ((0, per_frame, frames),))
    with ctx.Pool(2) as pool:
        res = pool.map(_copy_kernel, [(c, per_frame, frames) for c in (0, 1)])
    return {"one": one, "two": sum(r[0] for r in res), "one_ms": one_ms,
            "two_ms": sum(r[1] for r in res) / 2, "gbs_one": one * 2 * per_frame / 1e9,
            "load": load()}


def bench_proliferation(folder: Path, n_chunks: int, chunk_s: float = 10.0) -> dict:
    comp, layout, data_path, scene_path = synthetic_plan(128, 1920, 1080, folder)
    scene = comp.scene
    chunk = max(2, round(chunk_s * scene.fps))
    starts = np.linspace(0, scene.n_frames - chunk, n_chunks).astype(int) // chunk * chunk
    chunks = [(int(a), int(a) + chunk) for a in starts]
    codec = VideoCodec()
    arrays = (layout.lw[:, 0], layout.lh[:, 0], layout.nframes)
    ctx = mp.get_context("spawn")
    out = {"store_gb": layout.total / 1e9, "clips": scene.n, "frames_total": scene.n_frames,
           "chunks": chunks, "codec": codec}
    with tempfile.TemporaryDirectory() as tmp, ctx.Pool(1) as pool:
        r = pool.apply(_render_chunks, ((scene_path, arrays, data_path, chunks, tmp, codec, 2,
                                         None),))
        out.update(one_fps=r["frames"] / r["secs"], one_rss_gb=r["rss"] / 1e6,
                   one_cores=r["cpu"] / r["secs"], one_load=load())
    # Scaling across workers: a worker held to one core (x264 threads=1, the compositor on one
    # numba thread in the encoder's thread, the process pinned to a CPU) against two such, one
    # per CPU; on this 2-core box a 2-thread worker already fills both.
    # Each chunk is split in halves, the first halves for one worker and the second for the
    # other, so both get the same mix of cheap (zoomed-in) and dear (whole grid) frames; the
    # single worker renders the same halves.
    codec1 = replace(codec, threads=1)
    halves = [[(a, (a + b) // 2) for a, b in chunks], [((a + b) // 2, b) for a, b in chunks]]
    with tempfile.TemporaryDirectory() as tmp, ctx.Pool(1) as pool:
        r = pool.apply(_render_chunks, ((scene_path, arrays, data_path,
                                         halves[0] + halves[1], tmp, codec1, 1, 0),))
        out.update(one1_fps=r["frames"] / r["secs"], one1_cores=r["cpu"] / r["secs"],
                   one1_cpu_ms=1000 * r["cpu"] / r["frames"], one1_load=load())
    with tempfile.TemporaryDirectory() as tmp, ctx.Pool(2) as pool:
        t0 = time.perf_counter()
        res = pool.map(_render_chunks, [(scene_path, arrays, data_path, h, tmp, codec1, 1, c)
                                        for c, h in enumerate(halves)])
        wall = time.perf_counter() - t0
        n2 = sum(r["frames"] for r in res)
        # frames over the slower worker's own time; wall includes each worker's start-up
        out.update(two_fps=n2 / max(r["secs"] for r in res), two_wall_fps=n2 / wall,
                   two_cores=[r["cpu"] / r["secs"] for r in res],
                   two_cpu_ms=1000 * sum(r["cpu"] for r in res) / n2,
                   two_rss_gb=max(r["rss"] for r in res) / 1e6, two_load=load())
    data = np.asarray(np.memmap(data_path, dtype=np.uint8, mode="r"))
    draw_frame(scene, data, layout, 0)
    out["split"] = frame_split(scene, data, layout, [(a, a + 48) for a, _ in chunks], codec)
    out["split_load"] = load()
    # composite only, whole timeline sampled
    frames = np.linspace(0, scene.n_frames - 1, 96).astype(int)
    t0 = time.perf_counter()
    for f in frames:
        draw_frame(scene, data, layout, int(f))
    out["composite_fps"] = len(frames) / (time.perf_counter() - t0)
    return out


def bench_baselines(folder: Path, seconds: float, skip_moviepy: bool) -> dict:
    """moviepy and PNG + veryslow against the engine on a 32×32 grid at 1080p."""
    comp, layout, data_path, _ = synthetic_plan(32, 1920, 1080, folder)
    scene = comp.scene
    data = np.asarray(np.memmap(data_path, dtype=np.uint8, mode="r"))
    n = round(seconds * scene.fps)
    a = scene.n_frames // 2 - n // 2  # mid-zoom: many clips visible
    out: dict = {"frames": n}
    draw_frame(scene, data, layout, a)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        encode_segment(Path(tmp) / "seg.mp4", iter_frames(scene, data, layout, a, a + n),
                       scene.width, scene.height, scene.fps, VideoCodec())
        out["engine_fps"] = n / (time.perf_counter() - t0)
        # reference style: PNG per frame, then x264 veryslow from the PNGs
        from PIL import Image

        t0 = time.perf_counter()
        for i, f in enumerate(range(a, a + n)):
            rgb = yuv_to_rgb(draw_frame(scene, data, layout, f), scene.width, scene.height)
            Image.fromarray(rgb).save(Path(tmp) / f"f{i:05d}.png")
        t_png = time.perf_counter() - t0
        t0 = time.perf_counter()
        _encode_pngs(Path(tmp), n, Path(tmp) / "ref.mp4", scene.fps)
        t_enc = time.perf_counter() - t0
        out.update(png_fps=n / t_png, veryslow_fps=n / t_enc, reference_fps=n / (t_png + t_enc))
    if not skip_moviepy:
        out["moviepy_fps"] = _moviepy_fps(comp, layout, data, a, n)
    out["load"] = load()
    return out


def _encode_pngs(folder: Path, n: int, out: Path, fps: int) -> None:
    import av

    with av.open(str(out), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
        s.options = {"preset": "veryslow", "crf": "18"}
        for i in range(n):
            with av.open(str(folder / f"f{i:05d}.png")) as png:
                frame = next(png.decode(video=0))
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def _moviepy_fps(comp, layout, data, a: int, n: int) -> float:
    """moviepy CompositeVideoClip of every clip at its place (1x), written to an mp4."""
    from moviepy import CompositeVideoClip, VideoClip

    scene = comp.scene
    fps = scene.fps
    colours = card_colours(comp.members.map_x, comp.members.map_y)
    clips = []
    for c in range(scene.n):
        w, h = int(layout.lw[c, 0]), int(layout.lh[c, 0])
        nf = int(layout.nframes[c])
        pics = list(card_frames(colours[c], w, h, nf))

        def make(t, pics=pics, nf=nf):
            m = int(t * fps)
            period = max(2 * (nf - 1), 1)
            r = m % period
            return pics[r if r < nf else period - r]

        bx, by, bw, bh = scene.base[c]
        clip = VideoClip(make, duration=n / fps).with_position((bx - bw / 2, by - bh / 2))
        clips.append(clip)
    comp_clip = CompositeVideoClip(clips, size=(scene.width, scene.height))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        comp_clip.write_videofile(str(Path(tmp) / "mp.mp4"), fps=fps, codec="libx264",
                                  preset="veryfast", audio=False, logger=None,
                                  ffmpeg_params=["-crf", "20"])
        return n / (time.perf_counter() - t0)


def bench_cache(folder: Path, n_films: int, seconds: float) -> dict:
    """Build a clip cache from generated films; rate in source minutes per second."""
    from tests.render.gridgen import flash_beep_film
    from worker.render.clipcache import CacheSpec, ClipCache

    films = [str(flash_beep_film(folder / f"film{i}.mp4", [1.0], seconds, size=(640, 360)))
             for i in range(n_films)]
    rng = np.random.default_rng(0)
    per = 200
    n = per * n_films
    src = np.repeat(np.arange(n_films), per)
    vstart = rng.uniform(0, seconds * 1000 - 2900, n)
    vdur = rng.uniform(1200, 2800, n)
    w0 = rng.choice([15, 30, 60, 112], n, p=[0.6, 0.25, 0.1, 0.05])
    spec = CacheSpec(24, tuple(films), src, vstart, vdur, np.round(vdur * 24 / 1000).astype(int),
                     w0, np.round(w0 * 0.53).astype(int))
    cache = ClipCache.create(folder / "cache", spec)
    t0 = time.perf_counter()
    decoded_ms = 0.0
    for s in range(n_films):
        r = cache.build_source(s)
        decoded_ms += r.decoded / 24 * 1000
    secs = time.perf_counter() - t0
    return {"films": n_films, "clips": n, "seconds": secs,
            "source_min_per_s": decoded_ms / 60_000 / secs, "clips_per_s": n / secs,
            "bytes_per_clip": cache.layout.total / n, "load": load()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", help="comma-separated grid kinds for the per-kind table "
                    "(default: every registered grid kind); alone, only that table runs")
    ap.add_argument("--kind-s", type=float, default=6.0,
                    help="seconds rendered per kind (three windows)")
    ap.add_argument("--side", type=int, default=128, help="grid side of the per-kind table")
    ap.add_argument("--quick", action="store_true",
                    help="fewer chunks and frames: a few minutes in all")
    ap.add_argument("--chunks", type=int, default=3)
    ap.add_argument("--chunk-s", type=float, default=10.0,
                    help="seconds per proliferation chunk (shorter: a quicker scaling check)")
    ap.add_argument("--baseline-s", type=float, default=2.0)
    ap.add_argument("--skip-moviepy", action="store_true")
    ap.add_argument("--only", choices=["kinds", "proliferation", "baselines", "cache"])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-render")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    if a.quick:
        a.chunks, a.baseline_s, a.kind_s = 2, 1.0, min(a.kind_s, 3.0)
    kinds = [k.strip() for k in a.kinds.split(",") if k.strip()] if a.kinds else grid_kind_names()
    for k in kinds:
        grid_kind(k)  # an unknown name fails here, listing the known ones
    only = a.only or ("kinds" if a.kinds else None)
    print(f"cpus {os.cpu_count()}, load {load()}")
    if only in (None, "kinds"):
        kinds_table(a.work, kinds, a.side, a.kind_s)
    if only in (None, "proliferation"):
        r = bench_proliferation(a.work, a.chunks, a.chunk_s)
        print(f"proliferation 128x128 1920x1080@24, {r['clips']} clips, store "
              f"{r['store_gb']:.2f} GB, chunks {r['chunks']}, codec {r['codec']}")
        print(f"  one worker: {r['one_fps']:.1f} frames/s end to end (floor {FPS_FLOOR}), "
              f"{r['one_cores']:.2f} cores busy, peak RSS {r['one_rss_gb']:.2f} GB, "
              f"load {r['one_load']}")
        print(f"  one worker held to one core (pinned; x264 and compositor 1 thread): "
              f"{r['one1_fps']:.1f} frames/s, {r['one1_cores']:.2f} cores busy, "
              f"{r['one1_cpu_ms']:.1f} ms CPU/frame, load {r['one1_load']}")
        print(f"  two such workers (CPU 0 and 1): {r['two_fps']:.1f} frames/s "
              f"({r['two_wall_fps']:.1f} with start-up), x{r['two_fps'] / r['one1_fps']:.2f} of "
              f"one such (floor {SCALING_FLOOR}), x{r['two_fps'] / r['one_fps']:.2f} of one "
              f"2-thread worker; cores busy {' + '.join(f'{c:.2f}' for c in r['two_cores'])}, "
              f"{r['two_cpu_ms']:.1f} ms CPU/frame, peak RSS {r['two_rss_gb']:.2f} GB, "
              f"load {r['two_load']}")
        sp = r["split"]
        print(f"  one-thread frame, CPU ms (48 frames per chunk): evaluate {sp['state']:.1f}, "
              f"composite {sp['composite']:.1f}, encode {sp['encode']:.1f}, load "
              f"{r['split_load']}")
        print(f"  composite only: {r['composite_fps']:.1f} frames/s (96 frames over the timeline)")
        c = copy_scaling(8 * 1920 * 1080 * 3 // 2, 400 if a.quick else 1000)
        print(f"  memory copy kernel, 8 yuv420p 1080p frames (24.9 MB) copied a frame: one "
              f"worker {c['one']:.1f} frames/s ({c['gbs_one']:.1f} GB/s read+written), two "
              f"{c['two']:.1f} frames/s, x{c['two'] / c['one']:.2f}; CPU ms/frame "
              f"{c['one_ms']:.1f} alone, {c['two_ms']:.1f} two at once; load {c['load']}")
    if only in (None, "baselines"):
        r = bench_baselines(a.work, a.baseline_s, a.skip_moviepy)
        print(f"32x32 grid 1920x1080, {r['frames']} frames, load {r['load']}")
        print(f"  engine: {r['engine_fps']:.2f} frames/s (veryfast CRF 20)")
        if "moviepy_fps" in r:
            print(f"  moviepy CompositeVideoClip: {r['moviepy_fps']:.3f} frames/s -> engine "
                  f"x{r['engine_fps'] / r['moviepy_fps']:.1f} (floor {MOVIEPY_FLOOR})")
        print(f"  reference style: PNG write {r['png_fps']:.2f} frames/s, x264 veryslow from "
              f"PNGs {r['veryslow_fps']:.2f} frames/s, together {r['reference_fps']:.2f} "
              f"frames/s -> engine x{r['engine_fps'] / r['reference_fps']:.1f}")
    if only in (None, "cache"):
        r = bench_cache(a.work, 2 if a.quick else 3, 30.0 if a.quick else 60.0)
        print(f"clip cache: {r['clips']} clips from {r['films']} films 640x360: "
              f"{r['seconds']:.1f} s, {r['source_min_per_s']:.2f} source min/s decoded, "
              f"{r['clips_per_s']:.0f} clips/s, {r['bytes_per_clip'] / 1e3:.0f} kB per clip, "
              f"load {r['load']}")


if __name__ == "__main__":
    main()
