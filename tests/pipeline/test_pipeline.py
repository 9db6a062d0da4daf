"""The foundation end to end: a multi-stage job of 200+ targets through real worker processes,
on the embedded default and on Redis + PostgreSQL, done exactly once."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from db.engine import session_scope
from db.models import File, Target, TargetStatus, TaskRun
from scheduler.run import run_job
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


def test_embedded_default_runs_every_target_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(monkeypatch, tmp_path)
    job = write_job(tmp_path, make_folder(tmp_path, FILES), samples_per_file=3)
    outcome = run_job(job, settings, console=_quiet())
    assert outcome.exit_code == 0 and outcome.failures == []
    assert_exactly_once(catalog(settings), outcome.job_id, files=FILES, samples_per_file=3)
    with session_scope(catalog(settings)) as session:
        md5s = session.scalars(select(File.md5).where(File.job_id == outcome.job_id)).all()
    assert len(md5s) == FILES and all(m and len(m) == 32 for m in md5s)


def test_rerun_resumes_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    job = write_job(tmp_path, make_folder(tmp_path, 10), samples_per_file=2)
    first = run_job(job, settings, console=_quiet())
    second = run_job(job, settings, console=_quiet())
    assert second.job_id == first.job_id and second.exit_code == 0
    assert_exactly_once(catalog(settings), first.job_id, files=10, samples_per_file=2)


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


def test_worker_pids_are_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    job = write_job(tmp_path, make_folder(tmp_path, 4))
    outcome = run_job(job, settings, console=_quiet())
    with session_scope(catalog(settings)) as session:
        workers = set(
            session.scalars(select(TaskRun.worker).where(TaskRun.job_id == outcome.job_id))
        )
    assert workers and all(w and ":" in w for w in workers)
    assert os.getpid() not in {int(w.rsplit(":", 1)[1]) for w in workers}, "no eager mode"
    assert signal.SIGKILL  # the kill tests live in test_pipeline_faults.py
