"""Reads the web page needs beyond the CLI's: failures with their tracebacks, what running
targets are, one artifact, a sample with its source, a file's probe data and samples, and a
subset's map as column arrays (one query, no per-row objects, for 16k-point maps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from db.models import Artifact, File, Item, Job, Sample, Subset, SubsetMember, Target, TaskRun
from db.models import TargetStatus as TS
from db.read.jobs import ArtifactRecord, get_job, status_counts
from db.read.media import SampleRecord
from db.read.subsets import get_subset


@dataclass(frozen=True)
class FailureDetail:
    """A failed target with its file and its last failed run's error and traceback."""

    target_id: int
    stage: str
    key: str
    file_id: int | None
    file: str | None
    attempts: int
    error: str | None
    traceback: str | None
    worker: str | None
    finished_at: datetime | None


def failure_details(
    session: Session, job_id: int, *, stages: Sequence[str] | None = None, offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[FailureDetail]]:
    """How many targets of the job failed, and a page of them with tracebacks, in the order
    of `stages` (each stage's failures found through its (job, stage, status) index), or by
    stage name when no stages are given."""
    get_job(session, job_id)
    if stages is None:
        stages = sorted(session.scalars(
            select(Target.stage).where(Target.job_id == job_id).distinct()))
    counts = {st: int(session.scalar(
        select(func.count()).select_from(Target)
        .where(Target.job_id == job_id, Target.stage == st, Target.status == TS.FAILED)) or 0)
        for st in stages}
    total = sum(counts.values())
    rows: list[Any] = []
    skip = max(0, offset)
    for st in stages:
        if len(rows) >= limit:
            break
        if skip >= counts[st]:
            skip -= counts[st]
            continue
        rows += session.execute(
            select(Target.id, Target.stage, Target.key, Target.file_id, File.name,
                   Target.attempts, Target.error, Target.worker, Target.finished_at)
            .outerjoin(File, File.id == Target.file_id)
            .where(Target.job_id == job_id, Target.stage == st, Target.status == TS.FAILED)
            .order_by(Target.id).offset(skip).limit(limit - len(rows))
        ).all()
        skip = 0
    ids = [r[0] for r in rows]
    tracebacks: dict[int, str | None] = {}
    if ids:
        for target_id, tb in session.execute(
            select(TaskRun.target_id, TaskRun.traceback)
            .where(TaskRun.target_id.in_(ids), TaskRun.status == TS.FAILED)
            .order_by(TaskRun.id.desc())
        ):
            tracebacks.setdefault(target_id, tb)
    return total, [
        FailureDetail(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tracebacks.get(r[0]), r[7], r[8])
        for r in rows
    ]


def failed_target_ids(session: Session, job_id: int, stage: str | None = None) -> list[int]:
    """Ids of the job's failed targets (of one stage when given)."""
    stmt = select(Target.id).where(Target.job_id == job_id, Target.status == TS.FAILED)
    if stage is not None:
        stmt = stmt.where(Target.stage == stage)
    return list(session.scalars(stmt.order_by(Target.id)))


def target_states(session: Session, job_id: int, ids: Sequence[int]) -> dict[int, str]:
    """The status of each of these targets of the job (ids of other jobs are left out)."""
    if not ids:
        return {}
    return dict(session.execute(
        select(Target.id, Target.status).where(Target.job_id == job_id, Target.id.in_(ids))
    ).all())


@dataclass(frozen=True)
class TargetInfo:
    """What a target is, for showing what a worker runs: job, stage, key and file."""

    target_id: int
    job_id: int
    job: str
    stage: str
    key: str
    file: str | None
    status: str


def targets_info(session: Session, ids: Sequence[int]) -> dict[int, TargetInfo]:
    """Each of these targets' job, stage, key and file name (unknown ids are left out)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Target.id, Target.job_id, Job.name, Target.stage, Target.key, File.name,
               Target.status)
        .join(Job, Job.id == Target.job_id)
        .outerjoin(File, File.id == Target.file_id)
        .where(Target.id.in_(list(ids)))
    ).all()
    return {r[0]: TargetInfo(*r) for r in rows}


def running_targets(session: Session, limit: int = 200) -> list[TargetInfo]:
    """Targets running now according to the catalog (any job), newest first."""
    rows = session.execute(
        select(Target.id, Target.job_id, Job.name, Target.stage, Target.key, File.name,
               Target.status)
        .join(Job, Job.id == Target.job_id)
        .outerjoin(File, File.id == Target.file_id)
        .where(Target.status == TS.RUNNING)
        .order_by(Target.started_at.desc()).limit(limit)
    ).all()
    return [TargetInfo(*r) for r in rows]


def job_target_total(session: Session, job_id: int) -> int:
    """How many targets a job has."""
    return int(session.scalar(
        select(func.count()).select_from(Target).where(Target.job_id == job_id)) or 0)


def get_artifact(session: Session, artifact_id: int) -> ArtifactRecord:
    """One artifact by id; NotFoundError when there is none."""
    row = session.execute(
        select(Artifact, Subset.name).outerjoin(Subset, Subset.id == Artifact.subset_id)
        .where(Artifact.id == artifact_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no artifact {artifact_id}")
    a, subset = row
    return ArtifactRecord(a.id, a.job_id, a.kind, a.name, a.path, subset, a.size, a.duration,
                          a.created_at, dict(a.params or {}))


@dataclass(frozen=True)
class SampleSource:
    """A sample and where its audio is: the file's path and name, and its item."""

    sample: SampleRecord
    path: str | None
    file_name: str
    file_duration: float | None
    item: str | None
    item_source: str | None


