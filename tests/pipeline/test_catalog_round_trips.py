"""The PostgreSQL commit path of a tiny target, with fewer round trips (issue 17 §3): pooled
connections are checked without a ping and still replaced when the server closed them; a
completion closes the target and its run in one statement and commits without waiting for its
WAL flush, in that transaction only; a refused completion changes nothing.

Real PostgreSQL, real runner; a connection is cut by the server (pg_terminate_backend), as a
restart or an idle timeout would.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url

from db import state
from db.engine import session_scope
from db.models import Target, TargetStatus, TaskRun
from tests.pipeline.test_claiming import _ready_job
from tests.pipeline_harness import catalog, configure
from tests.pipeline_stages import handle as fake_handle
from tests.services import POSTGRES_URL
from worker.tasks.runner import claim, run_target

pytestmark = pytest.mark.postgres


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _cut_connections(url: str) -> int:
    """End every server process of the catalog's database (as a restart would) and wait until
    they are gone; returns how many there were."""
    name = make_url(url).database
    admin = create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            ended = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name}).scalar_one()
            deadline = time.monotonic() + 10
            while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n"),
                               {"n": name}).scalar_one():
                assert time.monotonic() < deadline, "the backends did not end"
                time.sleep(0.05)
    finally:
        admin.dispose()
    return int(ended)


def test_pooled_connections_are_reused_without_a_ping_and_replaced_once_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """A healthy pooled connection is handed out again with no ping; after the server ended
    every connection, the next checkout gets a new one instead of an error, and a target runs
    through the real runner on the replaced pool."""
    settings = configure(monkeypatch, tmp_path, catalog_url=postgres_url)
    engine = catalog(settings)
    _, ids = _ready_job(settings, tmp_path, 3, "cut")

    pings: list[int] = []
    connects: list[int] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping",
                        lambda conn: pings.append(1) or ping(conn))  # counts, still pings
    event.listen(engine, "connect", lambda *_: connects.append(1))
    before = {_backend_pid(engine) for _ in range(4)}
    assert run_target(ids[0], fake_handle) == TargetStatus.DONE
    assert connects == [], "a healthy pooled connection was replaced"
    assert pings == [], "a round trip to ping the server before each checkout"

    assert _cut_connections(postgres_url) >= 1
    assert _backend_pid(engine) not in before  # no OperationalError: the dead one was replaced
    assert connects
    _cut_connections(postgres_url)
    assert run_target(ids[1], fake_handle) == TargetStatus.DONE
    with session_scope(engine) as session:
        assert session.get(Target, ids[1]).status == TargetStatus.DONE  # type: ignore[union-attr]


def test_completion_is_one_statement_committed_without_waiting_for_the_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """complete() closes the target and its run in one statement, sets synchronous_commit off
    for its own transaction only, and when the run lost its lease raises LeaseLost with
    neither row changed."""
    settings = configure(monkeypatch, tmp_path, catalog_url=postgres_url)
    engine = catalog(settings)
    _, ids = _ready_job(settings, tmp_path, 2, "complete")
    ours = claim(engine, ids[0], settings)
    assert ours is not None

    statements: list[str] = []
    with engine.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "on"
    with session_scope(engine) as session:
        session.connection()  # checked out first, so only complete()'s statement is counted

        def note(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", note)
        try:
            state.complete(session, ids[0], ours.token)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        assert session.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
    assert len(statements) == 1
    with engine.connect() as conn:  # the setting was the transaction's alone
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "on"
    with session_scope(engine) as session:
        assert session.get(Target, ids[0]).status == TargetStatus.DONE  # type: ignore[union-attr]
        assert session.scalar(select(TaskRun.status).where(
            TaskRun.run_token == ours.token)) == TargetStatus.DONE

    theirs = claim(engine, ids[1], settings)
    assert theirs is not None
    with pytest.raises(state.LeaseLost), session_scope(engine) as session:
        state.complete(session, ids[1], theirs.token + "-stale")  # not this target's run
    with session_scope(engine) as session:
        assert session.get(Target, ids[1]).status == TargetStatus.RUNNING  # type: ignore[union-attr]
        assert session.scalar(select(TaskRun.status).where(
            TaskRun.run_token == theirs.token)) == TargetStatus.RUNNING
