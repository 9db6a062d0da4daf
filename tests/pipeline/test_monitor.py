"""Monitoring while a job runs: `status` counts per stage, `queue` shows queues and workers,
`failures` lists what failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from db.models import JobStatus
from scheduler.cli import main
from scheduler.submit import submit_file
from tests.pipeline_harness import (
    Cluster,
    catalog,
    configure,
    job_status,
    make_folder,
    wait_for,
    write_job,
)


def _json(args: list[str]) -> object:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_status_queue_and_failures_while_a_job_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(monkeypatch, tmp_path)
    job_id = submit_file(catalog(settings), write_job(
        tmp_path, make_folder(tmp_path, 10, marker="bad-"), samples_per_file=1, sleep_s=1.0,
        fail_marker="bad-"))
    cluster = Cluster(settings)
    try:
        cluster.start_scheduler(job_id)

        def running() -> bool:
            stages = _json(["status", str(job_id), "--json"])[0]["stages"]  # type: ignore[index]
            return any(s["stage"] == "fake_analyze" and s["running"] > 0 for s in stages)

        wait_for(running, 60, "a running target in `samplemill status`")
        def queue_shows_analysis() -> bool:
            # A worker may be between tasks, or on a checksum, at the moment `queue` asks.
            queue = _json(["queue", "--json", "--timeout", "3"])
            assert set(queue["queues"]) == {"io", "cpu", "render"}  # type: ignore[index]
            busy = [t for tasks in queue["workers"].values() for t in tasks]  # type: ignore[index]
            return any(t["task"] == "tests.fake_analyze" for t in busy)

        wait_for(queue_shows_analysis, 60, "`samplemill queue` showing a fake_analyze task")
        wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 120,
                 "the job to finish")
    finally:
        cluster.close()
    stages = {s["stage"]: s for s in _json(["status", str(job_id), "--json"])[0]["stages"]}  # type: ignore[index]
    assert stages["fake_analyze"]["done"] == 7 and stages["fake_analyze"]["failed"] == 3
    assert stages["checksum"]["done"] == 10
    failures = _json(["failures", str(job_id), "--json"])
    assert sorted(f["file"] for f in failures) == [  # type: ignore[union-attr]
        "bad-file0000.txt", "bad-file0001.txt", "bad-file0002.txt"]
    table = CliRunner().invoke(main, ["status", str(job_id)])
    assert "fake_analyze" in table.output and "failed" in table.output
