"""Subsets: per-file filtered, sorted, trimmed and limited samples, stored as ordered members."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import (
    BigInteger,
    Float,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    union,
)
from sqlalchemy.orm import Session

from core.errors import NotFoundError, QueryError
from core.stages import StageParams
from db.models import File, Sample, Subset, SubsetCandidate, SubsetMember
from db.query.compile import compile_filter, join_tables
from db.query.nodes import SortKey
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


CANDIDATE_KEYS = 4  # sort stages a stored candidate set can carry (columns k0..k3)
_CANDIDATES_VERSION = 1  # part of every candidate key: bump when the per-file semantics change


def _sort_keys(spec: SubsetParams) -> list[SortKey]:
    return parse_sort(spec.fsort, "samples")


def candidate_key(spec: SubsetParams) -> int | None:
    """A stable 63-bit key of the spec's per-file part (sample filter, sort, per-file limit), or
    None when its per-file stage cannot be stored ahead of the job's end.

    Storable: `flim` given (or neither limit: the per-file stage keeps every ranked sample),
    a sample filter on samples' own columns, and at most CANDIDATE_KEYS sort stages, each a
    number of the sample (or a seeded random order). Without `flim` the per-file limit is
    ceil(lim ÷ passing files), known only at the end; files' and items' columns may change
    after a file's samples are written; text keys would need their own columns.
    """
    if spec.flim is None and spec.lim is not None:
        return None
    if compile_filter(spec.ffilter, "samples").tables:
        return None
    keys = _sort_keys(spec)
    if len(keys) > CANDIDATE_KEYS:
        return None
    for key in keys:
        if key.column is not None and (key.column.table != "samples" or key.column.kind != "num"):
            return None
    part = {"v": _CANDIDATES_VERSION, "ffilter": spec.ffilter, "fsort": spec.fsort,
            "flim": spec.flim}  # fmt: skip
    raw = hashlib.sha256(json.dumps(part, sort_keys=True).encode()).digest()
    return int.from_bytes(raw[:8], "big") >> 1


def _passing(job_id: int | None, file_filter: str, file_ids: Sequence[int] | None = None):  # type: ignore[no-untyped-def]
    """SELECT fid of the files passing `file_filter`: the job's, or those of `file_ids`."""
    ffilt = compile_filter(file_filter, "files")
    stmt = join_tables(select(File.id.label("fid")), "files", ffilt.tables).where(ffilt.where)
    if job_id is not None:
        stmt = stmt.where(File.job_id == job_id)
    if file_ids is not None:
        stmt = stmt.where(File.id.in_(list(file_ids)))
    return stmt


def per_file_query(  # type: ignore[no-untyped-def]
    spec: SubsetParams, passing, flim: int | None, *, lateral: bool
):
    """The per-file stage: each passing file's samples filtered, staged and cut to `flim`, as a
    SELECT of `_id`, `_b0` (file id), `_b1` (start) and the sort values `_k0`, `_k1`, ….

    `passing` is a SELECT of file ids labelled `fid`. LATERAL per file (PostgreSQL: small
    in-memory sorts over an index scan) or windows partitioned by file: the same rows.
    """
    keys = _sort_keys(spec)
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
        return select(*per.c).select_from(files.join(per, true()))
    inner = inner.where(Sample.file_id.in_(passing.scalar_subquery()))
    per_file = apply_stages(inner, keys, BASE, target=flim, partition="_b0")
    if flim is not None:
        per_file = limit_per(per_file, keys, BASE, "_b0", flim)
    return select(*per_file.c)


def _global(spec: SubsetParams, union_in):  # type: ignore[no-untyped-def]
    """The global stage over the per-file survivors: staged, ordered, cut to `lim`."""
    keys = _sort_keys(spec)
    union = apply_stages(union_in, keys, BASE, target=spec.lim)
    stmt = ordered(union, keys, BASE, ["_id"])
    return stmt.limit(spec.lim) if spec.lim is not None else stmt


def subset_query(  # type: ignore[no-untyped-def]
    session: Session, job_id: int, spec: SubsetParams, *, lateral: bool | None = None
):
    """The SELECT of the subset's sample ids in order (before any shuffle), from `samples`.

    Per-file ranking runs as a LATERAL subquery per passing file (PostgreSQL: small in-memory
    sorts over an index scan) or as window functions partitioned by file (SQLite, or
    `lateral=False`); both give the same members.
    """
    flim = per_file_limit(spec, passing_files(session, job_id, spec.filter))
    if lateral is None:
        lateral = session.get_bind().dialect.name == "postgresql"
    passing = _passing(job_id, spec.filter)
    return _global(spec, per_file_query(spec, passing, flim, lateral=lateral))


