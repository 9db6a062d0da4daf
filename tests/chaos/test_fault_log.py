"""db/fault_log.py: an attempt a catalog outage cut short gets its `task_runs` row, whatever the
outage left of it (nothing, a run still open, a run the lease recovery called lost: that one
stays lost, with the catalog error added), and rows that ended otherwise are left alone. On a
real SQLite catalog with real claims; fast, so part of the default suite (the chaos suite shows
the same on a crashed PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from db import fault_log, state
from db.engine import session_scope
from db.models import Target, TargetStatus, TaskRun, utcnow
from scheduler.submit import submit_file
from tests.pipeline_harness import catalog, configure, make_folder, write_job


def _runs(engine, target_id: int) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return [tuple(r) for r in session.execute(
            select(TaskRun.worker, TaskRun.status, TaskRun.error)
            .where(TaskRun.target_id == target_id).order_by(TaskRun.id))]


def test_cut_attempts_get_their_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    engine = catalog(settings)
    job_id = submit_file(engine, write_job(tmp_path, make_folder(tmp_path, 1)))
    with session_scope(engine) as session:
        ids = []
        for i, stage in enumerate(("s-open", "s-lost", "s-done", "s-missing", "s-other")):
            t = Target(job_id=job_id, stage=stage, key=f"k{i}", status=TargetStatus.PENDING)
            session.add(t)
            session.flush()
            ids.append(t.id)
    opened, lost, done, missing, other = ids
    since = utcnow() - timedelta(seconds=1)
    me, them = "host:1", "host:2"
    with session_scope(engine) as session:
        claims = state.claim_many(session, [opened, lost, done], worker=me, token_prefix="t1",
                                  lease_seconds=30)
        state.claim_many(session, [other], worker=them, token_prefix="t2", lease_seconds=30)
    with session_scope(engine) as session:
        state.complete(session, done, claims[done].token)
        session.execute(update(TaskRun).where(TaskRun.target_id == lost)
                        .values(status="lost", error=fault_log.NO_HEARTBEAT))

    error = "catalog connection cut (task abc): OperationalError: server closed the connection"
    with session_scope(engine) as session:
        n = fault_log.record_cut(session, ids, worker=me, since=since, error=error)
    assert n == 4  # open, lost, missing and other (written: another worker's run is not ours)
    assert _runs(engine, opened) == [(me, fault_log.INTERRUPTED, error)]
    assert _runs(engine, lost) == [(me, "lost", f"{fault_log.NO_HEARTBEAT}; {error}")]
    assert _runs(engine, done) == [(me, "done", None)]
    assert _runs(engine, missing) == [(me, fault_log.INTERRUPTED, error)]
    assert _runs(engine, other) == [(them, "running", None), (me, fault_log.INTERRUPTED, error)]
    with session_scope(engine) as session:
        tok = session.scalar(select(TaskRun.run_token).where(TaskRun.target_id == missing))
        assert tok is not None and tok.startswith("cut-") and len(tok) <= 36
        # the targets' own state is not touched here (db.state and lease recovery own it)
        assert session.scalar(select(Target.status).where(Target.id == opened)) == "running"
        # a second look finds nothing left open
        assert fault_log.record_cut(session, ids, worker=me, since=since, error=error) == 0


def test_only_server_connection_errors_are_catalog_errors() -> None:
    from sqlalchemy import exc

    cut = exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert fault_log.is_catalog_error(cut)
    try:
        try:
            raise cut
        except exc.OperationalError as inner:
            raise RuntimeError("commit failed") from inner
    except RuntimeError as outer:
        assert fault_log.is_catalog_error(outer)
    assert not fault_log.is_catalog_error(ValueError("no"))
    assert not fault_log.is_catalog_error(exc.IntegrityError("INSERT", {}, Exception("dup")))
    assert fault_log.describe(cut) == "Exception: server closed the connection"
