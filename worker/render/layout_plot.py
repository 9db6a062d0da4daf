"""A picture of a subset's layout: the 2-D map and the grid, each sample coloured by pitch.

Pitch is shown in note names (the colour bar's ticks); every colour has a legend entry: grey
for unpitched samples, white for empty grid cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from worker.analysis.notes import note_ticks

UNPITCHED = (0.75, 0.75, 0.75, 1.0)


def plot_layout(
    xy: np.ndarray,
    cells: np.ndarray | None,
    hz: np.ndarray,
    out: Path,
    *,
    grid: tuple[int, int] | None = None,
    title: str = "",
) -> Path:
    """Write the layout's picture (layout_figure) as a PNG at `out`."""
    fig = layout_figure(xy, cells, hz, grid=grid, title=title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def layout_figure(
    xy: np.ndarray,
    cells: np.ndarray | None,
    hz: np.ndarray,
    *,
    grid: tuple[int, int] | None = None,
    title: str = "",
) -> Figure:
    """The t-SNE map (left) and, with a grid, the cells (right); colour = pitch on a log scale
    labelled with note names, grey = unpitched, white = empty cell. Drawn with the Agg canvas,
    so no display or global backend is touched."""
    pitched = hz > 0
    colour = np.where(pitched, np.log2(np.where(pitched, hz, 1.0)), np.nan)
    lo, hi = (float(np.nanmin(colour)), float(np.nanmax(colour))) if pitched.any() else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    norm = Normalize(lo, hi)
    panels = 2 if cells is not None and grid is not None else 1
    fig = Figure(figsize=(6 * panels + 1, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, panels, 1)
    ax.scatter(xy[~pitched, 0], xy[~pitched, 1], s=4, color=UNPITCHED)
    points = ax.scatter(xy[pitched, 0], xy[pitched, 1], s=4, c=colour[pitched], cmap="viridis",
                        norm=norm)
    ax.set_title(f"t-SNE map, {len(xy)} samples")
    ax.set_xticks([])
    ax.set_yticks([])
    legend = [Patch(color=UNPITCHED, label=f"unpitched ({int((~pitched).sum())})")]
    if panels == 2 and cells is not None and grid is not None:
        width, height = grid
        rgba = np.ones((height, width, 4))  # empty cells white
        placed = cells[:, 0] >= 0
        shades = colormaps["viridis"](norm(np.nan_to_num(colour, nan=lo)))
        shades[~pitched] = UNPITCHED  # unpitched grey, as on the map
        rgba[cells[placed, 1], cells[placed, 0]] = shades[placed]
        gx = fig.add_subplot(1, 2, 2)
        gx.imshow(rgba, interpolation="nearest", origin="lower")
        gx.set_title(f"grid {width}x{height}, {int(placed.sum())} placed")
        gx.set_xticks([])
        gx.set_yticks([])
        empty = width * height - int(placed.sum())
        legend.append(Patch(facecolor="white", edgecolor="0.5", label=f"empty cell ({empty})"))
    fig.legend(handles=legend, loc="lower center", ncol=len(legend), frameon=False)
    if pitched.any():
        bar = fig.colorbar(points, ax=fig.axes, shrink=0.7)
        freqs, names = note_ticks(2.0**lo, 2.0**hi)
        if freqs:
            bar.set_ticks(np.log2(freqs), labels=names)
        bar.set_label("pitch (note)")
    if title:
        fig.suptitle(title)
    return fig
