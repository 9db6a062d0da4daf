"""What every grid composition shares: members on a layout grid, cells, pans, fades, lengths.

The reference's `initGridComposition`, as plain functions: a subset's members placed on its
layout grid (only the central window a composition uses), each cell's rectangle at zoom 1 (the
whole window fills the frame), pan by column, fades and render durations from the sample's
length, and the composition's length rounded up to a whole second. A `Composition` is what a
composition kind produces: the Scene for the picture, the Plays for the mix, and the members
in clip order (where each clip's picture and sound come from).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from worker.render.engine.scene import Scene
from worker.render.mix.plays import Plays


@dataclass(frozen=True)
class GridMembers:
    """Subset members with a grid cell, a map point and their sound and picture spans."""

    col: np.ndarray  # int64 grid column
    row: np.ndarray  # int64 grid row
    map_x: np.ndarray  # t-SNE map point (NaN when the subset has no 2-D layout)
    map_y: np.ndarray
    start_ms: np.ndarray  # the sample's sound in its source file
    dur_ms: np.ndarray
    vstart_ms: np.ndarray  # the picture span (vsamples), played as a ping-pong loop
    vdur_ms: np.ndarray
    source: np.ndarray  # int64 index into `sources`
    sample_id: np.ndarray  # int64, for reporting clips that failed
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Coerce the columns and check they line up and make sense."""
        n = np.asarray(self.col).size
        for f in fields(self):
            if f.name == "sources":
                continue
            dtype = np.int64 if f.name in ("col", "row", "source", "sample_id") else np.float64
            a = np.asarray(getattr(self, f.name), dtype=dtype).reshape(-1)
            if a.size != n:
                raise ConfigError(f"grid members: {f.name} has {a.size} values, expected {n}")
            object.__setattr__(self, f.name, a)
        object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        if n and (self.dur_ms.min() <= 0 or self.vdur_ms.min() <= 0):
            raise ConfigError("every member needs dur > 0 and vdur > 0")
        if n and (self.source.min() < 0 or self.source.max() >= len(self.sources)):
            raise ConfigError("member source indices must point into sources")

    def __len__(self) -> int:
        return int(self.col.size)

    def take(self, idx: np.ndarray) -> GridMembers:
        """The members at idx, in that order."""
        return GridMembers(**{f.name: getattr(self, f.name)[idx] for f in fields(self)
                              if f.name != "sources"}, sources=self.sources)

    def arrays(self) -> dict[str, np.ndarray]:
        """Columns by name, for an npz (sources go in the metadata)."""
        return {f"members.{f.name}": getattr(self, f.name) for f in fields(self)
                if f.name != "sources"}

    @classmethod
    def from_arrays(cls, d, sources: list[str]) -> GridMembers:
        """Rebuild members saved by `arrays`."""
        return cls(**{f.name: d[f"members.{f.name}"] for f in fields(cls) if f.name != "sources"},
                   sources=tuple(sources))


def central_window(m: GridMembers, cols: int, rows: int) -> GridMembers:
    """Members in the central cols×rows window of their grid, renumbered from 0, row-major."""
    if len(m) == 0:
        raise ConfigError("the subset has no members with a grid cell; run its [[layout]]")
    gw, gh = int(m.col.max()) + 1, int(m.row.max()) + 1
    if cols > gw or rows > gh:
        raise ConfigError(f"the composition needs a {cols}x{rows} grid; the layout is {gw}x{gh}")
    c0, r0 = (gw - cols) // 2, (gh - rows) // 2
    keep = (m.col >= c0) & (m.col < c0 + cols) & (m.row >= r0) & (m.row < r0 + rows)
    sub = m.take(np.flatnonzero(keep))
    sub = GridMembers(**{**{f.name: getattr(sub, f.name) for f in fields(sub)},
                         "col": sub.col - c0, "row": sub.row - r0})
    order = np.lexsort((sub.col, sub.row))
    sub = sub.take(order)
    cells = sub.row * cols + sub.col
    if np.unique(cells).size != cells.size:
        raise ConfigError("two members share a grid cell; the layout is not a grid")
    return sub


