"""Layout quality metrics: grid neighbour distance, kNN kept, assignment cost, trustworthiness."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from worker.layout.cells import occupancy


def _grid_shape(cells: np.ndarray) -> tuple[int, int]:
    """Smallest (width, height) holding every cell."""
    return int(cells[:, 0].max()) + 1, int(cells[:, 1].max()) + 1


def grid_neighbour_distance(vectors: np.ndarray, cells: np.ndarray) -> float:
    """Mean feature distance between samples in 4-neighbouring occupied cells (lower: better)."""
    cells = np.asarray(cells, dtype=np.int64)
    if len(cells) < 2:
        return 0.0
    x = np.asarray(vectors, dtype=np.float64)
    occ = occupancy(cells, *_grid_shape(cells))
    pairs = []
    for a, b in ((occ[:, :-1], occ[:, 1:]), (occ[:-1, :], occ[1:, :])):
        ok = (a >= 0) & (b >= 0)
        pairs.append(np.stack([a[ok], b[ok]], axis=1))
    p = np.concatenate(pairs)
    if len(p) == 0:
        return 0.0
    return float(np.linalg.norm(x[p[:, 0]] - x[p[:, 1]], axis=1).mean())


def grid_knn_preservation(
    points2d: np.ndarray, cells: np.ndarray, k: int = 10, radius: int = 2
) -> float:
    """Share of each sample's k nearest map neighbours whose cell is within `radius` (Chebyshev)."""
    cells = np.asarray(cells, dtype=np.int64)
    n = len(cells)
    if n < 2:
        return 1.0
    k = min(k, n - 1)
    nn = NearestNeighbors(n_neighbors=k).fit(np.asarray(points2d, dtype=np.float64))
    ind = nn.kneighbors(return_distance=False)
    cheb = np.abs(cells[ind] - cells[:, None, :]).max(axis=2)
    return float((cheb <= radius).mean())


def assignment_cost(points: np.ndarray, cells: np.ndarray, width: int, height: int) -> float:
    """Mean squared distance from each point (unit square) to its cell centre (unit square)."""
    cells = np.asarray(cells, dtype=np.float64)
    if len(cells) == 0:
        return 0.0
    centres = (cells + 0.5) / np.array([width, height], dtype=np.float64)
    d = np.asarray(points, dtype=np.float64) - centres
    return float((d * d).sum(axis=1).mean())


def trustworthiness(
    vectors: np.ndarray,
    embedding: np.ndarray,
    k: int = 10,
    *,
    sample: int | None = None,
    seed: int = 0,
) -> float:
    """Trustworthiness as sklearn defines it; with `sample`, the mean over that many seeded points.

    The sampled form keeps full-data ranks and neighbours, so it estimates the full value without
    the n×n distance matrix (sampling contributions, not shrinking the data).
    """
    x = np.asarray(vectors, dtype=np.float64)
    y = np.asarray(embedding, dtype=np.float64)
    n = len(x)
    if not 0 < k < n / 2:
        raise ValueError(f"trustworthiness needs 0 < k < n/2, got k={k}, n={n}")
    rows = np.arange(n)
    if sample is not None and sample < n:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    emb_nn = NearestNeighbors(n_neighbors=k).fit(y).kneighbors(y[rows], n_neighbors=k + 1)[1]
    penalty = 0.0
    sq = (x * x).sum(axis=1)
    for start in range(0, len(rows), 512):
        chunk = rows[start : start + 512]
        d = sq[chunk, None] + sq[None, :] - 2.0 * x[chunk] @ x.T
        d[np.arange(len(chunk)), chunk] = np.inf
        ranks = np.empty_like(d, dtype=np.int64)
        order = np.argsort(d, axis=1, kind="stable")
        ranks[np.arange(len(chunk))[:, None], order] = np.arange(1, n + 1)[None, :]
        nbrs = emb_nn[start : start + len(chunk)]
        for i, row in enumerate(chunk):  # drop the point itself from its embedding neighbours
            own = nbrs[i][nbrs[i] != row][:k]
            r = ranks[i, own] - k
            penalty += float(r[r > 0].sum())
    penalty *= n / len(rows)
    return 1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
