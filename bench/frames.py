"""Benchmark the picture stages: fingerprint + loop search against PyAV decode-only of the same
640×360 H.264 file, duplicate search over 1,000 hours of (synthetic) fingerprints, and a frame
map of 100,000 frames.

Run: python -m bench.frames [--part fingerprint|duplicates|index|framemap|all] [--hours 1000]
     [--map-frames 100000] [--map-methods tsne] [--map-baseline] [--seconds 120] [--repeat 3]

CPU seconds (process time, all threads) give "× realtime per core"; every figure is the best
of --repeat runs, because other work shares the machine (its load average is printed).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.frames.filmgen import Shot, write_film
from worker.frames.align import MatchParams, Seq, runs_from_seeds, thin
from worker.frames.duplicates import DuplicateParams, SearchStats, seeds_between
from worker.frames.fingerprint import FingerprintParams, warm_up
from worker.frames.framemap import (
    FrameMapParams,
    FrameSample,
    compute_layouts,
    write_map,
)
from worker.frames.loops import LoopParams, find_loops
from worker.frames.store import FrameSet, write_frame_set

FPS = 30


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def best_cpu(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best (CPU seconds, wall seconds) of `repeat` runs and the last result."""
    cpu, wall, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return cpu, wall, out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- fingerprint + loops vs decode-only ------------------------------------------------------


def make_film(path: Path, seconds: int) -> Path:
    """A 640×360 H.264 film (crf 23, veryfast-like quality via ultrafast) of moving scenes with
    a few repeats, static shots and black: what the fingerprint pass sees in practice."""
    n = seconds * FPS
    shots, k = [], 0
    while sum(s.length for s in shots) < n:
        shots.append(Shot(500 + k, 0, 150))
        if k % 4 == 3:
            shots.append(Shot(500 + k - 2, 20, 90, noise=3, seed=k))
        if k % 5 == 4:
            shots.append(Shot(0, 0, 30, kind="black"))
        k += 1
    return write_film(path, shots, size=(640, 360), fps=FPS, crf=23, gop=250).path


