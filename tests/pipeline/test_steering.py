"""Jobs that people can steer, through the CLI on real runs: list, outputs, retry after a fix,
cancel and resume that mean what they say, delete, no silent duplicates, end states that tell
the truth and a run that ends with a summary."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import func, select

from core.settings import Settings, reset_settings
from db.engine import dispose_engines, session_scope
from db.models import Artifact, File, Job, JobStatus, Sample, Target, TargetStatus
from scheduler.cli import main
from scheduler.run import EXIT_CODES, run_job
from scheduler.summary import summary_lines
from tests.pipeline_harness import catalog, configure, make_folder, write_job


def quiet() -> Console:
    return Console(file=io.StringIO())


def cli(*args: object, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def finished_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A catalog holding one job of 3 files (2 samples each) run to the end through real
    workers, and its id: run once, copied by each test that only reads or steers it after."""
    root = tmp_path_factory.mktemp("finished-job")
    monkeypatch = pytest.MonkeyPatch()
    try:
        settings = configure(monkeypatch, root)
        outcome = run_job(write_job(root, make_folder(root, 3), samples_per_file=2), settings,
                          console=quiet())
        assert outcome.status == JobStatus.DONE and outcome.exit_code == 0, outcome.failures
        return settings.data_dir / "catalog.sqlite", outcome.job_id
    finally:
        monkeypatch.undo()
        reset_settings()
        dispose_engines()


def copy_of(finished: tuple[Path, int], monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> tuple[Settings, int]:
    """This test's settings with its own copy of the finished job's catalog."""
    settings = configure(monkeypatch, tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    source, job_id = finished
    src, dst = sqlite3.connect(source), sqlite3.connect(settings.data_dir / "catalog.sqlite")
    try:
        src.backup(dst)  # a consistent copy, write-ahead log included
    finally:
        src.close()
        dst.close()
    return settings, job_id


def test_partial_failure_is_done_with_failures_and_retry_after_a_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(monkeypatch, tmp_path)
    folder = make_folder(tmp_path, 8, marker="bad-")
    cause = tmp_path / "the-cause"
    cause.touch()
    job = write_job(tmp_path, folder, samples_per_file=2, fail_marker="bad-",
                    refuse_while=str(cause))
    outcome = run_job(job, settings, console=quiet())
    assert outcome.status == JobStatus.PARTIAL and outcome.exit_code == EXIT_CODES["partial"] == 3
    assert len(outcome.failures) == 3
    lines = summary_lines(outcome, job)
    assert lines[0].startswith(f"job {outcome.job_id}: done, 3 failed")
    assert "fake_analyze 5/8 (3 failed)" in lines[1]
    assert outcome.progress is not None
    assert all(s.pending == 0 for s in outcome.progress.stages), "an ended job has none"
    assert any(f"samplemill retry {outcome.job_id}" in line for line in lines)

    listed = cli("jobs")
    assert listed.exit_code == 0 and "done, 3 failed" in listed.output
    as_json = json.loads(cli("jobs", "--json").output)
    assert as_json[0]["failed"] == 3 and as_json[0]["status"] == "partial"

    cause.unlink()  # the cause is fixed: the test stage no longer refuses those files
    bad_stage = cli("retry", outcome.job_id, "--stage", "nosuch")
    assert bad_stage.exit_code == 2 and "no stage 'nosuch'" in bad_stage.output
    retried = cli("retry", outcome.job_id, "--stage", "fake_analyze")
    assert retried.exit_code == 0
    assert "3 failed target(s) of fake_analyze re-queued" in retried.output
    with session_scope(catalog(settings)) as session:
        job_row = session.get(Job, outcome.job_id)
        assert job_row is not None and job_row.status == JobStatus.ACTIVE
    again = run_job(job, settings, console=quiet())
    assert again.job_id == outcome.job_id
    assert again.status == JobStatus.DONE and again.exit_code == 0 and again.failures == []
    assert cli("retry", outcome.job_id).output.startswith(f"job {outcome.job_id} has no failed")


def test_nothing_usable_is_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    folder = make_folder(tmp_path, 3, marker="bad-")  # all three files are refused
    outcome = run_job(write_job(tmp_path, folder, fail_marker="bad-"), settings, console=quiet())
    assert outcome.status == JobStatus.FAILED and outcome.exit_code == 1
    assert "nothing usable" in summary_lines(outcome)[0]


def test_cancel_resume_and_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    job = write_job(tmp_path, make_folder(tmp_path, 4), samples_per_file=1)
    submitted = cli("submit", job, "--json")
    assert submitted.exit_code == 0, submitted.output
    job_id = json.loads(submitted.output)["job"]
    duplicate = cli("submit", job)
    assert duplicate.exit_code == 2 and f"job {job_id}" in duplicate.output
    assert "has this very spec" in duplicate.output

    assert cli("cancel", job_id).exit_code == 0
    result = cli("run", job)  # running a cancelled job's file says so instead of "done"
    assert result.exit_code == 2 and "was cancelled" in result.output
    assert f"samplemill resume {job_id}" in result.output and "Traceback" not in result.output
    assert cli("cancel", job_id).exit_code == 2  # not active any more
    resumed = cli("resume", job_id)
    assert resumed.exit_code == 0 and "active again" in resumed.output
    outcome = run_job(job, settings, console=quiet())
    assert outcome.job_id == job_id and outcome.status == JobStatus.DONE
    assert cli("resume", job_id).exit_code == 2  # done, not cancelled

    # the same file again: the job already ran; a changed file says what changed
    again = run_job(job, settings, console=quiet())
    assert again.job_id == job_id and again.exit_code == 0
    job.write_text(job.read_text().replace("samples_per_file = 1", "samples_per_file = 2"))
    changed = cli("run", job)
    assert changed.exit_code == 2 and "changed since job" in changed.output
    assert "fake_analyze.samples_per_file 1 -> 2" in changed.output and "--new" in changed.output
    with session_scope(catalog(settings)) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_outputs_and_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            finished_job: tuple[Path, int]) -> None:
    settings, job_id = copy_of(finished_job, monkeypatch, tmp_path)
    folder = settings.job_output_dir(job_id)
    folder.mkdir(parents=True)
    made = folder / "made.wav"
    made.write_bytes(b"RIFF" + bytes(100))
    with session_scope(catalog(settings)) as session:
        session.add(Artifact(job_id=job_id, kind="sorted_audio", name="made", path=str(made),
                             params={}, size=104, duration=1.5))
    shown = cli("outputs", job_id)
    assert shown.exit_code == 0 and str(made) in shown.output and "104 B" in shown.output
    assert json.loads(cli("outputs", job_id, "--json").output)[0]["path"] == str(made)

    no = cli("delete", job_id)  # CliRunner's stdin is no terminal: --yes is needed
    assert no.exit_code == 2 and "--yes" in no.output
    assert made.exists()
    gone = cli("delete", job_id, "--yes")
    assert gone.exit_code == 0 and f"deleted job {job_id}" in gone.output
    assert not folder.exists()
    with session_scope(catalog(settings)) as session:
        for model in (Job, File, Sample, Target, Artifact):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model
    assert cli("delete", job_id, "--yes").exit_code == 2
    assert cli("outputs", job_id).output.strip() == f"error: no job {job_id}"


def test_status_counts_dead_work_as_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         finished_job: tuple[Path, int]) -> None:
    settings, job_id = copy_of(finished_job, monkeypatch, tmp_path)
    with session_scope(catalog(settings)) as session:  # as a killed run leaves them
        from db.models import utcnow

        session.execute(Target.__table__.update()
                        .where(Target.job_id == job_id, Target.stage == "fake_analyze")
                        .values(status=TargetStatus.RUNNING, heartbeat_at=utcnow()))
    fresh = json.loads(cli("status", job_id, "--json").output)[0]["stages"]
    stage = next(s for s in fresh if s["stage"] == "fake_analyze")
    assert (stage["running"], stage["stale"]) == (3, 0)
    monkeypatch.setenv("SAMPLEMILL_LEASE_SECONDS", "0.001")
    reset_settings()
    stale = json.loads(cli("status", job_id, "--json").output)[0]["stages"]
    stage = next(s for s in stale if s["stage"] == "fake_analyze")
    assert (stage["running"], stage["stale"], stage["eta_seconds"]) == (0, 3, None)
    assert "stale" in cli("status", job_id).output


