"""A subset's whole layout in one call: 1-D t-SNE order, 2-D map, and a grid cut to fit.

Pure: vectors and features in, coordinates and quality figures out. The layout task loads the
inputs from the catalog and stores what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker.layout.grid import assign_grid
from worker.layout.params import LayoutParams
from worker.layout.quality import grid_knn_preservation, grid_neighbour_distance, trustworthiness
from worker.layout.ranking import rank
from worker.layout.tsne import embed


@dataclass
class LayoutResult:
    """Per-member 1-D order value, 2-D point and grid cell (-1, -1 when cut), and figures."""

    tsne: np.ndarray
    xy: np.ndarray
    cells: np.ndarray | None
    info: dict[str, Any] = field(default_factory=dict)


def compute_layout(
    vectors: np.ndarray, features: dict[str, np.ndarray], plan: LayoutParams
) -> LayoutResult:
    """t-SNE (or UMAP) in 1-D and 2-D, then the grid; with quality figures in `info`."""
    n = len(vectors)
    common = dict(
        method=plan.method,
        perplexity=plan.perplexity,
        learning_rate=plan.learning_rate,
        n_iter=plan.iterations,
        seed=plan.seed,
        threads=plan.threads,
    )
    order = embed(vectors, components=1, **common)[:, 0]  # type: ignore[arg-type]
    xy = embed(vectors, components=2, **common)  # type: ignore[arg-type]
    info: dict[str, Any] = {"members": n}
    if n >= 12:
        info["trustworthiness_2d"] = trustworthiness(
            vectors, xy, k=min(10, n // 2 - 1), sample=min(n, 2000), seed=plan.seed
        )
    cells = None
    if plan.grid_size is not None:
        width, height = plan.grid_size
        capacity = width * height
        kept = np.sort(rank(features, plan.grid_sort, n, what="layout grid_sort")[:capacity])
        cells = np.full((n, 2), -1, dtype=np.int64)
        cells[kept] = assign_grid(
            xy[kept],
            width,
            height,
            method=plan.grid_method,  # type: ignore[arg-type]
            seed=plan.seed,
        )
        info.update(
            grid=f"{width}x{height}",
            grid_method=plan.grid_method,
            placed=len(kept),
            cut=int(n - len(kept)),
            empty_cells=int(capacity - len(kept)),
        )
        if len(kept) > 1:
            info["grid_neighbour_distance"] = grid_neighbour_distance(vectors[kept], cells[kept])
            info["grid_knn_within_2"] = grid_knn_preservation(xy[kept], cells[kept])
    return LayoutResult(order, xy, cells, info)
