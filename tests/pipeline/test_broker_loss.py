"""A broker that loses its queues: Redis restarted without persistence mid-job. The scheduler
notices (the run id changed, or a queued target's message is nowhere) and re-sends at once,
so the job completes in seconds instead of stalling for SAMPLEMILL_REQUEUE_SECONDS.

Runs its own redis-server on a spare port (never the machine's 6379, which other tests share).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from db.models import utcnow
from scheduler.broker_watch import BrokerWatch, target_id_of
from scheduler.loop import Scheduler, TickReport, celery_sender
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


class OwnRedis:
    """A redis-server without persistence on a free loopback port, restartable."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        log = (self.folder / f"redis-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_for(lambda: _pings(client), 10, "redis-server to answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


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
            wait_for(lambda: redis.Redis(port=own_redis.port).llen("cpu") > 0, 30,
                     "messages waiting in the cpu queue")
            own_redis.restart()
        wait_for(lambda: job_status(engine, job_id) != "active", 120, "the job to finish")
    finally:
        stop.set()
        loop.join(30)
        cluster.close()
    took = time.monotonic() - started
    assert job_status(engine, job_id) == "done"
    assert took < REQUEUE / 5, took
    assert sched.watch.restarts == 2
    assert sum(r.rescued for r in reports) >= 2
    assert_exactly_once(engine, job_id, files=files, samples_per_file=2, strict_runs=False)
