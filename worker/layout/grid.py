"""Grid layout: place 2-D map points one-to-one on a width×height grid of cells."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from core.errors import ConfigError, SamplemillError
from worker.layout.assignment import EXACT_MAX_CELLS, exact_assignment, grid_assignment
from worker.layout.rasterfairy import rasterfairy

GridMethod = Literal["assignment", "rasterfairy", "exact"]


def _check_points(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return points as finite (n, 2) float64 in [0, 1], or raise a clear error."""
    if width < 1 or height < 1:
        raise ConfigError(f"grid width and height must be ≥ 1, got {width}×{height}")
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0:
        return p.reshape(0, 2)
    if p.ndim != 2 or p.shape[1] != 2:
        raise SamplemillError(f"grid points must be an (n, 2) array, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise SamplemillError("grid points contain NaN or inf")
    if p.min() < -1e-9 or p.max() > 1 + 1e-9:
        raise SamplemillError("grid points must lie in [0, 1] (use layout.tsne.normalise_unit)")
    if len(p) > width * height:
        raise SamplemillError(
            f"{len(p)} points do not fit a {width}×{height} grid; sort and cut to "
            f"{width * height} first (see fit_to_grid)"
        )
    return np.clip(p, 0.0, 1.0)


def assign_grid(
    points: np.ndarray,
    width: int,
    height: int,
    *,
    method: GridMethod = "assignment",
    seed: int = 0,
) -> np.ndarray:
    """Return (n, 2) int64 (col, row) cells, distinct, for n ≤ width×height points in [0, 1]².

    'assignment' is a near-minimum squared-distance assignment (exact up to 256 cells),
    'rasterfairy' the fast recursive split, 'exact' a dense optimum (≤ 8192 cells; slow).
    """
    p = _check_points(points, width, height)
    if len(p) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if method == "rasterfairy":
        return rasterfairy(p, width, height, seed=seed)
    if method == "assignment":
        return grid_assignment(p, width, height, seed=seed)
    if method == "exact":
        if width * height > EXACT_MAX_CELLS:
            raise ConfigError(f"grid method 'exact' is limited to {EXACT_MAX_CELLS} cells")
        return exact_assignment(p, width, height)
    raise ConfigError(f"grid method must be 'assignment', 'rasterfairy' or 'exact', got {method!r}")


def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """Return the smallest (width, height) with width/height ≈ aspect that holds n cells."""
    if n < 1:
        return 1, 1
    if aspect <= 0:
        raise ConfigError(f"grid aspect must be positive, got {aspect}")
    height = max(1, round(math.sqrt(n / aspect)))
    width = max(1, math.ceil(n / height))
    return width, height


def fit_to_grid(
    scores: np.ndarray, width: int, height: int, *, descending: bool = True
) -> np.ndarray:
    """Return the indices (ascending) of the best width×height samples by score; all if they fit."""
    s = np.asarray(scores, dtype=np.float64)
    cap = width * height
    if len(s) <= cap:
        return np.arange(len(s))
    key = np.where(np.isnan(s), -np.inf if descending else np.inf, s)
    order = np.argsort(-key if descending else key, kind="stable")
    return np.sort(order[:cap])
