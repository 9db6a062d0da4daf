"""Build and run `query samples|files|items`: filter, staged sort with trims, limit, columns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from db.models import File, Sample
from db.query.columns import MODELS, ColumnSpec, check_scope, resolve, valid_names
from db.query.compile import compile_filter, join_tables
from db.query.errors import ExpressionError
from db.query.parser import parse_sort
from db.query.ranking import apply_stages, key_columns, ordered, tune_for_ranking

DEFAULT_COLUMNS = {
    "samples": [
        "id",
        "fileId",
        "idx",
        "start",
        "dur",
        "power",
        "hz",
        "note",
        "octave",
        "midi",
        "clarity",
    ],
    "files": [
        "id",
        "filename",
        "duration",
        "hasAudio",
        "samples",
        "medianPower",
        "medianHz",
        "medianClarity",
        "medianDur",
    ],
    "items": ["id", "identifier", "title", "creator", "year", "collection"],
    "loops": ["file.filename", "firstStart", "repeatStart", "length", "similarity", "period",
              "copies"],
}


@dataclass
class QueryResult:
    """Column names and an iterator of row tuples."""

    columns: list[str]
    rows: Iterator[tuple[Any, ...]]


def resolve_columns(names: Sequence[str] | None, scope: str) -> list[ColumnSpec]:
    """The specs of comma-listed output column names; ExpressionError for unknown ones."""
    names = list(names) if names else DEFAULT_COLUMNS[scope]
    specs = []
    listing = ",".join(names)
    pos = 0
    for name in names:
        spec = resolve(name.strip(), scope)
        if spec is None:
            raise ExpressionError(
                f"unknown column {name.strip()!r} in {scope}",
                listing,
                pos,
                len(name),
                valid_names(scope),
            )
        specs.append(spec)
        pos += len(name) + 1
    return specs


def job_condition(scope: str, job_id: int) -> ColumnElement[bool]:
    """Rows of one job. Samples through the job's files: PostgreSQL indexes samples by file,
    not by job (each index costs every bulk-inserted sample an entry; migration 0008)."""
    if scope == "samples":
        return Sample.file_id.in_(select(File.id).where(File.job_id == job_id))
    return MODELS[scope].job_id == job_id  # type: ignore[no-any-return]


def base_order(scope: str) -> list[Any]:
    """Rows' order before any sort: samples by file, start time and id; others by id."""
    if scope == "samples":
        return [Sample.file_id, Sample.start, Sample.id]
    return [MODELS[scope].id]


def build_query(
    scope: str,
    *,
    job_id: int | None = None,
    where: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[list[str], Select]:
    """The column names and the SELECT for a query in `scope`."""
    check_scope(scope)
    model = MODELS[scope]
    specs = resolve_columns(columns, scope)
    compiled = compile_filter(where, scope)
    keys = parse_sort(sort, scope)
    tables = set(compiled.tables)
    tables |= {s.table for s in specs if s.table != scope}
    tables |= {k.column.table for k in keys if k.column is not None and k.column.table != scope}
    payload = [s.column.label(f"_c{i}") for i, s in enumerate(specs)]
    base = [c.label(f"_b{i}") for i, c in enumerate(base_order(scope))]
    inner = select(*payload, *base, *key_columns(keys, model.id)).select_from(model)
    inner = join_tables(inner, scope, tables).where(compiled.where)
    if job_id is not None:
        inner = inner.where(job_condition(scope, job_id))
    base_names = [b.name for b in base]
    sq = apply_stages(inner, keys, base_names, target=limit)
    stmt = ordered(sq, keys, base_names, [p.name for p in payload])
    if limit is not None:
        stmt = stmt.limit(limit)
    typed = [n.strip() for n in columns] if columns else DEFAULT_COLUMNS[scope]
    return typed, stmt


def run_query(session: Session, scope: str, **kwargs: Any) -> QueryResult:
    """Run `build_query(scope, **kwargs)`, streaming rows."""
    names, stmt = build_query(scope, **kwargs)
    if kwargs.get("sort"):
        tune_for_ranking(session)
    result = session.execute(stmt.execution_options(yield_per=5000))
    return QueryResult(names, (tuple(row) for row in result))
