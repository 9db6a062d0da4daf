"""The one owner of target and job state: every transition is a function here taking a session.

Targets: pending → queued (take_pending) → running (claim, heartbeat) → done (complete) or
failed / back to pending (fail, defer); stale or orphaned work goes back to pending
(recover_stale, reset_in_flight, resend_due, resend_now); people retry, requeue and cancel.
Jobs: created active (create_job), finished by the scheduler (finish_job), cancelled, resumed
and reactivated by people. The worker's runner, the scheduler loop, `samplemill run`, submit,
verify and the job commands all call these; nothing else writes these columns.

Runs: every attempt at a target is a `task_runs` row keyed by its run token; a transition that
ends an attempt closes its run in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from db.bulk import delete_file_samples
from db.models import File, Job, JobStatus, Target, TargetStatus, TaskRun, utcnow

LOST = "lost"  # TaskRun status of an attempt whose worker vanished
DEFERRED = "deferred"  # TaskRun status of an attempt that handed its target back
NO_HEARTBEAT = "worker lost (no heartbeat)"  # a lost run's error, from recover_stale
RECENT_RUNS = 5000  # how far back in task_runs a stage's cost is looked for across jobs


class LeaseLost(Exception):
    """Another run took this target over; this run's results must not be written."""


# --- jobs -----------------------------------------------------------------------------------


def create_job(session: Session, *, name: str, spec: dict[str, Any], text: str = "") -> int:
    """Store a validated job spec as a new active job; returns its id."""
    job = Job(name=name, spec=spec, spec_toml=text, status=JobStatus.ACTIVE)
    session.add(job)
    session.flush()
    return job.id


def reactivate(session: Session, job_id: int) -> bool:
    """Make a job active again (its open or re-queued targets get scheduled); False if absent."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=JobStatus.ACTIVE, finished_at=None, error=None, updated_at=utcnow())
    )
    return bool(result.rowcount)


def cancel(session: Session, job_id: int) -> bool:
    """Stop scheduling an active job; False when there is no such active job."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.ACTIVE)
        .values(status=JobStatus.CANCELLED, finished_at=utcnow(), updated_at=utcnow())
    )
    return bool(result.rowcount)


def finish_job(session: Session, job_id: int, last_stage: str | None = None) -> str | None:
    """Close an active job whose stages are all finished; returns its end state (None when it
    was not active).

    done: nothing failed. partial: some targets failed, but the last stage made something.
    failed: targets failed and the last stage has nothing done (nothing usable).
    """
    failed = int(session.scalar(
        select(func.count()).select_from(Target)
        .where(Target.job_id == job_id, Target.status == TargetStatus.FAILED)
    ) or 0)
    status = JobStatus.DONE
    if failed:
        made = last_stage is None or session.scalar(
            select(Target.id).where(Target.job_id == job_id, Target.stage == last_stage,
                                    Target.status == TargetStatus.DONE).limit(1)
        ) is not None
        status = JobStatus.PARTIAL if made else JobStatus.FAILED
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.ACTIVE)
        .values(
            status=status,
            finished_at=utcnow(),
            updated_at=utcnow(),
            error=f"{failed} target(s) failed: see `samplemill failures {job_id}`"
            if failed else None,
        )
    )
    return status if result.rowcount else None


# --- a run's life: claim, beat, complete, fail, defer ----------------------------------------


@dataclass(frozen=True)
class Claim:
    """What a successful claim holds: the run's token and attempt, the target's inputs."""

    token: str
    attempt: int
    stage: str
    key: str
    job_id: int
    spec: dict[str, Any]
    file: File | None


def run_token(prefix: str, target_id: int) -> str:
    """The token of one target's run within a claim: the claim's random prefix and the target
    id (unique per run, and built the same way by SQL in `claim_many`); at most 36 characters."""
    return f"{prefix}-{target_id}"


_CLAIMABLE = [TargetStatus.PENDING, TargetStatus.QUEUED]
_RETURNED = (
    Target.id, Target.attempts, Target.stage, Target.key, Target.job_id, Target.file_id,
    select(Job.spec).where(Job.id == Target.job_id).scalar_subquery(),
)


