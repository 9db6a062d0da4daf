"""The stage registry: what each pipeline stage is, where it runs and what it waits for.

A stage is either job-scoped (one target per key: the source, each subset, each render) or
file-scoped (one target per file). The scheduler reads only this registry, so a new stage
(or a test's extra stage) is one `register()` call plus its task module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement

from core.errors import ConfigError
from core.queues import QUEUES

Scope = Literal["job", "file"]


class StageParams(BaseModel):
    """Base of every stage's parameter table in a job spec: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    `order` places it in the pipeline; a file stage waits for every earlier file stage that
    applies to the same file, and a job stage waits for every earlier stage to finish.
    `applies_to(File)` and `skip_when(File)` are SQL conditions on the files table;
    `keys(spec)` lists a job stage's targets; `enabled(spec)` says if the job runs the stage.
    """

    name: str
    queue: str
    scope: Scope
    order: int
    task_name: str
    params: type[StageParams] | None = None
    table: str | None = None
    many: bool = False
    enabled: Callable[[dict[str, Any]], bool] = lambda spec: True
    keys: Callable[[dict[str, Any]], list[str]] = lambda spec: ["job"]
    applies_to: Callable[[Any], ColumnElement[bool] | None] = lambda file: None
    skip_when: Callable[[Any], ColumnElement[bool] | None] = lambda file: None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ConfigError(f"stage {self.name}: queue must be one of {QUEUES}")


_REGISTRY: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    """Add (or replace) a stage in the registry."""
    _REGISTRY[stage.name] = stage
    return stage


def all_stages() -> list[Stage]:
    """Every registered stage in pipeline order."""
    load_stage_modules()
    return sorted(_REGISTRY.values(), key=lambda s: (s.order, s.name))


def get_stage(name: str) -> Stage:
    """The stage called `name`."""
    load_stage_modules()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown stage {name!r}; known: {', '.join(_REGISTRY)}") from None


def job_stages(spec: dict[str, Any]) -> list[Stage]:
    """The stages a job runs, in order."""
    return [s for s in all_stages() if s.enabled(spec)]


BUILTIN_STAGE_MODULES = ("worker.pipeline",)


def stage_modules() -> list[str]:
    """Modules that define stages: the built-ins plus SAMPLEMILL_EXTRA_STAGES."""
    from core.settings import get_settings

    return [*BUILTIN_STAGE_MODULES, *get_settings().extra_stages]


_loaded: set[str] = set()


def load_stage_modules() -> None:
    """Import every stage module not yet imported, so their `register()` calls run."""
    for module in stage_modules():
        if module not in _loaded:
            _loaded.add(module)
            importlib.import_module(module)
