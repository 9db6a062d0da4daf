"""Grid geometry shared by the grid methods: cell centres, costs and occupancy maps."""

from __future__ import annotations

import numpy as np


def cell_centres(width: int, height: int) -> np.ndarray:
    """Return (W*H, 2) centres in the unit square, cell id = row * width + col."""
    rows, cols = np.divmod(np.arange(width * height), width)
    return np.stack([(cols + 0.5) / width, (rows + 0.5) / height], axis=1)


def rect_cells(x0: int, y0: int, w: int, h: int, width: int) -> np.ndarray:
    """Return the cell ids of the w×h rectangle at (x0, y0) in a grid `width` wide."""
    cols = np.arange(x0, x0 + w)
    rows = np.arange(y0, y0 + h)
    return (rows[:, None] * width + cols[None, :]).ravel()


def sq_cost(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Return the (p, c) matrix of squared Euclidean distances from points to cell centres."""
    d0 = points[:, 0:1] - centres[None, :, 0]
    d1 = points[:, 1:2] - centres[None, :, 1]
    return d0 * d0 + d1 * d1


def ids_to_cells(ids: np.ndarray, width: int) -> np.ndarray:
    """Return (n, 2) int64 (col, row) for cell ids."""
    rows, cols = np.divmod(np.asarray(ids, dtype=np.int64), width)
    return np.stack([cols, rows], axis=1)


def occupancy(cells: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return an (height, width) map of the sample index in each cell, -1 where empty."""
    occ = np.full((height, width), -1, dtype=np.int64)
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    occ[cells[:, 1], cells[:, 0]] = np.arange(len(cells))
    return occ