def _async_commit(session: Session) -> None:
    """On PostgreSQL, let this transaction commit without waiting for its WAL flush.

    Only for lease bookkeeping (claims, heartbeats): if the server crashes before the flush,
    the claim or beat is lost as if it never happened (the target is queued or looks stale
    again). The WAL is one sequence, so a completion that survives the crash (see `complete`,
    which commits the same way) has its claim before it; one that does not is redone.
    Visibility to other sessions is immediate either way."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def claim_many(
    session: Session,
    target_ids: Sequence[int],
    *,
    worker: str,
    token_prefix: str,
    lease_seconds: float,
    owner_is_dead: Callable[[str | None], bool] = lambda owner: False,
) -> dict[int, Claim]:
    """Take these targets for runs of this worker in the caller's transaction; returns the
    claim of each one taken (absent: done, failed, or owned by a live run).

    Pending and queued targets (the normal case) are taken by one UPDATE … RETURNING that also
    returns each target's job spec; a running target is taken over when its heartbeat is
    older than the lease, or at once when `owner_is_dead(worker)` says its process is gone,
    and its old run is recorded lost. Each run's token is `run_token(token_prefix, id)`. The
    runs' records are opened and the files loaded in the same transaction.
    """
    if not target_ids:
        return {}
    _async_commit(session)
    now = utcnow()
    prefix = f"{token_prefix}-"
    values = dict(status=TargetStatus.RUNNING, attempts=Target.attempts + 1, started_at=now,
                  heartbeat_at=now, worker=worker, error=None,
                  run_token=literal(prefix) + cast(Target.id, String))
    rows = list(session.execute(
        update(Target)
        .where(Target.id.in_(target_ids), Target.status.in_(_CLAIMABLE))
        .values(**values)
        .returning(*_RETURNED)
        .execution_options(synchronize_session=False)
    ))
    taken = {row[0] for row in rows}
    for target_id in target_ids:
        if target_id not in taken:
            rows.extend(_take_over(session, target_id, now=now, values=values,
                                   lease_seconds=lease_seconds, owner_is_dead=owner_is_dead))
    if not rows:
        return {}
    file_ids = [row[5] for row in rows if row[5] is not None]
    files = {f.id: f for f in session.scalars(select(File).where(File.id.in_(file_ids)))} \
        if file_ids else {}
    for f in files.values():
        session.expunge(f)
    session.execute(insert(TaskRun), [
        dict(target_id=tid, job_id=job_id, stage=stage, key=key, attempt=attempts,
             worker=worker, run_token=run_token(token_prefix, tid),
             status=TargetStatus.RUNNING, started_at=now)
        for tid, attempts, stage, key, job_id, _file, _spec in rows
    ])
    return {
        tid: Claim(run_token(token_prefix, tid), attempts, stage, key, job_id, dict(spec),
                   files.get(file_id) if file_id is not None else None)
        for tid, attempts, stage, key, job_id, file_id, spec in rows
    }


def _take_over(
    session: Session, target_id: int, *, now: datetime, values: dict[str, Any],
    lease_seconds: float, owner_is_dead: Callable[[str | None], bool],
) -> list[Any]:
    """Claim a target that is not pending or queued: a running one whose lease ran out or
    whose worker is dead (its run recorded lost); [] otherwise."""
    row = session.execute(
        select(Target.status, Target.worker, Target.run_token).where(Target.id == target_id)
    ).one_or_none()
    if row is None or row[0] != TargetStatus.RUNNING:
        return []
    _status, owner, old_token = row
    if owner_is_dead(owner):
        claimable = Target.run_token == old_token
    else:
        claimable = Target.heartbeat_at < now - timedelta(seconds=lease_seconds)
    rows = list(session.execute(
        update(Target)
        .where(Target.id == target_id, Target.status == TargetStatus.RUNNING, claimable)
        .values(**values)
        .returning(*_RETURNED)
        .execution_options(synchronize_session=False)
    ))
    if rows and old_token:
        session.execute(
            update(TaskRun)
            .where(TaskRun.run_token == old_token, TaskRun.target_id == target_id,
                   TaskRun.status == TargetStatus.RUNNING)
            .values(status=LOST, finished_at=now, error=f"worker {owner} lost")
        )
    return rows


def claim(
    session: Session,
    target_id: int,
    *,
    worker: str,
    token: str,
    lease_seconds: float,
    owner_is_dead: Callable[[str | None], bool] = lambda owner: False,
) -> Claim | None:
    """Take one target for a run (see `claim_many`); None when it is done, failed or owned by
    a live run. The run's token is `run_token(token, target_id)`."""
    return claim_many(session, [target_id], worker=worker, token_prefix=token,
                      lease_seconds=lease_seconds, owner_is_dead=owner_is_dead).get(target_id)


