"""Attempts a catalog outage cut short, written into `task_runs` once the catalog answers again.

When PostgreSQL crashes or restarts, every connection drops. A claim, a commit or a failure
being written at that moment is rolled back, and a claim committed without waiting for its WAL
flush (`db.state._async_commit`) can be forgotten by the restarted server altogether. The
attempt then leaves no `task_runs` row (or one left `running` until its lease runs out and the
scheduler calls it a lost worker), so the outage would be invisible in the run history even
though it threw work away.

A worker process notes each catalog connection it sees dropped or refused (`install` hooks
SQLAlchemy's `handle_error` event; `CutWatch` keeps the note per process). After a task that
met such an error, `record_cut` makes sure every target the task was given has a row of this
attempt that says so: a row still open (`running`) is closed `interrupted` with the catalog
error, a missing one is written `interrupted`, and one the lease recovery already called lost
for want of a heartbeat stays lost with the catalog error added. Rows that ended otherwise
(done, failed, deferred) are left as they are. Only `task_runs` is written here,
never a target's state (that stays with `db.state` and the lease recovery).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, event, exc, insert, select, update
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session

from db.models import Target, TaskRun, utcnow
from db.state import NO_HEARTBEAT

INTERRUPTED = "interrupted"  # TaskRun status of an attempt a catalog outage cut short
CATALOG_ERRORS = (exc.OperationalError, exc.InterfaceError)


class CutWatch:
    """This process's note of the catalog errors met since the current task began."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.since: datetime = utcnow()
        self.error: str | None = None

    def begin(self) -> datetime:
        """A task starts: forget older errors; returns the task's start (catalog time)."""
        with self._lock:
            self.since, self.error = utcnow(), None
            return self.since

    def note(self, error: BaseException) -> None:
        """A catalog connection dropped or was refused (any thread of this process)."""
        with self._lock:
            if self.error is None:
                self.error = describe(error)

    def met(self) -> str | None:
        """The first catalog error met since the task began, or None."""
        with self._lock:
            return self.error


WATCH = CutWatch()
_installed = False


def describe(error: BaseException) -> str:
    """One line for a catalog error: its class and the first line of its message."""
    inner = getattr(error, "orig", None) or error
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first}"[:300]


def is_catalog_error(error: BaseException | None) -> bool:
    """Whether `error` (or its cause) is a dropped or refused catalog connection."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, CATALOG_ERRORS):
            return True
        error = error.__cause__ or error.__context__
    return False


def _on_error(context: ExceptionContext) -> None:
    """SQLAlchemy's handle_error hook: note dropped or refused server connections (SQLite's
    'database is locked' is an OperationalError too, but no outage: it is left out)."""
    dialect = getattr(context, "dialect", None)
    if dialect is not None and dialect.name == "sqlite":
        return
    if context.is_disconnect or isinstance(context.sqlalchemy_exception, CATALOG_ERRORS):
        WATCH.note(context.original_exception)


def install() -> None:
    """Watch every engine of this process for catalog connection errors (once)."""
    global _installed
    if not _installed:
        event.listen(Engine, "handle_error", _on_error)
        _installed = True


def record_cut(
    session: Session, target_ids: Sequence[int], *, worker: str, since: datetime, error: str
) -> int:
    """Make sure each of these targets has a closed row for this worker's attempt started at or
    after `since` that names `error`: a running one becomes `interrupted`, a missing one is
    written `interrupted`, one called lost for want of a heartbeat gets the error added.
    Returns the rows closed, annotated or written."""
    ids = list(dict.fromkeys(int(t) for t in target_ids))
    if not ids:
        return 0
    now = utcnow()
    rows = session.execute(
        select(TaskRun.id, TaskRun.target_id, TaskRun.status, TaskRun.error).where(
            TaskRun.target_id.in_(ids), TaskRun.worker == worker, TaskRun.started_at >= since)
    ).all()
    open_ids = [r.id for r in rows if r.status == "running"]
    if open_ids:
        session.execute(
            update(TaskRun).where(TaskRun.id.in_(open_ids))
            .values(status=INTERRUPTED, finished_at=now, error=error)
        )
    # the lease recovery called it lost first: it stays lost (its lease did run out), and its
    # error says why the worker went quiet
    lost_ids = [r.id for r in rows if r.status == "lost" and r.error == NO_HEARTBEAT]
    if lost_ids:
        session.execute(
            update(TaskRun).where(TaskRun.id.in_(lost_ids))
            .values(error=f"{NO_HEARTBEAT}; {error}")
        )
    have = {r.target_id for r in rows}
    missing = session.execute(
        select(Target.id, Target.job_id, Target.stage, Target.key, Target.attempts)
        .where(Target.id.in_([t for t in ids if t not in have]))
    ).all() if len(have) < len(ids) else []
    if missing:
        session.execute(insert(TaskRun), [
            dict(target_id=tid, job_id=job_id, stage=stage, key=key, attempt=attempts,
                 worker=worker, run_token=f"cut-{uuid.uuid4().hex[:32]}", status=INTERRUPTED,
                 started_at=since, finished_at=now, error=error)
            for tid, job_id, stage, key, attempts in missing
        ])
    return len(open_ids) + len(lost_ids) + len(missing)
