"""The Internet Archive source end to end through real worker processes, against the loopback
archive.org look-alike: scrape over several pages, choose files, download, verify, probe; on
the embedded default and on Redis + PostgreSQL; with faults, a killed worker and re-runs."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import func, select, update

from core.settings import Settings
from db.engine import session_scope
from db.models import File, Item, JobStatus, Target, TargetStatus, TaskRun, utcnow
from scheduler.cli import main as cli
from scheduler.run import run_job
from scheduler.submit import submit_file
from tests.ia_server import Fault, IAServer, ServedFile, tree
from tests.mediagen import white_noise, write_media
from tests.pipeline_harness import Cluster, catalog, configure, job_status, wait_for
from worker.sources.download import part_path

PAGE = 20  # the server pages scrapes at this many items, whatever count the client asks
QUERY = "collection:reels"
FAST = {"http_timeout": 2, "download_attempts": 3, "host_rate": 100}


class PagedServer(IAServer):
    """The archive.org look-alike, answering scrapes PAGE items at a time (with a cursor)."""

    def scrape_page(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Cap the page size, then answer as the base server does."""
        asked = int(params.get("count", ["100"])[0])
        return super().scrape_page({**params, "count": [str(min(PAGE, asked))]})


@cache
def mp4(seconds: float, seed: int, sr: int = 8000) -> bytes:
    """A small real mp4 (noise soundtrack plus a tiny video track), cached by arguments."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_media(
            Path(tmp) / "clip.mp4", white_noise(seconds, sr, seed=seed), sr, fps=4, size=(32, 32)
        )
        return path.read_bytes()


def padded_mp4(seconds: float, seed: int, pad: int) -> bytes:
    """A real mp4 made `pad` bytes bigger by a trailing `free` box (which players skip)."""
    filler = random.Random(seed).randbytes(pad)
    return mp4(seconds, seed) + (8 + pad).to_bytes(4, "big") + b"free" + filler


def mp4_file(name: str, seconds: float, seed: int, **kw: Any) -> ServedFile:
    """A served real mp4."""
    return ServedFile(name, mp4(seconds, seed), format=kw.pop("format", "h.264"), **kw)


def populate(srv: IAServer, n: int, *, prefix: str = "reel") -> dict[str, list[ServedFile]]:
    """`n` items of mixed formats in collection `reels`, plus a decoy outside it.

    Every tenth item has no mp4; every third has a derivative mp4 (sometimes the largest)
    and a small one in a sub-folder with a space and an upper-case suffix.
    """
    rng = random.Random(n)
    served: dict[str, list[ServedFile]] = {}
    for i in range(n):
        ident = f"{prefix}{i:03d}"
        files = [
            ServedFile(f"{ident}.ogv", rng.randbytes(300 + 7 * i), format="Ogg Video"),
            ServedFile(f"{ident}_meta.xml", b"<metadata/>", format="Metadata"),
        ]
        if i % 10 != 9:
            files.append(mp4_file(f"{ident}.mp4", 0.6 + 0.01 * i, seed=i))
            if i % 3 == 0:
                files.append(
                    mp4_file(f"{ident}_512kb.mp4", rng.uniform(0.3, 1.4), seed=1000 + i,
                             format="512Kb MPEG4", source="derivative")
                )
                files.append(mp4_file(f"clips/{ident} part 1.MP4", 0.3, 2000 + i,
                                      format="MPEG4"))
        if i % 4 == 1:
            files.append(ServedFile(f"{ident}.wav", rng.randbytes(900), format="WAVE"))
        meta = {
            "title": f"Reel {i}",
            "collection": ["reels", "test"],
            "downloads": 5000 - i,
            "year": str(1940 + i % 40),
            "creator": "National Test Archives",
        }
        srv.add_item(ident, meta, files)
        served[ident] = files
    srv.add_item("decoy", {"collection": "other", "downloads": 99999},
                 [ServedFile("decoy.mp4", b"decoy", format="h.264")])
    return served


def expected_files(
    served: dict[str, list[ServedFile]], multi: bool, limit: int | None = None
) -> dict[str, ServedFile]:
    """key -> served file that a job with `format = ".mp4"` must take (computed independently;
    `populate` gives items in `downloads desc` order)."""
    out = {}
    for ident, files in list(served.items())[:limit]:
        mp4s = sorted((f for f in files if f.name.lower().endswith(".mp4")), key=lambda f: -f.size)
        for f in mp4s if multi else mp4s[:1]:
            out[f"{ident}/{f.name}"] = f
    return out


def write_ia_job(
    root: Path, name: str, *, endpoint: str = "", multi: bool = False, probe: bool = True,
    download: dict[str, Any] | None = None, query: str = QUERY, limit: int | None = None,
) -> Path:
    """A job file with an internet_archive source (and [probe])."""
    lines = [
        f'name = "{name}"',
        "[source]",
        'kind = "internet_archive"',
        f'query = "{query}"',
        'format = ".mp4"',
        f"multi = {'true' if multi else 'false'}",
        'fields = ["identifier", "title", "creator", "year", "collection", "downloads"]',
    ]
    if endpoint:
        lines.append(f'endpoint = "{endpoint}"')
    if limit:
        lines.append(f"limit = {limit}")
    if download:
        lines.append("[download]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in download.items()]
    if probe:
        lines.append("[probe]")
    path = root / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def quiet() -> Console:
    """A console that prints nowhere."""
    return Console(file=io.StringIO())


def downloads(srv: IAServer) -> list[str]:
    """The file keys of every download request the server saw, in order."""
    return [r.path.removeprefix("/download/") for r in srv.log("/download/")]


@dataclass(frozen=True)
class Row:
    """A file row as the tests check it."""

    key: str
    path: str | None
    size: int | None
    md5: str | None
    expected_md5: str | None
    duration: float | None
    has_audio: bool | None


def file_rows(settings: Settings, job_id: int) -> dict[str, Row]:
    """The job's files by key."""
    with session_scope(catalog(settings)) as session:
        rows = session.execute(
            select(File.key, File.path, File.size, File.md5, File.expected_md5, File.duration,
                   File.has_audio).where(File.job_id == job_id)
        ).all()
    return {r[0]: Row(*r) for r in rows}


