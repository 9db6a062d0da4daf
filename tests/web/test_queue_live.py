"""The queue and job views while a job runs on real workers (embedded broker): the page says
which worker runs which job, stage and file, and the job's counts move."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from db.models import JobStatus
from scheduler.submit import submit_file
from scheduler.web.app import create_app
from tests.pipeline_harness import (
    Cluster,
    catalog,
    configure,
    job_status,
    make_folder,
    wait_for,
    write_job,
)
from tests.web.conftest import BASE


def test_queue_shows_what_each_worker_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    job_id = submit_file(catalog(settings), write_job(
        tmp_path, make_folder(tmp_path, 6), samples_per_file=1, sleep_s=1.5))
    cluster = Cluster(settings)
    try:
        cluster.start_scheduler(job_id)
        with TestClient(create_app(settings), base_url=BASE) as client:
            seen: dict = {}

            def busy() -> bool:
                data = client.get("/api/queue").json()
                tasks = [t for w in data["workers"] for t in w["tasks"]]
                hits = [t for t in tasks if t["stage"] == "fake_analyze"]
                if hits:
                    seen.update(data=data, task=hits[0])
                return bool(hits)

            wait_for(busy, 60, "a worker running fake_analyze on the queue page")
            task = seen["task"]
            assert seen["data"]["reachable"] is True
            assert set(seen["data"]["queues"]) == {"io", "cpu", "render"}
            assert task["job"] == job_id and task["job_name"] == "pipeline"
            assert task["file"].startswith("file0") and task["file"].endswith(".txt")
            assert task["task"] == "tests.fake_analyze"
            page = client.get("/queue").text
            assert "reachable" in page and "fake_analyze" in page
            progress = client.get(f"/api/jobs/{job_id}").json()
            stage = next(s for s in progress["stages"] if s["stage"] == "fake_analyze")
            assert stage["total"] == 6 and stage["running"] + stage["queued"] + \
                stage["done"] + stage["pending"] == 6
            wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 120,
                     "the job to finish")
            done = client.get(f"/api/jobs/{job_id}").json()
            assert done["status"] == "done"
            assert next(s for s in done["stages"] if s["stage"] == "fake_analyze")["done"] == 6
    finally:
        cluster.close()
