"""Run one target exactly-once-in-effect: claim it, beat while working, commit results with its
status in one transaction, and record the attempt.

Any delivery of a task can be a duplicate (Redis visibility timeout, a re-sent message, a
killed worker's re-delivery). The claim lets only one run work on a target at a time; the
run token guards the final commit, so a run that lost its lease can never overwrite a newer one.
"""

from __future__ import annotations

import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.errors import PermanentError
from core.settings import Settings, get_settings
from core.stages import get_stage
from db.engine import get_engine, session_scope
from db.models import File, Job, Target, TargetStatus, TaskRun, utcnow

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def worker_id() -> str:
    """host:pid of this process (recomputed after a fork)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseLost(Exception):
    """Another run took this target over; this run's results must not be written."""


class Deferred(Exception):
    """Hand the target back until `seconds` from now without spending an attempt
    (a server's Retry-After, a resource that is busy for a known time)."""

    def __init__(self, seconds: float, message: str) -> None:
        super().__init__(message)
        self.seconds = seconds


DEFERRED = "deferred"  # TaskRun status of an attempt that handed its target back
MAX_DEFERRALS = 20  # after this many, a deferral counts as a failed attempt
MAX_DEFER_SECONDS = 6 * 3600


@dataclass
class TargetContext:
    """What a stage handler gets beside its parameters: the target, its job spec and file,
    where its outputs go, and a way to commit."""

    engine: Engine
    settings: Settings
    target_id: int
    stage: str
    key: str
    job_id: int
    spec: dict[str, Any]
    file: File | None
    attempt: int
    run_token: str
    committed: bool = field(default=False)

    def output_path(self, filename: str) -> Path:
        """`<data>/output/job-N/<filename>`, its folder created."""
        folder = self.settings.job_output_dir(self.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / filename

    @contextmanager
    def commit(self) -> Iterator[Session]:
        """A transaction that writes the results and marks the target done, or neither."""
        with session_scope(self.engine) as session:
            finished = session.execute(
                update(Target)
                .where(Target.id == self.target_id, Target.run_token == self.run_token)
                .where(Target.status == TargetStatus.RUNNING)
                .values(status=TargetStatus.DONE, finished_at=utcnow(), error=None)
            )
            if finished.rowcount != 1:
                raise LeaseLost(f"target {self.target_id} was taken over by another run")
            yield session
            session.execute(
                update(TaskRun)
                .where(TaskRun.run_token == self.run_token)
                .values(status=TargetStatus.DONE, finished_at=utcnow())
            )
        self.committed = True


Handler = Callable[[TargetContext, Any], None]
"""handle(ctx, params): params is the target's entry of the job spec as its stage's model."""


def _owner_is_dead(owner: str | None) -> bool:
    """True when a run's worker process was on this host and no longer exists."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not psutil.pid_exists(int(pid)) or int(pid) == os.getpid()


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


def claim(engine: Engine, target_id: int, settings: Settings) -> Claim | None:
    """Take the target for this run; None when it is done, failed or owned by a live run.

    One transaction claims the target, opens its run record and loads the job spec and file.
    """
    token = str(uuid.uuid4())
    me = worker_id()
    now = utcnow()
    stale = now - timedelta(seconds=settings.lease_seconds)
    with session_scope(engine) as session:
        row = session.execute(
            select(Target.status, Target.worker, Target.run_token).where(Target.id == target_id)
        ).one_or_none()
        if row is None:
            return None
        status, owner, old_token = row
        claimable = or_(
            Target.status.in_([TargetStatus.PENDING, TargetStatus.QUEUED]),
            and_(Target.status == TargetStatus.RUNNING, Target.heartbeat_at < stale),
        )
        if status == TargetStatus.RUNNING and _owner_is_dead(owner):
            claimable = and_(Target.status == TargetStatus.RUNNING, Target.run_token == old_token)
        result = session.execute(
            update(Target)
            .where(Target.id == target_id, claimable)
            .values(
                status=TargetStatus.RUNNING,
                attempts=Target.attempts + 1,
                started_at=now,
                heartbeat_at=now,
                worker=me,
                run_token=token,
                error=None,
            )
        )
        if result.rowcount != 1:
            return None
        if status == TargetStatus.RUNNING and old_token:
            session.execute(
                update(TaskRun)
                .where(TaskRun.run_token == old_token, TaskRun.status == TargetStatus.RUNNING)
                .values(status="lost", finished_at=now, error=f"worker {owner} lost")
            )
        target = session.get(Target, target_id)
        assert target is not None
        job = session.get(Job, target.job_id)
        assert job is not None
        file = session.get(File, target.file_id) if target.file_id is not None else None
        if file is not None:
            session.expunge(file)
        session.add(
            TaskRun(
                target_id=target_id,
                job_id=target.job_id,
                stage=target.stage,
                key=target.key,
                attempt=target.attempts,
                worker=me,
                run_token=token,
                status=TargetStatus.RUNNING,
                started_at=now,
            )
        )
        return Claim(token, target.attempts, target.stage, target.key, target.job_id,
                     dict(job.spec), file)


class Heartbeat:
    """A daemon thread that keeps a running target's lease fresh."""

    def __init__(self, engine: Engine, target_id: int, token: str, every: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(engine, target_id, token, every), daemon=True
        )

    def _beat(self, engine: Engine, target_id: int, token: str, every: float) -> None:
        while not self._stop.wait(every):
            try:
                with session_scope(engine) as session:
                    session.execute(
                        update(Target)
                        .where(Target.id == target_id, Target.run_token == token)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _record_failure(
    engine: Engine, ctx: TargetContext, exc: BaseException, settings: Settings
) -> str:
    """Mark the attempt failed; the target goes back to pending or, at the end, to failed."""
    permanent = isinstance(exc, PermanentError) or ctx.attempt >= settings.max_attempts
    message = f"{type(exc).__name__}: {exc}"
    tb = "".join(traceback.format_exception(exc))
    backoff = min(300.0, 2.0 ** (ctx.attempt - 1))
    status = TargetStatus.FAILED if permanent else TargetStatus.PENDING
    with session_scope(engine) as session:
        session.execute(
            update(Target)
            .where(Target.id == ctx.target_id, Target.run_token == ctx.run_token)
            .values(
                status=status,
                error=message,
                finished_at=utcnow() if permanent else None,
                queued_at=None,
                not_before=None if permanent else utcnow() + timedelta(seconds=backoff),
            )
        )
        session.execute(
            update(TaskRun)
            .where(TaskRun.run_token == ctx.run_token)
            .values(status=TargetStatus.FAILED, finished_at=utcnow(), error=message, traceback=tb)
        )
    return status


def _defer(engine: Engine, ctx: TargetContext, exc: Deferred) -> bool:
    """Target back to pending until later, attempt refunded; False after MAX_DEFERRALS."""
    wait = min(MAX_DEFER_SECONDS, max(1.0, exc.seconds))
    now = utcnow()
    with session_scope(engine) as session:
        deferrals = session.scalar(
            select(func.count()).select_from(TaskRun)
            .where(TaskRun.target_id == ctx.target_id, TaskRun.status == DEFERRED)
        )
        if (deferrals or 0) >= MAX_DEFERRALS:
            return False
        handed_back = session.execute(
            update(Target)
            .where(Target.id == ctx.target_id, Target.run_token == ctx.run_token,
                   Target.status == TargetStatus.RUNNING)
            .values(status=TargetStatus.PENDING, attempts=Target.attempts - 1,
                    not_before=now + timedelta(seconds=wait), queued_at=None,
                    error=f"deferred {wait:g}s: {exc}")
        )
        if handed_back.rowcount != 1:
            raise LeaseLost(f"target {ctx.target_id} was taken over by another run")
        session.execute(
            update(TaskRun).where(TaskRun.run_token == ctx.run_token)
            .values(status=DEFERRED, finished_at=now, error=str(exc))
        )
    return True


def run_target(target_id: int, handler: Handler) -> str:
    """Claim the target, run `handler` on it and record the outcome; returns the final status.

    Returns "skipped-duplicate" when the target is done or another live run owns it.
    """
    settings = get_settings()
    engine = get_engine(settings.resolved_catalog_url)
    claimed = claim(engine, target_id, settings)
    if claimed is None:
        return "skipped-duplicate"
    token = claimed.token
    ctx = TargetContext(
        engine=engine,
        settings=settings,
        target_id=target_id,
        stage=claimed.stage,
        key=claimed.key,
        job_id=claimed.job_id,
        spec=claimed.spec,
        file=claimed.file,
        attempt=claimed.attempt,
        run_token=token,
    )
    with Heartbeat(engine, target_id, token, settings.heartbeat_seconds):
        try:
            params = get_stage(ctx.stage).params_for(ctx.spec, ctx.key)
            handler(ctx, params)
            if not ctx.committed:
                with ctx.commit():
                    pass
        except LeaseLost:
            return "lease-lost"
        except Deferred as exc:
            try:
                if _defer(engine, ctx, exc):
                    return DEFERRED
            except LeaseLost:
                return "lease-lost"
            return _record_failure(engine, ctx, exc, settings)
        except Exception as exc:
            return _record_failure(engine, ctx, exc, settings)
    return TargetStatus.DONE