def target_statuses(settings: Settings, job_id: int) -> dict[str, int]:
    """Count of the job's targets per status."""
    with session_scope(catalog(settings)) as session:
        return dict(
            session.execute(
                select(Target.status, func.count())
                .where(Target.job_id == job_id)
                .group_by(Target.status)
            ).all()
        )


def assert_fetched_and_probed(
    settings: Settings, job_id: int, want: dict[str, ServedFile], *, exact: bool = True,
    probe: bool = True,
) -> None:
    """The wanted files (exactly those, when `exact`), each on disk in the media folder,
    verified, and probed (when the job probes)."""
    rows = file_rows(settings, job_id)
    assert set(rows) == set(want) if exact else set(want) <= set(rows)
    media = (settings.data_dir / "media").resolve()
    for key, served in want.items():
        row = rows[key]
        assert row.path == str(media / key), row
        data = Path(row.path).read_bytes()
        assert data == (served.data or b"")
        assert row.size == served.size and row.md5 == row.expected_md5 == served.md5, row
        if probe:
            assert row.duration and row.duration > 0 and row.has_audio is True, row


def assert_once_each(settings: Settings, job_id: int) -> None:
    """Every target completed by exactly one run."""
    with session_scope(catalog(settings)) as session:
        done_runs = session.execute(
            select(TaskRun.target_id, func.count())
            .where(TaskRun.job_id == job_id, TaskRun.status == TargetStatus.DONE)
            .group_by(TaskRun.target_id)
        ).all()
        targets = session.scalar(
            select(func.count()).select_from(Target).where(Target.job_id == job_id)
        )
    assert len(done_runs) == targets and {n for _, n in done_runs} == {1}


def outside_data(before: Iterable[str], root: Path) -> set[str]:
    """Paths under `root` created since `before` that are not inside data/."""
    return {p for p in tree(root) - set(before) if p != "data" and not p.startswith("data/")}


# --- end to end --------------------------------------------------------------------------


