"""Job specs: a TOML file with a [source] and a table per stage, validated against the registry.

Every error names the key (`analyze.min_ms`, `subset[1].lim`) and says what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from core.errors import ConfigError
from core.stages import all_stages
from worker.pipeline import SourceParams


def _spec_model() -> type[BaseModel]:
    """The pydantic model of a whole job spec, built from the registered stages."""
    fields: dict[str, Any] = {
        "name": (str, Field("job", min_length=1, max_length=200)),
        "description": (str, ""),
        "source": (SourceParams, ...),
    }
    for stage in all_stages():
        if stage.params is None or stage.table is None:
            continue
        typ = list[stage.params] if stage.many else stage.params  # type: ignore[name-defined]
        fields[stage.table] = (typ | None, None)
    return create_model(  # type: ignore[call-overload,no-any-return]
        "JobSpec", __config__=ConfigDict(extra="forbid"), **fields
    )


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("local", "internet_archive") and out == "source":
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed(model: type[BaseModel], loc: tuple[Any, ...], data: dict[str, Any]) -> list[str]:
    """The keys allowed at the table that holds `loc`'s last key."""
    table = loc[:-1]
    if not table:
        return sorted(model.model_fields)
    stage_table = str(table[0])
    if stage_table == "source":
        kind = data.get("source", {}).get("kind")
        adapter = TypeAdapter(SourceParams)
        schema = adapter.json_schema()
        for sub in schema.get("$defs", {}).values():
            if sub.get("properties", {}).get("kind", {}).get("const") == kind:
                return sorted(sub["properties"])
        return ["kind"]
    for stage in all_stages():
        if stage.table == stage_table and stage.params is not None:
            return sorted(stage.params.model_fields)
    return []


def validate_spec(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a parsed job spec; returns it normalised (defaults filled in)."""
    model = _spec_model()
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = _loc(loc) or "(top level)"
            if err["type"] == "extra_forbidden":
                allowed = _allowed(model, loc, data)
                where = f" in [{_loc(loc[:-1])}]" if len(loc) > 1 else ""
                messages.append(
                    f"unknown key {key!r}{where}; allowed: {', '.join(allowed)}"
                )
            elif err["type"] == "missing":
                messages.append(f"missing key {key!r}")
            elif err["type"] == "union_tag_invalid":
                messages.append(f"{key}: kind must be one of: local, internet_archive")
            elif err["type"] == "union_tag_not_found":
                messages.append(f"{key}: missing key 'kind' (local or internet_archive)")
            else:
                messages.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid job spec: " + "; ".join(messages)) from None
    out = spec.model_dump(mode="json", exclude_none=True)
    _check_references(out)
    return out


def _check_references(spec: dict[str, Any]) -> None:
    """Cross-table rules: unique subset names, layouts and renders name a known subset."""
    subsets = [s["name"] for s in spec.get("subset", [])]
    if len(set(subsets)) != len(subsets):
        raise ConfigError("invalid job spec: subset names must be unique")
    for table in ("layout", "render"):
        for i, entry in enumerate(spec.get(table, [])):
            if entry["subset"] not in subsets:
                raise ConfigError(
                    f"invalid job spec: {table}[{i}].subset: no subset named "
                    f"{entry['subset']!r}; defined: {', '.join(subsets) or '(none)'}"
                )
    if "render" in spec:
        laid_out = {entry["subset"] for entry in spec.get("layout", [])}
        for i, entry in enumerate(spec["render"]):
            if entry["sort"].startswith("tsne") and entry["subset"] not in laid_out:
                raise ConfigError(
                    f"invalid job spec: render[{i}].sort: sorting by tsne needs a [[layout]] "
                    f"for subset {entry['subset']!r}"
                )


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
    spec = validate_spec(data)
    source = spec["source"]
    if source["kind"] == "local" and not Path(source["folder"]).is_absolute():
        source["folder"] = str((path.parent / source["folder"]).resolve())
    return spec, text
