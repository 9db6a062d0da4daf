"""Render kinds: the plug-ins behind `[[render]] kind = "..."`.

A kind is a package `worker/render/<kind>/` whose `__init__.py` calls `register_kind()` with
its parameter model (a `RenderParams` subclass with `kind: Literal["<kind>"]`), the
"module:function" of its thin handler, and an optional cross-table check run at submit. The job
spec validates each `[[render]]` entry with its kind's model, and the generic task
`samplemill.render` calls the kind's handler with that model. Nothing else names a kind, so a
new kind is one new package (plus its tests).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import Field

from core.errors import ConfigError
from core.queues import QUEUES
from core.stages import StageParams

BUILTIN_KIND_PACKAGE = "worker.render"
"""Every subpackage of this package is imported once, so the kinds among them register."""


MEMBER_VALUES = ("tsne", "x", "y", "hz", "power", "clarity", "dur", "midi", "start", "position")
"""What a render knows of each subset member and may sort by: its layout (t-SNE order, map
point), its sample's features and times, its place in the subset. The catalog reads them by
these names (`db.layouts.subset_clips`)."""


class RenderParams(StageParams):
    """What every `[[render]]` entry has: its kind, an optional name and the subset it renders."""

    kind: str
    name: str = Field("", max_length=200, description="Output name; default <kind>-<subset>.")
    subset: str = Field("main", description="The [[subset]] whose members are rendered.")

    @property
    def resolved_name(self) -> str:
        """The render's name: its target key, artifact name and output file stem."""
        return self.name or f"{self.kind}-{self.subset}"


Check = Callable[[Any, dict[str, Any]], None]
"""check(params, spec): raise ConfigError("<key>: <problem>") when the entry cannot work with
the rest of the (validated, normalised) job spec; the caller prefixes `render[i].`."""


@dataclass(frozen=True)
class RenderKind:
    """One render kind: its parameter model, its handler and where it runs."""

    name: str
    params: type[RenderParams]
    handler: str  # "module:function", called as function(ctx, params)
    check: Check | None = None
    queue: str = "render"
    description: str = ""

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ConfigError(f"render kind {self.name}: queue must be one of {QUEUES}")
        tags = get_args(self.params.model_fields["kind"].annotation)
        if tags != (self.name,):
            raise ConfigError(
                f"render kind {self.name}: {self.params.__name__}.kind must be "
                f'Literal["{self.name}"] = "{self.name}"'
            )
        if ":" not in self.handler:
            raise ConfigError(f"render kind {self.name}: handler must be 'module:function'")

    def load_handler(self) -> Callable[..., None]:
        """Import and return the handler function."""
        module, _, function = self.handler.partition(":")
        return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


_KINDS: dict[str, RenderKind] = {}


def register_kind(kind: RenderKind) -> RenderKind:
    """Add (or replace) a render kind."""
    _KINDS[kind.name] = kind
    return kind


def known_kinds() -> list[RenderKind]:
    """Every registered render kind, by name."""
    load_kind_modules()
    return [_KINDS[name] for name in sorted(_KINDS)]


def get_kind(name: str) -> RenderKind:
    """The render kind called `name`; a ConfigError listing the known kinds otherwise."""
    load_kind_modules()
    try:
        return _KINDS[name]
    except KeyError:
        known = ", ".join(sorted(_KINDS)) or "(none)"
        raise ConfigError(f"unknown render kind {name!r}; known: {known}") from None


_scanned = False


def load_kind_modules() -> None:
    """Import the built-in kind packages (once) and the SAMPLEMILL_EXTRA_STAGES modules."""
    global _scanned
    from core.stages import load_stage_modules

    if not _scanned:
        package = importlib.import_module(BUILTIN_KIND_PACKAGE)
        for info in pkgutil.iter_modules(package.__path__):
            if info.ispkg:
                importlib.import_module(f"{BUILTIN_KIND_PACKAGE}.{info.name}")
        _scanned = True
    load_stage_modules()
