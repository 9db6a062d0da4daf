"""PNG plots of catalog statistics with matplotlib's Agg canvas (no display, no global state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from db.stats import Histogram


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100)
    return path


def save_histogram(hist: Histogram, path: Path) -> Path:
    """A bar chart of the histogram's bins, saved as PNG at `path`."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    widths = np.diff(hist.edges)
    ax.bar(hist.edges[:-1], hist.counts, width=widths, align="edge", edgecolor="none")
    ax.set_xlabel(hist.prop)
    ax.set_ylabel(hist.scope)
    ax.set_title(f"{hist.scope}: {hist.prop} ({hist.values} values, {hist.empty} empty)")
    fig.tight_layout()
    return _save(fig, path)


def save_scatter(xs: np.ndarray, ys: np.ndarray, xlabel: str, ylabel: str, path: Path) -> Path:
    """A scatter plot of two properties, saved as PNG at `path`."""
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    ax.scatter(xs, ys, s=2, alpha=0.4, linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} vs {xlabel} ({len(xs)} points)")
    fig.tight_layout()
    return _save(fig, path)
