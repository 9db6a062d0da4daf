"""Benchmark layout: openTSNE vs scikit-learn t-SNE, and grid methods vs the exact optimum.

Run: python -m bench.layout [--quick] [--out docs/bench-layout.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from worker.layout.grid import assign_grid
from worker.layout.quality import (
    assignment_cost,
    grid_knn_preservation,
    grid_neighbour_distance,
    trustworthiness,
)
from worker.layout.tsne import embed, normalise_unit, zscore

T_FLOOR_S = 60.0
GRID_FLOOR_S = 60.0
NEIGHBOUR_FLOOR = 1.10  # assignment's 4-neighbour distance at most 10 % above the exact optimum


NOTES = """\
- t-SNE: `worker.layout.tsne.embed` (openTSNE, PCA init, z-scored input, 750 iterations of which
  250 early exaggeration, FFT gradients from 4,000 points) against scikit-learn's Barnes-Hut TSNE
  with the same input, init, perplexity and iteration count. Trustworthiness is the exact
  per-point term of sklearn's definition averaged over the sampled points
  (`worker.layout.quality.trustworthiness(..., sample=)`), so both use the same ranks and points.
- Grids: `assignment` = matched recursive splits of points and cells, exact LSA per leaf of 256
  cells, then overlapping 16×16 windows re-solved exactly until a cycle gains < 0.01 % (≤ 32
  sweeps). `exact` = dense scipy `linear_sum_assignment` (64×64 only; 128×128 needs a 2 GB
  matrix). 4-neighbour distance is measured on z-scored features; kNN kept is the share of each
  sample's 10 nearest t-SNE neighbours within 2 cells (Chebyshev).
- The machine is shared: times grow several-fold when other jobs run (see load average above).
"""


def synthetic_vectors(n: int, dims: int, clusters: int, seed: int) -> np.ndarray:
    """Seeded clusters of uneven size and spread, like spectral vectors of mixed sounds."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, (clusters, dims))
    sizes = rng.dirichlet(np.full(clusters, 2.0))
    labels = rng.choice(clusters, size=n, p=sizes)
    spread = rng.uniform(0.3, 1.0, clusters)[labels, None]
    return (centres[labels] + rng.normal(0.0, 1.0, (n, dims)) * spread).astype(np.float32)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Return fn()'s value and its wall time in seconds."""
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def sklearn_tsne(x: np.ndarray, seed: int, threads: int) -> np.ndarray:
    """scikit-learn's Barnes-Hut t-SNE with the same settings (z-scored input, PCA init)."""
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=30,
        learning_rate="auto",
        init="pca",
        max_iter=750,
        random_state=seed,
        n_jobs=threads,
    )
    return normalise_unit(tsne.fit_transform(zscore(x)))


def bench_tsne(x: np.ndarray, args: argparse.Namespace, rows: list[list[str]]) -> np.ndarray:
    """Time and score openTSNE (and scikit-learn) on all vectors and on a 5,000 subset."""
    full = None
    for n, with_sklearn in ((5000, True), (len(x), not args.quick)):
        xs = zscore(x[:n])
        y, t = timed(lambda xn=x[:n]: embed(xn, seed=args.seed, threads=args.threads))
        tw = trustworthiness(xs, y, 10, sample=min(args.trust_sample, n), seed=args.seed)
        rows.append([f"openTSNE 2-D, n={n}", f"{t:.1f}", f"{tw:.4f}"])
        print(rows[-1], flush=True)
        if n == len(x):
            full, t_open, tw_open = y, t, tw
        if with_sklearn:
            ys, ts = timed(lambda xn=x[:n]: sklearn_tsne(xn, args.seed, args.threads))
            tws = trustworthiness(xs, ys, 10, sample=min(args.trust_sample, n), seed=args.seed)
            rows.append([f"scikit-learn TSNE 2-D, n={n}", f"{ts:.1f}", f"{tws:.4f}"])
            print(rows[-1], flush=True)
            rows.append([f"ratio openTSNE/sklearn, n={n}", f"{t / ts:.2f}", f"{tw / tws:.4f}"])
    rows.append(
        [f"floor: n={len(x)} ≤ {T_FLOOR_S:.0f} s", f"{t_open / T_FLOOR_S:.2f}", f"{tw_open:.4f}"]
    )
    assert full is not None
    return full


