"""Catalog queries over targets: materialise them and count them. Every write here is a single
set-based statement, so planning a job of 100,000 files is a few queries, not 100,000 round
trips. Changes of a target's state are in db/state.py."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from core.stages import Stage
from db.models import File, Job, JobStatus, Target, TargetStatus, utcnow


def active_jobs(session: Session, job_ids: Sequence[int] | None = None) -> list[tuple[int, dict]]:
    """(id, spec) of every active job, or of those among `job_ids`, oldest first."""
    query = select(Job.id, Job.spec).where(Job.status == JobStatus.ACTIVE).order_by(Job.id)
    if job_ids is not None:
        query = query.where(Job.id.in_(job_ids))
    return [(job_id, dict(spec)) for job_id, spec in session.execute(query)]


def ensure_job_targets(session: Session, job_id: int, stage: Stage, keys: Sequence[str]) -> int:
    """Create the missing targets of a job-scoped stage; returns how many were created.

    `keys` come from the job spec; a stage with `derived_keys` adds the keys the catalog
    gives it now (each with the file its target works on, or none), e.g. a planned render's
    chunks. Keys that exist already are left alone, so asking every pass is harmless.
    """
    wanted: dict[str, int | None] = dict.fromkeys(keys)
    if stage.derived_keys is not None:
        spec = session.scalar(select(Job.spec).where(Job.id == job_id)) or {}
        for key, file_id in stage.derived_keys(session, job_id, dict(spec)):
            wanted.setdefault(key, file_id)
    if not wanted:
        return 0
    have = set(
        session.scalars(
            select(Target.key).where(Target.job_id == job_id, Target.stage == stage.name)
        )
    )
    missing = [k for k in wanted if k not in have]
    for key in missing:
        session.add(Target(job_id=job_id, stage=stage.name, key=key, file_id=wanted[key]))
    session.flush()
    return len(missing)


def materialise_file_targets(
    session: Session, job_id: int, stage: Stage, earlier: Sequence[Stage]
) -> int:
    """Create targets for the files that are ready for `stage`.

    A file is ready when, for every earlier file stage, that stage does not apply to it or its
    target is done. Files matching the stage's `skip_when` get a target born skipped.
    """
    have = session.scalar(
        select(func.count()).select_from(Target)
        .where(Target.job_id == job_id, Target.stage == stage.name)
    )
    if have and have >= file_stage_total(session, job_id, stage):
        return 0  # every file has its target: skip the anti-join (most ticks of a big job)
    conditions = [File.job_id == job_id]
    applies = stage.applies_to(File)
    if applies is not None:
        conditions.append(applies)
    for prev in earlier:
        done = exists().where(
            Target.file_id == File.id,
            Target.stage == prev.name,
            Target.status == TargetStatus.DONE,
        )
        prev_applies = prev.applies_to(File)
        conditions.append(or_(not_(prev_applies), done) if prev_applies is not None else done)
    conditions.append(
        not_(exists().where(Target.file_id == File.id, Target.stage == stage.name))
    )
    skip = stage.skip_when(File)
    status = (
        case((skip, literal(TargetStatus.SKIPPED)), else_=literal(TargetStatus.PENDING))
        if skip is not None
        else literal(TargetStatus.PENDING)
    )
    finished = case((skip, literal(utcnow())), else_=None) if skip is not None else None
    source = select(
        File.job_id,
        literal(stage.name),
        cast(File.id, String),
        File.id,
        status,
        literal(0),
        finished if finished is not None else literal(None),
    ).where(and_(*conditions))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # Right after a bulk insert the statistics are stale and PostgreSQL picks a nested-loop
        # anti-join that rescans its own inserts: quadratic, 50 s for 100,000 files.
        session.execute(text("SET LOCAL enable_nestloop = off"))
    result = session.execute(
        insert(Target)
        .from_select(
            ["job_id", "stage", "key", "file_id", "status", "attempts", "finished_at"], source
        )
        .returning(Target.id)
    )
    created = len(result.all())  # rowcount is -1 for INSERT ... SELECT on psycopg
    if postgres:
        session.execute(text("SET LOCAL enable_nestloop TO DEFAULT"))
    return created


def count_targets(
    session: Session, job_id: int, stages: Sequence[str], statuses: Sequence[str]
) -> int:
    """How many targets of these stages are in one of these statuses."""
    if not stages:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(Target)
            .where(
                Target.job_id == job_id,
                Target.stage.in_(stages),
                Target.status.in_(statuses),
            )
        )
        or 0
    )


def open_count(session: Session, job_id: int, stage: str) -> int:
    """Targets of a stage still pending, queued or running."""
    return count_targets(session, job_id, [stage], TargetStatus.OPEN)


def in_flight(session: Session, job_id: int, stages: Sequence[str]) -> int:
    """Targets of these stages queued or running (what backpressure counts)."""
    return count_targets(session, job_id, stages, [TargetStatus.QUEUED, TargetStatus.RUNNING])


def target_keys(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The key of each target id."""
    return dict(session.execute(select(Target.id, Target.key).where(Target.id.in_(ids))).all())


def file_stage_total(session: Session, job_id: int, stage: Stage) -> int:
    """How many files the stage applies to (known once the source has run)."""
    conditions = [File.job_id == job_id]
    applies = stage.applies_to(File)
    if applies is not None:
        conditions.append(applies)
    return int(session.scalar(select(func.count()).select_from(File).where(*conditions)) or 0)
