"""A picture of a subset's layout: the 2-D map and the grid, each sample coloured by pitch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure


def plot_layout(
    xy: np.ndarray,
    cells: np.ndarray | None,
    hz: np.ndarray,
    out: Path,
    *,
    grid: tuple[int, int] | None = None,
    title: str = "",
) -> Path:
    """Write a PNG: the t-SNE map (left) and, with a grid, the cells (right); colour = log pitch,
    grey = unpitched. Drawn with the Agg canvas, so no display or global backend is touched."""
    pitched = hz > 0
    colour = np.where(pitched, np.log2(np.where(pitched, hz, 1.0)), np.nan)
    panels = 2 if cells is not None and grid is not None else 1
    fig = Figure(figsize=(6 * panels, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, panels, 1)
    ax.scatter(xy[~pitched, 0], xy[~pitched, 1], s=4, c="0.75")
    points = ax.scatter(xy[pitched, 0], xy[pitched, 1], s=4, c=colour[pitched], cmap="viridis")
    ax.set_title(f"t-SNE map, {len(xy)} samples")
    ax.set_xticks([])
    ax.set_yticks([])
    if panels == 2 and cells is not None and grid is not None:
        width, height = grid
        rgba = np.ones((height, width, 4))  # empty cells white
        placed = cells[:, 0] >= 0
        lo, hi = (np.nanmin(colour), np.nanmax(colour)) if pitched.any() else (0.0, 1.0)
        shades = colormaps["viridis"](Normalize(lo, hi)(np.nan_to_num(colour, nan=lo)))
        shades[~pitched] = (0.75, 0.75, 0.75, 1.0)  # unpitched grey, as on the map
        rgba[cells[placed, 1], cells[placed, 0]] = shades[placed]
        gx = fig.add_subplot(1, 2, 2)
        gx.imshow(rgba, interpolation="nearest", origin="lower")
        gx.set_title(f"grid {width}x{height}, {int(placed.sum())} placed")
        gx.set_xticks([])
        gx.set_yticks([])
    if pitched.any():
        bar = fig.colorbar(points, ax=fig.axes, shrink=0.7)
        bar.set_label("pitch (log2 Hz)")
    if title:
        fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
