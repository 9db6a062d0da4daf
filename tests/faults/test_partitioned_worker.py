"""A worker cut off from the catalog and the broker for longer than its lease, through the
fault proxy: its target is taken over and finished by another worker, and when the cut-off
worker comes back its late commit is refused, so nothing is lost and nothing is duplicated.

Real PostgreSQL, a private redis-server, two real worker groups (one behind two proxies), the
real scheduler. The loopback version of issue 17's "separate machines" claim.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from db.engine import session_scope
from db.models import Sample, Target, TargetStatus, TaskRun
from scheduler.embedded import LocalWorkers
from scheduler.submit import submit_file
from tests.faults.own_redis import OwnRedis, own_redis_fixture  # noqa: F401
from tests.faults.proxy import FaultProxy
from tests.pipeline_harness import (
    Cluster,
    assert_exactly_once,
    catalog,
    configure,
    job_status,
    make_folder,
    wait_for,
    write_job,
)

LEASE = 4.0  # configure()'s SAMPLEMILL_LEASE_SECONDS
CUT = 9.0  # longer than the lease
WORK = 14.0  # the cut-off worker's task outlives the cut, then tries to commit


def _running_on(settings, job_id: int, pid: int) -> int | None:  # type: ignore[no-untyped-def]
    """Id of a fake_analyze target run by a process of the worker group `pid` leads."""
    import psutil

    group = {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
    with session_scope(catalog(settings)) as session:
        rows = session.execute(select(Target.id, Target.worker).where(
            Target.job_id == job_id, Target.stage == "fake_analyze",
            Target.status == TargetStatus.RUNNING)).all()
    for target_id, worker in rows:
        if worker and int(worker.rsplit(":", 1)[1]) in group:
            return target_id
    return None


@pytest.mark.redis
@pytest.mark.postgres
def test_worker_cut_off_longer_than_its_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_redis: OwnRedis, postgres_url: str
) -> None:
    """Worker group A reaches PostgreSQL and Redis only through proxies; while it runs a
    target, both are cut for 9 s (lease 4 s). The scheduler re-queues the target, group B
    finishes it; A's run, back after the cut, is refused at commit (it returns "lease-lost").
    Every target is done once, each file's samples exist once, and the taken-over run is
    recorded `lost`."""
    settings = configure(monkeypatch, tmp_path, catalog_url=postgres_url,
                         broker_url=own_redis.url, concurrency=1)
    files = 4
    engine = catalog(settings)
    job_id = submit_file(engine, write_job(tmp_path, make_folder(tmp_path, files),
                                           samples_per_file=3, sleep_s=WORK))
    pg = make_url(postgres_url)
    with FaultProxy(pg.host or "127.0.0.1", pg.port or 5432) as db_proxy, \
            FaultProxy("127.0.0.1", own_redis.port) as broker_proxy:
        proxied = settings.model_copy(update={"catalog_url": pg.set(
            host=db_proxy.host, port=db_proxy.port).render_as_string(hide_password=False)})
        cluster = Cluster(settings)  # group B: direct connections, started after the cut
        cluster.workers.stop(grace=1)
        group_a = LocalWorkers(proxied, broker_url=broker_proxy.url("redis", "0"),
                               log_path=settings.data_dir / "worker-a.log")
        group_b: LocalWorkers | None = None
        try:
            group_a.start()
            cluster.start_scheduler(job_id)
            assert group_a.process is not None
            found: list[int] = []
            wait_for(lambda: bool(t := _running_on(settings, job_id, group_a.process.pid))
                     and not found.append(t), 120, "group A to run a target")
            victim = found[0]
            time.sleep(1.0)
            db_proxy.cut(CUT)
            broker_proxy.cut(CUT)
            cut_at = time.monotonic()
            group_b = cluster.new_workers()
            wait_for(lambda: job_status(engine, job_id) != "active", 180, "the job to finish")
            # A's run ends its sleep after the cut and tries to commit: refused, it returns
            # "lease-lost" (Celery logs the task's return value)
            log_a = settings.data_dir / "worker-a.log"
            wait_for(lambda: "'lease-lost'" in log_a.read_text(errors="replace"), 60,
                     "group A's late commit to be refused")
            assert time.monotonic() - cut_at >= CUT
        finally:
            cluster.close()
            group_a.stop(grace=2)
            if group_b is not None:
                group_b.stop(grace=2)
        assert db_proxy.stats.refused > 0 and broker_proxy.stats.resets + \
            broker_proxy.stats.refused > 0
    assert job_status(engine, job_id) == "done"
    assert_exactly_once(engine, job_id, files=files, samples_per_file=3, strict_runs=False)
    with session_scope(engine) as session:
        runs = session.execute(select(TaskRun.status, TaskRun.worker).where(
            TaskRun.target_id == victim).order_by(TaskRun.id)).all()
        samples = session.scalars(select(Sample.idx).join(
            Target, Target.file_id == Sample.file_id).where(Target.id == victim)).all()
    assert [s for s, _ in runs] == ["lost", TargetStatus.DONE], runs
    # A new run took it over; which worker ran it is not fixed: once the cut heals, group A's
    # own child may be the one that picks the re-queued target up (seen once in CI).
    assert sorted(samples) == [0, 1, 2]
