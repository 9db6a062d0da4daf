"""Two findings of the chaos suite, each reproduced on its own (marked `chaos`, so deselected by
default; about 20 s each), both fixed:

* `samplemill scheduler` exited with a traceback when PostgreSQL restarted: the loop did not
  survive one failed tick (fixed in scheduler/loop.py `Scheduler.run_forever`, 6c1b9bb).
* the Celery worker's main process could exit ("Unrecoverable error: AttributeError('NoneType'
  object has no attribute 'hostname')") when Redis restarted while it held an unacked message:
  the consumer's second close of the lost connection restored the unacked messages through a
  transport that had let go of its client (worker/redis_transport.py; the exact path is
  reproduced deterministically by tests/chaos/test_redis_transport.py; this test hit it in 1
  of 4 tries before the fix).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from db.engine import session_scope
from db.models import Target
from scheduler.submit import submit_file
from tests.chaos.harness import SchedulerProcess
from tests.chaos.own_postgres import OwnPostgres
from tests.faults.own_redis import OwnRedis, own_redis_fixture  # noqa: F401
from tests.pipeline_harness import (
    Cluster,
    catalog,
    configure,
    make_folder,
    wait_for,
    write_job,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]


def test_scheduler_survives_a_postgres_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_redis: OwnRedis
) -> None:
    """The scheduler process ticks an active job while PostgreSQL crashes and comes back 2 s
    later: it must still be running (and ticking) afterwards."""
    pg = OwnPostgres()
    pg.start()
    try:
        url = pg.create_database("sched")
        settings = configure(monkeypatch, tmp_path, catalog_url=url, broker_url=own_redis.url)
        engine = catalog(settings)
        job_id = submit_file(engine, write_job(tmp_path, make_folder(tmp_path, 3)))
        sched = SchedulerProcess(tmp_path / "scheduler.log")
        sched.start()
        try:
            # no workers: the source target stays queued, and the loop keeps ticking over it
            wait_for(lambda: _targets(engine, job_id) > 0, 120, "the scheduler's first tick")
            time.sleep(1)
            assert not sched.died(), (tmp_path / "scheduler.log").read_text()[-2000:]
            pg.crash()
            time.sleep(2)
            pg.start()
            time.sleep(4)
            assert not sched.died(), (
                "the scheduler exited on the catalog outage:\n"
                + (tmp_path / "scheduler.log").read_text()[-1500:])
        finally:
            sched.stop()
    finally:
        pg.destroy()


def _targets(engine: Engine, job_id: int) -> int:
    """How many targets the job has (0 until the scheduler has ticked)."""
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Target)
                                  .where(Target.job_id == job_id)) or 0)


def test_worker_survives_a_redis_restart_mid_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_redis: OwnRedis
) -> None:
    """Four 6 s tasks on one worker group (two children: two tasks running, unacked); Redis
    restarts: the worker's main process must still be alive 15 s later."""
    settings = configure(monkeypatch, tmp_path, broker_url=own_redis.url, concurrency=2)
    job_id = submit_file(catalog(settings), write_job(
        tmp_path, make_folder(tmp_path, 4), samples_per_file=2, sleep_s=6.0))
    cluster = Cluster(settings)
    try:
        cluster.start_scheduler(job_id)
        log = settings.data_dir / "worker.log"
        wait_for(lambda: log.exists() and log.read_text(errors="replace").count(
            "fake_analyze") >= 2, 90, "two tasks received")
        time.sleep(1.0)
        own_redis.restart()
        time.sleep(15)
        assert cluster.workers.alive(), (
            "the worker main process exited on the Redis restart:\n"
            + "\n".join(line for line in log.read_text(errors="replace").splitlines()
                        if "CRITICAL" in line or "Unrecoverable" in line))
    finally:
        cluster.close()
