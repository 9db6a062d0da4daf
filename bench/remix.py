"""Benchmark the remix render: a long generated film cut to a few minutes.

Run: python -m bench.remix [--film-seconds 7200] [--size 640x480] [--duration 300] [--repeat 2]

Times (wall, and CPU of all this process's threads, which a loaded machine inflates less) the
silence search (audio decode + window peaks + cuts) and the cut-and-encode
(seek + decode of each edit's frames, H.264 veryfast, AAC) apart, against baselines run in
the same process: the seed's per-window Python loop over the same decoded audio, and PyAV
decode-only of the same frames. Films are generated once and cached under /tmp.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from bench.soundmedia import film
from worker.analysis.decode import iter_audio_blocks
from worker.render.cutlist.fetch import open_video
from worker.render.remix.params import RemixParams
from worker.render.remix.render import plan_remix, write_remix

FLOOR_S = 60.0


def seed_silence_loop(y: np.ndarray, sr: int, frame_s: float = 0.1, limit: float = 0.02):
    """The seed's loop: max(map(abs, window)) per 100 ms window, in Python (on 60 s of audio)."""
    n = int(len(y) / (frame_s * sr))
    silent = []
    for k in range(n):
        window = y[int(k * frame_s * sr) : int((k + 1) * frame_s * sr)]
        if max(map(abs, window.tolist())) < limit:
            silent.append(k)
    return silent


def decode_only(plan) -> float:  # type: ignore[no-untyped-def]
    """Seconds to seek and decode every edit's frames, nothing else."""
    t = time.perf_counter()
    srcs = [open_video(f) for f in plan.films]
    for e in plan.edits:
        for _ in srcs[e.film].frames(np.arange(e.start, e.start + e.frames)):
            pass
    for s in srcs:
        s.close()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--film-seconds", type=float, default=7200.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/samplemill-bench/remix-out.mp4"))
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    name = f"film-{int(args.film_seconds)}s-{w}x{h}"
    t = time.perf_counter()
    path = film(name, args.film_seconds, size=(w, h))
    print(f"film {path} ({args.film_seconds / 3600:.2f} h, {w}x{h}) ready in "
          f"{time.perf_counter() - t:.1f} s; load {os.getloadavg()}")
    params = RemixParams(duration=args.duration, seed=1)
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        c0 = time.process_time()
        plan = plan_remix([path], params)
        c1 = time.process_time()
        result = write_remix(plan, args.out, params)
        c2 = time.process_time()
        for key, value in (("search", plan.seconds), ("encode", result.encode_seconds),
                           ("total", plan.seconds + result.encode_seconds),
                           ("search_cpu", c1 - c0), ("encode_cpu", c2 - c1)):
            best[key] = min(best.get(key, 1e9), value)
    dec = decode_only(plan)
    y = next(iter(iter_audio_blocks(path, sr=22050, block_seconds=60)))  # the first minute
    t = time.perf_counter()
    seed_silence_loop(y, 22050)
    seed_per_min = time.perf_counter() - t
    seed_search = seed_per_min * args.film_seconds / 60
    segs = len(plan.edits)
    print(f"load after: {os.getloadavg()}")
    print(f"| {w}x{h}, {args.film_seconds / 3600:.2f} h → {result.duration_s:.1f} s "
          f"({segs} segments, {result.frames} frames) | silence search {best['search']:.1f} s "
          f"({args.film_seconds / best['search']:.0f}× realtime; the seed's Python loop "
          f"≈ {seed_search:.0f} s, {seed_search / best['search']:.0f}× slower) | cut + encode "
          f"{best['encode']:.1f} s ({result.frames / best['encode']:.0f} frames/s; decode "
          f"only {dec:.1f} s) | total {best['total']:.1f} s (floor {FLOOR_S:.0f} s: "
          f"{'met' if best['total'] <= FLOOR_S else 'MISSED'}) | CPU time (all threads): "
          f"search {best['search_cpu']:.1f} s, cut + encode {best['encode_cpu']:.1f} s |")


if __name__ == "__main__":
    main()
