"""Jobs as people see them: the list, one job with each stage's progress, its failures and the
artifacts it left."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from core.errors import NotFoundError
from core.stages import Stage, job_stages
from db.models import Artifact, File, Job, JobStatus, Subset, Target, TargetStatus, utcnow
from db.targets import file_stage_total


@dataclass(frozen=True)
class JobRecord:
    """A job: its name, state, times and validated spec."""

    id: int
    name: str
    status: str
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    spec: dict[str, Any]


def _job_record(job: Job) -> JobRecord:
    return JobRecord(job.id, job.name, job.status, job.error, job.created_at, job.updated_at,
                     job.finished_at, dict(job.spec))


def get_job(session: Session, job_id: int) -> JobRecord:
    """One job; NotFoundError naming it when there is none."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    return _job_record(job)


def list_jobs(session: Session, *, limit: int = 50) -> list[JobRecord]:
    """The newest jobs, newest first."""
    return [_job_record(j) for j in session.scalars(select(Job).order_by(Job.id.desc())
                                                    .limit(limit))]


def jobs_named(session: Session, name: str) -> list[JobRecord]:
    """Every job of this name, newest first."""
    return [_job_record(j) for j in session.scalars(select(Job).where(Job.name == name)
                                                    .order_by(Job.id.desc()))]


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
    stale: int = 0  # "running" with a heartbeat older than the lease: its worker is gone
    blocked: int = 0  # never made, because what they need failed earlier (the job has ended)

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


def stage_counts(
    session: Session,
    job_id: int,
    stage: Stage,
    *,
    window_seconds: float = 120.0,
    lease_seconds: float | None = None,
    ended: bool = False,
) -> StageCounts:
    """Counts per status, the recent completion rate and an ETA for one stage.

    With `lease_seconds`, running targets whose heartbeat is older than that are counted as
    stale, not running (the scheduler will re-queue them); with nothing running or queued there
    is no ETA, however recent the last completions. Once the job has `ended`, a file stage's
    targets never made (an earlier stage failed for their file) are blocked, not pending.
    """
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
    # completions in the window and when the first of them started (one index range)
    recent, first = session.execute(
        select(func.count(), func.min(Target.started_at)).where(
            Target.job_id == job_id,
            Target.stage == stage.name,
            Target.status == TargetStatus.DONE,
            Target.finished_at >= since,
        )
    ).one()
    recent = int(recent or 0)
    first = max(first, since) if first is not None else None
    span = max(1.0, (utcnow() - first).total_seconds()) if first is not None else window_seconds
    rate = recent / span if recent else 0.0
    blocked = not_created if ended else 0
    pending = rows.get(TargetStatus.PENDING, 0) + not_created - blocked
    queued, running = rows.get(TargetStatus.QUEUED, 0), rows.get(TargetStatus.RUNNING, 0)
    stale = 0
    if lease_seconds is not None and running:
        stale = int(session.scalar(
            select(func.count()).select_from(Target).where(
                Target.job_id == job_id, Target.stage == stage.name,
                Target.status == TargetStatus.RUNNING,
                Target.heartbeat_at < utcnow() - timedelta(seconds=lease_seconds))
        ) or 0)
    running -= stale
    remaining = pending + queued + running + stale
    working = queued + running > 0
    return StageCounts(
        stage=stage.name,
        total=total,
        pending=pending,
        queued=queued,
        running=running,
        done=rows.get(TargetStatus.DONE, 0),
        failed=rows.get(TargetStatus.FAILED, 0),
        skipped=rows.get(TargetStatus.SKIPPED, 0),
        rate=rate,
        eta_seconds=(remaining / rate) if rate > 0 and working else None,
        stale=stale,
        blocked=blocked,
    )


@dataclass(frozen=True)
class JobProgress:
    """A job and the counts of each of its stages."""

    job_id: int
    name: str
    status: str
    stages: list[StageCounts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "name": self.name,
            "status": self.status,
            "stages": [asdict(s) for s in self.stages],
        }


def job_progress(
    session: Session, job_id: int, *, lease_seconds: float | None = None
) -> JobProgress:
    """Where one job stands, stage by stage; NotFoundError when there is no such job.
    `lease_seconds` tells running work from work whose worker is gone (see stage_counts)."""
    job = get_job(session, job_id)
    ended = job.status in JobStatus.ENDED
    counts = [stage_counts(session, job_id, stage, lease_seconds=lease_seconds, ended=ended)
              for stage in job_stages(job.spec)]
    return JobProgress(job.id, job.name, job.status, counts)


@dataclass(frozen=True)
class JobSummary:
    """One line about a job: its state, how many targets are finished, failed, and its age."""

    id: int
    name: str
    status: str
    targets: int
    finished: int
    failed: int
    created_at: datetime
    finished_at: datetime | None


def status_counts(session: Session, job_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each of these jobs' targets counted by status, in one grouped query."""
    counts: dict[int, dict[str, int]] = {j: {} for j in job_ids}
    if job_ids:
        for job_id, status, n in session.execute(
            select(Target.job_id, Target.status, func.count())
            .where(Target.job_id.in_(list(job_ids)))
            .group_by(Target.job_id, Target.status)
        ):
            counts[job_id][status] = int(n)
    return counts


def job_summaries(session: Session, *, limit: int = 50) -> list[JobSummary]:
    """The newest jobs with their target counts, newest first (two queries in all)."""
    jobs = list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))
    counts = status_counts(session, [j.id for j in jobs])
    out = []
    for j in jobs:
        c = counts[j.id]
        finished = sum(c.get(s, 0) for s in TargetStatus.FINISHED)
        out.append(JobSummary(j.id, j.name, j.status, sum(c.values()), finished,
                              c.get(TargetStatus.FAILED, 0), j.created_at, j.finished_at))
    return out


@dataclass(frozen=True)
class FailureRecord:
    """A failed target: its stage and key, the file it concerns, attempts and error."""

    stage: str
    target: str
    file: str | None
    path: str | None
    attempts: int
    error: str | None


def failures(session: Session, job_id: int) -> list[FailureRecord]:
    """Every failed target of a job with its file, in stage order; NotFoundError if no job."""
    get_job(session, job_id)
    file_alias = aliased(File)
    rows = session.execute(
        select(Target, file_alias)
        .outerjoin(file_alias, file_alias.id == Target.file_id)
        .where(Target.job_id == job_id, Target.status == TargetStatus.FAILED)
        .order_by(Target.stage, Target.id)
    ).all()
    return [FailureRecord(t.stage, t.key, f.key if f is not None else None,
                          f.path if f is not None else None, t.attempts, t.error)
            for t, f in rows]


@dataclass(frozen=True)
class ArtifactRecord:
    """A file a job left: what kind, its name and path, size, duration and what made it."""

    id: int
    job_id: int
    kind: str
    name: str
    path: str
    subset: str | None
    size: int | None
    duration: float | None
    created_at: datetime
    params: dict[str, Any]


def artifacts(session: Session, job_id: int) -> list[ArtifactRecord]:
    """A job's artifacts by kind and name; NotFoundError when there is no such job."""
    get_job(session, job_id)
    rows = session.execute(
        select(Artifact, Subset.name)
        .outerjoin(Subset, Subset.id == Artifact.subset_id)
        .where(Artifact.job_id == job_id)
        .order_by(Artifact.kind, Artifact.name)
    ).all()
    return [ArtifactRecord(a.id, a.job_id, a.kind, a.name, a.path, subset, a.size, a.duration,
                           a.created_at, dict(a.params or {}))
            for a, subset in rows]
