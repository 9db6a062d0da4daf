"""poster: one still of the flow swirl, zoomed in, its centre darkened (the title goes there).

The reference's behaviour (media-tools-renders.md §2.9, `compositions/poster.py`): the view is
zoomed grid/grid1× on the centre; every clip is moved round its cell centre as flow's swirl
frozen at `rotation` of a turn (radius × clip height, phase × freq, swirl.py); brightness is
lerp(brightness, cubicInOut(distance from the view's centre in view-normalised units)) unless
`bright`. One frame, no sound; each clip shows the first frame of its picture span.
"""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease_name
from worker.render.engine.scene import Scene
from worker.render.engine.tracks import Track
from worker.render.flow.swirl import phase, still_offsets
from worker.render.grid import Composition, GridMembers, cell_rects, central_window
from worker.render.mix.plays import Plays
from worker.render.poster.params import PosterParams


def still(n: int, values: np.ndarray) -> Track:
    """A track holding one value per clip for the whole (one-frame) scene."""
    return Track.build(n, 0.0, np.arange(n), np.zeros(n), values)


def compose(members: GridMembers, p: PosterParams) -> Composition:
    """Plan the poster of the central p.grid×p.grid cells of the members' grid."""
    m = central_window(members, p.grid, p.grid)
    n, side = len(m), p.grid
    width, height = p.size()
    base = cell_rects(m.col, m.row, side, side, width, height, p.margin)
    zoom = side / p.grid1
    dx, dy = still_offsets(phase(m.col, m.row, side, side), p.radius * base[:, 3], p.rotation,
                           p.freq)
    if p.bright:
        bright = np.ones(n)
    else:
        # position in the view, 0..1 across it, then distance from its centre
        nx = np.clip(((base[:, 0] + dx - width / 2) * zoom + width / 2) / width, 0.0, 1.0)
        ny = np.clip(((base[:, 1] + dy - height / 2) * zoom + height / 2) / height, 0.0, 1.0)
        d = np.minimum(np.hypot(nx - 0.5, ny - 0.5), 1.0)
        lo, hi = p.brightness
        bright = lo + (hi - lo) * ease_name(d, "cubicInOut")
    scene = Scene(width, height, p.fps, 1, base, np.ones(n, np.int64),
                  {"x": still(n, dx), "y": still(n, dy), "brightness": still(n, bright)},
                  {"zoom": Track.build(1, zoom)})
    plays = Plays.make(np.zeros(0, np.int64), np.zeros(0))
    info = {"size": [width, height], "zoom": zoom, "clips": n, "dpi": p.print_dpi}
    return Composition("poster", scene, plays, m, info)
