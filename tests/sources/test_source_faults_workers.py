"""Source and download faults through real worker processes and the real scheduler, against
the loopback archive.org look-alike: a scrape killed during an outage resumes from its saved
cursor; an item whose metadata keeps failing is caught up by a later run; a trickling file is
cut off and resumed; a full media disk defers downloads instead of failing them."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.settings import Settings
from db.engine import session_scope
from db.models import Checkpoint, File, Item, JobStatus, Target, TargetStatus, TaskRun
from scheduler.submit import submit_file
from tests.ia_server import Fault, IAServer, ServedFile
from tests.pipeline_harness import Cluster, catalog, configure, job_status, wait_for

PAGE = 20
N = 57
SETTINGS: dict[str, Any] = {
    "http_timeout": 1, "download_attempts": 3, "host_rate": 200, "max_attempts": 5,
    "retry_later_seconds": 1, "min_download_rate": 20_000, "disk_reserve_mb": 0,
}


class PagedServer(IAServer):
    """Scrape pages of PAGE items whatever count is asked (like archive.org's own cap)."""

    def scrape_page(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        asked = int(params.get("count", ["100"])[0])
        return super().scrape_page({**params, "count": [str(min(PAGE, asked))]})


def populate(srv: IAServer, n: int, size: int = 2000) -> dict[str, ServedFile]:
    """`n` items `reelNNN` (reel000 first by downloads), one file each; key -> served file."""
    rng = random.Random(n)
    out = {}
    for i in range(n):
        ident = f"reel{i:03d}"
        f = ServedFile(f"{ident}.mp4", rng.randbytes(size + i), format="h.264")
        # licenseurl only comes from the metadata API (the job's scrape fields omit it)
        srv.add_item(ident, {"title": f"Reel {i}", "collection": "reels", "downloads": 5000 - i,
                             "licenseurl": f"http://license/{i}"}, [f])
        out[f"{ident}/{f.name}"] = f
    return out


def write_job(root: Path, endpoint: str) -> Path:
    path = root / "reels.toml"
    path.write_text("\n".join([
        'name = "reels"', "[source]", 'kind = "internet_archive"',
        'query = "collection:reels"', 'format = ".mp4"',
        'fields = ["identifier", "title", "collection", "downloads"]',
        f'endpoint = "{endpoint}"',
    ]) + "\n")
    return path


def checkpoint_seen(settings: Settings) -> int:
    with session_scope(catalog(settings)) as session:
        data = session.scalar(select(Checkpoint.data))
    return int(data["seen"]) if data else 0


def source_runs(settings: Settings, job_id: int) -> list[tuple[str, str | None]]:
    with session_scope(catalog(settings)) as session:
        return [tuple(r) for r in session.execute(
            select(TaskRun.status, TaskRun.error)
            .where(TaskRun.job_id == job_id, TaskRun.stage == "source").order_by(TaskRun.id))]


def source_worker_pid(settings: Settings, job_id: int) -> int | None:
    with session_scope(catalog(settings)) as session:
        worker = session.scalar(select(Target.worker).where(
            Target.job_id == job_id, Target.stage == "source",
            Target.status == TargetStatus.RUNNING))
    return int(worker.rsplit(":", 1)[1]) if worker else None


def test_killed_scrape_resumes_metadata_caught_up_trickle_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """57 items over 3 scrape pages. The scrape API goes down after page 2 and the worker
    running the scrape is SIGKILLed during the outage; the redelivered task asks for page 3 by
    its saved cursor (page one is requested once in all). reel005's metadata fails for the
    first two runs: the scrape goes on, the target waits SAMPLEMILL_RETRY_LATER_SECONDS without
    spending an attempt, and the third run fetches just that item. reel010 trickles at 3 kB/s
    on its first request: cut after one 1 s window and resumed with Range. The job ends done,
    every file fetched once, no checkpoint left."""
    settings = configure(monkeypatch, tmp_path, **SETTINGS)
    with PagedServer() as srv:
        served = populate(srv, N)
        trickled = ServedFile("reel010.mp4", os.urandom(200_000), format="h.264",
                              faults=[Fault(rate=3000)])
        srv.add_item("reel010", {"title": "Reel 10", "collection": "reels", "downloads": 4990,
                                 "licenseurl": "http://license/10"}, [trickled])
        served["reel010/reel010.mp4"] = trickled
        srv.metadata_failures["reel005"] = 12  # two runs' worth: 1 request + 5 retries each
        srv.scrape_pages_left = 2
        job_id = submit_file(catalog(settings), write_job(tmp_path, srv.url))
        cluster = Cluster(settings)
        try:
            cluster.start_scheduler(job_id)
            wait_for(lambda: checkpoint_seen(settings) == 2 * PAGE, 90,
                     "two scrape pages committed with their cursor")
            pid = source_worker_pid(settings, job_id)
            if pid is not None:  # (under heavy load the run may already have failed)
                os.kill(pid, signal.SIGKILL)
            killed = pid is not None
            srv.scrape_pages_left = None
            wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 120,
                     "the job to finish")
        finally:
            cluster.close()

        assert job_status(catalog(settings), job_id) == JobStatus.DONE
        scrapes = srv.log("/services/search/v1/scrape")
        assert sum(1 for r in scrapes if "cursor" not in r.query) == 1, "page one asked again"
        assert {r.query["cursor"][0] for r in scrapes if r.status == 200 and "cursor" in r.query}
        runs = source_runs(settings, job_id)
        statuses = [s for s, _ in runs]
        assert statuses[0] == ("lost" if killed else TargetStatus.FAILED), runs
        assert statuses[-1] == TargetStatus.DONE
        deferred = [e for s, e in runs if s == "deferred"]
        assert len(deferred) == 1 and "reel005" in deferred[0] and "500" in deferred[0], runs
        assert len(srv.log("/metadata/reel005")) == 13
        others = [r.path for r in srv.log("/metadata/") if r.path != "/metadata/reel005"]
        assert sorted(others) == sorted(f"/metadata/reel{i:03d}" for i in range(N) if i != 5)

        with session_scope(catalog(settings)) as session:
            items = dict(session.execute(select(Item.identifier, Item.meta)
                                         .where(Item.job_id == job_id)).all())
            files = dict(session.execute(select(File.key, File.md5)
                                         .where(File.job_id == job_id)).all())
            attempts = session.scalar(select(Target.attempts).where(
                Target.job_id == job_id, Target.stage == "source"))
            left = session.scalar(select(func.count()).select_from(Checkpoint))
        assert len(items) == N and items["reel005"]["licenseurl"] == "http://license/5"
        assert {k: v for k, v in files.items()} == {k: f.md5 for k, f in served.items()}
        assert left == 0
        assert attempts == len(runs) - 1, "the deferral must not spend an attempt"
        downloads = sorted(r.path.removeprefix("/download/") for r in srv.log("/download/"))
        assert downloads == sorted([*served, "reel010/reel010.mp4"])  # once each, reel010 twice
        trickle = srv.log("/download/reel010/")
        assert trickle[0].range is None and trickle[1].range.startswith("bytes=")
        assert trickle[1].at - trickle[0].at < 10
        for key, f in served.items():
            assert (settings.media_dir / key).read_bytes() == f.data
        assert not list(settings.media_dir.rglob("*.part"))


@pytest.fixture
def small_media_disk(tmp_path: Path) -> Iterator[Path]:
    """data/media on its own 8 MiB tmpfs (needs root; skipped, saying so, without it)."""
    media = tmp_path / "data" / "media"
    media.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(media)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield media
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)