def test_embedded_scrape_choose_download_probe_and_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """57 items over 3 scrape pages: the largest .mp4 of each, then every .mp4 of the first 15
    in a second job; all downloaded once, verified, probed; a re-run of the finished job
    fetches nothing."""
    settings = configure(monkeypatch, tmp_path, **FAST)
    with PagedServer() as srv:
        served = populate(srv, 57)
        single = write_ia_job(tmp_path, "reels", endpoint=srv.url)
        multi = write_ia_job(tmp_path, "reels-multi", endpoint=srv.url, multi=True, limit=15)
        before = tree(tmp_path)
        outcome = run_job(single, settings, console=quiet())
        assert (outcome.exit_code, outcome.failures) == (0, [])

        scrapes = srv.log("/services/search/v1/scrape")
        assert len(scrapes) == 3 and all(r.query.get("count") for r in scrapes)
        want = expected_files(served, multi=False)
        assert len(want) == 52  # five items have no mp4
        assert_fetched_and_probed(settings, outcome.job_id, want)
        assert sorted(downloads(srv)) == sorted(want), "each file fetched exactly once"
        assert target_statuses(settings, outcome.job_id) == {TargetStatus.DONE: 1 + 2 * 52}
        assert_once_each(settings, outcome.job_id)
        with session_scope(catalog(settings)) as session:
            items = session.execute(
                select(Item.identifier, Item.title, Item.year, Item.downloads, Item.collection)
                .where(Item.job_id == outcome.job_id)
            ).all()
        assert len(items) == 57 and "decoy" not in {i[0] for i in items}
        assert ("reel003", "Reel 3", 1943, 4997, "reels; test") in items

        # every .mp4 of each item: only the ones not yet on disk are fetched
        second = run_job(multi, settings, console=quiet())
        assert (second.exit_code, second.failures) == (0, [])
        want_all = expected_files(served, multi=True, limit=15)
        assert len(want_all) == 14 + 2 * 4
        assert_fetched_and_probed(settings, second.job_id, want_all)
        new = [r.path.removeprefix("/download/") for r in srv.log("/download/")[len(want):]]
        assert sorted(new) == sorted(set(want_all) - set(want))
        assert any(" part 1.MP4" in k for k in new)

        # the finished job again: resumed, nothing asked of the server at all
        seen = len(srv.log())
        again = run_job(single, settings, console=quiet())
        assert again.job_id == outcome.job_id and again.exit_code == 0
        assert len(srv.log()) == seen
    assert outside_data(before, tmp_path) == set()
    assert not list((tmp_path / "data" / "media").rglob("*.part"))


@pytest.mark.redis
@pytest.mark.postgres
def test_redis_and_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, postgres_url: str
) -> None:
    """24 items over 2 pages on Redis + PostgreSQL, the endpoint taken from the settings."""
    with PagedServer() as srv:
        settings = configure(
            monkeypatch, tmp_path, catalog_url=postgres_url, broker_url=redis_url,
            ia_endpoint=srv.url, **FAST,
        )
        served = populate(srv, 24)
        outcome = run_job(write_ia_job(tmp_path, "reels-pg"), settings, console=quiet())
        assert (outcome.exit_code, outcome.failures) == (0, [])
        assert catalog(settings).dialect.name == "postgresql"
        assert len(srv.log("/services/search/v1/scrape")) == 2
        want = expected_files(served, multi=False)
        assert len(want) == 22
        assert_fetched_and_probed(settings, outcome.job_id, want)
        assert sorted(downloads(srv)) == sorted(want)
        assert_once_each(settings, outcome.job_id)


# --- faults ------------------------------------------------------------------------------

LONG_RETRY_AFTER = 90.0  # longer than RetryPolicy.max_delay (60 s): the target is deferred


