"""Contact sheets of the grid kinds for docs/compositions/<kind>.png: each kind composed over a
small synthetic grid (test-card clips coloured by their map position, so where a clip goes is
visible), eight frames across its timeline, at 384×216.

Run: .venv/bin/python docs/compositions/sheets.py [kind ...]   (default: this file's kinds)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from worker.render.engine.contact import contact_sheet
from worker.render.engine.render import render_rgb
from worker.render.engine.store import StoreLayout
from worker.render.engine.testcard import card_colours, testcard_store
from worker.render.grid import GridMembers
from worker.render.gridkind import grid_kind

HERE = Path(__file__).resolve().parent
SIZE = (384, 216)
# each kind at its defaults but on a 32-cell grid window (readable at this size)
SETTINGS: dict[str, dict] = {
    "waves": {"grid": 32, "grid0": 32, "grid1": 8},
    "falling": {"grid": 32, "view": 8},
    "orbits": {"grid": 32, "grid0": 16, "grid1": 32},
    "shuffle": {"grid": 32, "grid0": 32, "grid1": 16, "max_offset": 4},
    "stretch": {"grid": 32, "grid0": 8, "grid1": 32},
    "flow": {"grid": 32},
    "splice": {"grid": 32, "grid0": 32, "grid1": 8},
    "poster": {"grid": 32, "grid1": 8, "title": "# samplemill\n## poster"},
}
# moments worth seeing, as fractions of the timeline
MOMENTS: dict[str, list[float]] = {
    "waves": [0.02, 0.08, 0.14, 0.3, 0.45, 0.6, 0.75, 0.92],
    "falling": [0.01, 0.15, 0.3, 0.45, 0.5, 0.65, 0.8, 0.98],
    "orbits": [0.02, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.95],
    "shuffle": [0.05, 0.165, 0.175, 0.185, 0.35, 0.6, 0.88, 0.98],
    "stretch": [0.02, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.95],
    "flow": [0.02, 0.15, 0.3, 0.45, 0.55, 0.7, 0.85, 0.97],
    "splice": [0.01, 0.08, 0.18, 0.28, 0.38, 0.5, 0.65, 0.9],
    "poster": [0.0],  # a still: one frame, with its title
}


def members(side: int, seed: int = 0) -> GridMembers:
    """side×side synthetic members whose map points follow their cells (smooth colours)."""
    rng = np.random.default_rng(seed)
    n = side * side
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    start = rng.uniform(0, 60_000, n)
    return GridMembers(col.ravel(), row.ravel(), col.ravel() + rng.normal(0, 0.3, n),
                       row.ravel() + rng.normal(0, 0.3, n), start, rng.uniform(80, 1000, n),
                       start, rng.uniform(1200, 2800, n), np.zeros(n, int), np.arange(n),
                       ("synthetic",))


def sheet(kind: str, out: Path) -> Path:
    """Compose `kind`, fill a test-card store and write its contact sheet to out."""
    gk = grid_kind(kind)
    p = gk.params(width=SIZE[0], height=SIZE[1], **SETTINGS.get(kind, {}))
    comp = gk.compose(members(128), p)
    scene = comp.scene
    frames = [min(scene.n_frames - 1, round(x * scene.n_frames)) for x in MOMENTS[kind]]
    w, h = scene.max_screen_sizes(range(0, scene.n_frames, 2))
    layout = StoreLayout.plan(np.maximum(1, np.ceil(w)).astype(int),
                              np.maximum(1, np.ceil(h)).astype(int), scene.clip_frames)
    m = comp.members
    data = testcard_store(layout, card_colours(m.map_x, m.map_y))
    images = [render_rgb(scene, data, layout, f) for f in frames]
    if kind == "poster":
        from worker.render.poster.title import draw_title

        images = [draw_title(img, p.title, p.text_color, p.text_y) for img in images]
    return contact_sheet(images, [f"{kind} {f / scene.fps:.1f}s" for f in frames], out,
                         columns=min(4, len(images)), thumb_width=SIZE[0])


def main() -> None:
    """Write the sheets named on the command line (default: waves, falling, orbits, shuffle)."""
    for kind in sys.argv[1:] or list(SETTINGS):
        print(sheet(kind, HERE / f"{kind}.png"))


if __name__ == "__main__":
    main()
