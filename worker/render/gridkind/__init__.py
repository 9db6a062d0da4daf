"""Grid video kinds: each is a pure `compose(members, params) -> Composition` over the subset's
layout grid; everything after the composition (vsamples, clip cache, chunks, mix, join,
artifacts) is shared, in gridvideo.py and gridkind/handler.py.

A kind package calls `register_grid_kind()` in its `__init__.py`; that registers the render
kind (its parameter model, the shared handler, the grid check) and remembers its compose
function, so `[[render]] kind = "<name>"`, `samplemill render --kind <name>` and the bench all
find it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.render_kinds import Check, RenderKind, load_kind_modules, register_kind
from worker.render.grid import Composition, GridMembers
from worker.render.gridkind.params import GridParams

Compose = Callable[[GridMembers, Any], Composition]


@dataclass(frozen=True)
class GridKind:
    """A grid video kind: its parameters and its pure composition function."""

    name: str
    params: type[GridParams]
    compose: Compose


_GRID: dict[str, GridKind] = {}

HANDLER = "worker.render.gridkind.handler:handle"


def needs_grid(params: Any, spec: dict[str, Any]) -> None:
    """A grid composition needs a [[layout]] with a grid for its subset, at least `grid` a side
    when the kind has a `grid` parameter."""
    grids = [str(entry["grid"]) for entry in spec.get("layout", [])
             if entry.get("subset", "main") == params.subset and entry.get("grid")]
    if not grids:
        raise ConfigError(f"subset: {params.kind} needs a [[layout]] with a grid for subset "
                          f"{params.subset!r}")
    side = getattr(params, "grid", None)
    cols, _, rows = grids[0].lower().partition("x")
    if side and cols.isdigit() and rows.isdigit() and min(int(cols), int(rows)) < side:
        raise ConfigError(f"grid: {side} cells a side need a layout grid at least that "
                          f"big; subset {params.subset!r} is laid out {grids[0]}")


def register_grid_kind(name: str, params: type[GridParams], compose: Compose, *,
                       check: Check | None = needs_grid, description: str = "",
                       handler: str = HANDLER) -> RenderKind:
    """Register a grid video kind (its render kind and its compose function)."""
    _GRID[name] = GridKind(name, params, compose)
    return register_kind(RenderKind(name=name, params=params, handler=handler, check=check,
                                    description=description))


def grid_kind(name: str) -> GridKind:
    """The grid kind called `name`; a ConfigError listing the known ones otherwise."""
    load_kind_modules()
    try:
        return _GRID[name]
    except KeyError:
        known = ", ".join(sorted(_GRID)) or "(none)"
        raise ConfigError(f"{name!r} is not a grid video kind; known: {known}") from None


def grid_kind_names() -> list[str]:
    """Every registered grid video kind, by name."""
    load_kind_modules()
    return sorted(_GRID)
