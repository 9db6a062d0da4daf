"""Subsets: per-file filtered, sorted, trimmed and limited samples, stored as ordered members."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import delete, func, insert, select, true
from sqlalchemy.orm import Session

from core.errors import NotFoundError, QueryError
from core.stages import StageParams
from db.models import File, Sample, Subset, SubsetMember
from db.query.compile import compile_filter, join_tables
from db.query.parser import parse_sort
from db.query.ranking import apply_stages, key_columns, limit_per, ordered, tune_for_ranking

BASE = ("_b0", "_b1", "_id")  # file id, start time, sample id: the order before any sort
_CHUNK = 10_000


class SubsetParams(StageParams):
    """A subset (the job's [[subset]] table, or `samplemill subset create`): file filter, sample
    filter, staged sort, per-file and total limits. Expressions are checked when it is built."""

    name: str = Field("main", min_length=1, max_length=200)
    filter: str = Field("samples>0", description="File filter.")
    ffilter: str = Field("", description="Sample filter.")
    fsort: str = Field("", description="Staged sample sort, e.g. power=desc=0.75&clarity=desc.")
    flim: int | None = Field(None, ge=1, description="Per-file limit (default lim ÷ files).")
    lim: int | None = Field(16384, ge=1, description="Total limit (None: no limit).")
    shuffle: bool = False
    seed: int = 0

    @field_validator("filter", "ffilter", "fsort")
    @classmethod
    def _expression(cls, value: str, info: ValidationInfo) -> str:
        scope = "files" if info.field_name == "filter" else "samples"
        try:
            if info.field_name == "fsort":
                parse_sort(value, scope)
            else:
                compile_filter(value, scope)
        except QueryError as exc:
            raise ValueError(str(exc)) from None
        return value


@dataclass
class LoadedSubset:
    """A stored subset and its members' sample ids in order."""

    subset: Subset
    sample_ids: list[int]


def members_digest(sample_ids: Sequence[int]) -> str:
    """sha256 over the ordered sample ids as little-endian int64."""
    return hashlib.sha256(np.asarray(sample_ids, dtype="<i8").tobytes()).hexdigest()


def passing_files(session: Session, job_id: int, file_filter: str | None) -> int:
    """How many of the job's files pass `file_filter`."""
    compiled = compile_filter(file_filter, "files")
    stmt = select(func.count()).select_from(File)
    stmt = join_tables(stmt, "files", compiled.tables).where(File.job_id == job_id, compiled.where)
    return int(session.scalar(stmt) or 0)


def per_file_limit(spec: SubsetParams, files: int) -> int | None:
    """`flim`, or ceil(lim ÷ passing files) so the union can reach `lim`; None without limits."""
    if spec.flim is not None:
        return spec.flim
    if spec.lim is None or files == 0:
        return None
    return max(1, math.ceil(spec.lim / files))


def subset_query(  # type: ignore[no-untyped-def]
    session: Session, job_id: int, spec: SubsetParams, *, lateral: bool | None = None
):
    """The SELECT of the subset's sample ids in order (before any shuffle).

    Per-file ranking runs as a LATERAL subquery per passing file (PostgreSQL: small in-memory
    sorts over an index scan) or as window functions partitioned by file (SQLite, or
    `lateral=False`); both give the same members.
    """
    keys = parse_sort(spec.fsort, "samples")
    flim = per_file_limit(spec, passing_files(session, job_id, spec.filter))
    if lateral is None:
        lateral = session.get_bind().dialect.name == "postgresql"
    ffilt = compile_filter(spec.filter, "files")
    passing = join_tables(select(File.id.label("fid")), "files", ffilt.tables).where(
        File.job_id == job_id, ffilt.where
    )
    sfilt = compile_filter(spec.ffilter, "samples")
    tables = set(sfilt.tables)
    tables |= {k.column.table for k in keys if k.column is not None and k.column.table != "samples"}
    inner = select(
        Sample.id.label("_id"),
        Sample.file_id.label("_b0"),
        Sample.start.label("_b1"),
        *key_columns(keys, Sample.id),
    ).select_from(Sample)
    inner = join_tables(inner, "samples", tables).where(sfilt.where)
    if lateral:
        files = passing.subquery("passing")
        inner = inner.where(Sample.file_id == files.c.fid).correlate(files)
        ranked = apply_stages(inner, keys, BASE, target=flim)
        per_stmt = ordered(ranked, keys, BASE, [c.name for c in ranked.c])
        per = (per_stmt.limit(flim) if flim is not None else per_stmt).lateral("per_file")
        union_in = select(*per.c).select_from(files.join(per, true()))
    else:
        inner = inner.where(Sample.file_id.in_(passing.scalar_subquery()))
        per_file = apply_stages(inner, keys, BASE, target=flim, partition="_b0")
        if flim is not None:
            per_file = limit_per(per_file, keys, BASE, "_b0", flim)
        union_in = select(*per_file.c)
    union = apply_stages(union_in, keys, BASE, target=spec.lim)
    stmt = ordered(union, keys, BASE, ["_id"])
    return stmt.limit(spec.lim) if spec.lim is not None else stmt


def select_subset(session: Session, job_id: int, spec: SubsetParams) -> list[int]:
    """The subset's sample ids in order: deterministic for a catalog and a spec."""
    stmt = subset_query(session, job_id, spec)
    tune_for_ranking(session)
    ids = list(session.scalars(stmt))
    if spec.shuffle:
        random.Random(spec.seed).shuffle(ids)
    return ids


def _write_members(session: Session, subset_id: int, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        session.execute(
            insert(SubsetMember),
            [
                {"subset_id": subset_id, "position": start + i, "sample_id": sid}
                for i, sid in enumerate(chunk)
            ],
        )


def create_subset(session: Session, job_id: int, spec: SubsetParams | Mapping[str, Any]) -> Subset:
    """Select and store the subset by name, replacing one of the same name in this transaction.

    Members whose order is unchanged (same digest) are kept with their layout; otherwise they
    are deleted and re-inserted and the layout is cleared. The caller commits.
    """
    if not isinstance(spec, SubsetParams):
        spec = SubsetParams(**spec)
    ids = select_subset(session, job_id, spec)
    digest = members_digest(ids)
    subset = session.scalar(select(Subset).where(Subset.job_id == job_id, Subset.name == spec.name))
    if subset is None:
        subset = Subset(job_id=job_id, name=spec.name)
        session.add(subset)
    elif subset.members_digest == digest and subset.members_count == len(ids):
        subset.spec = spec.model_dump()
        session.flush()
        return subset
    else:
        session.execute(delete(SubsetMember).where(SubsetMember.subset_id == subset.id))
        subset.layout = None
    subset.spec = spec.model_dump()
    subset.members_count = len(ids)
    subset.members_digest = digest
    session.flush()
    _write_members(session, subset.id, ids)
    return subset


def subset_sample_ids(session: Session, subset_id: int) -> list[int]:
    """A stored subset's sample ids by position."""
    stmt = (
        select(SubsetMember.sample_id)
        .where(SubsetMember.subset_id == subset_id)
        .order_by(SubsetMember.position)
    )
    return list(session.scalars(stmt))


def load_subset(session: Session, job_id: int, name: str) -> LoadedSubset:
    """The stored subset `name` of the job with its ordered sample ids; QueryError if absent."""
    subset = session.scalar(select(Subset).where(Subset.job_id == job_id, Subset.name == name))
    if subset is None:
        raise NotFoundError(f"job {job_id} has no subset named {name!r}")
    return LoadedSubset(subset, subset_sample_ids(session, subset.id))


def list_subsets(session: Session, job_id: int | None = None) -> list[Subset]:
    """Stored subsets, of one job or all, by job and name."""
    stmt = select(Subset).order_by(Subset.job_id, Subset.name)
    if job_id is not None:
        stmt = stmt.where(Subset.job_id == job_id)
    return list(session.scalars(stmt))
