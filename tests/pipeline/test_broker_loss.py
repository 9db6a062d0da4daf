"""A broker that loses its queues: Redis restarted without persistence mid-job. The scheduler
notices (the run id changed, or a queued target's message is nowhere) and re-sends at once,
so the job completes in seconds instead of stalling for SAMPLEMILL_REQUEUE_SECONDS.

Runs its own redis-server on a spare port (never the machine's 6379, which other tests share).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from db.models import utcnow
from scheduler.broker_watch import BrokerWatch, target_id_of
from scheduler.loop import Scheduler, TickReport, celery_sender
from tests.faults.own_redis import OwnRedis, own_redis_fixture  # noqa: F401
from tests.pipeline_harness import (
    Cluster,
    assert_exactly_once,
    catalog,
    configure,
    count_done,
    job_status,
    make_folder,
    wait_for,
    write_job,
)

REQUEUE = 900.0  # the default: without the watch a lost message waits this long


def test_watch_reads_messages_and_notices_a_restart(own_redis: OwnRedis, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages sent through Celery are found by target id; after a restart the run id
    differs and every queued target whose message is gone is reported at once; without a
    restart only those older than the grace period are."""
    settings = configure(monkeypatch, tmp_path, broker_url=own_redis.url)
    from worker.app import create_app

    app = create_app()
    for target_id in (11, 12, 13):
        app.send_task("samplemill.probe", args=[target_id], queue="cpu")
    app.send_task("samplemill.render", args=[21], queue="render", priority=6)
    watch = BrokerWatch.from_broker_url(settings.resolved_broker_url, ("io", "cpu", "render"),
                                        grace=5.0, min_interval=0.0)
    assert watch is not None
    look = watch.look()
    assert look is not None and look.present == {11, 12, 13, 21}
    now = utcnow()
    old, new = now - timedelta(seconds=30), now - timedelta(seconds=1)
    queued = [(11, old), (12, new), (14, old), (15, new)]
    assert watch.lost(queued, now) == [14]  # 15 is still within the grace period
    own_redis.restart()
    assert sorted(watch.lost(queued, now)) == [11, 12, 14, 15] and watch.restarts == 1
    assert watch.lost(queued, now) == [11, 14]  # same run id now: 12 and 15 are within grace
    assert BrokerWatch.from_broker_url("amqp://x", ("cpu",)) is None
    assert target_id_of(b"not json") is None


def test_redis_restarts_mid_job_lose_nothing_and_stall_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_redis: OwnRedis, postgres_url: str
) -> None:
    """30 files through fake_analyze on PostgreSQL and our Redis, restarted twice while the
    cpu queue holds messages: the job completes (every target once, no duplicate samples)
    far sooner than SAMPLEMILL_REQUEUE_SECONDS, and the loop reports the rescued targets."""
    settings = configure(monkeypatch, tmp_path, catalog_url=postgres_url,
                         broker_url=own_redis.url, requeue_seconds=REQUEUE, concurrency=2)
    from scheduler.submit import submit_file

    files = 30
    engine = catalog(settings)
    job_id = submit_file(engine, write_job(tmp_path, make_folder(tmp_path, files),
                                           samples_per_file=2, sleep_s=0.4))
    cluster = Cluster(settings)
    reports: list[TickReport] = []
    stop = threading.Event()
    sched = Scheduler(engine, settings, celery_sender(cluster.app))
    assert sched.watch is not None
    loop = threading.Thread(target=sched.run_forever, kwargs={
        "job_ids": [job_id], "until_done": True, "stop": stop.is_set,
        "on_tick": reports.append}, daemon=True)
    started = time.monotonic()
    try:
        loop.start()
        for done_before in (5, 15):
            wait_for(lambda n=done_before: count_done(engine, job_id, "fake_analyze") >= n, 90,
                     f"{done_before} files analysed")
            wait_for(lambda: redis.Redis(port=own_redis.port).llen("cpu") > 0, 60,
                     "messages waiting in the cpu queue")
            own_redis.restart()
        try:
            wait_for(lambda: job_status(engine, job_id) != "active", 170, "the job to finish")
        except AssertionError as exc:
            log = (settings.data_dir / "worker.log").read_text(errors="replace")
            rescued = [r.rescued for r in reports if r.rescued]
            raise AssertionError(f"{exc}; rescued {rescued}; worker log tail:\n"
                                 + "\n".join(log.splitlines()[-40:])) from None
    finally:
        stop.set()
        loop.join(30)
        cluster.close()
    took = time.monotonic() - started
    assert job_status(engine, job_id) == "done"
    assert took < REQUEUE / 5, took
    rescued = sum(r.rescued for r in reports)
    # two restarts close together can look like one to a watch that looks once a second
    assert 1 <= sched.watch.restarts <= 2 and rescued >= 1, (sched.watch.restarts, rescued)
    assert_exactly_once(engine, job_id, files=files, samples_per_file=2, strict_runs=False)
