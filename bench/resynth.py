"""Benchmark concatenative synthesis: features, index backends, a 3-minute target, quality.

Run: python -m bench.resynth [--hours 50] [--compare-hours 1] [--target-seconds 180]

1. Frame features of a 10-minute 640x480 film on one core, beside PyAV decode-only of its audio.
2. Index backends (faiss IVF, faiss HNSW, hnswlib, pynndescent) over `--compare-hours` of
   frames: build time, search time for the target's frames (k = 10), recall@1 against exact
   search (a hit when the returned nearest distance equals the exact one).
3. The chosen backend over `--hours` of frames: six real 10-minute films' features tiled into
   virtual files, each copy with its own noise (1.5 dB) so no two are equal; build time, recall.
4. A 3-minute 640x480 target resynthesised against it: search (k-NN + Viterbi), fetch (runs of
   consecutive frames per file, in order) and encode timed apart.
5. Log-spectral distance of the chosen frames' own sound to the target: the resynthesis, exact
   nearest neighbours and random frames; and of the rendered, concatenated source audio.
Films are generated once and cached under /tmp/samplemill-bench.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bench.soundmedia import CACHE, film
from worker.analysis.decode import iter_audio_blocks
from worker.render.resynth.features import FLOOR_DB, FrameFeatures, frame_features
from worker.render.resynth.index import FrameIndex, build_index
from worker.render.resynth.params import ResynthParams
from worker.render.resynth.render import match_target, render_resynth

FILMS = 6
FILM_S = 600.0
FLOORS = {"features_x": 200.0, "index_s": 300.0, "resynth_s": 90.0, "recall": 0.9,
          "lsd_gain": 0.30}


def load() -> str:
    """The 1-minute load average."""
    return f"{os.getloadavg()[0]:.2f}"


def lsd(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of the RMS difference in dB between two (frames, bands) features,
    counting only frames where the target has sound (above the floor by 20 dB)."""
    sound = a.max(axis=1) > FLOOR_DB + 20
    d = np.sqrt(((a - b) ** 2).mean(axis=1))
    return float(d[sound].mean())


