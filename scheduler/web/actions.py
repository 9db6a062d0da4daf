"""The web page's actions on jobs, each one transaction through db.state (the one owner of
target and job state), with the CLI's meanings: retry failed targets (what they feed is made
again), cancel, resume, delete."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.orm import Session

from core.errors import NotFoundError
from core.stages import job_stages
from db import state
from db.read import get_job
from db.read.web import failed_target_ids, target_states


def _later_job_stages(spec: dict, after: int) -> list[str]:
    """Job-scoped stages after `after` (as `samplemill retry`: they are made again)."""
    return [s.name for s in job_stages(spec) if s.scope == "job" and s.order > after]


def retry(session: Session, job_id: int, *, stage: str | None = None,
          target_id: int | None = None) -> int:
    """Failed targets of the job (all, one stage's, or one) back to pending as if new, the
    job-scoped stages they feed dropped to be made again, the job active; how many."""
    spec = get_job(session, job_id).spec
    known = {s.name: s for s in job_stages(spec)}
    if stage is not None and stage not in known:
        raise NotFoundError(f"job {job_id} has no stage {stage!r}; its stages: "
                            f"{', '.join(known)}")
    if target_id is not None:
        states = target_states(session, job_id, [target_id])
        if states.get(target_id) != "failed":
            raise NotFoundError(f"job {job_id} has no failed target {target_id}")
        ids = [target_id]
        stages = [s for s in known if target_id in failed_target_ids(session, job_id, s)]
    else:
        stages = [s for s in ([stage] if stage else known)
                  if failed_target_ids(session, job_id, s)]
        if not stages:
            return 0
        later = _later_job_stages(spec, min(known[s].order for s in stages))
        return state.retry(session, job_id, stages=stages, later_job_stages=later)
    later = _later_job_stages(spec, min(known[s].order for s in stages)) if stages else []
    count = state.restart_targets(session, ids)
    state.drop_targets(session, job_id, job_stages=later)
    state.reactivate(session, job_id)
    return count


def cancel(session: Session, job_id: int) -> bool:
    """Stop scheduling an active job; False when it was not active."""
    get_job(session, job_id)
    return state.cancel(session, job_id)


def resume(session: Session, job_id: int) -> bool:
    """Make a cancelled job active again; False when it was not cancelled."""
    get_job(session, job_id)
    return state.resume(session, job_id)


def delete(session: Session, job_id: int, output_dir: Path) -> bool:
    """Delete a job's catalog rows (state.delete_job) and its outputs folder; downloaded
    media stay, as with `samplemill delete`."""
    get_job(session, job_id)
    if not state.delete_job(session, job_id):
        return False
    if output_dir.is_dir():
        shutil.rmtree(output_dir)
    return True
