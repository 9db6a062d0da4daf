"""Run targets exactly-once-in-effect: claim them, keep their leases fresh while working, commit
each one's results with its status in one transaction, and record every attempt.

Any delivery of a task can be a duplicate (Redis visibility timeout, a re-sent message, a
killed worker's re-delivery). The claim lets only one run work on a target at a time; the
run token guards the final commit, so a run that lost its lease can never overwrite a newer one.

A message may carry several target ids (the scheduler batches a stage's targets when its recent
runs were tiny): they are claimed together in one transaction and run one after the other, each
committed on its own. One heartbeat thread per worker process keeps the leases of every target
the process holds fresh, in one statement per beat.

A catalog that cannot be reached (PostgreSQL down, restarting, refusing connections) when a
task claims its targets, or when a run commits or records its outcome, does not cost the
message: in a Celery worker the task is sent again with a countdown (the
SAMPLEMILL_CATALOG_RETRY_SECONDS delay doubling up to SAMPLEMILL_CATALOG_RETRY_MAX_SECONDS,
jittered, at most SAMPLEMILL_CATALOG_RETRIES times), so the work goes on as soon as the
catalog answers instead of waiting for the scheduler's resend. No attempt is failed for it.
The retried message carries the run tokens of the runs the cut left holding their targets: the
retry takes exactly those over at once (their earlier attempt closed `interrupted`, as
db/fault_log.py records a cut attempt) and nothing else, so a target another run holds is
still skipped.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sqlite3
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import psutil
from sqlalchemy import Engine, select, update
from sqlalchemy import exc as sa_exc

from core.errors import PermanentError
from core.settings import Settings, get_settings
from core.stages import get_stage
from db import fault_log, state
from db.engine import get_engine, session_scope
from db.models import Target, TargetStatus, TaskRun, utcnow
from db.state import DEFERRED, LeaseLost
from worker.context import Deferred, TargetContext
from worker.sources.disk import NO_SPACE

log = logging.getLogger(__name__)
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
    engine: Engine, target_ids: Sequence[int], settings: Settings,
    earlier: Mapping[int, str] | None = None, cut_error: str = "",
) -> dict[int, state.Claim]:
    """Take these targets for this process in one transaction; the claims of those taken (a
    target done, failed or owned by a live run is left out; one of a dead process on this host
    is taken over at once).

    `earlier` (target id -> run token) names runs of this same message that a catalog outage
    cut (see `run_targets`): a target still held under exactly that token is taken over at once
    whatever its owner's state, and that run closed `interrupted` with `cut_error`."""
    worker, prefix = worker_id(), uuid.uuid4().hex[:20]
    with session_scope(engine) as session:
        if not earlier:
            return state.claim_many(session, target_ids, worker=worker, token_prefix=prefix,
                                    lease_seconds=settings.lease_seconds,
                                    owner_is_dead=_owner_is_dead)
        held = _hold_earlier_runs(session, target_ids, earlier, cut_error)
        if held:
            log.info("targets %s: runs cut by the catalog taken over by their retry",
                     sorted(held))
        claims: dict[int, state.Claim] = {}
        for target_id, owner in held.items():  # each row locked: its owner and token stay
            claims.update(state.claim_many(
                session, [target_id], worker=worker, token_prefix=prefix,
                lease_seconds=settings.lease_seconds,
                owner_is_dead=lambda o, owner=owner: o == owner))
        rest = [t for t in target_ids if t not in held]
        if rest:
            claims.update(state.claim_many(session, rest, worker=worker, token_prefix=prefix,
                                           lease_seconds=settings.lease_seconds,
                                           owner_is_dead=_owner_is_dead))
        return claims


