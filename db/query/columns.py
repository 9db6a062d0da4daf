"""The names users type (reference camelCase) mapped onto catalog columns, per scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import InstrumentedAttribute

from db.models import File, Item, Loop, Sample

Kind = Literal["num", "text", "bool"]
Table = Literal["samples", "files", "items", "loops"]
SCOPES: tuple[Table, ...] = ("samples", "files", "items", "loops")
MODELS = {"samples": Sample, "files": File, "items": Item, "loops": Loop}
PREFIX = {"files": "file", "items": "item"}
# Which other tables a scope reaches, in the order bare names are looked up.
PARENTS: dict[Table, tuple[Table, ...]] = {
    "samples": ("files", "items"),
    "files": ("items",),
    "items": (),
    "loops": ("files", "items"),
}


@dataclass(frozen=True)
class ColumnSpec:
    """One queryable column: the name users type, its table, model attribute and kind."""

    name: str
    table: Table
    attr: str
    kind: Kind

    @property
    def column(self) -> InstrumentedAttribute:
        """The SQLAlchemy column this name stands for."""
        return getattr(MODELS[self.table], self.attr)


def _specs(table: Table, entries: list[tuple[str, str, Kind]]) -> dict[str, ColumnSpec]:
    return {name: ColumnSpec(name, table, attr, kind) for name, attr, kind in entries}


SAMPLE_COLUMNS = _specs(
    "samples",
    [
        ("id", "id", "num"),
        ("jobId", "job_id", "num"),
        ("fileId", "file_id", "num"),
        ("idx", "idx", "num"),
        ("start", "start", "num"),
        ("dur", "dur", "num"),
        ("power", "power", "num"),
        ("hz", "hz", "num"),
        ("note", "note", "text"),
        ("octave", "octave", "num"),
        ("midi", "midi", "num"),
        ("clarity", "clarity", "num"),
    ],
)
FILE_COLUMNS = _specs(
    "files",
    [
        ("id", "id", "num"),
        ("jobId", "job_id", "num"),
        ("itemId", "item_id", "num"),
        ("key", "key", "text"),
        ("filename", "name", "text"),
        ("path", "path", "text"),
        ("url", "url", "text"),
        ("format", "format", "text"),
        ("origin", "origin", "text"),
        ("size", "size", "num"),
        ("md5", "md5", "text"),
        ("duration", "duration", "num"),
        ("hasAudio", "has_audio", "bool"),
        ("hasVideo", "has_video", "bool"),
        ("container", "container", "text"),
        ("audioCodec", "audio_codec", "text"),
        ("videoCodec", "video_codec", "text"),
        ("sampleRate", "sample_rate", "num"),
        ("channels", "channels", "num"),
        ("fps", "fps", "num"),
        ("width", "width", "num"),
        ("height", "height", "num"),
        ("samples", "samples", "num"),
        ("medianPower", "median_power", "num"),
        ("medianHz", "median_hz", "num"),
        ("medianClarity", "median_clarity", "num"),
        ("medianDur", "median_dur", "num"),
    ],
)
ITEM_COLUMNS = _specs(
    "items",
    [
        ("id", "id", "num"),
        ("jobId", "job_id", "num"),
        ("identifier", "identifier", "text"),
        ("source", "source", "text"),
        ("title", "title", "text"),
        ("creator", "creator", "text"),
        ("date", "date", "text"),
        ("year", "year", "num"),
        ("collection", "collection", "text"),
        ("subject", "subject", "text"),
        ("licenseurl", "licenseurl", "text"),
        ("downloads", "downloads", "num"),
    ],
)
LOOP_COLUMNS = _specs(
    "loops",
    [
        ("id", "id", "num"),
        ("jobId", "job_id", "num"),
        ("fileId", "file_id", "num"),
        ("firstStart", "first_start", "num"),
        ("repeatStart", "repeat_start", "num"),
        ("length", "length", "num"),
        ("similarity", "similarity", "num"),
        ("period", "period", "num"),
        ("copies", "copies", "num"),
        ("firstFrame", "first_frame", "num"),
        ("repeatFrame", "repeat_frame", "num"),
        ("frames", "frames", "num"),
    ],
)
COLUMNS: dict[Table, dict[str, ColumnSpec]] = {
    "samples": SAMPLE_COLUMNS,
    "files": FILE_COLUMNS,
    "items": ITEM_COLUMNS,
    "loops": LOOP_COLUMNS,
}
# Extra spellings accepted for a column (beyond case and underscores).
ALIASES = {"files": {"name": "filename"}}


def _norm(name: str) -> str:
    """Names match ignoring case and underscores: medianPower = median_power = MEDIANPOWER."""
    return name.replace("_", "").lower()


def _index(table: Table) -> dict[str, ColumnSpec]:
    cols = COLUMNS[table]
    index = {_norm(name): spec for name, spec in cols.items()}
    for spec in cols.values():
        index.setdefault(_norm(spec.attr), spec)
    for alias, name in ALIASES.get(table, {}).items():
        index.setdefault(_norm(alias), cols[name])
    return index


_INDEX = {table: _index(table) for table in SCOPES}


def check_scope(scope: str) -> Table:
    """`scope` itself, or a ValueError naming the scopes."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; one of {', '.join(SCOPES)}")
    return scope  # type: ignore[return-value]


def resolve(name: str, scope: str) -> ColumnSpec | None:
    """The column `name` means in `scope` (own table first, then file, then item), or None."""
    table = check_scope(scope)
    head, dot, rest = name.partition(".")
    if dot:
        for parent in PARENTS[table]:
            if head.lower() == PREFIX[parent]:
                return _INDEX[parent].get(_norm(rest))
        return None
    for candidate in (table, *PARENTS[table]):
        spec = _INDEX[candidate].get(_norm(name))
        if spec is not None:
            return spec
    return None


def valid_names(scope: str) -> list[str]:
    """Every name `scope` accepts: its own, then `file.<name>` and `item.<name>`."""
    table = check_scope(scope)
    names = sorted(COLUMNS[table], key=str.lower)
    for parent in PARENTS[table]:
        names += [f"{PREFIX[parent]}.{n}" for n in sorted(COLUMNS[parent], key=str.lower)]
    return names


def scope_columns(scope: str) -> dict[str, ColumnSpec]:
    """The mapping of user names to columns for the scope's own table."""
    return dict(COLUMNS[check_scope(scope)])


def row_key(spec: ColumnSpec, scope: str) -> str:
    """The dict key the in-memory evaluator reads: `attr`, or `file.attr` / `item.attr`."""
    if spec.table == check_scope(scope):
        return spec.attr
    return f"{PREFIX[spec.table]}.{spec.attr}"
