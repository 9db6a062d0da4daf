"""`samplemill verify`: files damaged on disk after a job are reported, `--fix` re-queues them
and the next run restores them (downloads from the archive.org look-alike, local re-checksums)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.settings import Settings
from db.engine import session_scope
from db.models import File, JobStatus, Sample, Target, TargetStatus
from scheduler.cli import main as cli
from scheduler.run import run_job
from tests.pipeline_harness import catalog, configure, job_status, make_folder, write_job
from tests.sources.test_ia_pipeline import (
    FAST,
    PagedServer,
    assert_fetched_and_probed,
    downloads,
    expected_files,
    populate,
    quiet,
    write_ia_job,
)


def verify(job_id: int, *args: str) -> tuple[int, dict]:
    """Run `samplemill verify JOB --json [args]`; (exit code, parsed report)."""
    result = CliRunner().invoke(cli, ["verify", str(job_id), "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def problems(report: dict) -> dict[str, str]:
    """file key -> problem kind."""
    return {p["file"]: p["problem"] for p in report["problems"]}


def targets(settings: Settings, job_id: int, key: str) -> dict[str, tuple[str, int]]:
    """stage -> (status, attempts) of one file's targets."""
    with session_scope(catalog(settings)) as session:
        rows = session.execute(
            select(Target.stage, Target.status, Target.attempts)
            .join(File, File.id == Target.file_id)
            .where(File.job_id == job_id, File.key == key)
        ).all()
    return {stage: (status, attempts) for stage, status, attempts in rows}


def test_verify_reports_fixes_and_rerun_restores_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupted, a truncated and a deleted download: reported (exit 1), re-queued by --fix,
    fetched again (and only they) by the next run, then verify passes. (Downstream targets
    being dropped and re-run is checked with a local job below.)"""
    settings = configure(monkeypatch, tmp_path, **FAST)
    with PagedServer() as srv:
        served = populate(srv, 8)
        job_file = write_ia_job(tmp_path, "verify", endpoint=srv.url, probe=False)
        first = run_job(job_file, settings, console=quiet())
        assert first.exit_code == 0
        job_id = first.job_id
        want = expected_files(served, multi=False)
        code, report = verify(job_id)
        assert (code, report["checked"], report["problems"]) == (0, len(want), [])
        assert report["bytes_read"] == sum(f.size for f in want.values())

        media = settings.data_dir / "media"
        corrupt, truncated, deleted = "reel001/reel001.mp4", "reel002/reel002.mp4", (
            "reel004/reel004.mp4")
        data = bytearray((media / corrupt).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (media / corrupt).write_bytes(bytes(data))
        (media / truncated).write_bytes((media / truncated).read_bytes()[:1000])
        (media / deleted).unlink()

        code, report = verify(job_id)
        assert code == 1 and report["requeued"] == 0
        assert problems(report) == {
            corrupt: "md5 mismatch", truncated: "size mismatch", deleted: "missing"
        }
        md5_problem = next(p for p in report["problems"] if p["file"] == corrupt)
        assert md5_problem["expected_md5"] == want[corrupt].md5 != md5_problem["md5"]
        table = CliRunner().invoke(cli, ["verify", str(job_id)])
        assert table.exit_code == 1
        for text in (corrupt, truncated, deleted, "md5 mismatch", "size mismatch", "missing"):
            assert text in table.stdout
        assert job_status(catalog(settings), job_id) == JobStatus.DONE  # not fixed yet

        code, report = verify(job_id, "--fix")
        assert code == 1 and report["requeued"] == 3
        assert job_status(catalog(settings), job_id) == JobStatus.ACTIVE
        for key in (corrupt, truncated, deleted):
            assert targets(settings, job_id, key) == {"download": (TargetStatus.PENDING, 0)}
        assert targets(settings, job_id, "reel003/reel003.mp4") == {
            "download": (TargetStatus.DONE, 1)
        }

        seen = len(downloads(srv))
        again = run_job(job_file, settings, console=quiet())
        assert again.job_id == job_id and again.exit_code == 0
        assert sorted(downloads(srv)[seen:]) == sorted([corrupt, truncated, deleted])
        assert_fetched_and_probed(settings, job_id, want, probe=False)
        code, report = verify(job_id)
        assert (code, report["problems"]) == (0, [])


def test_verify_local_files_against_recorded_md5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local files are checked against what the checksum stage recorded; after --fix the run
    re-checksums them and re-runs what depends on them."""
    settings = configure(monkeypatch, tmp_path)
    folder = make_folder(tmp_path, 6)
    job_file = write_job(tmp_path, folder, name="local-verify", samples_per_file=2)
    first = run_job(job_file, settings, console=quiet())
    assert first.exit_code == 0
    job_id = first.job_id
    grown, swapped = "file0001.txt", "file0002.txt"
    (folder / grown).write_text((folder / grown).read_text() + "more\n")
    text = (folder / swapped).read_text()
    (folder / swapped).write_text(text.upper())  # same size, other bytes

    code, report = verify(job_id, "--fix")
    assert code == 1 and report["requeued"] == 2
    assert problems(report) == {grown: "size mismatch", swapped: "md5 mismatch"}
    assert targets(settings, job_id, grown) == {"checksum": (TargetStatus.PENDING, 0)}

    again = run_job(job_file, settings, console=quiet())
    assert again.exit_code == 0
    code, report = verify(job_id)
    assert (code, report["checked"], report["problems"]) == (0, 6, [])
    with session_scope(catalog(settings)) as session:
        row = session.scalar(select(File).where(File.job_id == job_id, File.key == grown))
        assert row is not None and row.size == (folder / grown).stat().st_size
        powers = session.scalars(select(Sample.power).where(Sample.file_id == row.id)).all()
    assert powers == [float(row.size)] * 2, "the downstream stage re-ran once, on the new size"