def _fault_items(srv: IAServer) -> dict[str, ServedFile]:
    """Healthy and misbehaving items, one mp4 each; returns key -> served file."""
    specs: dict[str, tuple[str, dict[str, Any], list[Fault]]] = {
        "ok-a": ("ok-a.mp4", {}, []),
        "ok-b": ("ok-b.mp4", {}, []),
        "ok-c": ("ok-c.mp4", {}, []),
        "f-drop": ("f-drop.mp4", {}, []),  # faults added below (they need the size)
        "f-restart": ("f-restart.mp4", {}, []),
        "f-md5": ("f-md5.mp4", {"metadata_md5": "0" * 32}, []),
        "f-503": ("f-503.mp4", {}, [Fault(status=503, times=2)]),
        "f-429": ("f-429.mp4", {}, [Fault(status=429, retry_after=1)]),
        "f-later": ("f-later.mp4", {}, [Fault(status=429, retry_after=LONG_RETRY_AFTER)]),
        "f-404": ("f-404.mp4", {}, [Fault(status=404, times=-1)]),
        "f-escape": ("../escape.mp4", {}, []),
        "f-stall": ("f-stall.mp4", {}, [Fault(stall=5)]),
    }
    out = {}
    for n, (ident, (name, kw, faults)) in enumerate(specs.items()):
        f = mp4_file(name, 0.8, seed=300 + n, faults=list(faults), **kw)
        srv.add_item(ident, {"collection": "reels", "downloads": 100 - n}, [f])
        out[f"{ident}/{name}"] = f
    drop = out["f-drop/f-drop.mp4"]
    srv.add_faults("f-drop", "f-drop.mp4", Fault(drop_after=drop.size // 2))
    restart = out["f-restart/f-restart.mp4"]
    srv.add_faults("f-restart", "f-restart.mp4", Fault(drop_after=restart.size // 3),
                   Fault(ignore_range=True))
    return out


def _deferred(settings: Settings, job_id: int, key: str) -> tuple[int, Any, int] | None:
    """(target id, not_before, attempts) of a download target deferred by Retry-After."""
    with session_scope(catalog(settings)) as session:
        row = session.execute(
            select(Target.id, Target.not_before, Target.attempts, Target.status)
            .join(File, File.id == Target.file_id)
            .where(File.job_id == job_id, File.key == key, Target.stage == "download")
        ).first()
        if row is None or row[3] != TargetStatus.PENDING or row[1] is None:
            return None
        runs = session.scalars(select(TaskRun.status).where(TaskRun.target_id == row[0])).all()
    return (row[0], row[1], row[2]) if "deferred" in runs else None


def test_faults_in_one_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drops, wrong md5, 503s, 429s, 404, an escaping name and a stall: the good files complete
    verified, exactly the hopeless ones fail with clear errors, nothing lands outside data/."""
    settings = configure(monkeypatch, tmp_path, concurrency=3, **FAST)
    with PagedServer() as srv:
        files = _fault_items(srv)
        job_id = submit_file(catalog(settings), write_ia_job(tmp_path, "faults", endpoint=srv.url))
        before = tree(tmp_path)
        cluster = Cluster(settings)
        try:
            cluster.start_scheduler(job_id)
            found: list[tuple[int, Any, int]] = []

            def deferred() -> bool:
                found[:] = [d] if (d := _deferred(settings, job_id, "f-later/f-later.mp4")) else []
                return bool(found)

            wait_for(deferred, 60, "the Retry-After deferral")
            target_id, not_before, attempts = found[0]
            ahead = (not_before - utcnow()).total_seconds()
            assert LONG_RETRY_AFTER - 15 < ahead <= LONG_RETRY_AFTER, ahead
            assert attempts == 0, "a deferral must not spend an attempt"
            with session_scope(catalog(settings)) as session:  # let the clock run forward
                session.execute(update(Target).where(Target.id == target_id)
                                .values(not_before=utcnow()))
            wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 90,
                     "the job to finish")
        finally:
            cluster.close()

        result = CliRunner().invoke(cli, ["failures", str(job_id), "--json"])
        assert result.exit_code == 0, result.output
        failures = {f["file"]: f for f in json.loads(result.output)}
        assert set(failures) == {"f-md5/f-md5.mp4", "f-404/f-404.mp4", "f-escape/../escape.mp4"}
        assert all(f["stage"] == "download" and f["attempts"] == 1 for f in failures.values())
        md5_error = failures["f-md5/f-md5.mp4"]["error"]
        assert "md5 mismatch: expected " + "0" * 32 in md5_error and "after 3 attempts" in md5_error
        assert "HTTP 404" in failures["f-404/f-404.mp4"]["error"]
        escape = failures["f-escape/../escape.mp4"]["error"]
        assert escape.startswith("UnsafePathError: refused to download") and "'..'" in escape

        good = {k: f for k, f in files.items() if k not in failures}
        assert_fetched_and_probed(settings, job_id, good, exact=False)
        assert job_status(catalog(settings), job_id) == JobStatus.PARTIAL  # done, 3 failed

        def log(ident: str) -> list[tuple[str | None, int]]:
            return [(r.range, r.status) for r in srv.log(f"/download/{ident}/")]

        drop = files["f-drop/f-drop.mp4"]
        assert log("f-drop") == [(None, 200), (f"bytes={drop.size // 2}-", 206)]
        third = files["f-restart/f-restart.mp4"].size // 3  # then the server ignored Range
        assert log("f-restart") == [(None, 200), (f"bytes={third}-", 200)]
        assert log("f-md5") == [(None, 200)] * 3
        assert log("f-503") == [(None, 503), (None, 503), (None, 200)]
        assert log("f-404") == [(None, 404)]
        assert log("f-escape") == [] and not srv.log("/download/escape.mp4")
        assert [s for _, s in log("f-429")] == [429, 200]
        gap = [r.at for r in srv.log("/download/f-429/")]
        assert gap[1] - gap[0] >= 0.95, "Retry-After: 1 was not honoured"
        assert [s for _, s in log("f-later")] == [429, 200]
        stalled = log("f-stall")  # the first one timed out (its status is set after the stall)
        assert len(stalled) == 2 and stalled[-1] == (None, 200), "a timed-out request is retried"

    assert outside_data(before, tmp_path) == set()
    media = tmp_path / "data" / "media"
    assert not (media / "escape.mp4").exists() and not (tmp_path / "escape.mp4").exists()
    on_disk = {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}
    assert on_disk == set(good), "no .part or refused file left behind"


# --- a worker killed mid-download --------------------------------------------------------


def _running_download(settings: Settings, job_id: int, key: str) -> int | None:
    """Pid of the worker child running the download of `key`, if it is running."""
    with session_scope(catalog(settings)) as session:
        worker = session.scalar(
            select(Target.worker)
            .join(File, File.id == Target.file_id)
            .where(File.job_id == job_id, File.key == key, Target.stage == "download",
                   Target.status == TargetStatus.RUNNING)
        )
    return int(worker.rsplit(":", 1)[1]) if worker else None


def test_worker_killed_mid_download_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL to the child streaming a throttled file: the redelivered task resumes from the
    .part with a Range request, the file is verified, and no row is duplicated."""
    settings = configure(monkeypatch, tmp_path, **FAST)
    with PagedServer() as srv:
        served = populate(srv, 6)
        # download_file writes what arrives in reads of up to 1 MiB: make the file 3.5 MiB
        big = ServedFile("big.mp4", padded_mp4(2.0, 77, 7 << 19), format="h.264", rate=1 << 20)
        srv.add_item("slow", {"collection": "reels", "downloads": 1}, [big])
        served["slow"] = [big]
        job_file = write_ia_job(tmp_path, "kill", endpoint=srv.url, probe=False)
        job_id = submit_file(catalog(settings), job_file)
        part = part_path(settings.data_dir.resolve() / "media" / "slow" / "big.mp4")
        cluster = Cluster(settings)
        try:
            cluster.start_scheduler(job_id)
            wait_for(lambda: part.exists() and part.stat().st_size >= 1 << 20, 60,
                     "the big download to be under way")
            pid = _running_download(settings, job_id, "slow/big.mp4")
            assert pid is not None and pid != os.getpid()
            assert psutil.Process(pid).name().startswith(("python", "celery"))
            os.kill(pid, signal.SIGKILL)
            killed_at = part.stat().st_size
            big.rate = None  # full speed from here on
            wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 90,
                     "the job to finish after the kill")
        finally:
            cluster.close()
        assert job_status(catalog(settings), job_id) == JobStatus.DONE
        requests = [(r.range, r.status) for r in srv.log("/download/slow/big.mp4")]
        assert requests[0] == (None, 200) and len(requests) == 2, requests
        resumed_at = int(requests[1][0].removeprefix("bytes=").rstrip("-"))
        assert requests[1][1] == 206 and 0 < killed_at <= resumed_at < big.size
        want = expected_files(served, multi=False)
        assert_fetched_and_probed(settings, job_id, want, probe=False)
        assert not part.exists()
        with session_scope(catalog(settings)) as session:
            runs = session.scalars(
                select(TaskRun.status)
                .join(Target, Target.id == TaskRun.target_id)
                .join(File, File.id == Target.file_id)
                .where(File.key == "slow/big.mp4", Target.stage == "download")
                .order_by(TaskRun.id)
            ).all()
            items = session.scalar(select(func.count()).select_from(Item))
        assert runs == ["lost", TargetStatus.DONE], runs
        assert items == 7 and len(file_rows(settings, job_id)) == len(want)
        assert target_statuses(settings, job_id) == {TargetStatus.DONE: 1 + len(want)}
        assert_once_each(settings, job_id)


def test_source_rerun_adds_and_updates_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source task run again on a changed collection: a new item is added, a changed
    file is updated (its measurements and targets reset), nothing is duplicated."""
    from db.sources import upsert_scraped
    from worker.sources.internet_archive import download_url, scrape

    settings = configure(monkeypatch, tmp_path, **FAST)
    engine = catalog(settings)
    with PagedServer() as srv:
        populate(srv, 45)
        job_id = submit_file(engine, write_ia_job(tmp_path, "upsert", endpoint=srv.url))

        def scrape_into_catalog() -> Any:
            items = list(scrape(QUERY, endpoint=srv.url, timeout=5))
            with session_scope(engine) as session:
                return upsert_scraped(session, job_id, items,
                                      url_for=lambda i, n: download_url(srv.url, i, n))

        first = scrape_into_catalog()
        assert (first.items_new, first.files_new) == (45, 41)
        with session_scope(engine) as session:
            f = session.scalar(select(File).where(File.key == "reel000/reel000.mp4"))
            assert f is not None
            f.md5, f.size, f.duration = "x" * 32, 1, 1.0
            session.add(Target(job_id=job_id, stage="download", key=str(f.id), file_id=f.id,
                               status=TargetStatus.DONE))
        srv.file("reel000", "reel000.mp4").metadata_md5 = "1" * 32  # the item was re-derived
        srv.add_item("reel999", {"collection": "reels", "downloads": 0},
                     [mp4_file("reel999.mp4", 0.5, seed=9)])
        second = scrape_into_catalog()
        assert (second.items_new, second.files_new, second.files_changed) == (1, 1, 1)
        assert second.items_updated == 0
        with session_scope(engine) as session:
            f = session.scalar(select(File).where(File.key == "reel000/reel000.mp4"))
            assert f is not None
            assert (f.expected_md5, f.md5, f.size, f.duration) == ("1" * 32, None, None, None)
            assert session.scalar(select(func.count()).select_from(Target)) == 0
            assert session.scalar(select(func.count()).select_from(Item)) == 46
            assert session.scalar(select(func.count()).select_from(File)) == 42
        third = scrape_into_catalog()
        assert (third.items_new, third.files_new, third.items_updated, third.files_updated) == (
            0, 0, 0, 0)


def test_upserts_are_set_based(catalog: Any) -> None:
    """3,000 items with 2 files each are upserted in a handful of statements, on SQLite and
    PostgreSQL; the same page again changes nothing and issues no UPDATE."""
    from sqlalchemy import event

    from db.models import Job
    from db.sources import upsert_scraped
    from worker.sources.internet_archive import RemoteFile, ScrapedItem

    page = [
        ScrapedItem(f"item{i:05d}", {"title": f"T{i}", "year": "1950", "downloads": i}, [
            RemoteFile(f"item{i:05d}{suffix}", 1000 + i, f"{i:032x}", "h.264", "original", "1")
            for suffix in (".mp4", "_512kb.mp4")
        ])
        for i in range(3000)
    ]
    with session_scope(catalog) as session:
        job = Job(name="bulk", spec={})
        session.add(job)
        session.flush()
        job_id = job.id
    statements: list[str] = []

    def count(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        statements.append(sql.split(None, 1)[0].upper())

    event.listen(catalog, "before_cursor_execute", count)
    try:
        with session_scope(catalog) as session:
            first = upsert_scraped(session, job_id, page, url_for=lambda i, n: f"http://x/{i}/{n}")
        writes = len(statements)
        statements.clear()
        with session_scope(catalog) as session:
            second = upsert_scraped(session, job_id, page, url_for=lambda i, n: f"http://x/{i}/{n}")
    finally:
        event.remove(catalog, "before_cursor_execute", count)
    assert (first.items_new, first.files_new) == (3000, 6000)
    assert writes < 60, f"{writes} statements for 3,000 items"
    assert (second.items_new, second.files_new, second.items_updated, second.files_updated) == (
        0, 0, 0, 0)
    assert "UPDATE" not in statements and "INSERT" not in statements and len(statements) < 30
    with session_scope(catalog) as session:
        assert session.scalar(select(func.count()).select_from(File)) == 6000


def test_fedflix_example_is_a_valid_job() -> None:
    """examples/archive-fedflix.toml validates, against archive.org, through every stage."""
    from core.stages import job_stages
    from scheduler.jobspec import load_spec

    spec, _ = load_spec(Path(__file__).resolve().parents[2] / "examples" / "archive-fedflix.toml")
    assert spec["source"]["kind"] == "internet_archive" and spec["source"]["endpoint"] == ""
    assert "FedFlix" in spec["source"]["query"] and spec["source"]["format"] == [".mp4"]
    assert [s.name for s in job_stages(spec)] == [
        "source", "download", "probe", "analyze", "subset", "layout", "render"
    ]