def cell_rects(col: np.ndarray, row: np.ndarray, cols: int, rows: int, width: int, height: int,
               margin: float) -> np.ndarray:
    """(n, 4) centre x, centre y, w, h of each cell's clip when the grid fills the frame.

    The gap is `margin` × the cell width on both axes (the reference's equal gaps), so a clip
    is narrower in aspect than its cell when cells are wider than tall.
    """
    cw, ch = width / cols, height / rows
    gap = margin * cw
    if gap >= min(cw, ch):
        raise ConfigError(f"margin {margin} leaves no room in a {cw:.1f}x{ch:.1f} px cell")
    return np.stack([(col + 0.5) * cw, (row + 0.5) * ch,
                     np.full(col.size, cw - gap), np.full(col.size, ch - gap)], axis=1)


def pan_for(col: np.ndarray, cols: int) -> np.ndarray:
    """Pan from the column: -1 at the left edge to +1 at the right."""
    return np.zeros(col.size) if cols <= 1 else col / (cols - 1) * 2.0 - 1.0


def fades(dur_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fade in, fade out) ms: min(10 % of the sound, 100 ms) and 50 % of it."""
    return np.minimum(0.1 * dur_ms, 100.0), 0.5 * dur_ms


def render_durations(m: GridMembers, rng: np.random.Generator, min_ms: float = 1200.0,
                     extra_ms: float = 500.0) -> np.ndarray:
    """How long each clip's animation lasts: max(sound, picture, min_ms + random 0..extra_ms)."""
    return np.maximum(np.maximum(m.dur_ms, m.vdur_ms),
                      min_ms + rng.integers(0, int(extra_ms) + 1, len(m)))


def picture_frames(m: GridMembers, fps: int) -> np.ndarray:
    """Frames in each clip's picture span at the output rate (at least 1)."""
    return np.maximum(1, np.round(m.vdur_ms * fps / 1000.0)).astype(np.int64)


def picture_phase(m: GridMembers) -> np.ndarray:
    """Where in the picture span the sound starts (ms), so a play shows its sound's moment."""
    return np.clip(m.start_ms - m.vstart_ms, 0.0, np.maximum(m.vdur_ms - 1.0, 0.0))


def frames_for(end_ms: float, pad_after_ms: float, fps: int) -> int:
    """Length in frames: the last thing ends, plus padding, rounded up to a whole second."""
    return max(1, math.ceil((end_ms + pad_after_ms) / 1000.0)) * fps


@dataclass(frozen=True)
class Composition:
    """A planned composition: the picture (scene), the sound (plays) and the clips' members."""

    kind: str
    scene: Scene
    plays: Plays
    members: GridMembers
    info: dict

    def __post_init__(self) -> None:
        """The scene, plays and members must agree on the clips."""
        if self.scene.n != len(self.members):
            raise ConfigError("scene and members disagree on the number of clips")
        if len(self.plays) and self.plays.clip.max() >= self.scene.n:
            raise ConfigError("a play names a clip the scene does not have")

    def save(self, folder: Path) -> None:
        """Write scene.npz and audio.npz (plays, members, metadata) into folder."""
        folder.mkdir(parents=True, exist_ok=True)
        self.scene.save(folder / "scene.npz")
        meta = {"kind": self.kind, "sources": list(self.members.sources), "info": self.info}
        arrays = {**self.plays.arrays(), **self.members.arrays(),
                  "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        tmp = folder / ".composition.npz.part"
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(folder / "composition.npz")

    @classmethod
    def load(cls, folder: Path) -> Composition:
        """Read a composition written by save."""
        scene = Scene.load(folder / "scene.npz")
        with np.load(folder / "composition.npz") as d:
            meta = json.loads(bytes(d["meta"]).decode())
            return cls(meta["kind"], scene, Plays.from_arrays(d),
                       GridMembers.from_arrays(d, meta["sources"]), meta["info"])
