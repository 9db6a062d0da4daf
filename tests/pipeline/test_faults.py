"""Faults mid-job: a worker killed with SIGKILL during a long task, and a scheduler restarted.
In each case the job completes and the catalog holds no duplicate rows."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from core.settings import Settings
from db.engine import session_scope
from db.models import JobStatus, Target, TargetStatus, TaskRun
from scheduler.submit import submit_file
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


def _running_target(settings: Settings, job_id: int) -> tuple[int, int] | None:
    """(target id, worker pid) of a fake_analyze target currently running."""
    with session_scope(catalog(settings)) as session:
        row = session.execute(select(Target.id, Target.worker).where(
            Target.job_id == job_id, Target.stage == "fake_analyze",
            Target.status == TargetStatus.RUNNING).limit(1)).first()
    if row is None or not row[1]:
        return None
    return row[0], int(row[1].rsplit(":", 1)[1])


def _runs(settings: Settings, target_id: int) -> list[str]:
    with session_scope(catalog(settings)) as session:
        return list(session.scalars(select(TaskRun.status).where(
            TaskRun.target_id == target_id).order_by(TaskRun.id)))


def _kill_child_mid_task(settings: Settings, tmp_path: Path, files: int) -> None:
    job_id = submit_file(catalog(settings), write_job(
        tmp_path, make_folder(tmp_path, files), samples_per_file=2, sleep_s=1.5))
    cluster = Cluster(settings)
    try:
        cluster.start_scheduler(job_id)
        found: list[tuple[int, int]] = []
        wait_for(lambda: bool(found.append(t) or found[-1]) if (t := _running_target(
            settings, job_id)) else False, 180, "a running fake_analyze target")
        target_id, pid = found[-1]
        assert pid != os.getpid() and psutil.Process(pid).name().startswith(("python", "celery"))
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 120,
                 "the job to finish after the kill")
    finally:
        cluster.close()
    assert job_status(catalog(settings), job_id) == JobStatus.DONE
    assert_exactly_once(catalog(settings), job_id, files=files, samples_per_file=2,
                        strict_runs=False)
    runs = _runs(settings, target_id)
    assert runs[-1] == TargetStatus.DONE and "lost" in runs and len(runs) >= 2, runs


def test_worker_child_killed_mid_task_is_redelivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _kill_child_mid_task(configure(monkeypatch, tmp_path), tmp_path, files=8)


@pytest.mark.redis
@pytest.mark.postgres
def test_worker_child_killed_mid_task_on_redis_and_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, postgres_url: str
) -> None:
    settings = configure(monkeypatch, tmp_path, catalog_url=postgres_url, broker_url=redis_url)
    _kill_child_mid_task(settings, tmp_path, files=8)


def test_whole_worker_killed_then_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL to the worker's main process and children: unacked messages come back after the
    visibility timeout, stale leases are re-queued by the scheduler, and a new worker finishes."""
    settings = configure(monkeypatch, tmp_path, visibility_timeout=5)
    files = 8
    job_id = submit_file(catalog(settings), write_job(
        tmp_path, make_folder(tmp_path, files), samples_per_file=2, sleep_s=1.0))
    cluster = Cluster(settings)
    try:
        cluster.start_scheduler(job_id)
        wait_for(lambda: _running_target(settings, job_id) is not None, 180, "a running target")
        assert cluster.workers.process is not None
        os.killpg(cluster.workers.process.pid, signal.SIGKILL)
        cluster.workers.process.wait()
        cluster.workers = cluster.new_workers()
        wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 120,
                 "the job to finish on the replacement worker")
    finally:
        cluster.close()
    assert job_status(catalog(settings), job_id) == JobStatus.DONE
    assert_exactly_once(catalog(settings), job_id, files=files, samples_per_file=2,
                        strict_runs=False)
    with session_scope(catalog(settings)) as session:
        lost = session.scalar(select(func.count()).select_from(TaskRun).where(
            TaskRun.job_id == job_id, TaskRun.status == "lost"))
    assert lost and lost >= 1


def test_scheduler_restart_mid_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    files = 40
    job_id = submit_file(catalog(settings), write_job(
        tmp_path, make_folder(tmp_path, files), samples_per_file=2, sleep_s=0.1))
    cluster = Cluster(settings)
    try:
        first = cluster.start_scheduler(job_id)
        wait_for(lambda: count_done(catalog(settings), job_id, "fake_analyze") >= 5, 60,
                 "some work done")
        first.stop()  # as if the scheduler process died: nothing of it survives but the catalog
        done_at_stop = count_done(catalog(settings), job_id, "fake_analyze")
        assert done_at_stop < files, "stopped too late to test a restart"
        cluster.start_scheduler(job_id)
        wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 120,
                 "the job to finish after the restart")
    finally:
        cluster.close()
    assert job_status(catalog(settings), job_id) == JobStatus.DONE
    assert_exactly_once(catalog(settings), job_id, files=files, samples_per_file=2)


def test_long_tasks_survive_the_visibility_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks outlive a 2 s visibility timeout, so Redis re-delivers them while they still run;
    the duplicate finds a live lease and steps aside: one run per target, nothing doubled."""
    settings = configure(monkeypatch, tmp_path, visibility_timeout=2, lease_seconds=30)
    files = 4
    job_id = submit_file(catalog(settings), write_job(
        tmp_path, make_folder(tmp_path, files), samples_per_file=2, sleep_s=5.0))
    cluster = Cluster(settings)
    try:
        cluster.start_scheduler(job_id)
        wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 120,
                 "the job to finish")
    finally:
        cluster.close()
    log = (settings.data_dir / "worker.log").read_text()
    assert "'skipped-duplicate'" in log, "Redis never re-delivered: the test proved nothing"
    assert_exactly_once(catalog(settings), job_id, files=files, samples_per_file=2)