def _hold_earlier_runs(
    session: Any, target_ids: Sequence[int], earlier: Mapping[int, str], cut_error: str
) -> dict[int, str | None]:
    """Of these targets, those still running under the token of this message's earlier,
    cut run, locked for this transaction (target id -> owner); those runs' records, when still
    open, are closed `interrupted` with the catalog error (as db/fault_log.py records a cut)."""
    ids = {int(t) for t in target_ids}
    wanted = {int(t): tok for t, tok in earlier.items() if int(t) in ids}
    if not wanted:
        return {}
    rows = session.execute(
        select(Target.id, Target.worker, Target.run_token)
        .where(Target.id.in_(list(wanted)), Target.status == TargetStatus.RUNNING,
               Target.run_token.in_(list(wanted.values())))
        .with_for_update()
    ).all()
    held = {tid: owner for tid, owner, token in rows if wanted.get(tid) == token}
    if held:
        session.execute(
            update(TaskRun)
            .where(TaskRun.run_token.in_([wanted[t] for t in held]),
                   TaskRun.target_id.in_(list(held)), TaskRun.status == TargetStatus.RUNNING)
            .values(status=fault_log.INTERRUPTED, finished_at=utcnow(),
                    error=cut_error or "catalog connection cut")
            .execution_options(synchronize_session=False)
        )
    return held


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


class CatalogCut(Exception):
    """A run could not reach the catalog to commit or record its outcome: nothing of it was
    written (the target stays held under its run token) and its message is to be retried."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(fault_log.describe(error))
        self.error = error


# server answers that mean "not now" rather than "wrong": connection exceptions (08),
# insufficient resources (53: too many connections, disk full, out of memory) and the
# server shutting down, crashing or starting up (57P01..57P05; not 57014, a cancelled query)
_PG_RETRY_CLASSES = ("08", "53", "57P")
_SQLITE_RETRY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (past the busy timeout)


def _dbapi_connection_errors() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = []
    try:
        import psycopg

        kinds += [psycopg.OperationalError, psycopg.InterfaceError]
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(kinds)


_DBAPI_CONNECTION_ERRORS = _dbapi_connection_errors()


def _unreachable(orig: BaseException | None) -> bool:
    """Whether a driver's OperationalError/InterfaceError says the server could not be reached
    or refused to serve now (no SQLSTATE: refused, dropped, timed out before any answer)."""
    if isinstance(orig, sqlite3.Error):
        return (getattr(orig, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_RETRY_CODES
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code is None or str(code).startswith(_PG_RETRY_CLASSES)


def catalog_unreachable(error: BaseException | None) -> bool:
    """Whether `error` (or the error it was raised from) is the catalog being unreachable: a
    refused, dropped or invalidated connection, a server shutting down or out of connections
    (SQLAlchemy OperationalError/InterfaceError or the driver's own). Integrity, programming and
    data errors are not, nor is anything raised as a PermanentError or LeaseLost: the first
    database error met down the chain decides."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, PermanentError | LeaseLost):
            return False
        if isinstance(error, sa_exc.DBAPIError):
            if error.connection_invalidated:
                return True
            return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError) \
                and _unreachable(error.orig)
        if isinstance(error, sa_exc.DisconnectionError):
            return True
        if _DBAPI_CONNECTION_ERRORS and isinstance(error, _DBAPI_CONNECTION_ERRORS):
            return _unreachable(error)
        error = error.__cause__ or error.__context__
    return False


def catalog_retry_delay(retries: int, settings: Settings) -> float:
    """Seconds before retry number `retries` + 1 of a task the catalog refused: the first
    delay doubled per retry, capped, drawn between half and all of it (jitter)."""
    delay = min(settings.catalog_retry_max_seconds,
                settings.catalog_retry_seconds * 2.0 ** min(retries, 30))
    return round(random.uniform(delay / 2, delay), 3)


EARLIER_RUNS = "samplemill_cut_runs"  # message header: the cut runs' tokens, by target id
CUT_ERROR = "samplemill_cut_error"  # message header: the catalog error that cut them


def _worker_task() -> Any | None:
    """The Celery task this runs in when a worker executes it (not called directly, not
    eager: only then can a catalog outage retry it); None otherwise."""
    from celery._state import get_current_task

    task = get_current_task()
    if task is None or task.request.called_directly or task.request.is_eager:
        return None
    return task