def candidates_cover(session: Session, job_id: int, spec: SubsetParams) -> bool:
    """Whether every file of the job that passes the file filter has its stored candidates for
    this spec (so `candidates_query` gives the subset)."""
    key = candidate_key(spec)
    if key is None:
        return False
    files = _passing(job_id, spec.filter).subquery("passing")
    c = SubsetCandidate
    marker = and_(c.file_id == files.c.fid, c.spec_key == key, c.sample_id == 0)
    stmt = select(func.count(), func.count(c.file_id)).select_from(files.outerjoin(c, marker))
    total, marked = session.execute(stmt).one()
    return int(total) == int(marked)


def candidates_query(job_id: int, spec: SubsetParams):  # type: ignore[no-untyped-def]
    """The SELECT of the subset's sample ids in order from the stored candidates: only the
    global stage (call when `candidates_cover` holds)."""
    key = candidate_key(spec)
    assert key is not None, "the spec's per-file stage is not stored"
    files = _passing(job_id, spec.filter).subquery("passing")
    c = SubsetCandidate
    ks = [getattr(c, f"k{j}").label(f"_k{j}") for j in range(len(_sort_keys(spec)))]
    union_in = (
        select(c.sample_id.label("_id"), c.file_id.label("_b0"), c.start.label("_b1"), *ks)
        .select_from(files.join(c, c.file_id == files.c.fid))
        .where(c.spec_key == key, c.sample_id != 0)
    )
    return _global(spec, union_in)


def fill_candidates(
    session: Session, file_ids: Sequence[int], specs: Sequence[SubsetParams]
) -> int:
    """Store the per-file stage of each storable spec for these files (those passing the spec's
    file filter now), in the session's transaction: the rows `per_file_query` gives, with a
    marker row per file. Call after the files' samples (and statistics) are written and their
    old candidates deleted (`db.bulk.replace_many` does both). The number of rows written.

    Specs sharing a per-file part are stored once, for the files passing any of their filters.
    """
    by_key: dict[int, list[SubsetParams]] = {}
    for spec in specs:
        key = candidate_key(spec)
        if key is not None:
            by_key.setdefault(key, []).append(spec)
    if not by_key or not file_ids:
        return 0
    lateral = session.get_bind().dialect.name == "postgresql"
    # No JIT (and in-memory sorts) for the rest of this transaction: a catalog whose tables
    # were never analysed (autovacuum off, a fresh bulk load) gets huge cost estimates, and
    # JIT compiling each fill statement cost ~0.5 s, 7x the statement (docs/bench-catalog.md).
    tune_for_ranking(session)
    table = SubsetCandidate.__table__
    written = 0
    for key, group in by_key.items():
        spec = group[0]
        filters = {s.filter for s in group}
        for start in range(0, len(file_ids), _CHUNK):
            chunk = list(file_ids[start : start + _CHUNK])
            passing = _passing(None, next(iter(filters)), chunk)
            if len(filters) > 1:  # files passing any of the group's filters
                passing = union(*[_passing(None, f, chunk) for f in sorted(filters)]).subquery()
                passing = select(passing.c.fid)
            per = per_file_query(spec, passing, spec.flim, lateral=lateral).subquery("per")
            nkeys = len(_sort_keys(spec))
            cols = ["file_id", "spec_key", "sample_id", "start", *[f"k{j}" for j in range(nkeys)]]
            rows = select(per.c._b0, literal(key, BigInteger), per.c._id, per.c._b1,
                          *[cast(per.c[f"_k{j}"], Float) for j in range(nkeys)])  # fmt: skip
            marks = passing.subquery("marked")
            for stmt in (
                insert(table).from_select(cols, rows),
                insert(table).from_select(["file_id", "spec_key", "sample_id"], select(
                    marks.c.fid, literal(key, BigInteger), literal(0, BigInteger))),
            ):  # fmt: skip
                result = session.execute(stmt.execution_options(preserve_rowcount=True))
                written += max(result.rowcount, 0)
    return written


def delete_candidates(session: Session, file_ids: Sequence[int]) -> None:
    """Forget these files' stored candidates (every spec): their samples are being replaced."""
    session.execute(delete(SubsetCandidate).where(SubsetCandidate.file_id.in_(list(file_ids))))


def job_subset_specs(spec: Mapping[str, Any]) -> list[SubsetParams]:
    """The [[subset]] entries of a job spec, validated."""
    return [SubsetParams(**entry) for entry in spec.get("subset", []) or []]


def select_subset(
    session: Session, job_id: int, spec: SubsetParams, *, candidates: bool | None = None
) -> list[int]:
    """The subset's sample ids in order: deterministic for a catalog and a spec.

    From the stored per-file candidates when every passing file has them for this spec
    (`candidates=None`), else from samples; `candidates=False` forces samples, `True` forces
    the candidates (QueryError when they do not cover the job). Both give the same members.
    """
    if candidates is None:
        candidates = candidates_cover(session, job_id, spec)
    elif candidates and not candidates_cover(session, job_id, spec):
        raise QueryError(f"job {job_id}: no stored candidates for every file of this subset")
    stmt = candidates_query(job_id, spec) if candidates else subset_query(session, job_id, spec)
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
