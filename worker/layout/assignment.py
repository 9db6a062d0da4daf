"""Minimum-cost point-to-cell assignment: exact for small grids, blockwise + refined for large ones.

The large-grid method splits points and cells together into matched rectangles (each point goes
to the side it lies on, as far as room allows), solves each leaf exactly, then sweeps overlapping
windows of cells and re-solves each window exactly among the points it holds. Every window solve
can only lower the total cost, so it converges to an assignment that is optimal in every window.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from worker.layout.cells import cell_centres, ids_to_cells, rect_cells, sq_cost
from worker.layout.rasterfairy import halve

EXACT_MAX_CELLS = 8192  # a dense float64 cost matrix beyond this is > 0.5 GB and minutes of LSA


def exact_assignment(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return the optimal (n, 2) (col, row) cells by a dense linear_sum_assignment (small grids)."""
    if width * height > EXACT_MAX_CELLS:
        raise ValueError(f"exact assignment limited to {EXACT_MAX_CELLS} cells")
    if len(points) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    cost = sq_cost(points, cell_centres(width, height))
    rows, cols = linear_sum_assignment(cost)
    ids = np.empty(len(points), dtype=np.int64)
    ids[rows] = cols
    return ids_to_cells(ids, width)


def _positional_count(coords_sorted: np.ndarray, boundary: float, c1: int, c2: int) -> int:
    """How many of the sorted points go to the lower part: those below the boundary, within room."""
    m = coords_sorted.size
    k = int(np.searchsorted(coords_sorted, boundary))
    return min(max(k, m - c2, 0), c1, m)


def _solve_block(
    pts_idx: np.ndarray, cells: np.ndarray, points: np.ndarray, centres: np.ndarray
) -> np.ndarray:
    """Return the cell id for each point of a block, by exact assignment inside the block."""
    if pts_idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    rows, cols = linear_sum_assignment(sq_cost(points[pts_idx], centres[cells]))
    out = np.empty(pts_idx.size, dtype=np.int64)
    out[rows] = cells[cols]
    return out


def block_assignment(
    points: np.ndarray, width: int, height: int, *, leaf_cells: int = 256, seed: int = 0
) -> np.ndarray:
    """Return (n,) cell ids: recursive matched splits of points and cells, exact LSA per leaf."""
    n = len(points)
    centres = cell_centres(width, height)
    ids = np.zeros(n, dtype=np.int64)
    tie = np.random.default_rng(seed).permutation(n)
    stack: list[tuple[np.ndarray, int, int, int, int]] = [(np.arange(n), 0, 0, width, height)]
    while stack:
        idx, x0, y0, w, h = stack.pop()
        if idx.size == 0:
            continue
        if w * h <= leaf_cells:
            ids[idx] = _solve_block(idx, rect_cells(x0, y0, w, h, width), points, centres)
            continue
        axis, r1, r2 = halve(x0, y0, w, h)
        c1, c2 = r1[2] * r1[3], r2[2] * r2[3]
        ranked = idx[np.lexsort((tie[idx], points[idx, 1 - axis], points[idx, axis]))]
        boundary = (r2[0] / width) if axis == 0 else (r2[1] / height)
        k = _positional_count(points[ranked, axis], boundary, c1, c2)
        stack.append((ranked[:k], *r1))
        stack.append((ranked[k:], *r2))
    return ids


def _windows(width: int, height: int, window: int, ox: int, oy: int) -> list[np.ndarray]:
    """Return the cell ids of a tiling by window×window rectangles shifted by (ox, oy), clipped."""
    out = []
    for y0 in range(-oy, height, window):
        for x0 in range(-ox, width, window):
            xa, ya = max(x0, 0), max(y0, 0)
            w, h = min(x0 + window, width) - xa, min(y0 + window, height) - ya
            if w > 0 and h > 0:
                out.append(rect_cells(xa, ya, w, h, width))
    return out


def refine_windows(
    points: np.ndarray,
    ids: np.ndarray,
    width: int,
    height: int,
    *,
    window: int = 16,
    max_sweeps: int = 32,
    tol: float = 1e-4,
) -> np.ndarray:
    """Improve cell ids by exact re-assignment inside overlapping windows until a cycle stalls.

    Sweeps cycle through four tilings shifted by half a window; a window is re-solved only when
    one of its cells changed since its last solve, and sweeping stops when a whole cycle lowers
    the cost by less than `tol` (relative).
    """
    centres = cell_centres(width, height)
    occ = np.full(width * height, -1, dtype=np.int64)
    occ[ids] = np.arange(len(ids))
    ids = ids.copy()
    half = max(window // 2, 1)
    tilings = [
        _windows(width, height, window, ox, oy)
        for ox, oy in ((0, 0), (half, half), (half, 0), (0, half))
    ]
    changed_at = np.zeros(width * height, dtype=np.int64)  # step of each cell's last change
    solved_at = [np.full(len(t), -1, dtype=np.int64) for t in tilings]
    step = 1

    def total() -> float:
        d = points - centres[ids]
        return float((d * d).sum())

    cycle_start = total()
    for sweep in range(max_sweeps):
        t = sweep % len(tilings)
        for w_i, cells in enumerate(tilings[t]):
            if changed_at[cells].max() <= solved_at[t][w_i]:
                continue
            solved_at[t][w_i] = step
            holders = occ[cells]
            pts_idx = holders[holders >= 0]
            if pts_idx.size < 2:
                continue
            new = _solve_block(pts_idx, cells, points, centres)
            moved = new != ids[pts_idx]
            if moved.any():
                step += 1
                occ[cells] = -1
                occ[new] = pts_idx
                changed_at[ids[pts_idx[moved]]] = step
                changed_at[new[moved]] = step
                ids[pts_idx] = new
                solved_at[t][w_i] = step
        if t == len(tilings) - 1:
            now = total()
            if cycle_start - now <= tol * max(cycle_start, 1e-12):
                break
            cycle_start = now
    return ids


def grid_assignment(
    points: np.ndarray,
    width: int,
    height: int,
    *,
    leaf_cells: int = 256,
    window: int = 16,
    max_sweeps: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """Return near-optimal (n, 2) (col, row) cells: exact when small, else blocks + refinement."""
    if width * height <= leaf_cells:
        return exact_assignment(points, width, height)
    ids = block_assignment(points, width, height, leaf_cells=leaf_cells, seed=seed)
    ids = refine_windows(points, ids, width, height, window=window, max_sweeps=max_sweeps)
    return ids_to_cells(ids, width)
