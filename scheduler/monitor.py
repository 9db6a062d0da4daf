"""Monitoring: per-stage progress of jobs, queue depths and workers, and failures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from celery import Celery
from sqlalchemy import Engine, select

from core.queues import QUEUES
from core.stages import job_stages
from db import targets as tq
from db.engine import session_scope
from db.models import Job


@dataclass(frozen=True)
class JobProgress:
    """A job and the counts of each of its stages."""

    job_id: int
    name: str
    status: str
    stages: list[tq.StageCounts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "name": self.name,
            "status": self.status,
            "stages": [asdict(s) for s in self.stages],
        }


def job_progress(engine: Engine, job_id: int) -> JobProgress:
    """Where one job stands, stage by stage."""
    with session_scope(engine) as session:
        job = session.get(Job, job_id)
        if job is None:
            raise LookupError(f"no job {job_id}")
        counts = [tq.stage_counts(session, job_id, stage) for stage in job_stages(job.spec)]
        return JobProgress(job.id, job.name, job.status, counts)


def all_jobs(engine: Engine, *, limit: int = 50) -> list[JobProgress]:
    """The newest jobs with their progress."""
    with session_scope(engine) as session:
        ids = list(session.scalars(select(Job.id).order_by(Job.id.desc()).limit(limit)))
    return [job_progress(engine, job_id) for job_id in ids]


def job_failures(engine: Engine, job_id: int) -> list[dict[str, Any]]:
    """Each failed target of a job with the file it concerns and its error."""
    with session_scope(engine) as session:
        return [
            {
                "stage": t.stage,
                "target": t.key,
                "file": f.key if f is not None else None,
                "path": f.path if f is not None else None,
                "attempts": t.attempts,
                "error": t.error,
            }
            for t, f in tq.failures(session, job_id)
        ]


def queue_depths(app: Celery, queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
    """Messages waiting in each queue (read straight from the broker)."""
    depths: dict[str, int] = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for queue in queues:
            try:
                depths[queue] = channel.client.llen(queue)
            except Exception:
                depths[queue] = channel.queue_declare(queue, passive=True).message_count
    return depths


def workers(app: Celery, timeout: float = 1.0) -> dict[str, list[dict[str, Any]]]:
    """Workers online and the tasks each is running."""
    active = app.control.inspect(timeout=timeout).active() or {}
    return {
        name: [{"task": t.get("name"), "args": t.get("args"), "started": t.get("time_start")}
               for t in tasks]
        for name, tasks in active.items()
    }