def _earlier_runs(task: Any | None) -> tuple[dict[int, str], str]:
    """The cut runs (target id -> run token) and error a retried message carries."""
    if task is None:
        return {}, ""
    carried = getattr(task.request, EARLIER_RUNS, None) or {}
    try:
        runs = {int(t): str(tok) for t, tok in dict(carried).items()}
    except (TypeError, ValueError):
        runs = {}
    return runs, str(getattr(task.request, CUT_ERROR, None) or "")


def _retry_later(task: Any, settings: Settings, error: BaseException,
                 runs: Mapping[int, str]) -> NoReturn:
    """Send this task's message again after the backoff delay, carrying the runs this attempt
    leaves holding their targets (raises Celery's Retry; the worker acks this delivery)."""
    retries = task.request.retries or 0
    delay = catalog_retry_delay(retries, settings)
    described = fault_log.describe(error)
    log.warning("catalog unreachable (%s): task %s[%s] retried in %.1f s (retry %d of %d)",
                described, task.name, task.request.id, delay, retries + 1,
                settings.catalog_retries)
    headers = {**(task.request.headers or {}),
               EARLIER_RUNS: {str(t): tok for t, tok in runs.items()},
               CUT_ERROR: f"catalog connection cut (task {task.request.id}): {described}"}
    raise task.retry(exc=error, countdown=delay, max_retries=settings.catalog_retries,
                     headers=headers)


def _run_claimed(
    engine: Engine, settings: Settings, target_id: int, claimed: state.Claim, handler: Handler,
    *, cut_retries: bool = False,
) -> str:
    """Run the handler on one claimed target and record the outcome; returns its status.

    With `cut_retries`, a catalog that cannot be reached (by the handler, its commit or the
    outcome's record) raises CatalogCut instead of spending the attempt."""
    if not cut_retries:
        return _run_and_record(engine, settings, target_id, claimed, handler, False)
    try:
        return _run_and_record(engine, settings, target_id, claimed, handler, True)
    except CatalogCut:
        raise
    except Exception as exc:
        if catalog_unreachable(exc):
            raise CatalogCut(exc) from exc
        raise


def _run_and_record(
    engine: Engine, settings: Settings, target_id: int, claimed: state.Claim, handler: Handler,
    cut_retries: bool,
) -> str:
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
        if cut_retries and catalog_unreachable(exc):
            raise CatalogCut(exc) from exc
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

    In a Celery worker, a catalog that cannot be reached while claiming, committing or
    recording an outcome retries the whole message after a backoff (Celery's Retry is
    raised): the targets committed before are skipped by the retry as duplicates, the ones
    this attempt still holds are taken over by it at once (their run tokens travel with the
    message). Outside a worker, or once SAMPLEMILL_CATALOG_RETRIES are spent, the error is
    raised (or the attempt recorded failed) as before.
    """
    settings = get_settings()
    task = _worker_task()
    earlier, cut_error = _earlier_runs(task)  # a retry's own cut runs, even on its last try
    if task is not None and (task.request.retries or 0) >= settings.catalog_retries:
        task = None  # retries spent: fail as before
    ids = list(dict.fromkeys(int(t) for t in target_ids))
    try:
        engine = get_engine(settings.resolved_catalog_url)
        claims = claim_many(engine, ids, settings, earlier, cut_error)
    except Exception as exc:
        if task is None or not catalog_unreachable(exc):
            raise
        _retry_later(task, settings, exc, earlier)  # nothing taken: the same runs still held
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
                outcome[target_id] = _run_claimed(engine, settings, target_id, claimed, handler,
                                                  cut_retries=task is not None)
            except CatalogCut as cut:
                # this target's run and those not started yet still hold their targets
                held = {t: c.token for t, c in claims.items() if t not in outcome}
                _retry_later(task, settings, cut.error, held)
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
