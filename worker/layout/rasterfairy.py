"""RasterFairy grid layout: split points and grid rectangles recursively, by rank, in proportion."""

from __future__ import annotations

import numpy as np


def proportional_count(m: int, c1: int, c2: int) -> int:
    """How many of m points go to a part with c1 of c1 + c2 cells, in proportion and within room."""
    k = round(m * c1 / (c1 + c2))
    return min(max(k, m - c2, 0), c1, m)


def halve(x0: int, y0: int, w: int, h: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """Split a rectangle across its longer side; return the split axis and the two halves."""
    if w >= h:
        w1 = w // 2
        return 0, (x0, y0, w1, h), (x0 + w1, y0, w - w1, h)
    h1 = h // 2
    return 1, (x0, y0, w, h1), (x0, y0 + h1, w, h - h1)


def rasterfairy(points: np.ndarray, width: int, height: int, *, seed: int = 0) -> np.ndarray:
    """Return (n, 2) int64 (col, row) cells, one per point, by RasterFairy's recursive splits."""
    n = len(points)
    out = np.zeros((n, 2), dtype=np.int64)
    tie = np.random.default_rng(seed).permutation(n)  # seeded tie-break for coincident points
    stack: list[tuple[np.ndarray, int, int, int, int]] = [(np.arange(n), 0, 0, width, height)]
    while stack:
        idx, x0, y0, w, h = stack.pop()
        m = idx.size
        if m == 0:
            continue
        if w * h == 1:
            out[idx[0]] = (x0, y0)
            continue
        axis, r1, r2 = halve(x0, y0, w, h)
        c1, c2 = r1[2] * r1[3], r2[2] * r2[3]
        k = proportional_count(m, c1, c2)
        ranked = idx[np.lexsort((tie[idx], points[idx, 1 - axis], points[idx, axis]))]
        stack.append((ranked[:k], *r1))
        stack.append((ranked[k:], *r2))
    return out
