"""Submitting jobs: store a validated spec, or find the unfinished job it resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from db.engine import session_scope
from db.models import Job, JobStatus, utcnow
from scheduler.jobspec import load_spec, validate_spec


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def submit_spec(engine: Engine, spec: dict[str, Any], text: str = "") -> int:
    """Store a job (the spec is validated again) and return its id."""
    spec = validate_spec(spec)
    with session_scope(engine) as session:
        job = Job(name=spec["name"], spec=spec, spec_toml=text, status=JobStatus.ACTIVE)
        session.add(job)
        session.flush()
        return job.id


def submit_file(engine: Engine, path: Path) -> int:
    """Validate and store the job file at `path`."""
    spec, text = load_spec(path)
    return submit_spec(engine, spec, text)


def find_job(engine: Engine, spec: dict[str, Any]) -> Job | None:
    """The newest job with this exact spec, if any (what `samplemill run` resumes)."""
    with session_scope(engine) as session:
        for job in session.scalars(
            select(Job).where(Job.name == spec["name"]).order_by(Job.id.desc())
        ):
            if _same(job.spec, spec):
                session.expunge(job)
                return job
    return None


def reactivate(engine: Engine, job_id: int) -> None:
    """Make a finished job active again, so failed targets left over get another look."""
    with session_scope(engine) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=JobStatus.ACTIVE, finished_at=None, error=None, updated_at=utcnow())
        )


def cancel(engine: Engine, job_id: int) -> bool:
    """Stop scheduling a job; returns False when there is no such active job."""
    with session_scope(engine) as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.ACTIVE)
            .values(status=JobStatus.CANCELLED, finished_at=utcnow())
        )
        return bool(result.rowcount)