def decode_only(path: Path, threads: int | None, fast: bool) -> int:
    """Plain PyAV decode of every frame (the baseline); returns the frame count."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        opts = {}
        if threads is not None:
            opts["threads"] = str(threads)
        if fast:
            opts["skip_loop_filter"] = "all"
        s.codec_context.options = opts
        if threads != 1:
            s.thread_type = "AUTO"
        return sum(1 for _ in c.decode(s))


def bench_fingerprint(seconds: float, repeat: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-frames-"))
    try:
        t0 = time.perf_counter()
        film = make_film(tmp / "film.mp4", seconds)
        with av.open(str(film)) as c:
            seconds = c.streams.video[0].frames / FPS
        size_mb = film.stat().st_size / 1e6
        print(f"film: {seconds:.0f} s of 640x360 H.264 at {FPS} fps, {size_mb:.1f} MB, "
              f"written in {time.perf_counter() - t0:.0f} s")
        warm_up()
        for threads in (1, 0):
            label = "1 thread" if threads == 1 else "auto threads"
            base_cpu, base_wall, n = best_cpu(lambda t=threads: decode_only(film, t or None,
                                                                            False), repeat)
            fast_cpu, _, _ = best_cpu(lambda t=threads: decode_only(film, t or None, True),
                                      repeat)

            def ours(t: int = threads) -> int:
                write_frame_set(film, tmp / "set", FingerprintParams(threads=t))
                fs = FrameSet(tmp / "set")
                seq = Seq.from_arrays(fs.phash, fs.dhash, fs.stats, fs.thumb_gray, fs.t, fs.fps,
                                      min_contrast=LoopParams().min_contrast)
                return len(find_loops(seq))

            our_cpu, our_wall, loops = best_cpu(ours, repeat)
            print(f"[{label}] decode-only {n} frames: {seconds / base_cpu:.0f}x realtime per "
                  f"core ({base_cpu:.2f} CPU s, {seconds / base_wall:.0f}x wall); decode-only "
                  f"without deblocking: {seconds / fast_cpu:.0f}x")
            print(f"[{label}] fingerprint + store + loop search: {seconds / our_cpu:.0f}x "
                  f"realtime per core ({our_cpu:.2f} CPU s, {seconds / our_wall:.0f}x wall), "
                  f"{loops} loops; ratio to decode-only {base_cpu / our_cpu:.2f}; "
                  f"24 h of such video on one core: {24 * 3600 * our_cpu / seconds / 60:.1f} min")
        print(load())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- duplicates over 1,000 hours -----------------------------------------------------------


def synthetic_file(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 2) uint64 codes that move like film: shots of 2-12 s, each a random start code
    with 0-3 bits flipping per frame."""
    codes = np.empty((n, 2), np.uint64)
    for w in range(2):
        flips = np.zeros(n, np.uint64)
        nflip = rng.integers(0, 4, n)
        for k in range(3):
            bit = rng.integers(0, 64, n).astype(np.uint64)
            flips ^= np.where(nflip > k, np.uint64(1) << bit, np.uint64(0))
        cuts = np.cumsum(rng.integers(2 * FPS, 12 * FPS, n // (2 * FPS) + 2))
        cuts = cuts[cuts < n]
        flips[0] = rng.integers(0, 2**63, dtype=np.int64).astype(np.uint64)
        flips[cuts] = rng.integers(0, 2**63, len(cuts), dtype=np.int64).astype(np.uint64)
        codes[:, w] = np.bitwise_xor.accumulate(flips)
    return codes


def bench_duplicates(hours: float, planted: int) -> None:
    rng = np.random.default_rng(0)
    per_file = 3600 * FPS  # one-hour files
    files = max(2, round(hours))
    t0 = time.perf_counter()
    codes = [synthetic_file(rng, per_file) for _ in range(files)]
    truth = []
    slot = 10 * FPS  # planted stretches sit in distinct 10 s slots: no paste hides another
    used: set[tuple[int, int]] = set()

    def free_slot() -> tuple[int, int]:
        while True:
            key = (int(rng.integers(0, files)), int(rng.integers(0, per_file // slot)))
            if key not in used:
                used.add(key)
                return key

    for _ in range(planted):  # copy 2-10 s of one file into another, 1 % of bits flipped
        (a, sa), (b, sb) = free_slot(), free_slot()
        while b == a:
            used.discard((b, sb))
            b, sb = free_slot()
        length = int(rng.integers(2 * FPS, 10 * FPS))
        i = sa * slot + int(rng.integers(0, slot - length + 1))
        j = sb * slot + int(rng.integers(0, slot - length + 1))
        seg = codes[a][i : i + length].copy()
        noise = rng.random((length, 2, 64)) < 0.01
        seg ^= np.packbits(noise, axis=2, bitorder="little").view("<u8").reshape(length, 2)
        codes[b][j : j + length] = seg
        truth.append((min(a, b), max(a, b)))
    frames = files * per_file
    print(f"synthetic fingerprints: {files} files x 1 h at {FPS} fps = {frames / 1e6:.0f} M "
          f"frames, {planted} planted duplicates, made in {time.perf_counter() - t0:.0f} s")
    params = DuplicateParams()
    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    rows = [thin(c, np.ones(len(c), bool), params.thin_bits) for c in codes]
    indexable = [np.column_stack([r.astype(np.uint64), c[r, 0], c[r, 1]])
                 for r, c in zip(rows, codes, strict=True)]
    t_thin = time.perf_counter() - t0
    stats = SearchStats(files=files, frames=frames)
    t0, c0 = time.perf_counter(), time.process_time()
    seeds = seeds_between(indexable, params, stats)
    t_search, c_search = time.perf_counter() - t0, time.process_time() - c0
    del indexable
    t0 = time.perf_counter()
    found = set()
    mp = MatchParams(tolerance=params.tolerance, max_gap=params.max_gap,
                     min_frames=round(params.min_length * FPS))
    ones = np.ones(per_file, bool)
    zeros = np.zeros(per_file, np.float32)
    times = np.arange(per_file) / FPS
    for (f, g), (i, j) in seeds.items():
        a = Seq(codes[f], ones, zeros, None, times, FPS)
        b = Seq(codes[g], ones, zeros, None, times, FPS)
        if runs_from_seeds(a, b, i, j, mp, self_seq=False):
            found.add((f, g))
    t_verify = time.perf_counter() - t0
    want = set(truth)
    print(f"thin: {t_thin:.0f} s; index of {stats.indexed / 1e6:.1f} M frames "
          f"({stats.index_bytes / 1e6:.0f} MB) built and searched by {stats.queries / 1e6:.1f} M "
          f"queries in {t_search:.0f} s wall, {c_search:.0f} CPU s ({stats.candidates / 1e6:.1f} M "
          f"candidates, "
          f"{stats.seeds} seeds, {stats.pairs} file pairs); verified in {t_verify:.0f} s")
    print(f"planted file pairs found: {len(want & found)} of {len(want)}; other pairs "
          f"reported: {len(found - want)}; peak RSS {peak_rss_mb():.0f} MB (before the search "
          f"{rss0:.0f} MB, fingerprints alone {frames * 16 / 1e6:.0f} MB)")
    print(load())


# --- multi-index hashing in numpy against faiss's binary multi-hash index ----------------


def bench_index(entries: int, queries: int) -> None:
    """Build and radius-search the same 128-bit codes with HashIndex and faiss."""
    from worker.frames.hashindex import HashIndex

    rng = np.random.default_rng(2)
    base = synthetic_file(rng, entries)
    pick = rng.choice(entries, queries // 2, replace=False)
    near = base[pick].copy()
    flips = rng.random((len(pick), 2, 64)) < 0.02  # ~2.6 of 128 bits
    near ^= np.packbits(flips, axis=2, bitorder="little").view("<u8").reshape(len(pick), 2)
    q = np.concatenate([near, synthetic_file(rng, queries - len(pick))])
    radius = DuplicateParams().seed_tolerance
    t0 = time.process_time()
    index = HashIndex(base, chunk_bits=32)
    t1 = time.process_time()
    qi, ei, _ = index.search(q, radius)
    t2 = time.process_time()
    hit = set(zip(qi.tolist(), ei.tolist(), strict=True))
    recall = np.mean([(k, int(e)) in hit for k, e in enumerate(pick)])
    print(f"numpy HashIndex (4 x 32-bit chunks): {entries / 1e6:.1f} M codes built in "
          f"{t1 - t0:.1f} CPU s, {queries / 1e6:.1f} M queries in {t2 - t1:.1f} CPU s, "
          f"{len(qi)} pairs within {radius} bits, planted recall {recall:.3f}, "
          f"{index.nbytes / 1e6:.0f} MB")
    try:
        import faiss
    except ImportError:
        print("faiss not installed: skipped")
        return
    faiss.omp_set_num_threads(1)
    as_bytes = np.ascontiguousarray(base.astype("<u8")).view(np.uint8).reshape(entries, 16)
    qb = np.ascontiguousarray(q.astype("<u8")).view(np.uint8).reshape(queries, 16)
    t0 = time.process_time()
    fx = faiss.IndexBinaryMultiHash(128, 4, 32)
    fx.add(as_bytes)
    t1 = time.process_time()
    lims, _, labels = fx.range_search(qb, radius + 1)
    t2 = time.process_time()
    rows = np.repeat(np.arange(queries), np.diff(lims.astype(np.int64)))
    hit = set(zip(rows.tolist(), labels.tolist(), strict=True))
    recall = np.mean([(k, int(e)) in hit for k, e in enumerate(pick)])
    print(f"faiss IndexBinaryMultiHash (4 x 32 bits, 1 thread): built in {t1 - t0:.1f} CPU s, "
          f"searched in {t2 - t1:.1f} CPU s, {len(labels)} pairs, planted recall {recall:.3f}")
    print(load())


# --- frame map of 100,000 frames -------------------------------------------------------------


def synthetic_sample(n: int, scenes: int = 200) -> FrameSample:
    """n 16×9 frames from `scenes` drifting colour pictures (what a 1 fps sample looks like)."""
    rng = np.random.default_rng(1)
    label = np.sort(rng.integers(0, scenes, n))
    base = rng.uniform(0, 255, (scenes, 9, 16, 3))
    drift = np.cumsum(rng.normal(0, 2.0, (n, 9, 16, 3)), axis=0)
    drift -= drift[np.searchsorted(label, label)]  # drift restarts at each scene
    color = np.clip(base[label] + drift, 0, 255).astype(np.uint8)
    gray = (color.astype(np.float32) @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    return FrameSample(["synthetic"], np.zeros(n, np.int64), np.arange(n, dtype=float), gray,
                       color), label


def knn_preservation(feats: np.ndarray, xy: np.ndarray, k: int = 10, queries: int = 2000,
                     seed: int = 0) -> float:
    """Share of each sampled frame's k nearest neighbours in feature space (the full feature
    vectors, before PCA; exact) that are among its k nearest in the map (1: all kept)."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    q = rng.choice(len(feats), min(queries, len(feats)), replace=False)
    near = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(feats)
    want = near.kneighbors(feats[q])[1][:, 1:]
    got = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy[q])[1][:, 1:]
    return float(np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(want, got,
                                                                         strict=True)]))


# the map's settings before issue 15's speed-up (openTSNE's defaults): the quality baseline
BEFORE = {"iterations": 750, "neighbor_trees": 50, "grid_spacing": 1.0,
          "parallel_spaces": False}


def bench_framemap(n: int, configs: list[tuple[str, ...]], spaces: tuple[str, ...],
                   baseline: bool, picture: Path | None) -> None:
    from worker.frames.framemap import features, knn_label_score

    sample, label = synthetic_sample(n)
    feats = {space: features(sample, space) for space in spaces}
    tmp = Path(tempfile.mkdtemp(prefix="bench-map-"))
    runs = [("before", BEFORE)] if baseline else []
    runs.append(("now", {}))
    try:
        for methods in configs:
            walls = {}
            for label_run, knobs in runs:
                p = FrameMapParams(methods=methods, spaces=spaces, thumb_width=16, **knobs)
                t0, c0 = time.perf_counter(), time.process_time()
                layouts = compute_layouts(sample, p)
                t1, c1 = time.perf_counter(), time.process_time()
                files = write_map(tmp, sample, layouts, p)
                t2, c2 = time.perf_counter(), time.process_time()
                walls[label_run] = t2 - t0
                if picture is not None and files.picture is not None:
                    picture.mkdir(parents=True, exist_ok=True)
                    shutil.copy(files.picture,
                                picture / f"map-{n}-{'+'.join(methods)}-{label_run}.png")
                scores = {k: round(knn_label_score(v, label), 3) for k, v in layouts.items()}
                kept = {k: round(knn_preservation(feats[k.split("_", 1)[1]], v), 3)
                        for k, v in layouts.items()}
                print(f"[{label_run}] frame map of {n} frames, methods {'+'.join(methods)} over "
                      f"{' and '.join(spaces)} ({p.iterations} iterations, "
                      f"{p.neighbor_trees} Annoy trees, grid spacing {p.grid_spacing}, spaces "
                      f"{'at once' if p.parallel_spaces else 'in turn'}): "
                      f"layouts {t1 - t0:.0f} s wall ({c1 - c0:.0f} CPU s), JSON + "
                      f"{len(files.sprites)} sprite sheets + PNG {t2 - t1:.0f} s wall "
                      f"({c2 - c1:.0f} CPU s), total {t2 - t0:.0f} s wall ({c2 - c0:.0f} CPU s); "
                      f"10-NN kept from feature space (2,000 frames) {kept}; "
                      f"kNN label score (k=10) {scores}")
                print(load())
            if "before" in walls:
                print(f"wall time now / before: {walls['now'] / walls['before']:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="all",
                    choices=["fingerprint", "duplicates", "index", "framemap", "all"])
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hours", type=float, default=1000)
    ap.add_argument("--planted", type=int, default=1000)
    ap.add_argument("--map-frames", type=int, default=100_000)
    ap.add_argument("--map-methods", default="tsne,tsne+umap+mds",
                    help="comma-separated configurations, each methods joined by +")
    ap.add_argument("--map-spaces", default="gray,hsl")
    ap.add_argument("--map-baseline", action="store_true",
                    help="also run the map with its settings before the speed-up (same "
                         "frames), for the quality and time ratio")
    ap.add_argument("--map-picture", type=Path, default=None,
                    help="copy each map's PNG into this folder, to look at")
    ap.add_argument("--index-entries", type=int, default=2_000_000)
    ap.add_argument("--index-queries", type=int, default=2_000_000)
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores; {load()}")
    if args.part in ("fingerprint", "all"):
        bench_fingerprint(args.seconds, args.repeat)
    if args.part in ("duplicates", "all"):
        bench_duplicates(args.hours, args.planted)
    if args.part in ("index", "all"):
        bench_index(args.index_entries, args.index_queries)
    if args.part in ("framemap", "all"):
        configs = [tuple(c.split("+")) for c in args.map_methods.split(",")]
        bench_framemap(args.map_frames, configs, tuple(args.map_spaces.split(",")),
                       args.map_baseline, args.map_picture)


if __name__ == "__main__":
    main()
