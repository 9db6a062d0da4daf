"""A picture of a file's loops along its timeline: the film as a strip of its frames' mean
colours (a "movie barcode"), each loop as two bars (first showing, repeat) joined by an arc,
coloured by similarity; periodic loops are labelled with their period."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from worker.frames.loops import Loop


def _barcode(t: np.ndarray, color: np.ndarray, duration: float, width: int = 1600) -> np.ndarray:
    """(1, width, 3) float image: the mean colour of the frames falling in each column."""
    t = np.asarray(t, np.float64)
    col = np.clip((t / max(duration, 1e-9) * width).astype(np.int64), 0, width - 1)
    sums = np.zeros((width, 3))
    np.add.at(sums, col, np.asarray(color, np.float64))
    counts = np.bincount(col, minlength=width)[:, None]
    img = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0) / 255.0
    empty = counts[:, 0] == 0  # columns between sparse frames take the previous colour
    if empty.any() and (~empty).any():
        idx = np.where(~empty, np.arange(width), 0)
        np.maximum.accumulate(idx, out=idx)
        img = img[idx]
    return img[None, :, :]


def plot_loops(loops: Sequence[Loop], duration: float, path: str | Path, *,
               t: np.ndarray | None = None, color: np.ndarray | None = None,
               title: str = "") -> Path:
    """Write the loop picture of one file (PNG) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Arc, Rectangle

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = max(float(duration), 1e-6)
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=110)
    cmap = plt.get_cmap("viridis")
    if t is not None and color is not None and len(t):
        ax.imshow(_barcode(t, color, duration), extent=(0, duration, -0.14, -0.02),
                  aspect="auto", interpolation="nearest")
    top = 0.1
    for k, loop in enumerate(sorted(loops, key=lambda x: (x.first_start, x.repeat_start))):
        c = cmap(np.clip((loop.similarity - 0.8) / 0.2, 0, 1))
        lane = 0.03 * (k % 3)
        for start in (loop.first_start, loop.repeat_start):
            ax.add_patch(Rectangle((start, lane), loop.length, 0.025, color=c, lw=0))
        a = loop.first_start + loop.length / 2
        b = loop.repeat_start + loop.length / 2
        height = 0.15 + 0.75 * (b - a) / duration
        top = max(top, 0.09 + height / 2)
        ax.add_patch(Arc(((a + b) / 2, 0.09), b - a, height, theta1=0, theta2=180, color=c,
                         lw=1.2, alpha=0.8))
        if loop.period and loop.repeat_start - loop.first_start <= loop.period * 1.01:
            ax.text((a + b) / 2, 0.09 + height / 2 + 0.01, f"period {loop.period:.2f} s",
                    ha="center", va="bottom", fontsize=7, color=c)
    ax.set_xlim(0, duration)
    ax.set_ylim(-0.16, max(top + 0.08, 0.5))
    ax.set_yticks([])
    ax.set_xlabel("time in file (s)")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0.8, 1.0))
    fig.colorbar(sm, ax=ax, fraction=0.025, pad=0.01, label="similarity")
    ax.set_title(title or f"{len(loops)} loop(s)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
