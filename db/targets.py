"""Catalog queries over targets: materialise them, pick work to enqueue, recover stale work,
and count progress. Every write here is a single set-based statement, so planning a job of
100,000 files is a few queries, not 100,000 round trips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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
    update,
)
from sqlalchemy.orm import Session, aliased

from core.stages import Stage
from db.models import File, Target, TargetStatus, TaskRun, utcnow


def ensure_job_targets(session: Session, job_id: int, stage: Stage, keys: Sequence[str]) -> int:
    """Create the missing targets of a job-scoped stage; returns how many were created."""
    have = set(
        session.scalars(
            select(Target.key).where(Target.job_id == job_id, Target.stage == stage.name)
        )
    )
    missing = [k for k in dict.fromkeys(keys) if k not in have]
    for key in missing:
        session.add(Target(job_id=job_id, stage=stage.name, key=key))
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


def take_pending(session: Session, job_id: int, stage: str, limit: int) -> list[int]:
    """Mark up to `limit` due pending targets queued and return their ids (oldest first)."""
    if limit <= 0:
        return []
    now = utcnow()
    ids = list(
        session.scalars(
            select(Target.id)
            .where(
                Target.job_id == job_id,
                Target.stage == stage,
                Target.status == TargetStatus.PENDING,
                or_(Target.not_before.is_(None), Target.not_before <= now),
            )
            .order_by(Target.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            update(Target)
            .where(Target.id.in_(ids), Target.status == TargetStatus.PENDING)
            .values(status=TargetStatus.QUEUED, queued_at=now)
        )
    return ids


def target_keys(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The key of each target id."""
    return dict(session.execute(select(Target.id, Target.key).where(Target.id.in_(ids))).all())


def release(session: Session, ids: Sequence[int]) -> None:
    """Put queued targets back to pending (their message could not be sent)."""
    if ids:
        session.execute(
            update(Target)
            .where(Target.id.in_(ids), Target.status == TargetStatus.QUEUED)
            .values(status=TargetStatus.PENDING, queued_at=None)
        )


def recover_stale(
    session: Session, *, lease_seconds: float, max_attempts: int, job_ids: Sequence[int]
) -> int:
    """Running targets whose heartbeat stopped go back to pending, or fail after the last try."""
    if not job_ids:
        return 0
    cutoff = utcnow() - timedelta(seconds=lease_seconds)
    stale = and_(
        Target.job_id.in_(job_ids),
        Target.status == TargetStatus.RUNNING,
        Target.heartbeat_at < cutoff,
    )
    lost_tokens = select(Target.run_token).where(stale).scalar_subquery()
    session.execute(
        update(TaskRun)
        .where(TaskRun.run_token.in_(lost_tokens), TaskRun.status == TargetStatus.RUNNING)
        .values(status="lost", finished_at=utcnow(), error="worker lost (no heartbeat)")
        .execution_options(synchronize_session=False)
    )
    failed = session.execute(
        update(Target)
        .where(stale, Target.attempts >= max_attempts)
        .values(
            status=TargetStatus.FAILED,
            finished_at=utcnow(),
            error="worker lost or timed out on every attempt (no heartbeat)",
        )
    )
    retried = session.execute(
        update(Target)
        .where(stale)
        .values(status=TargetStatus.PENDING, queued_at=None, error="worker lost; retrying")
    )
    return int((failed.rowcount or 0) + (retried.rowcount or 0))


def resend_due(session: Session, *, job_id: int, stage: str, older_than: float) -> list[int]:
    """Queued targets not started for `older_than` seconds: their message may be lost."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    ids = list(
        session.scalars(
            select(Target.id).where(
                Target.job_id == job_id,
                Target.stage == stage,
                Target.status == TargetStatus.QUEUED,
                Target.queued_at < cutoff,
            )
        )
    )
    if ids:
        session.execute(update(Target).where(Target.id.in_(ids)).values(queued_at=utcnow()))
    return ids


def reset_in_flight(session: Session, job_id: int) -> int:
    """Queued and running targets back to pending (their private broker is gone)."""
    result = session.execute(
        update(Target)
        .where(
            Target.job_id == job_id,
            Target.status.in_([TargetStatus.QUEUED, TargetStatus.RUNNING]),
        )
        .values(status=TargetStatus.PENDING, queued_at=None, run_token=None)
    )
    session.execute(
        update(TaskRun)
        .where(TaskRun.job_id == job_id, TaskRun.status == TargetStatus.RUNNING)
        .values(status="lost", finished_at=utcnow(), error="run interrupted")
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class StageCounts:
    """Progress of one stage of one job."""

    stage: str
    total: int
    pending: int
    queued: int
    running: int
    done: int
    failed: int
    skipped: int
    rate: float
    eta_seconds: float | None

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


def file_stage_total(session: Session, job_id: int, stage: Stage) -> int:
    """How many files the stage applies to (known once the source has run)."""
    conditions = [File.job_id == job_id]
    applies = stage.applies_to(File)
    if applies is not None:
        conditions.append(applies)
    return int(session.scalar(select(func.count()).select_from(File).where(*conditions)) or 0)


def stage_counts(
    session: Session, job_id: int, stage: Stage, *, window_seconds: float = 120.0
) -> StageCounts:
    """Counts per status, the recent completion rate and an ETA for one stage."""
    rows = dict(
        session.execute(
            select(Target.status, func.count())
            .where(Target.job_id == job_id, Target.stage == stage.name)
            .group_by(Target.status)
        ).all()
    )
    created = sum(rows.values())
    total = file_stage_total(session, job_id, stage) if stage.scope == "file" else created
    total = max(total, created)
    not_created = total - created
    since: datetime = utcnow() - timedelta(seconds=window_seconds)
    recent = int(
        session.scalar(
            select(func.count())
            .select_from(Target)
            .where(
                Target.job_id == job_id,
                Target.stage == stage.name,
                Target.status == TargetStatus.DONE,
                Target.finished_at >= since,
            )
        )
        or 0
    )
    first = session.scalar(
        select(func.min(Target.started_at)).where(
            Target.job_id == job_id, Target.stage == stage.name, Target.started_at >= since
        )
    )
    span = max(1.0, (utcnow() - first).total_seconds()) if first is not None else window_seconds
    rate = recent / span if recent else 0.0
    pending = rows.get(TargetStatus.PENDING, 0) + not_created
    remaining = pending + rows.get(TargetStatus.QUEUED, 0) + rows.get(TargetStatus.RUNNING, 0)
    return StageCounts(
        stage=stage.name,
        total=total,
        pending=pending,
        queued=rows.get(TargetStatus.QUEUED, 0),
        running=rows.get(TargetStatus.RUNNING, 0),
        done=rows.get(TargetStatus.DONE, 0),
        failed=rows.get(TargetStatus.FAILED, 0),
        skipped=rows.get(TargetStatus.SKIPPED, 0),
        rate=rate,
        eta_seconds=(remaining / rate) if rate > 0 else None,
    )


def failures(session: Session, job_id: int) -> list[tuple[Target, File | None]]:
    """Every failed target of a job with its file, in stage order."""
    file_alias = aliased(File)
    return [
        (t, f)
        for t, f in session.execute(
            select(Target, file_alias)
            .outerjoin(file_alias, file_alias.id == Target.file_id)
            .where(Target.job_id == job_id, Target.status == TargetStatus.FAILED)
            .order_by(Target.stage, Target.id)
        ).all()
    ]