def test_run_starts_its_workers_again_when_they_die(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killing the local Celery main process mid-job does not end `samplemill run`: it starts
    the workers again, as a supervisor would, and the leases give the lost work back."""
    import os
    import signal
    import threading

    import psutil

    from tests.pipeline_harness import assert_exactly_once, wait_for

    settings = configure(monkeypatch, tmp_path)
    job = write_job(tmp_path, make_folder(tmp_path, 6), samples_per_file=2, sleep_s=1.0)
    killed: list[int] = []

    def kill_the_workers_once() -> None:
        def running() -> bool:
            with session_scope(catalog(settings)) as session:
                return bool(session.scalar(select(func.count()).select_from(Target).where(
                    Target.stage == "fake_analyze", Target.status == TargetStatus.RUNNING)))

        wait_for(running, 120, "a running fake_analyze target")
        for child in psutil.Process(os.getpid()).children():
            if "celery" in " ".join(child.cmdline()):
                child.send_signal(signal.SIGKILL)
                killed.append(child.pid)

    killer = threading.Thread(target=kill_the_workers_once, daemon=True)
    killer.start()
    outcome = run_job(job, settings, console=quiet())
    killer.join(timeout=5)
    assert killed, "the workers' main process was found and killed"
    assert outcome.worker_restarts >= 1 and outcome.exit_code == 0 and outcome.failures == []
    assert "started again" in summary_lines(outcome)[1]
    assert_exactly_once(catalog(settings), outcome.job_id, files=6, samples_per_file=2,
                        strict_runs=False)


def test_ctrl_c_leaves_nothing_shown_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after Ctrl-C, `status` shows no target running or queued and no ETA; running the
    same file again resumes the job and finishes it."""
    import os
    import signal
    import threading

    from tests.pipeline_harness import wait_for

    settings = configure(monkeypatch, tmp_path)
    job = write_job(tmp_path, make_folder(tmp_path, 6), samples_per_file=1, sleep_s=1.5)

    def interrupt_once_running() -> None:
        def running() -> bool:
            with session_scope(catalog(settings)) as session:
                return bool(session.scalar(select(func.count()).select_from(Target).where(
                    Target.stage == "fake_analyze", Target.status == TargetStatus.RUNNING)))

        wait_for(running, 120, "a running fake_analyze target")
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    stopped = run_job(job, settings, console=quiet())
    assert stopped.interrupted and stopped.exit_code == 130
    assert "resumes it" in summary_lines(stopped, job)[0]
    shown = json.loads(cli("status", stopped.job_id, "--json").output)[0]
    assert shown["status"] == "active"
    for stage in shown["stages"]:
        assert (stage["queued"], stage["running"], stage["eta_seconds"]) == (0, 0, None), stage
    resumed = run_job(job, settings, console=quiet())
    assert resumed.job_id == stopped.job_id and resumed.status == JobStatus.DONE
