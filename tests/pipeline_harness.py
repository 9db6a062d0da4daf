"""Helpers for pipeline tests: a folder of small files, a job file, settings for one run,
background scheduler threads, and the exactly-once checks."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from core.settings import Settings, get_settings, reset_settings
from db.engine import dispose_engines, get_engine, session_scope
from db.models import Job, Sample, Target, TargetStatus, TaskRun
from db.targets import count_targets
from scheduler.embedded import EmbeddedBroker, LocalWorkers
from scheduler.loop import Scheduler, celery_sender

REPO = Path(__file__).resolve().parents[1]


def make_folder(root: Path, n: int, *, marker: str = "") -> Path:
    """`n` small text files (plus `marker` in the names of the first three, when given)."""
    folder = root / "media"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = f"{marker}file{i:04d}.txt" if marker and i < 3 else f"file{i:04d}.txt"
        (folder / name).write_text(f"content {i}\n" * (i % 7 + 1))
    return folder


def write_job(root: Path, folder: Path, name: str = "pipeline", **fake: object) -> Path:
    """A job file: local source over `folder`, then the fake_analyze test stage."""
    lines = [
        f'name = "{name}"',
        "[source]",
        'kind = "local"',
        f'folder = "{folder}"',
        'patterns = ["*.txt"]',
        "[fake_analyze]",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in fake.items()]
    path = root / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def configure(
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    *,
    catalog_url: str | None = None,
    broker_url: str = "embedded",
    **extra: object,
) -> Settings:
    """Point every SAMPLEMILL_ setting of this test (and its worker processes) at `root`."""
    env = {
        "SAMPLEMILL_DATA_DIR": str(root / "data"),
        "SAMPLEMILL_CATALOG_URL": catalog_url or f"sqlite:///{root / 'data' / 'catalog.sqlite'}",
        "SAMPLEMILL_BROKER_URL": broker_url,
        "SAMPLEMILL_EXTRA_STAGES": json.dumps(["tests.pipeline_stages"]),
        "SAMPLEMILL_POLL_SECONDS": "0.2",
        "SAMPLEMILL_HEARTBEAT_SECONDS": "0.5",
        # a loaded machine may starve a worker's heartbeat for longer (GIL-holding t-SNE):
        # SAMPLEMILL_TEST_LEASE_SECONDS lengthens the tests' leases there
        "SAMPLEMILL_LEASE_SECONDS": os.environ.get("SAMPLEMILL_TEST_LEASE_SECONDS", "4"),
    }
    env.update({f"SAMPLEMILL_{k.upper()}": str(v) for k, v in extra.items()})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(root)
    reset_settings()
    dispose_engines()
    return get_settings()


def catalog(settings: Settings) -> Engine:
    return get_engine(settings.resolved_catalog_url)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class SchedulerThread:
    """A scheduler loop in a background thread that can be stopped like a killed process."""

    def __init__(self, scheduler: Scheduler, job_id: int) -> None:
        self.stop_flag = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(scheduler, job_id), daemon=True)

    def _run(self, scheduler: Scheduler, job_id: int) -> None:
        try:
            scheduler.run_forever(job_ids=[job_id], until_done=True, stop=self.stop_flag.is_set)
        except BaseException as exc:  # surfaced by stop()
            self.errors.append(exc)

    def start(self) -> SchedulerThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=30)
        if self.errors:
            raise self.errors[0]


class Cluster:
    """Broker (embedded or given), one local worker group and a scheduler thread."""

    def __init__(self, settings: Settings) -> None:
        from worker.app import create_app

        self.settings = settings
        self.broker = EmbeddedBroker(settings.broker_socket, settings.data_dir / "broker.log")
        self.embedded = settings.broker_url == "embedded"
        if self.embedded:
            self.broker.start()
        self.app = create_app()
        self.workers = self.new_workers()
        self.scheduler: SchedulerThread | None = None

    def new_workers(self) -> LocalWorkers:
        workers = LocalWorkers(self.settings, broker_url=self.settings.resolved_broker_url,
                               log_path=self.settings.data_dir / "worker.log")
        workers.start()
        return workers

    def start_scheduler(self, job_id: int) -> SchedulerThread:
        sched = Scheduler(catalog(self.settings), self.settings, celery_sender(self.app))
        self.scheduler = SchedulerThread(sched, job_id).start()
        return self.scheduler

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self.workers.stop(grace=2)
        if self.embedded:
            self.broker.stop()


def job_status(engine: Engine, job_id: int) -> str:
    with session_scope(engine) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status


def count_done(engine: Engine, job_id: int, stage: str) -> int:
    with session_scope(engine) as session:
        return count_targets(session, job_id, [stage], [TargetStatus.DONE])

def assert_exactly_once(
    engine: Engine, job_id: int, *, files: int, samples_per_file: int, strict_runs: bool = True
) -> None:
    """Every target done once, one successful run each, and no duplicate result rows."""
    with session_scope(engine) as session:
        statuses = dict(
            session.execute(
                select(Target.status, func.count())
                .where(Target.job_id == job_id)
                .group_by(Target.status)
            ).all()
        )
        assert statuses == {TargetStatus.DONE: 1 + 2 * files}, statuses
        done_runs = dict(
            session.execute(
                select(TaskRun.target_id, func.count())
                .where(TaskRun.job_id == job_id, TaskRun.status == TargetStatus.DONE)
                .group_by(TaskRun.target_id)
            ).all()
        )
        assert len(done_runs) == 1 + 2 * files
        assert set(done_runs.values()) == {1}, "a target was completed twice"
        if strict_runs:
            runs = session.scalar(
                select(func.count()).select_from(TaskRun).where(TaskRun.job_id == job_id)
            )
            assert runs == 1 + 2 * files, "a target was run more than once"
        per_file = session.execute(
            select(Sample.file_id, func.count())
            .where(Sample.job_id == job_id)
            .group_by(Sample.file_id)
        ).all()
        assert len(per_file) == files
        assert {n for _, n in per_file} == {samples_per_file}, "duplicate or missing samples"
        idx_dupes = session.execute(
            select(Sample.file_id, Sample.idx)
            .where(Sample.job_id == job_id)
            .group_by(Sample.file_id, Sample.idx)
            .having(func.count() > 1)
        ).all()
        assert idx_dupes == []
