"""The layout picture: every colour in the legend, pitch in note names, written as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worker.render.layout_plot import layout_figure, plot_layout


def test_legend_and_note_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 90
    xy = rng.random((n, 2))
    hz = np.where(np.arange(n) % 3 == 0, 0.0, rng.uniform(70, 1100, n))  # 30 unpitched
    cells = np.full((n, 2), -1)
    slots = rng.permutation(64)[:60]
    cells[:60, 0], cells[:60, 1] = slots % 8, slots // 8
    fig = layout_figure(xy, cells, hz, grid=(8, 8))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["unpitched (30)", "empty cell (4)"]
    bar = fig.axes[-1]
    assert bar.get_ylabel() == "pitch (note)"
    assert [t.get_text() for t in bar.get_yticklabels()] == ["C3", "C4", "C5", "C6"]
    out = plot_layout(xy, None, hz, tmp_path / "map.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