def grid_row(label: str, x: np.ndarray, pts: np.ndarray, side: int, method: str, seed: int):
    """Time one grid method and return its table row and 4-neighbour distance."""
    cells, t = timed(lambda: assign_grid(pts, side, side, method=method, seed=seed))  # type: ignore[arg-type]
    nd = grid_neighbour_distance(x, cells)
    knn = grid_knn_preservation(pts, cells)
    cost = assignment_cost(pts, cells, side, side)
    row = [f"{label} {side}×{side}", method, f"{t:.1f}", f"{nd:.4f}", f"{knn:.4f}", f"{cost:.6f}"]
    print(row, flush=True)
    return row, nd, t


def bench_grids(
    x: np.ndarray,
    y_full: np.ndarray,
    args: argparse.Namespace,
    rows: list[list[str]],
    ratios: list[list[str]],
) -> None:
    """Grid time and quality for rasterfairy, assignment and the exact optimum."""
    x64 = x[:4096]
    y64 = embed(x64, seed=args.seed, threads=args.threads)
    xz64 = zscore(x64)
    nd = {}
    for method in ("rasterfairy", "assignment", "exact"):
        row, nd[method], _ = grid_row("t-SNE of 4,096", xz64, y64, 64, method, args.seed)
        rows.append(row)
    ratios.append(
        [
            "64×64 4-neighbour distance assignment / exact",
            f"{nd['assignment'] / nd['exact']:.4f}",
            f"≤ {NEIGHBOUR_FLOOR:.2f}",
        ]
    )
    ratios.append(
        [
            "64×64 4-neighbour distance assignment / rasterfairy",
            f"{nd['assignment'] / nd['rasterfairy']:.4f}",
            "< 1",
        ]
    )
    if len(x) >= 128 * 128:
        xz = zscore(x[: 128 * 128])
        pts = y_full[: 128 * 128]
        nd = {}
        for method in ("rasterfairy", "assignment"):
            row, nd[method], t = grid_row("t-SNE of 16,384", xz, pts, 128, method, args.seed)
            rows.append(row)
        ratios.append(["128×128 assignment time / floor", f"{t / GRID_FLOOR_S:.2f}", "≤ 1"])
        ratios.append(
            [
                "128×128 4-neighbour distance assignment / rasterfairy",
                f"{nd['assignment'] / nd['rasterfairy']:.4f}",
                "< 1",
            ]
        )


def table(header: list[str], rows: list[list[str]]) -> str:
    """Render a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and write them to --out."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--dims", type=int, default=39)
    ap.add_argument("--clusters", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--trust-sample",
        type=int,
        default=2000,
        help="points whose trustworthiness is averaged (same sample for both)",
    )
    ap.add_argument("--quick", action="store_true", help="skip scikit-learn t-SNE on all n")
    ap.add_argument("--out", type=Path, default=None, help="write a Markdown report here")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    x = synthetic_vectors(args.n, args.dims, args.clusters, args.seed)
    tsne_rows: list[list[str]] = []
    y = bench_tsne(x, args, tsne_rows)
    grid_rows: list[list[str]] = []
    ratios: list[list[str]] = []
    bench_grids(x, y, args, grid_rows, ratios)
    cmd = "python -m bench.layout " + " ".join(sys.argv[1:] if argv is None else argv)
    cpu = platform.processor() or platform.machine()
    report = "\n\n".join(
        [
            "# Layout benchmark",
            f"Command: `{cmd.strip()}`  \n"
            f"Machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
            f"load average at start {load:.1f}.  \n"
            f"Data: {args.n} synthetic vectors, {args.dims} dims, {args.clusters} clusters, "
            f"seed {args.seed}; trustworthiness k=10 averaged over {args.trust_sample} seeded "
            "points (same points for both).",
            "## t-SNE (2-D)",
            table(["run", "time (s)", "trustworthiness"], tsne_rows),
            "## Grids (features z-scored; 4-neighbour distance lower is better; kNN kept k=10 r=2)",
            table(
                [
                    "map",
                    "method",
                    "time (s)",
                    "4-neighbour distance",
                    "kNN kept",
                    "assignment cost",
                ],
                grid_rows,
            ),
            "## Ratios vs floors",
            table(["ratio", "value", "floor"], ratios),
            "## Notes",
            NOTES,
        ]
    )
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
