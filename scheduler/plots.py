"""PNG plots of catalog statistics with matplotlib's Agg canvas (no display, no global state).

Pitch axes are labelled in note names; unpitched rows (pitch 0) are left out and counted in
the title (db.stats does the leaving out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from db.stats import PITCH_PROPS, Histogram
from worker.analysis.notes import midi_hz, note_ticks

HZ_PROPS = frozenset({"hz", "medianHz"})


def _pitch_axis(ax, prop: str, axis: str, lo: float, hi: float) -> None:  # type: ignore[no-untyped-def]
    """Label a pitch axis (Hz or MIDI) with note names between lo and hi."""
    if prop not in PITCH_PROPS or not hi > lo:
        return
    if prop in HZ_PROPS:
        ticks, labels = note_ticks(lo, hi)
    else:  # midi numbers
        hz, labels = note_ticks(midi_hz(lo), midi_hz(hi))
        ticks = [69 + 12 * np.log2(f / 440.0) for f in hz]
    if ticks:
        (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks, labels)
        (ax.set_xlabel if axis == "x" else ax.set_ylabel)(f"{prop} (note)")


def _left_out(unpitched: int) -> str:
    return f", {unpitched} unpitched left out" if unpitched else ""


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
    ax.set_title(f"{hist.scope}: {hist.prop} ({hist.values} values, {hist.empty} empty"
                 f"{_left_out(hist.unpitched)})")
    _pitch_axis(ax, hist.prop, "x", float(hist.edges[0]), float(hist.edges[-1]))
    fig.tight_layout()
    return _save(fig, path)


def save_scatter(
    xs: np.ndarray, ys: np.ndarray, xlabel: str, ylabel: str, path: Path, *, unpitched: int = 0
) -> Path:
    """A scatter plot of two properties, saved as PNG at `path`."""
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    ax.scatter(xs, ys, s=2, alpha=0.4, linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} vs {xlabel} ({len(xs)} points{_left_out(unpitched)})")
    if len(xs):
        _pitch_axis(ax, xlabel, "x", float(xs.min()), float(xs.max()))
        _pitch_axis(ax, ylabel, "y", float(ys.min()), float(ys.max()))
    fig.tight_layout()
    return _save(fig, path)