def true_d(index: FrameIndex, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared distances recomputed in float64 (float32 search distances carry rounding)."""
    x = np.asarray(index.vectors[rows], np.float64)
    return ((x - index.centred(q).astype(np.float64)[:, None, :]) ** 2).sum(axis=-1)


def recall_at_1(index: FrameIndex, exact: FrameIndex, q: np.ndarray, k: int = 10) -> float:
    """Share of queries whose first answer is a true nearest neighbour: its float64 distance
    equals the best of exact search's top k re-ranked in float64."""
    _, i_ann = index.search(q, k)
    _, i_ex = exact.search(q, k)
    best = true_d(exact, q, i_ex).min(axis=1)
    return float(np.mean(true_d(index, q, i_ann[:, :1])[:, 0] <= best * (1 + 1e-6) + 1e-9))


class _NND:
    """pynndescent behind FrameIndex's search (measured here; not a samplemill backend)."""

    def __init__(self, x: np.ndarray) -> None:
        from pynndescent import NNDescent

        self.nnd = NNDescent(x, n_neighbors=16, random_state=0, n_jobs=2, low_memory=True)
        self.nnd.prepare()

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        i, d = self.nnd.query(q, k=k)
        return (d.astype(np.float32) ** 2), i.astype(np.int64)


def _pynndescent(arrays: list[np.ndarray]) -> FrameIndex:
    """An index whose search structure is pynndescent's NNDescent (timed like the others)."""
    t = time.perf_counter()
    ix = build_index(arrays, backend="exact")
    ix._ann = _NND(np.ascontiguousarray(ix.vectors))  # "exact" searches via _ann.search
    ix.build_seconds = time.perf_counter() - t
    return ix


def tiled(feats: list[FrameFeatures], hours: float, seed: int = 0) -> tuple[list[np.ndarray],
                                                                             list[int]]:
    """Virtual files covering `hours`: copies of the real films' features with fresh noise."""
    rng = np.random.default_rng(seed)
    n_files = int(np.ceil(hours * 3600 / FILM_S))
    arrays, which = [], []
    for v in range(n_files):
        src = feats[v % len(feats)].feats
        noise = rng.standard_normal(src.shape, dtype=np.float32) * (1.5 if v >= len(feats) else 0)
        arrays.append(np.maximum(src + noise, FLOOR_DB).astype(np.float32))
        which.append(v % len(feats))
    return arrays, which


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=50.0)
    ap.add_argument("--compare-hours", type=float, default=1.0)
    ap.add_argument("--target-seconds", type=float, default=180.0)
    ap.add_argument("--backend", default="faiss-ivf")
    ap.add_argument("--skip", default="", help="comma list of backends not to compare")
    args = ap.parse_args()
    rows: list[str] = []
    films = [film(f"src-10m-{i}", FILM_S, seed=i + 10) for i in range(FILMS)]
    target = film(f"target-{int(args.target_seconds)}s", args.target_seconds, seed=99)
    print(f"films ready; load {load()}")

    # 1. features on one core, beside decode-only
    with threadpool_limits(1):
        best_f, best_d = 1e9, 1e9
        for _ in range(2):
            t = time.perf_counter()
            for _b in iter_audio_blocks(films[0], sr=16000, block_seconds=60):
                pass
            best_d = min(best_d, time.perf_counter() - t)
            t = time.perf_counter()
            frame_features(films[0])
            best_f = min(best_f, time.perf_counter() - t)
    rows.append(f"| features, one core | {FILM_S / best_f:.0f}× realtime ({best_f:.2f} s for "
                f"10 min; decode-only {FILM_S / best_d:.0f}×, so features cost "
                f"{best_f / best_d:.2f}× decoding) | floor 200× | load {load()} |")
    print(rows[-1])
    feats = []
    for i, f in enumerate(films):
        cache = CACHE / f"feats-src-{i}.npz"
        if cache.exists():
            z = np.load(cache)
            from fractions import Fraction

            feats.append(FrameFeatures(z["feats"], Fraction(25), float(z["level"])))
        else:
            ff = frame_features(f)
            np.savez(cache, feats=ff.feats, level=ff.level_db)
            feats.append(ff)
    tfeat = frame_features(target)
    q = tfeat.feats

    # 2. backends over compare-hours
    arrays, _ = tiled(feats, args.compare_hours)
    exact = build_index(arrays, backend="exact")
    skip = set(filter(None, args.skip.split(",")))
    for backend in ("faiss-ivf", "faiss-hnsw", "hnswlib", "pynndescent"):
        if backend in skip:
            continue
        ix = build_index(arrays, backend=backend) if backend != "pynndescent" else \
            _pynndescent(arrays)
        t = time.perf_counter()
        ix.search(q, 10)
        st = time.perf_counter() - t
        rows.append(f"| {backend}, {exact.size:,} frames ({args.compare_hours:g} h) | build "
                    f"{ix.build_seconds:.1f} s, search {q.shape[0]} queries {st:.2f} s, "
                    f"recall@1 {recall_at_1(ix, exact, q):.3f} | | load {load()} |")
        print(rows[-1])
        del ix
    del exact, arrays

    # 3. chosen backend over `hours`
    arrays, which = tiled(feats, args.hours)
    paths = [films[w] for w in which]
    t = time.perf_counter()
    index = build_index(arrays, backend=args.backend, files=[str(p) for p in paths])
    build_s = time.perf_counter() - t
    n = index.size
    ex = FrameIndex(index.vectors, index.offsets, "exact", center=index.center)
    import faiss

    faiss.omp_set_num_threads(2)
    flat = faiss.IndexFlatL2(index.vectors.shape[1])
    flat.add(np.ascontiguousarray(index.vectors))
    ex._ann = flat
    sample = q[:: max(1, q.shape[0] // 1000)]
    t = time.perf_counter()
    ex.search(sample, 10)
    exact_s = time.perf_counter() - t
    rec = recall_at_1(index, ex, sample)
    rows.append(f"| {args.backend} over {n:,} frames ({args.hours:g} h, {len(arrays)} files) | "
                f"build {build_s:.1f} s, recall@1 {rec:.3f} on {sample.shape[0]} target frames "
                f"(exact search of those: {exact_s:.1f} s) | floors 300 s, 0.9 | load {load()} |")
    print(rows[-1])
    del arrays

    # 4. the 3-minute target against it
    out = CACHE / "resynth-out.mp4"
    best: dict[str, float] = {}
    for _ in range(2):
        t = time.perf_counter()
        result = render_resynth(target, index, paths, out, ResynthParams(audio="source"))
        total = time.perf_counter() - t
        for k, v in {**result.timings, "total": total}.items():
            best[k] = min(best.get(k, 1e9), v)
    rows.append(f"| {args.target_seconds:g} s target, 640x480, against {args.hours:g} h | "
                f"total {best['total']:.1f} s: target features {best['target_features']:.1f}, "
                f"search + Viterbi {best['search']:.1f}, fetch {best['fetch']:.1f} "
                f"({result.match.runs()} runs from {len(set(result.files.tolist()))} files), "
                f"encode {best['encode']:.1f} | floor 90 s | load {load()} |")
    print(rows[-1])

    # 5. quality: features of the chosen frames' real sound
    def real(rows_: np.ndarray) -> np.ndarray:
        f, fr = index.locate(rows_)
        return np.stack([feats[which[a]].feats[b] for a, b in zip(f, fr, strict=True)])

    rng = np.random.default_rng(0)
    _, i_all = ex.search(q, 1)
    nearest = match_target(tfeat, index, ResynthParams(continuity=0.0))
    l_res = lsd(q, real(result.match.rows))
    l_nn = lsd(q, real(i_all[:, 0]))
    l_ann = lsd(q, real(nearest.rows))
    l_rand = lsd(q, real(rng.integers(0, n, q.shape[0])))
    rendered = frame_features(out)
    m = min(rendered.frames, q.shape[0])
    l_out = lsd(q[:m], rendered.feats[:m])
    rows.append(f"| log-spectral distance to the target (dB) | resynthesis {l_res:.2f}, "
                f"exact NN {l_nn:.2f}, ANN k=1 {l_ann:.2f}, random frames {l_rand:.2f}; "
                f"rendered source audio {l_out:.2f}: {1 - l_out / l_rand:.0%} below random | "
                f"floor 30 % below random | |")
    print(rows[-1])
    sweep = []
    for c in (0.0, 1.0, 4.0, 16.0):
        m_c = match_target(tfeat, index, ResynthParams(continuity=c))
        sweep.append(f"{c:g}: {tfeat.frames / m_c.runs():.1f} frames/run, "
                     f"{lsd(q, real(m_c.rows)):.2f} dB")
    rows.append(f"| continuity (mean run length, LSD) | {'; '.join(sweep)} | | |")
    print(rows[-1])
    print("\n".join(rows))


if __name__ == "__main__":
    main()