def test_full_media_disk_defers_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_media_disk: Path
) -> None:
    """The media disk has room for one 1 MiB file: the other downloads are deferred (task runs
    `deferred`, no attempt spent, nothing failed); once space is freed they all complete."""
    settings = configure(monkeypatch, tmp_path, **SETTINGS)
    with PagedServer() as srv:
        served = populate(srv, 5, size=1 << 20)
        free = os.statvfs(small_media_disk).f_bavail * os.statvfs(small_media_disk).f_frsize
        filler = small_media_disk / "filler"
        filler.write_bytes(b"\0" * (free - (1 << 20) - (1 << 19)))  # 1.5 MiB left
        job_id = submit_file(catalog(settings), write_job(tmp_path, srv.url))
        cluster = Cluster(settings)

        def deferred_runs() -> list[str]:
            with session_scope(catalog(settings)) as session:
                return list(session.scalars(select(TaskRun.error).where(
                    TaskRun.job_id == job_id, TaskRun.stage == "download",
                    TaskRun.status == "deferred")))

        try:
            cluster.start_scheduler(job_id)
            wait_for(lambda: len(deferred_runs()) >= 4, 90, "four downloads to be deferred")
            assert job_status(catalog(settings), job_id) == JobStatus.ACTIVE
            filler.unlink()
            wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 90,
                     "the job to finish")
        finally:
            cluster.close()
        assert job_status(catalog(settings), job_id) == JobStatus.DONE
        assert all("not enough disk space" in e for e in deferred_runs())
        with session_scope(catalog(settings)) as session:
            attempts = dict(session.execute(select(Target.key, Target.attempts).where(
                Target.job_id == job_id, Target.stage == "download")).all())
            failed = session.scalar(select(func.count()).select_from(TaskRun).where(
                TaskRun.job_id == job_id, TaskRun.status == TargetStatus.FAILED))
        assert set(attempts.values()) == {1} and failed == 0
        for key, f in served.items():
            assert (small_media_disk / key).read_bytes() == f.data
        assert not list(small_media_disk.rglob("*.part"))
