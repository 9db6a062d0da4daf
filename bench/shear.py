"""Benchmark splice's row shear against the plain frame: the same splice scene (128×128 grid,
1920×1080, test-card clip cache built) composited with and without the shear, interleaved
frame by frame so machine load hits both alike, in wall time and in CPU time of the process
(which load inflates far less). Floor (issue 13): the shear costs at most 20 % over the plain frame.

With `--kinds a,b` it instead times each grid kind end to end (composite + x264 veryfast CRF 20
into segments, as a render chunk does) at its defaults on 128×128 synthetic members, 1920×1080,
24 fps, three windows of `--window-s` at the start, middle and end, from a store filled flat
grey (built in a second, unlike bench/render.py's test cards; the compositor's work does not
depend on the pixels), proliferation first as the baseline: frames/s wall and CPU ms per frame
(all threads), whose ratio load distorts far less.

Run: python bench/shear.py [--frames 48] [--side 128]
     python bench/shear.py --kinds stretch,flow,splice [--window-s 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from render import compose_kind, synthetic_plan

from worker.render.engine.encode import VideoCodec, encode_segment
from worker.render.engine.raster import frame_planes, new_frame
from worker.render.engine.render import draw_frame, iter_frames
from worker.render.engine.shear import apply_shear
from worker.render.engine.store import StoreLayout

FLOOR = 1.20


def load() -> str:
    """The load averages, for the record beside every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def kind_row(kind: str, side: int, window_s: float) -> dict:
    """One kind's end-to-end frames/s and CPU ms per frame from a flat grey store."""
    comp = compose_kind(kind, side, 1920, 1080)
    sc = comp.scene
    w, h = sc.max_screen_sizes(range(0, sc.n_frames, 4))
    layout = StoreLayout.plan(np.maximum(1, np.ceil(w)).astype(int),
                              np.maximum(1, np.ceil(h)).astype(int), sc.clip_frames)
    data = np.full(layout.total, 128, np.uint8)
    n = max(1, min(sc.n_frames // 3, round(window_s * sc.fps)))
    starts = sorted({0, (sc.n_frames - n) // 2, sc.n_frames - n})
    draw_frame(sc, data, layout, starts[-1])  # compile outside the timing
    frames = 0
    w0, c0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        for a in starts:
            frames += encode_segment(Path(tmp) / f"{a:06d}.mp4",
                                     iter_frames(sc, data, layout, a, a + n),
                                     sc.width, sc.height, sc.fps, VideoCodec())
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"kind": kind, "fps": frames / wall, "cpu_ms": 1000 * cpu / frames,
            "clips": sc.n, "frames": sc.n_frames, "store_gb": layout.total / 1e9,
            "load": load()}


def kinds_table(kinds: list[str], side: int, window_s: float) -> None:
    """Print one row per kind, proliferation first, with ratios to it."""
    print(f"grid kinds {side}x{side} at 1920x1080@24, flat grey store, 3 windows of "
          f"{window_s:g} s, veryfast CRF 20, cpus {os.cpu_count()}, load {load()}")
    ref = None
    for k in ["proliferation"] + [k for k in kinds if k != "proliferation"]:
        r = kind_row(k, side, window_s)
        ref = ref or r
        print(f"  {k:<14} {r['fps']:5.1f} frames/s x{r['fps'] / ref['fps']:.2f}, CPU "
              f"{r['cpu_ms']:.1f} ms/frame x{ref['cpu_ms'] / r['cpu_ms']:.2f} of "
              f"proliferation's rate ({r['clips']} clips, {r['frames']} frames, store "
              f"{r['store_gb']:.2f} GB, load {r['load']})", flush=True)


def main() -> None:
    """Print composite ms per frame plain and sheared, the ratio, and the kernel's own ms."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48, help="frames over the timeline")
    ap.add_argument("--side", type=int, default=128)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-render")
    ap.add_argument("--kinds", help="time these grid kinds end to end instead")
    ap.add_argument("--window-s", type=float, default=2.0)
    a = ap.parse_args()
    if a.kinds:
        kinds_table([k.strip() for k in a.kinds.split(",") if k.strip()], a.side, a.window_s)
        return
    a.work.mkdir(parents=True, exist_ok=True)
    comp, layout, path, _ = synthetic_plan(a.side, 1920, 1080, a.work, "splice")
    sheared = comp.scene
    plain = dataclasses.replace(sheared, shear=None)
    data = np.asarray(np.memmap(path, dtype=np.uint8, mode="r"))
    # the first half of the timeline, where the picture is still there to shear
    frames = np.linspace(0, sheared.n_frames // 2, a.frames).astype(int)
    buf = new_frame(1920, 1080)
    draw_frame(sheared, data, layout, int(frames[1]), buf)  # compile outside the timing
    wall = np.zeros(3)  # plain frame, shear alone, sheared frame
    cpu = np.zeros(3)  # the same in CPU seconds of the process (all threads)
    for f in frames:
        f = int(f)
        steps = (lambda f=f: draw_frame(plain, data, layout, f, buf),
                 lambda f=f: apply_shear(frame_planes(buf, 1920, 1080), sheared.shear,
                                         sheared.t_ms(f)),
                 lambda f=f: draw_frame(sheared, data, layout, f, buf))
        for i, step in enumerate(steps):
            w0, c0 = time.perf_counter(), time.process_time()
            step()
            wall[i] += time.perf_counter() - w0
            cpu[i] += time.process_time() - c0
    n = len(frames)
    t_plain, t_kernel, t_shear = wall
    ratio = t_shear / t_plain
    cpu_ratio = cpu[2] / cpu[0]
    print(f"splice {a.side}x{a.side} 1920x1080, {n} frames over the first half, cpus "
          f"{os.cpu_count()}, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  plain frame {1000 * t_plain / n:.1f} ms, with the shear {1000 * t_shear / n:.1f} "
          f"ms: x{ratio:.3f} (floor x{FLOOR:.2f}: {'met' if ratio <= FLOOR else 'NOT met'}); "
          f"the shear alone {1000 * t_kernel / n:.1f} ms")
    print(f"  CPU per frame (all threads): plain {1000 * cpu[0] / n:.1f} ms, with the shear "
          f"{1000 * cpu[2] / n:.1f} ms: x{cpu_ratio:.3f}; the shear alone {1000 * cpu[1] / n:.1f}"
          f" ms")


if __name__ == "__main__":
    main()
