"""The web page's actions on jobs, each one transaction through db.state (the one owner of
target and job state): retry failed targets, cancel, resume."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.errors import NotFoundError
from db import state
from db.models import JobStatus
from db.read import get_job
from db.read.web import failed_target_ids


def retry(session: Session, job_id: int, *, stage: str | None = None,
          target_id: int | None = None) -> int:
    """Failed targets of the job (one stage, or one target) back to pending as if new, and the
    job active again so a scheduler runs them; returns how many were re-queued."""
    get_job(session, job_id)
    ids = failed_target_ids(session, job_id, stage)
    if target_id is not None:
        if target_id not in ids:
            raise NotFoundError(f"job {job_id} has no failed target {target_id}")
        ids = [target_id]
    if not ids:
        return 0
    count = state.restart_targets(session, ids)
    state.reactivate(session, job_id)
    return count


def cancel(session: Session, job_id: int) -> bool:
    """Stop scheduling an active job; False when it was not active."""
    get_job(session, job_id)
    return state.cancel(session, job_id)


def resume(session: Session, job_id: int) -> bool:
    """Make a cancelled job active again; False when it was not cancelled."""
    job = get_job(session, job_id)
    if job.status != JobStatus.CANCELLED:
        return False
    return state.reactivate(session, job_id)
