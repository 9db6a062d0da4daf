"""Job specs: a TOML file with a [source] and a table per stage, validated against the registry.

Each table is validated by its stage's own model (a `[[render]]` entry by its kind's), then each
stage's submit-time check sees the whole spec (references between tables, expressions, a local
folder that must exist). Every error names the key (`analyze.min_ms`, `subset[1].lim`) and says
what is allowed. This module knows no stage or kind by name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from core.errors import ConfigError
from core.stages import Stage, all_stages, allowed_keys, explain


def _spec_model(stages: list[Stage]) -> type[BaseModel]:
    """The pydantic model of a whole job spec, built from the registered stages."""
    fields: dict[str, Any] = {
        "name": (str, Field("job", min_length=1, max_length=200)),
        "description": (str, ""),
    }
    for stage in stages:
        entry = stage.entry_type()
        if entry is None or stage.table is None:
            continue
        typ = list[entry] if stage.many else entry  # type: ignore[valid-type]
        fields[stage.table] = (typ, ...) if stage.required else (typ | None, None)
    return create_model(  # type: ignore[call-overload,no-any-return]
        "JobSpec", __config__=ConfigDict(extra="forbid"), **fields
    )


class _Locations:
    """Reads pydantic error locations of a job spec: which parts are kind tags, and which keys
    the table holding an unknown key allows."""

    def __init__(self, model: type[BaseModel], stages: list[Stage], data: dict[str, Any]) -> None:
        self.model = model
        self.by_table = {s.table: s for s in stages if s.table}
        self.data = data

    def is_tag(self, parent: tuple[Any, ...], part: Any) -> bool:
        """True for the kind name pydantic puts after a variant table (`render.0.<kind>`)."""
        stage = self.by_table.get(parent[0]) if parent else None
        if stage is None or not stage.tags():
            return False
        depth = 2 if stage.many else 1
        return len(parent) == depth and part in stage.tags()

    def allowed(self, loc: tuple[Any, ...]) -> list[str]:
        """The keys allowed in the table that holds `loc`'s last key."""
        if len(loc) == 1:
            return sorted(self.model.model_fields)
        stage = self.by_table.get(loc[0])
        if stage is None:
            return []
        if not stage.tags():
            return allowed_keys(stage.params) if stage.params else []
        entry = self.data.get(loc[0])
        if stage.many and isinstance(entry, list) and isinstance(loc[1], int):
            entry = entry[loc[1]]
        kind = entry.get("kind") if isinstance(entry, dict) else None
        for model in stage.models():
            if model.model_fields["kind"].default == kind:
                return allowed_keys(model)
        return ["kind"]


def validate_spec(data: dict[str, Any], *, base: Path | None = None) -> dict[str, Any]:
    """Validate a parsed job spec; returns it normalised (defaults filled in).

    `base` is the folder relative paths in the spec are taken from (the job file's).
    """
    stages = all_stages()
    model = _spec_model(stages)
    try:
        spec = model.model_validate(data, context={"base": base})  # a context: see StageParams
    except ValidationError as exc:
        where = _Locations(model, stages, data)
        lines = explain(exc, allowed=where.allowed, tag=where.is_tag)
        raise ConfigError("invalid job spec: " + "; ".join(lines)) from None
    out: dict[str, Any] = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    _check(stages, spec, out)
    return out


def _check(stages: list[Stage], spec: BaseModel, out: dict[str, Any]) -> None:
    """Each stage's own checks, given the whole normalised spec; keys of `many` stages unique."""
    for stage in stages:
        value = getattr(spec, stage.table, None) if stage.table else None
        if value is None:
            continue
        entries = value if stage.many else [value]
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            where = f"{stage.table}[{i}]" if stage.many else str(stage.table)
            if stage.many:
                key = stage.key_for(entry)
                if key in seen:
                    field = (stage.key_field or "key").removeprefix("resolved_")
                    raise ConfigError(
                        f"invalid job spec: {where}: {stage.table} {field}s must be unique "
                        f"({key!r} twice)"
                    )
                seen.add(key)
            if stage.check is not None:
                try:
                    stage.check(entry, out)
                except ConfigError as exc:
                    raise ConfigError(f"invalid job spec: {where}.{exc}") from None


def load_spec(path: Path) -> tuple[dict[str, Any], str]:
    """Read and validate a job file; relative local folders are resolved from the file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read job file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return validate_spec(data, base=path.parent), text
