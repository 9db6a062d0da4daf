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
from collections.abc import Callable
from typing import Any

import psutil
from sqlalchemy import Engine

from core.errors import PermanentError
from core.settings import Settings, get_settings
from core.stages import get_stage
from db import state
from db.engine import get_engine, session_scope
from db.models import TargetStatus
from db.state import DEFERRED, LeaseLost
from worker.context import Deferred, TargetContext

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def worker_id() -> str:
    """host:pid of this process (recomputed after a fork)."""
    return f"{socket.gethostname()}:{os.getpid()}"


MAX_DEFERRALS = 20  # after this many, a deferral counts as a failed attempt
MAX_DEFER_SECONDS = 6 * 3600


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


def claim(engine: Engine, target_id: int, settings: Settings) -> state.Claim | None:
    """Take the target for this run in one transaction; None when it is done, failed or owned
    by a live run (a run of a dead process on this host is taken over at once)."""
    with session_scope(engine) as session:
        return state.claim(session, target_id, worker=worker_id(), token=str(uuid.uuid4()),
                           lease_seconds=settings.lease_seconds, owner_is_dead=_owner_is_dead)


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
                    state.heartbeat(session, target_id, token)
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
    """Mark the attempt failed; the target goes back to pending or, at the end, to failed.
    A PermanentError (a ConfigError too: bad parameters, bad expressions) fails it at once."""
    with session_scope(engine) as session:
        return state.fail(
            session, ctx.target_id, ctx.run_token,
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
            permanent=isinstance(exc, PermanentError) or ctx.attempt >= settings.max_attempts,
            retry_in=min(300.0, 2.0 ** (ctx.attempt - 1)),
        )


def _defer(engine: Engine, ctx: TargetContext, exc: Deferred) -> bool:
    """Target back to pending until later, attempt refunded; False after MAX_DEFERRALS."""
    with session_scope(engine) as session:
        return state.defer(session, ctx.target_id, ctx.run_token,
                           seconds=min(MAX_DEFER_SECONDS, max(1.0, exc.seconds)),
                           message=str(exc), max_deferrals=MAX_DEFERRALS)


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
