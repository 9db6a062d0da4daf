"""Run targets exactly-once-in-effect: claim them, keep their leases fresh while working, commit
each one's results with its status in one transaction, and record every attempt.

Any delivery of a task can be a duplicate (Redis visibility timeout, a re-sent message, a
killed worker's re-delivery). The claim lets only one run work on a target at a time; the
run token guards the final commit, so a run that lost its lease can never overwrite a newer one.

A message may carry several target ids (the scheduler batches a stage's targets when its recent
runs were tiny): they are claimed together in one transaction and run one after the other, each
committed on its own. One heartbeat thread per worker process keeps the leases of every target
the process holds fresh, in one statement per beat.
"""

from __future__ import annotations

import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence
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
from worker.sources.disk import NO_SPACE

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def worker_id() -> str:
    """host:pid of this process (recomputed after a fork)."""
    return f"{socket.gethostname()}:{os.getpid()}"


MAX_DEFERRALS = 20  # after this many, a deferral counts as a failed attempt
MAX_DEFER_SECONDS = 6 * 3600


Handler = Callable[[TargetContext, Any], None]
"""handle(ctx, params): params is the target's entry of the job spec as its stage's model."""


def _owner_is_dead(owner: str | None) -> bool:
    """True when a run's worker process was on this host and no longer exists (or is this very
    process, which holds no such run any more: it runs one task at a time)."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not psutil.pid_exists(int(pid)) or int(pid) == os.getpid()


def claim_many(
    engine: Engine, target_ids: Sequence[int], settings: Settings
) -> dict[int, state.Claim]:
    """Take these targets for this process in one transaction; the claims of those taken (a
    target done, failed or owned by a live run is left out; one of a dead process on this host
    is taken over at once)."""
    with session_scope(engine) as session:
        return state.claim_many(session, target_ids, worker=worker_id(),
                                token_prefix=uuid.uuid4().hex[:20],
                                lease_seconds=settings.lease_seconds,
                                owner_is_dead=_owner_is_dead)


def claim(engine: Engine, target_id: int, settings: Settings) -> state.Claim | None:
    """Take one target for this run (see `claim_many`); None when it is not taken."""
    return claim_many(engine, [target_id], settings).get(target_id)


class Heartbeat:
    """This process's one heartbeat thread: every `every` seconds it refreshes, in one
    statement per catalog, the lease of every target the process holds.

    Started on first use in each process (a forked child gets its own, with nothing held);
    `hold` and `drop` register and forget runs. A beat that fails (catalog unreachable) is
    skipped; the leases then run out as a dead worker's would.
    """

    _lock = threading.Lock()
    _instance: Heartbeat | None = None

    def __init__(self, every: float) -> None:
        self.every = every
        self.pid = os.getpid()
        self._runs: dict[Engine, dict[int, str]] = {}
        self._runs_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="samplemill-heartbeat",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def of_process(cls, every: float) -> Heartbeat:
        """The heartbeat of the current process, started when absent (or inherited by fork)."""
        with cls._lock:
            beat = cls._instance
            if beat is None or beat.pid != os.getpid() or not beat._thread.is_alive():
                beat = cls._instance = cls(every)
            elif every < beat.every:
                beat.every = every
                beat._wake.set()
            return beat

    def hold(self, engine: Engine, runs: dict[int, str]) -> None:
        """Beat for these runs (target id → run token) from now on."""
        with self._runs_lock:
            self._runs.setdefault(engine, {}).update(runs)

    def drop(self, engine: Engine, target_id: int) -> None:
        """Stop beating for this target (its run ended one way or another)."""
        with self._runs_lock:
            held = self._runs.get(engine)
            if held is not None:
                held.pop(target_id, None)
                if not held:
                    del self._runs[engine]

    def held(self) -> dict[int, str]:
        """Every run this process beats for now (target id → run token)."""
        with self._runs_lock:
            return {t: tok for runs in self._runs.values() for t, tok in runs.items()}

    def beat_now(self) -> None:
        """One beat for every held run (the thread's body; tests call it directly)."""
        with self._runs_lock:
            work = [(engine, dict(runs)) for engine, runs in self._runs.items()]
        for engine, runs in work:
            try:
                with session_scope(engine) as session:
                    state.heartbeat_many(session, runs)
            except Exception:
                continue

    def _beat(self) -> None:
        while True:
            self._wake.wait(self.every)
            self._wake.clear()
            self.beat_now()


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


def _run_claimed(
    engine: Engine, settings: Settings, target_id: int, claimed: state.Claim, handler: Handler
) -> str:
    """Run the handler on one claimed target and record the outcome; returns its status."""
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
        run_token=claimed.token,
    )
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
        full = _disk_full(exc)
        if full is not None:  # space may come back (downloads, other renders): wait for it
            try:
                if _defer(engine, ctx, Deferred(settings.retry_later_seconds,
                                                f"disk full: {full}")):
                    return DEFERRED
            except LeaseLost:
                return "lease-lost"
        return _record_failure(engine, ctx, exc, settings)
    return TargetStatus.DONE


def _disk_full(exc: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT error behind exc (itself or a cause), if a full disk is what failed:
    any stage's write (a render's segment, a cache, a mix) waits for space without spending an
    attempt, as downloads do."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in NO_SPACE:
            return e
        e = e.__cause__ or e.__context__
    return None


def run_targets(target_ids: Sequence[int], handler: Handler) -> list[str]:
    """Claim these targets together, run `handler` on each claimed one in turn and record each
    outcome; returns each target's final status, in order ("skipped-duplicate" for a target
    that is done or owned by another live run).

    If the process dies part-way, the targets not yet committed stay claimed by it: a
    re-delivery of the message takes them over at once on this host, the scheduler after the
    lease anywhere; the committed ones are skipped as duplicates.
    """
    settings = get_settings()
    engine = get_engine(settings.resolved_catalog_url)
    ids = list(dict.fromkeys(int(t) for t in target_ids))
    claims = claim_many(engine, ids, settings)
    beat = Heartbeat.of_process(settings.heartbeat_seconds)
    beat.hold(engine, {t: c.token for t, c in claims.items()})
    outcome: dict[int, str] = {}
    try:
        for target_id in ids:
            claimed = claims.get(target_id)
            if claimed is None:
                outcome[target_id] = "skipped-duplicate"
                continue
            try:
                outcome[target_id] = _run_claimed(engine, settings, target_id, claimed, handler)
            finally:
                beat.drop(engine, target_id)
    finally:
        for target_id in claims:
            beat.drop(engine, target_id)
    return [outcome.get(t, "skipped-duplicate") for t in (int(t) for t in target_ids)]


def run_target(target_id: int | Sequence[int], handler: Handler) -> str:
    """Claim the target, run `handler` on it and record the outcome; returns the final status.

    Returns "skipped-duplicate" when the target is done or another live run owns it. Every
    task calls this with what its message carried: one target id, or a list of a stage's tiny
    targets (then the statuses are returned joined by commas).
    """
    if isinstance(target_id, int):
        return run_targets([target_id], handler)[0]
    return ",".join(run_targets(list(target_id), handler))
