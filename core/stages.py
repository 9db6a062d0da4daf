"""The stage registry: what each pipeline stage is, where it runs and what it waits for.

A stage is either job-scoped (one target per key: the source, each subset, each render) or
file-scoped (one target per file). A job stage's keys come from the job spec (its table's
entries) or, for work whose size only an earlier stage knows, from the catalog
(`derived_keys`: the files a stage must visit, the chunks a planned render was cut into).
Its parameters are one pydantic model (a `StageParams`),
validated at submit and handed as-is to its handler. The scheduler reads only this registry,
so a new stage (or a test's extra stage) is one `register()` call plus its task module.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement

from core.errors import ConfigError
from core.queues import QUEUES

Scope = Literal["job", "file"]

DerivedKeys = Callable[[Any, int, dict[str, Any]], Sequence[tuple[str, int | None]]]
"""derived_keys(session, job_id, spec) -> [(key, file_id or None)]: a job stage's targets as
the catalog says they should be, asked when every earlier stage is finished."""

PART_SEPARATOR = "/"
"""A part's key is `<entry key>/<part>`; the part never holds the separator, so the entry key
is everything before the last one (an entry's own key may hold it)."""


def part_key(entry_key: str, part: str) -> str:
    """The key of one part of an entry (`rings/chunk-00003`)."""
    if PART_SEPARATOR in part:
        raise ConfigError(f"a part name may not contain {PART_SEPARATOR!r}: {part!r}")
    return f"{entry_key}{PART_SEPARATOR}{part}"


def split_part_key(key: str) -> tuple[str, str]:
    """(entry key, part) of a part's key."""
    entry, sep, part = key.rpartition(PART_SEPARATOR)
    if not sep:
        raise ConfigError(f"{key!r} is not a part key (<entry>{PART_SEPARATOR}<part>)")
    return entry, part


# --- parameter models and their errors ----------------------------------------------------


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts in a job file (aliases where a field has one)."""
    return sorted(f.alias or name for name, f in model.model_fields.items())


def unknown_key(key: str, allowed: Iterable[str]) -> str:
    """`unknown key 'x'; did you mean 'y'? allowed: ...` (the hint only when one is close)."""
    allowed = list(allowed)
    last = key.rsplit(".", 1)[-1].split("]")[-1]
    close = difflib.get_close_matches(last, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"unknown key {key!r}{hint} allowed: {', '.join(allowed)}"


def _loc_text(loc: Sequence[Any], skip: Callable[[Sequence[Any], Any], bool]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif not skip(loc[:i], part):
            out += ("." if out else "") + str(part)
    return out


def explain(
    exc: ValidationError,
    *,
    prefix: str = "",
    allowed: Callable[[tuple[Any, ...]], list[str]] | None = None,
    tag: Callable[[tuple[Any, ...], Any], bool] = lambda parent, part: False,
) -> list[str]:
    """One line per error of `exc`, each naming its key (`analyze.min_ms`, `render[0].kind`).

    `allowed(loc)` lists the keys allowed beside an unknown one; `tag(parent, part)` says which
    location parts are a union's tag (a kind name), left out of the key.
    """
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = (prefix + _loc_text(loc, tag)).rstrip(".")
        kind = err["type"]
        if kind == "extra_forbidden":
            lines.append(unknown_key(key, allowed(loc) if allowed else []))
        elif kind == "missing":
            lines.append(f"missing key {key!r}")
        elif kind == "union_tag_invalid":
            known = err["ctx"]["expected_tags"].replace("'", "")
            lines.append(f"{key}.kind: unknown kind {err['ctx']['tag']!r}; known: {known}")
        elif kind == "union_tag_not_found":
            lines.append(f"missing key '{key}.kind'")
        elif kind in ("value_error", "assertion_error"):
            message = str(err["msg"]).removeprefix("Value error, ")
            message = message.removeprefix("Assertion failed, ")
            lines.append(f"{key}: {message}" if key else message)
        else:
            lines.append(f"{key or '(top level)'}: {err['msg']} (got {err.get('input')!r})")
    return lines


class StageParams(BaseModel):
    """Base of every stage's parameter model: unknown keys are errors, values are frozen.

    Built in code (`AnalyzeParams(min_ms=50)`), a bad value is a ConfigError naming the field;
    validated as part of a job spec (`model_validate`), the spec's error names the whole key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            lines = explain(exc, allowed=lambda loc: allowed_keys(type(self)))
            raise ConfigError(f"{type(self).__name__}: " + "; ".join(lines)) from None

    # Tell pydantic this is its own __init__, so validation inside a job spec (which reports
    # every error under its whole key) does not go through it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


# --- stages -------------------------------------------------------------------------------


def _variant_tag(model: type[BaseModel]) -> str:
    tags = get_args(model.model_fields["kind"].annotation)
    if len(tags) != 1:
        raise ConfigError(f"{model.__name__}.kind must be a Literal of one kind name")
    return str(tags[0])


def _by_kind(variants: tuple[type[BaseModel], ...]) -> Any:
    """One of `variants`, chosen by the entry's `kind`."""
    union = Union[variants] if len(variants) > 1 else variants[0]  # noqa: UP007
    return Annotated[union, Field(discriminator="kind")]


@lru_cache(maxsize=64)
def _adapter(variants: tuple[type[BaseModel], ...]) -> TypeAdapter[Any]:
    return TypeAdapter(_by_kind(variants))


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    `order` places it in the pipeline; a file stage waits for every earlier file stage that
    applies to the same file, and a job stage waits for every earlier stage to finish.
    `params` is its table's model (`required`: every job has the table); with `variants`
    each entry is one of several models chosen by its `kind` (the source, the render kinds).
    `many` stages have a list of tables, one target each, keyed by the entry's `key_field`.
    `check(params, spec)` runs at submit for what needs the rest of the spec (references
    between tables). `applies_to(File)` and `skip_when(File)` are SQL conditions on the files
    table; `enabled(spec)` says if the job runs the stage.

    Keys from the catalog: a job stage with `derived_keys(session, job_id, spec)` gets one
    target per (key, file id) it returns, computed once every earlier stage is finished (the
    planner asks again each pass, so it must be a cheap query; a pair may name the file the
    target works on). With `part_of`, its targets are parts of another stage's entries: a key
    is `<entry key>/<part>` (`part_key`) and its parameters are that entry's (a planned
    render's chunks run with the render's parameters).
    """

    name: str
    queue: str
    scope: Scope
    order: int
    task_name: str
    params: type[StageParams] | None = None
    table: str | None = None
    required: bool = False
    many: bool = False
    variants: Callable[[], Sequence[type[StageParams]]] | None = None
    key_field: str | None = None
    check: Callable[[Any, dict[str, Any]], None] | None = None
    queue_of: Callable[[Any], str] | None = None
    enabled: Callable[[dict[str, Any]], bool] = lambda spec: True
    keys: Callable[[dict[str, Any]], list[str]] | None = None
    applies_to: Callable[[Any], ColumnElement[bool] | None] = lambda file: None
    skip_when: Callable[[Any], ColumnElement[bool] | None] = lambda file: None
    derived_keys: DerivedKeys | None = None
    part_of: str | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ConfigError(f"stage {self.name}: queue must be one of {QUEUES}")
        if self.derived_keys is not None and self.scope != "job":
            raise ConfigError(f"stage {self.name}: only a job stage takes keys from the catalog")
        if self.part_of is not None and self.table is not None:
            raise ConfigError(f"stage {self.name}: a part stage has no table of its own")
        if self.many and self.key_field is None and self.keys is None:
            raise ConfigError(f"stage {self.name}: a `many` stage needs a key_field")

    # --- parameters ---

    def models(self) -> list[type[StageParams]]:
        """The models an entry may be: the variants, or the one params model."""
        if self.variants is not None:
            return list(self.variants())
        return [self.params] if self.params is not None else []

    def entry_type(self) -> Any:
        """The pydantic type of one entry of this stage's table (None: no table)."""
        if self.variants is not None:
            return _by_kind(tuple(self.variants()))
        return self.params

    def parse(self, data: Any) -> Any:
        """One entry validated into its model; a ConfigError naming the key otherwise."""
        if isinstance(data, BaseModel):
            return data
        context = {"stage": self.name}
        try:
            if self.variants is not None:
                return _adapter(tuple(self.variants())).validate_python(data, context=context)
            assert self.params is not None
            return self.params.model_validate(data, context=context)
        except ValidationError as exc:
            lines = explain(exc, prefix=f"{self.table or self.name}.",
                            tag=lambda parent, part: not parent and part in self.tags())
            raise ConfigError("; ".join(lines)) from None

    def tags(self) -> list[str]:
        """The kind names of a variant stage's entries."""
        return [_variant_tag(m) for m in self.models()] if self.variants is not None else []

    def entries(self, spec: dict[str, Any]) -> list[Any]:
        """The stage's entries in a job spec, each validated into its model."""
        if self.table is None or (self.params is None and self.variants is None):
            return []
        if self.many:
            return [self.parse(entry) for entry in spec.get(self.table, [])]
        return [self.parse(spec.get(self.table) or {})]

    def key_for(self, params: Any) -> str:
        """The target key of one entry."""
        if self.key_field is None:
            return self.name
        return str(getattr(params, self.key_field))

    def target_keys(self, spec: dict[str, Any]) -> list[str]:
        """The keys of a job-scoped stage's targets in this spec (none for a stage whose keys
        come from the catalog: see `derived_keys`)."""
        if self.derived_keys is not None:
            return []
        if self.keys is not None:
            return self.keys(spec)
        if not self.many:
            return [self.name]
        return [self.key_for(entry) for entry in self.entries(spec)]

    def params_for(self, spec: dict[str, Any], key: str) -> Any:
        """The validated parameters of one target (None for a stage without parameters); a
        part's are its entry's."""
        if self.part_of is not None:
            return get_stage(self.part_of).params_for(spec, split_part_key(key)[0])
        entries = self.entries(spec)
        if not self.many:
            return entries[0] if entries else None
        for entry in entries:
            if self.key_for(entry) == key:
                return entry
        raise ConfigError(f"{self.table}: no entry for target {key!r} in the job spec")

    def queue_for(self, params: Any) -> str:
        """The queue one target's task is sent to."""
        return self.queue_of(params) if self.queue_of is not None and params else self.queue


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
