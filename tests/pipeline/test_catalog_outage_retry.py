"""A task that cannot reach the catalog is retried by Celery with a backoff
(worker/tasks/runner.py), instead of failing and leaving its target `queued` with no message
until the scheduler's resend (SAMPLEMILL_REQUEUE_SECONDS, 15 minutes by default).

The end-to-end test runs a real Celery worker (two prefork children, the machine's Redis, db
SAMPLEMILL_TEST_REDIS_URL) against a private PostgreSQL it stops and starts
(tests/chaos/own_postgres.py), with no scheduler at all: the task's own message is the only way
its targets can get done. Two outages, each on a message of two targets: one cuts the first
run between its claim and its commit (the retry takes over both targets, the cut one and the
one not started, at once, although the worker process that held them is alive and the lease is
300 s), one refuses the claim itself. Each target must be done a few seconds after the catalog
answers again, once, with its samples written once, no attempt failed, and the cut attempt in
`task_runs` as `interrupted`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy import exc as sa_exc

from core.settings import Settings
from db import fault_log
from db.engine import session_scope
from db.models import File, Sample, Target, TargetStatus, TaskRun, utcnow
from scheduler.embedded import LocalWorkers
from scheduler.submit import submit_file
from tests.chaos.own_postgres import OwnPostgres, free_port
from tests.pipeline_harness import catalog, configure, make_folder, wait_for, write_job
from tests.services import redis_url_or_skip
from worker.tasks import runner

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def pg() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    server.start()
    yield server
    server.destroy()


def _files_and_targets(engine: Engine, job_id: int, folder: Path, n: int) -> list[int]:
    """Catalog `n` files of `folder` for the job and give each a queued fake_analyze target
    (what the source stage and the scheduler would have done); returns the target ids."""
    ids = []
    with session_scope(engine) as session:
        for path in sorted(folder.glob("*.txt"))[:n]:
            f = File(job_id=job_id, key=f"{job_id}/{path.name}", name=path.name, path=str(path),
                     size=path.stat().st_size)
            session.add(f)
            session.flush()
            t = Target(job_id=job_id, stage="fake_analyze", key=str(f.id), file_id=f.id,
                       status=TargetStatus.QUEUED, queued_at=utcnow())
            session.add(t)
            session.flush()
            ids.append(t.id)
    return ids


def _target(engine: Engine, target_id: int) -> tuple[str, int]:
    with session_scope(engine) as session:
        row = session.execute(select(Target.status, Target.attempts)
                              .where(Target.id == target_id)).one()
        return row[0], row[1]


def _runs(engine: Engine, target_id: int) -> list[tuple[str, str | None]]:
    with session_scope(engine) as session:
        return [(r[0], r[1]) for r in session.execute(
            select(TaskRun.status, TaskRun.error).where(TaskRun.target_id == target_id)
            .order_by(TaskRun.id))]


def _samples(engine: Engine, target_id: int) -> int:
    with session_scope(engine) as session:
        file_id = session.scalar(select(Target.file_id).where(Target.id == target_id))
        return int(session.scalar(select(func.count()).select_from(Sample)
                                  .where(Sample.file_id == file_id)) or 0)


def _status_or_down(engine: Engine, target_id: int) -> str:
    try:
        return _target(engine, target_id)[0]
    except sa_exc.DBAPIError:
        return "(catalog down)"


def _assert_done_once(engine: Engine, target_id: int, samples: int) -> list[tuple[str, str | None]]:
    status, _attempts = _target(engine, target_id)
    assert status == TargetStatus.DONE
    runs = _runs(engine, target_id)
    statuses = [s for s, _ in runs]
    assert statuses.count(TargetStatus.DONE) == 1, runs
    assert TargetStatus.FAILED not in statuses and "running" not in statuses, runs
    assert _samples(engine, target_id) == samples, "samples missing or written twice"
    return runs


@pytest.mark.redis
@pytest.mark.postgres
def test_a_catalog_outage_retries_the_task_not_the_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: OwnPostgres
) -> None:
    broker = redis_url_or_skip()  # flushed
    url = pg.create_database("outage")
    settings = configure(monkeypatch, tmp_path, catalog_url=url, broker_url=broker,
                         concurrency=2, preload="false", lease_seconds=300,
                         heartbeat_seconds=0.5)
    engine = catalog(settings)
    folder = make_folder(tmp_path, 2)
    slow_job = submit_file(engine, write_job(tmp_path, folder, "slow", samples_per_file=3,
                                             sleep_s=4.0))
    quick_job = submit_file(engine, write_job(tmp_path, folder, "quick", samples_per_file=2))
    cut = _files_and_targets(engine, slow_job, folder, 2)
    refused = _files_and_targets(engine, quick_job, folder, 2)

    from worker.app import create_app

    app = create_app()
    log = settings.data_dir / "worker.log"
    workers = LocalWorkers(settings, broker_url=broker, log_path=log)
    started = time.monotonic()
    workers.start()
    try:
        wait_for(lambda: log.exists() and "ready." in log.read_text(errors="replace"), 90,
                 "the worker to start")
        print(f"worker ready in {time.monotonic() - started:.1f} s")

        # 1. the catalog goes away while the first run works (both claimed, none committed):
        # its commit fails; the retry takes both targets over as soon as the catalog answers
        app.send_task("tests.fake_analyze", args=[cut], queue="cpu")
        wait_for(lambda: _target(engine, cut[0])[0] == TargetStatus.RUNNING, 30, "the claim")
        with engine.connect() as conn:  # the claim commits without waiting for its WAL flush
            conn.execute(text("CHECKPOINT"))  # flush it: the crash must not forget the claim
        pg.crash()
        time.sleep(4.5)  # the first handler's 4 s end while the catalog is down
        pg.start()
        back = time.monotonic()
        wait_for(lambda: _status_or_down(engine, cut[1]) == TargetStatus.DONE, 30,
                 "the cut targets done by the task's retry")
        took_cut = time.monotonic() - back
        for target in cut:
            runs = _assert_done_once(engine, target, samples=3)
            assert [s for s, _ in runs].count(fault_log.INTERRUPTED) >= 1, runs
            assert all("catalog connection cut" in (e or "") for s, e in runs if s != "done"), runs
            assert _target(engine, target)[1] == 2  # claimed, then taken over by the retry
        # the retry carried the cut runs' tokens and took their targets over by them
        assert f"targets {cut}: runs cut by the catalog taken over by their retry" \
            in log.read_text(errors="replace")

        # 2. the catalog refuses connections when the task claims: nothing taken, the task is
        # retried until the claim goes through
        seen = log.read_text(errors="replace").count("catalog unreachable")
        pg.crash()
        app.send_task("tests.fake_analyze", args=[refused], queue="cpu")
        wait_for(lambda: log.read_text(errors="replace").count("catalog unreachable") >= seen + 2,
                 30, "the refused claim's retries")
        time.sleep(1.5)
        pg.start()
        back = time.monotonic()
        wait_for(lambda: _status_or_down(engine, refused[1]) == TargetStatus.DONE, 30,
                 "the refused targets done by the task's retry")
        took_refused = time.monotonic() - back
        for target in refused:
            runs = _assert_done_once(engine, target, samples=2)
            assert [s for s, _ in runs].count(fault_log.INTERRUPTED) >= 1, runs
            assert _target(engine, target)[1] == 1, "a refused claim spent an attempt"
        text_log = log.read_text(errors="replace")
        assert "retried in" in text_log and "Retry in" in text_log
        print(f"done {took_cut:.1f} s (cut commit) and {took_refused:.1f} s (refused claim) "
              f"after the catalog came back; load {os.getloadavg()[0]:.1f}")
        assert took_cut < 30 and took_refused < 30  # the scheduler's resend is 900 s away
    finally:
        workers.stop(grace=5)
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_retry_takes_over_only_its_own_cut_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, kind: str
) -> None:
    """runner.claim_many with the tokens a retried message carries: a target still held under
    one of them by a live process is taken over at once (its run closed `interrupted`), one
    held under another token is not, and without tokens neither is."""
    url = request.getfixturevalue("pg").create_database("takeover") if kind == "postgres" \
        else None
    settings = configure(monkeypatch, tmp_path, catalog_url=url, lease_seconds=300)
    engine = catalog(settings)
    folder = make_folder(tmp_path, 2)
    job = submit_file(engine, write_job(tmp_path, folder, "takeover"))
    ours, theirs = _files_and_targets(engine, job, folder, 2)
    alive = f"{socket.gethostname()}:{os.getppid()}"  # a live process on this host, not us
    from db import state

    with session_scope(engine) as session:
        held = state.claim_many(session, [ours, theirs], worker=alive, token_prefix="cut1",
                                lease_seconds=300)
    tokens = {t: c.token for t, c in held.items()}
    assert runner.claim_many(engine, [ours, theirs], settings) == {}
    cut_error = "catalog connection cut (task t1): OperationalError: connection refused"
    claims = runner.claim_many(engine, [ours, theirs], settings,
                               {ours: tokens[ours], theirs: "cut1-somebody-else"}, cut_error)
    assert list(claims) == [ours]
    assert claims[ours].attempt == 2
    assert _runs(engine, ours) == [(fault_log.INTERRUPTED, cut_error), ("running", None)]
    assert _runs(engine, theirs) == [("running", None)]
    with session_scope(engine) as session:
        assert session.scalar(select(Target.run_token).where(Target.id == theirs)) \
            == tokens[theirs]
    engine.dispose()


@pytest.mark.postgres
def test_only_an_unreachable_catalog_is_retried(pg: OwnPostgres, tmp_path: Path) -> None:
    """Real errors: a refused connection and a server shutting down are retried; a syntax
    error, a unique violation and SQLite's missing table are not, nor a PermanentError raised
    from a refused connection."""
    from core.errors import PermanentError

    def error_of(engine: Engine, sql: str) -> BaseException:
        try:
            with engine.begin() as conn:
                conn.execute(text(sql))
        except Exception as exc:
            return exc
        raise AssertionError(f"{sql} did not fail")

    closed = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres")
    refused = error_of(closed, "SELECT 1")
    assert isinstance(refused, sa_exc.OperationalError)
    assert runner.catalog_unreachable(refused)
    try:
        try:
            raise refused
        except sa_exc.OperationalError as inner:
            raise RuntimeError("commit failed") from inner
    except RuntimeError as outer:
        assert runner.catalog_unreachable(outer)
    try:
        try:
            raise refused
        except sa_exc.OperationalError:
            raise PermanentError("gave up") from None
    except PermanentError as permanent:
        assert not runner.catalog_unreachable(permanent)

    server = create_engine(pg.admin_url)
    shutdown = error_of(server, "SELECT pg_terminate_backend(pg_backend_pid())")
    assert runner.catalog_unreachable(shutdown), shutdown
    syntax = error_of(server, "SELEC 1")
    assert isinstance(syntax, sa_exc.ProgrammingError)
    assert not runner.catalog_unreachable(syntax)
    unique = error_of(server, "CREATE TEMP TABLE u (x int primary key);"
                              " INSERT INTO u VALUES (1), (1)")
    assert isinstance(unique, sa_exc.IntegrityError)
    assert not runner.catalog_unreachable(unique)
    server.dispose()

    lite = create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    missing = error_of(lite, "SELECT * FROM nowhere")
    assert isinstance(missing, sa_exc.OperationalError)  # SQLite calls this operational too
    assert not runner.catalog_unreachable(missing)
    lite.dispose()


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    settings = Settings(catalog_retry_seconds=1.0, catalog_retry_max_seconds=60.0)
    for retries, full in [(0, 1), (1, 2), (2, 4), (5, 32), (6, 60), (12, 60), (40, 60)]:
        delays = [runner.catalog_retry_delay(retries, settings) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays), (retries, delays)
        assert len(set(delays)) > 1  # jittered: workers cut together do not return together


@pytest.mark.postgres
def test_spent_retries_fail_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: OwnPostgres
) -> None:
    """A task on its last allowed retry (SAMPLEMILL_CATALOG_RETRIES spent) whose claim is
    refused raises the catalog error, as before the retries, and sends nothing: the retries are
    bounded. Run in this process as the worker runs a task (its request pushed, not called
    directly), on the private PostgreSQL stopped."""
    from celery._state import _task_stack

    from tests.pipeline_stages import fake_analyze, handle

    url = pg.create_database("spent")
    settings = configure(monkeypatch, tmp_path, catalog_url=url, catalog_retries=2)
    engine = catalog(settings)
    job = submit_file(engine, write_job(tmp_path, make_folder(tmp_path, 1), "spent"))
    (target,) = _files_and_targets(engine, job, tmp_path / "media", 1)
    pg.crash()
    try:
        fake_analyze.push_request(id="spent-task", retries=2, called_directly=False,
                                  is_eager=False, args=[target], kwargs={})
        _task_stack.push(fake_analyze)
        try:
            with pytest.raises(sa_exc.OperationalError) as raised:
                runner.run_target(target, handle)
            assert runner.catalog_unreachable(raised.value)
        finally:
            _task_stack.pop()
            fake_analyze.pop_request()
    finally:
        pg.start()
    assert _target(engine, target) == (TargetStatus.QUEUED, 0)
    engine.dispose()
