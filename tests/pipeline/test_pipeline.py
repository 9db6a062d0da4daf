"""The foundation end to end: a multi-stage job of 200+ targets through real worker processes,
on the embedded default and on Redis + PostgreSQL, done exactly once."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from core.settings import Settings, reset_settings
from db.engine import dispose_engines, session_scope
from db.models import File, Target, TargetStatus, TaskRun
from scheduler.run import RunOutcome, run_job
from tests.pipeline_harness import (
    assert_exactly_once,
    catalog,
    configure,
    make_folder,
    write_job,
)

FILES = 200


def _quiet() -> Console:
    return Console(file=io.StringIO())


@dataclass
class EmbeddedRun:
    """One run of a FILES-file job on the embedded default, shared by the tests that read
    it (each would otherwise start workers and run the same job again)."""

    settings: Settings
    job: Path
    outcome: RunOutcome

    def enter(self) -> Settings:
        """Make this run's settings the process's again (another test may have configured
        its own in between: the environment is back, the cached settings are not)."""
        reset_settings()
        dispose_engines()
        return self.settings


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRun]:
    root = tmp_path_factory.mktemp("embedded-run")
    monkeypatch = pytest.MonkeyPatch()
    try:
        settings = configure(monkeypatch, root)
        job = write_job(root, make_folder(root, FILES), samples_per_file=3)
        yield EmbeddedRun(settings, job, run_job(job, settings, console=_quiet()))
    finally:
        monkeypatch.undo()
        reset_settings()
        dispose_engines()


def test_embedded_default_runs_every_target_exactly_once(embedded_run: EmbeddedRun) -> None:
    settings, outcome = embedded_run.enter(), embedded_run.outcome
    assert outcome.exit_code == 0 and outcome.failures == []
    assert_exactly_once(catalog(settings), outcome.job_id, files=FILES, samples_per_file=3)
    with session_scope(catalog(settings)) as session:
        md5s = session.scalars(select(File.md5).where(File.job_id == outcome.job_id)).all()
    assert len(md5s) == FILES and all(m and len(m) == 32 for m in md5s)


def test_rerun_resumes_and_changes_nothing(embedded_run: EmbeddedRun) -> None:
    """The shared run's job run again: the same job, nothing run twice, nothing added."""
    settings, first = embedded_run.enter(), embedded_run.outcome
    second = run_job(embedded_run.job, settings, console=_quiet())
    assert second.job_id == first.job_id and second.exit_code == 0
    assert_exactly_once(catalog(settings), first.job_id, files=FILES, samples_per_file=3)


def test_failed_targets_are_recorded_and_the_rest_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(monkeypatch, tmp_path)
    folder = make_folder(tmp_path, 12, marker="bad-")
    job = write_job(tmp_path, folder, samples_per_file=1, fail_marker="bad-")
    outcome = run_job(job, settings, console=_quiet())
    assert outcome.exit_code == 3 and outcome.status == "partial", "done, with failures"
    assert sorted(f.file for f in outcome.failures) == [
        "bad-file0000.txt",
        "bad-file0001.txt",
        "bad-file0002.txt",
    ]
    assert all("refused by the test stage" in f.error for f in outcome.failures)
    assert all(f.attempts == 1 for f in outcome.failures), "permanent errors are not retried"
    with session_scope(catalog(settings)) as session:
        done = session.scalar(
            select(func.count())
            .select_from(Target)
            .where(Target.stage == "fake_analyze", Target.status == TargetStatus.DONE)
        )
        tracebacks = session.scalars(
            select(TaskRun.traceback).where(TaskRun.status == TargetStatus.FAILED)
        ).all()
    assert done == 9
    assert len(tracebacks) == 3 and all("PermanentError" in tb for tb in tracebacks)


@pytest.mark.redis
@pytest.mark.postgres
def test_redis_and_postgres_run_every_target_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, postgres_url: str
) -> None:
    settings = configure(monkeypatch, tmp_path, catalog_url=postgres_url, broker_url=redis_url)
    job = write_job(tmp_path, make_folder(tmp_path, FILES), samples_per_file=3)
    outcome = run_job(job, settings, console=_quiet())
    assert outcome.exit_code == 0
    assert catalog(settings).dialect.name == "postgresql"
    assert_exactly_once(catalog(settings), outcome.job_id, files=FILES, samples_per_file=3)


def test_worker_pids_are_recorded(embedded_run: EmbeddedRun) -> None:
    settings, outcome = embedded_run.enter(), embedded_run.outcome
    with session_scope(catalog(settings)) as session:
        workers = set(
            session.scalars(select(TaskRun.worker).where(TaskRun.job_id == outcome.job_id))
        )
    assert workers and all(w and ":" in w for w in workers)
    assert os.getpid() not in {int(w.rsplit(":", 1)[1]) for w in workers}, "no eager mode"
    assert signal.SIGKILL  # the kill tests live in test_pipeline_faults.py