def heartbeat(session: Session, target_id: int, token: str) -> None:
    """Keep a running target's lease fresh (a no-op once another run owns it)."""
    heartbeat_many(session, {target_id: token})


def heartbeat_many(session: Session, runs: dict[int, str]) -> int:
    """Keep the leases of these runs (target id → run token) fresh in one statement; a target
    another run owns now is left alone. Returns how many were still this process's."""
    if not runs:
        return 0
    _async_commit(session)
    result = session.execute(
        update(Target)
        .where(Target.id.in_(list(runs)), Target.run_token.in_(list(runs.values())))
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


_COMPLETE_TARGET = (
    update(Target)
    .where(Target.id == bindparam("tid"), Target.run_token == bindparam("token"),
           Target.status == TargetStatus.RUNNING)
    .values(status=TargetStatus.DONE, finished_at=bindparam("now"), error=None)
    .execution_options(synchronize_session=False)
)
_COMPLETE_RUN = (
    update(TaskRun)
    .where(TaskRun.run_token == bindparam("token"), TaskRun.target_id == bindparam("tid"))
    .values(status=TargetStatus.DONE, finished_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


# PostgreSQL: both updates and the commit mode in one round trip (see `complete`).
_COMPLETE_PG = text(
    "WITH target AS ("
    " UPDATE targets SET status = :done, finished_at = :now, error = NULL"
    " WHERE id = :tid AND run_token = :token AND status = :running RETURNING id"
    "), run AS ("
    " UPDATE task_runs SET status = :done, finished_at = :now"
    " WHERE run_token = :token AND target_id = :tid AND EXISTS (SELECT 1 FROM target)"
    ") SELECT (SELECT count(*) FROM target), set_config('synchronous_commit', 'off', true)"
).bindparams(done=TargetStatus.DONE, running=TargetStatus.RUNNING)


def complete(session: Session, target_id: int, token: str) -> None:
    """Mark the run's target done in the caller's transaction (the one writing its results);
    LeaseLost when another run owns it now, so the caller's results roll back.

    On SQLite two prebuilt statements (this runs once per target, and building them each time
    cost more than running them). On PostgreSQL one statement closes the target and its run
    and lets the transaction commit without waiting for its WAL flush
    (`synchronous_commit = off` for this transaction only). Why that is safe:

    - The catalog stays consistent. A crash loses at most the last fraction of a second of
      such commits, each whole (the WAL is replayed up to a point), never a transaction that
      depends on one: any later synchronous commit (the scheduler queueing the next stage,
      a failure, a job finished) flushes the WAL up to itself, so a completion anything else
      was built on is on disk first.
    - A lost completion loses the results with it (they are in the same transaction), and
      leaves the target `running` under this run's token, its run `running`: the scheduler's
      `recover_stale` calls it lost once the lease runs out and the target runs again (or
      fails, on its last attempt, as for a worker killed just before its commit). So it is the
      same as a worker that died after its work and before its commit, which every stage
      already survives: a handler writes its results only inside `ctx.commit()` and its
      files under atomic renames, and no stage removes anything after its commit that a
      second run would need (worker/tasks/*.py, worker/render/*/handler.py).
    - Nothing outside the catalog trusts an unflushed completion: the broker message is acked
      by then either way, and the lease, not the message, brings the target back.
    The leases' writes (claims, heartbeats) already commit this way (`_async_commit`)."""
    params = {"tid": target_id, "token": token, "now": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        if session.execute(_COMPLETE_PG, params).scalar() != 1:
            raise LeaseLost(f"target {target_id} was taken over by another run")
        return
    finished = session.execute(_COMPLETE_TARGET, params)
    if finished.rowcount != 1:
        raise LeaseLost(f"target {target_id} was taken over by another run")
    session.execute(_COMPLETE_RUN, params)


def fail(
    session: Session,
    target_id: int,
    token: str,
    *,
    error: str,
    traceback: str,
    permanent: bool,
    retry_in: float,
) -> str:
    """End a run with an error: the target fails (permanent) or waits `retry_in` seconds to be
    tried again; returns the target's new status."""
    status = TargetStatus.FAILED if permanent else TargetStatus.PENDING
    session.execute(
        update(Target)
        .where(Target.id == target_id, Target.run_token == token)
        .values(
            status=status,
            error=error,
            finished_at=utcnow() if permanent else None,
            queued_at=None,
            not_before=None if permanent else utcnow() + timedelta(seconds=retry_in),
        )
    )
    session.execute(
        update(TaskRun)
        .where(TaskRun.run_token == token)
        .values(status=TargetStatus.FAILED, finished_at=utcnow(), error=error,
                traceback=traceback)
    )
    return status


def defer(
    session: Session, target_id: int, token: str, *, seconds: float, message: str,
    max_deferrals: int,
) -> bool:
    """Hand a running target back until `seconds` from now, its attempt refunded; False (and
    nothing changed) once it was deferred `max_deferrals` times; LeaseLost if not ours."""
    now = utcnow()
    deferrals = session.scalar(
        select(func.count()).select_from(TaskRun)
        .where(TaskRun.target_id == target_id, TaskRun.status == DEFERRED)
    )
    if (deferrals or 0) >= max_deferrals:
        return False
    handed_back = session.execute(
        update(Target)
        .where(Target.id == target_id, Target.run_token == token,
               Target.status == TargetStatus.RUNNING)
        .values(status=TargetStatus.PENDING, attempts=Target.attempts - 1,
                not_before=now + timedelta(seconds=seconds), queued_at=None,
                error=f"deferred {seconds:g}s: {message}")
    )
    if handed_back.rowcount != 1:
        raise LeaseLost(f"target {target_id} was taken over by another run")
    session.execute(
        update(TaskRun).where(TaskRun.run_token == token)
        .values(status=DEFERRED, finished_at=now, error=message)
    )
    return True


# --- the scheduler's side: queue, release, resend, recover ----------------------------------


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


def release(session: Session, ids: Sequence[int]) -> None:
    """Put queued targets back to pending (their message could not be sent)."""
    if ids:
        session.execute(
            update(Target)
            .where(Target.id.in_(ids), Target.status == TargetStatus.QUEUED)
            .values(status=TargetStatus.PENDING, queued_at=None)
        )


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


def seconds_per_target(session: Session, job_id: int, stage: str, runs: int = 32) -> float | None:
    """Wall seconds one target of this stage took in its recent finished runs (this job's, or
    any job's when this one has none yet); None without history.

    Runs claimed together (same worker and start) ran one after the other, so a group counts
    its last finish minus its start, divided by its size."""
    cols = (TaskRun.worker, TaskRun.started_at, TaskRun.finished_at)
    done = and_(TaskRun.stage == stage, TaskRun.status == TargetStatus.DONE)
    rows = session.execute(
        select(*cols).where(TaskRun.job_id == job_id, done)
        .order_by(TaskRun.started_at.desc()).limit(runs)
    ).all()
    if not rows:  # only the latest runs of any job: never a scan of the whole history
        top = session.scalar(select(func.max(TaskRun.id))) or 0
        rows = session.execute(
            select(*cols).where(done, TaskRun.id > top - RECENT_RUNS)
            .order_by(TaskRun.id.desc()).limit(runs)
        ).all()
    groups: dict[tuple[str | None, datetime], tuple[datetime, int]] = {}
    for worker, started, finished in rows:
        if finished is None:
            continue
        last, n = groups.get((worker, started), (finished, 0))
        groups[(worker, started)] = (max(last, finished), n + 1)
    if not groups:
        return None
    seconds = sum((last - started).total_seconds() for (_, started), (last, _) in groups.items())
    return max(0.0, seconds) / sum(n for _, n in groups.values())


def queued_targets(
    session: Session, job_ids: Sequence[int]
) -> list[tuple[int, int, str, datetime]]:
    """(id, job id, stage, queued at) of the queued targets of these jobs (the broker should
    hold a message for each)."""
    if not job_ids:
        return []
    rows = session.execute(
        select(Target.id, Target.job_id, Target.stage, Target.queued_at).where(
            Target.job_id.in_(job_ids), Target.status == TargetStatus.QUEUED
        )
    )
    return [(i, j, s, at or utcnow()) for i, j, s, at in rows]


def resend_now(session: Session, ids: Sequence[int]) -> list[int]:
    """Of these targets, those still queued, stamped as sent again now (their message was
    lost); the caller sends them after the commit."""
    if not ids:
        return []
    still = list(
        session.scalars(
            select(Target.id).where(Target.id.in_(ids), Target.status == TargetStatus.QUEUED)
        )
    )
    if still:
        session.execute(
            update(Target)
            .where(Target.id.in_(still), Target.status == TargetStatus.QUEUED)
            .values(queued_at=utcnow())
        )
    return still


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
        .values(status=LOST, finished_at=utcnow(), error=NO_HEARTBEAT)
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
        .values(status=LOST, finished_at=utcnow(), error="run interrupted")
    )
    return int(result.rowcount or 0)


# --- people's side: requeue files, drop what depended on them --------------------------------


def restart_targets(session: Session, target_ids: Sequence[int]) -> int:
    """Targets back to pending as if new (attempts 0, no error); returns how many."""
    if not target_ids:
        return 0
    result = session.execute(
        update(Target)
        .where(Target.id.in_(target_ids))
        .values(status=TargetStatus.PENDING, attempts=0, error=None, not_before=None,
                queued_at=None, started_at=None, heartbeat_at=None, finished_at=None,
                worker=None, run_token=None)
    )
    return int(result.rowcount or 0)


def drop_targets(
    session: Session,
    job_id: int,
    *,
    file_ids: Sequence[int] = (),
    file_stages: Sequence[str] = (),
    job_stages: Sequence[str] = (),
) -> None:
    """Delete the files' targets of `file_stages` and the job's targets of `job_stages`, so the
    scheduler creates them afresh once their inputs are ready again."""
    if file_ids and file_stages:
        session.execute(
            delete(Target).where(Target.file_id.in_(file_ids), Target.stage.in_(file_stages))
        )
    if job_stages:
        session.execute(
            delete(Target).where(Target.job_id == job_id, Target.stage.in_(job_stages))
        )


def forget_file_targets(session: Session, file_ids: Sequence[int], chunk: int = 500) -> None:
    """Delete every target of these files (their content changed; everything starts over)."""
    for start in range(0, len(file_ids), chunk):
        session.execute(delete(Target).where(Target.file_id.in_(file_ids[start:start + chunk])))


# --- people's side: retry, resume, delete ---------------------------------------------------


def retry(
    session: Session, job_id: int, *, stages: Sequence[str], later_job_stages: Sequence[str]
) -> int:
    """Failed targets of `stages` back to pending as if new, the job's targets of
    `later_job_stages` dropped (they are made again from the new results) and the job active;
    returns how many targets will be tried again."""
    ids = list(session.scalars(
        select(Target.id).where(Target.job_id == job_id, Target.stage.in_(stages),
                                Target.status == TargetStatus.FAILED)
    ))
    if not ids:
        return 0
    restart_targets(session, ids)
    drop_targets(session, job_id, job_stages=later_job_stages)
    reactivate(session, job_id)
    return len(ids)


def resume(session: Session, job_id: int) -> bool:
    """A cancelled job active again (its unfinished targets are scheduled); False when the job
    is not cancelled."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.CANCELLED)
        .values(status=JobStatus.ACTIVE, finished_at=None, error=None, updated_at=utcnow())
    )
    return bool(result.rowcount)


def delete_job(session: Session, job_id: int) -> bool:
    """Delete a job and everything the catalog holds for it: items, files, samples, subsets,
    artifacts' rows, targets and runs; False when there is no such job."""
    if session.get(Job, job_id) is None:
        return False
    # Samples have no foreign key to cascade, and no index on job_id since migration 0008:
    # delete them by file (indexed), with their vectors.
    file_ids = list(session.scalars(select(File.id).where(File.job_id == job_id)))
    delete_file_samples(session, file_ids)
    session.execute(delete(TaskRun).where(TaskRun.job_id == job_id))
    session.execute(delete(Target).where(Target.job_id == job_id))
    session.execute(delete(Job).where(Job.id == job_id))  # the rest cascades
    return True