_SAMPLE = [getattr(Sample, n) for n in SampleRecord.__dataclass_fields__]


def sample_sources(session: Session, ids: Sequence[int]) -> list[SampleSource]:
    """These samples with their sources, in the order given (missing ids are left out)."""
    found: dict[int, SampleSource] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        rows = session.execute(
            select(*_SAMPLE, File.path, File.name, File.duration, Item.identifier, Item.source)
            .join(File, File.id == Sample.file_id)
            .outerjoin(Item, Item.id == File.item_id)
            .where(Sample.id.in_(chunk))
        ).all()
        width = len(_SAMPLE)
        for r in rows:
            found[r[0]] = SampleSource(SampleRecord(*r[:width]), *r[width:])
    return [found[i] for i in ids if i in found]


def sample_source(session: Session, sample_id: int) -> SampleSource:
    """One sample with its source; NotFoundError when there is none."""
    found = sample_sources(session, [sample_id])
    if not found:
        raise NotFoundError(f"no sample {sample_id}")
    return found[0]


def file_detail(session: Session, file_id: int) -> dict[str, Any]:
    """Every catalogued column of a file (probe data included) and its item's, by name."""
    row = session.execute(
        select(File, Item).outerjoin(Item, Item.id == File.item_id).where(File.id == file_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no file {file_id}")
    file, item = row
    out = {c.key: getattr(file, c.key) for c in File.__mapper__.column_attrs}
    out["item"] = None
    if item is not None:
        out["item"] = {c.key: getattr(item, c.key) for c in Item.__mapper__.column_attrs
                       if c.key != "meta"}
    return out


def file_samples(session: Session, file_id: int) -> list[SampleRecord]:
    """A file's samples by start time."""
    rows = session.execute(
        select(*_SAMPLE).where(Sample.file_id == file_id).order_by(Sample.start, Sample.id))
    return [SampleRecord(*r) for r in rows]


MAP_COLUMNS = ("sample_id", "file_id", "start", "dur", "power", "hz", "midi", "clarity",
               "tsne", "x", "y", "col", "row")


def subset_map(session: Session, job_id: int, name: str) -> dict[str, np.ndarray]:
    """A subset's members in order as column arrays (MAP_COLUMNS; NaN or -1 where the layout
    left no coordinate or cell); NotFoundError names the job's subsets."""
    subset = get_subset(session, job_id, name)
    stmt = (
        select(SubsetMember.sample_id, Sample.file_id, Sample.start, Sample.dur, Sample.power,
               Sample.hz, Sample.midi, Sample.clarity, SubsetMember.tsne, SubsetMember.x,
               SubsetMember.y, SubsetMember.col, SubsetMember.row)
        .join(Sample, Sample.id == SubsetMember.sample_id)
        .where(SubsetMember.subset_id == subset.id)
        .order_by(SubsetMember.position)
    )
    rows = session.connection().execute(stmt).all()  # Core rows: the ORM's cost ~3x at 16k
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in MAP_COLUMNS]
    out: dict[str, np.ndarray] = {}
    for name_, values in zip(MAP_COLUMNS, cols, strict=True):
        if name_ in ("sample_id", "file_id"):
            out[name_] = np.array(values, dtype=np.int64)
        elif name_ in ("col", "row"):
            out[name_] = np.array([-1 if v is None else v for v in values], dtype=np.int32)
        else:
            out[name_] = np.array([np.nan if v is None else v for v in values],
                                  dtype=np.float64)
    return out


def query_page(
    session: Session, scope: str, *, job_id: int | None = None, where: str | None = None,
    sort: str | None = None, columns: Sequence[str] | None = None, offset: int = 0,
    limit: int = 100,
) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """One page of a query in the query language (bound SQL): its column names, rows, and
    whether more rows follow. ExpressionError (with its caret) for a bad expression."""
    from db.query import build_query
    from db.query.ranking import tune_for_ranking

    names, stmt = build_query(scope, job_id=job_id, where=where or None, sort=sort or None,
                              columns=columns)
    if sort:
        tune_for_ranking(session)
    rows = [tuple(r) for r in session.execute(stmt.offset(max(0, offset)).limit(limit + 1))]
    return names, rows[:limit], len(rows) > limit


@dataclass(frozen=True)
class JobSummary:
    """A job's line in a list: its targets by status."""

    job_id: int
    total: int
    done: int
    failed: int
    running: int
    open: int

    @property
    def finished(self) -> int:
        return self.total - self.open


def job_summaries(session: Session, job_ids: Sequence[int]) -> dict[int, JobSummary]:
    """Target counts by status for each of these jobs, in one grouped query."""
    counts = status_counts(session, job_ids)
    return {
        j: JobSummary(j, sum(c.values()), c.get(TS.DONE, 0) + c.get(TS.SKIPPED, 0),
                      c.get(TS.FAILED, 0), c.get(TS.RUNNING, 0),
                      sum(c.get(s, 0) for s in TS.OPEN))
        for j, c in counts.items()
    }


def map_stamp(session: Session, job_id: int, name: str) -> str:
    """A cheap fingerprint of a subset's members and layout (sums over its rows), so a cached
    map is never served after the members or their coordinates change."""
    subset = get_subset(session, job_id, name)
    row = session.execute(
        select(func.count(), func.sum(SubsetMember.sample_id), func.sum(SubsetMember.x),
               func.sum(SubsetMember.y), func.sum(SubsetMember.col), func.sum(SubsetMember.row),
               func.sum(SubsetMember.tsne))
        .where(SubsetMember.subset_id == subset.id)
    ).one()
    return "|".join(repr(v) for v in (subset.id, subset.digest, *row))
