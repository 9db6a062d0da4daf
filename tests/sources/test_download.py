"""download_file against injected faults: each fault recovers or fails cleanly, in the data dir."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from core.errors import DownloadError, UnsafePathError
from tests.ia_server import Fault, IAServer, ServedFile, tree
from worker.sources.download import (
    RetryLaterError,
    RetryPolicy,
    download_file,
    part_path,
    verify_file,
)
from worker.sources.paths import safe_media_path
from worker.sources.politeness import LocalHostLimiter
from worker.sources.retry import backoff_delay, parse_retry_after

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=2.0, jitter=0.0)
SIZE = 3 * 1024 * 1024 + 17
NAMES = ["drop.mp4", "badmd5.mp4", "s503.mp4", "s429.mp4", "gone.mp4", "stall.mp4", "ok.mp4"]
PAYLOADS = {n: os.urandom(SIZE) for n in NAMES}


@pytest.fixture
def srv() -> Iterator[IAServer]:
    with IAServer() as s:
        s.add_item("film", {}, [ServedFile(n, PAYLOADS[n]) for n in NAMES])
        yield s


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    """media dir inside tmp_path; afterwards nothing may exist in tmp_path outside it."""
    media = tmp_path / "data"
    media.mkdir()
    (tmp_path / "outside.txt").write_text("keep")
    yield media
    assert {p for p in tree(tmp_path) if not p.startswith("data")} == {"outside.txt"}


def fetch(srv: IAServer, media: Path, name: str, **kw) -> tuple[object, ServedFile]:
    """download_file of film/<name> into media with the file's true size and md5 by default."""
    f = srv.file("film", name)
    kw.setdefault("expected_size", f.size)
    kw.setdefault("expected_md5", f.md5)
    kw.setdefault("policy", FAST)
    kw.setdefault("timeout", 2.0)
    dest = safe_media_path(media, "film", name)
    return download_file(srv.download_url("film", name), dest, **kw), f


def test_ok_then_skipped(srv: IAServer, data: Path) -> None:
    """A clean download verifies; the second call skips it without any request."""
    r, f = fetch(srv, data, "ok.mp4")
    assert (r.size, r.md5, r.attempts, r.resumed_from) == (f.size, f.md5, 1, 0)
    assert r.path.read_bytes() == f.data and not part_path(r.path).exists()
    r2, _ = fetch(srv, data, "ok.mp4")
    assert r2.attempts == 0 and len(srv.log("/download/film/ok.mp4")) == 1


def test_dropped_connection_resumes_with_range(srv: IAServer, data: Path) -> None:
    """Connection cut after 1 MB: the retry asks Range from the part's size, then verifies."""
    srv.add_faults("film", "drop.mp4", Fault(drop_after=1_000_000))
    seen: list[int] = []
    r, f = fetch(srv, data, "drop.mp4", progress=lambda done, total: seen.append(done))
    reqs = srv.log("/download/film/drop.mp4")
    assert [(q.range, q.status) for q in reqs] == [(None, 200), ("bytes=1000000-", 206)]
    assert r.resumed_from == 1_000_000 and r.attempts == 2 and r.md5 == f.md5
    assert verify_file(r.path, expected_size=f.size, expected_md5=f.md5) is None
    assert seen[-1] == f.size


def test_resume_through_redirect(srv: IAServer, data: Path) -> None:
    """archive.org redirects /download/ to a storage host; Range survives the redirect."""
    srv.file("film", "drop.mp4").redirect = True
    srv.add_faults("film", "drop.mp4", Fault(drop_after=600_000))
    r, f = fetch(srv, data, "drop.mp4")
    served = [(q.range, q.status) for q in srv.log("/serve/film/drop.mp4")]
    assert served == [(None, 200), ("bytes=600000-", 206)]
    assert [q.status for q in srv.log("/download/film/drop.mp4")] == [302, 302]
    assert r.resumed_from == 600_000 and r.md5 == f.md5


def test_server_ignoring_range_restarts(srv: IAServer, data: Path) -> None:
    """A 200 answer to a Range request restarts the part from zero instead of corrupting it."""
    srv.add_faults("film", "drop.mp4", Fault(drop_after=500_000), Fault(ignore_range=True))
    r, f = fetch(srv, data, "drop.mp4")
    assert [q.status for q in srv.log("/download/film/drop.mp4")] == [200, 200]
    assert r.md5 == f.md5 and r.resumed_from == 0


def test_wrong_md5_deletes_retries_then_fails(srv: IAServer, data: Path) -> None:
    """A wrong md5 discards the part and retries; after the last attempt a clear permanent error."""
    f = srv.file("film", "badmd5.mp4")
    wrong = hashlib.md5(b"not it").hexdigest()
    with pytest.raises(DownloadError) as ei:
        fetch(srv, data, "badmd5.mp4", expected_md5=wrong)
    assert ei.value.permanent
    assert f"md5 mismatch: expected {wrong}, got {f.md5} after 4 attempts" in str(ei.value)
    assert len(srv.log("/download/film/badmd5.mp4")) == 4
    assert all(q.range is None for q in srv.log("/download/film/badmd5.mp4"))  # never resumed
    assert list((data / "film").iterdir()) == []


def test_wrong_size_in_metadata_fails(srv: IAServer, data: Path) -> None:
    """A size the body never reaches is a permanent mismatch too."""
    with pytest.raises(DownloadError, match="size mismatch") as ei:
        fetch(srv, data, "ok.mp4", expected_size=SIZE + 5, expected_md5=None)
    assert ei.value.permanent and list((data / "film").iterdir()) == []


def test_503_twice_then_ok(srv: IAServer, data: Path) -> None:
    """Two 503s are retried with backoff; the third try succeeds."""
    srv.add_faults("film", "s503.mp4", Fault(status=503, times=2))
    r, f = fetch(srv, data, "s503.mp4")
    assert [q.status for q in srv.log("/download/film/s503.mp4")] == [503, 503, 200]
    assert r.attempts == 3 and r.md5 == f.md5


def test_429_honours_retry_after(srv: IAServer, data: Path) -> None:
    """429 with Retry-After: 0.8 waits at least that long though backoff alone would be 10 ms."""
    srv.add_faults("film", "s429.mp4", Fault(status=429, retry_after=0.8))
    r, _ = fetch(srv, data, "s429.mp4")
    first, second = srv.log("/download/film/s429.mp4")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.8 and r.attempts == 2


def test_retry_after_beyond_policy_raises_retry_later(srv: IAServer, data: Path) -> None:
    """A Retry-After longer than max_delay is handed back to the caller to reschedule."""
    srv.add_faults("film", "s429.mp4", Fault(status=429, retry_after=120))
    t = time.monotonic()
    with pytest.raises(RetryLaterError) as ei:
        fetch(srv, data, "s429.mp4")
    assert ei.value.retry_after == 120 and not ei.value.permanent
    assert time.monotonic() - t < 1
    assert list((data / "film").iterdir()) == []


def test_404_is_permanent_at_once(srv: IAServer, data: Path) -> None:
    """404 fails on the first attempt, permanently, leaving nothing behind."""
    srv.add_faults("film", "gone.mp4", Fault(status=404, times=-1))
    with pytest.raises(DownloadError, match="HTTP 404") as ei:
        fetch(srv, data, "gone.mp4")
    assert ei.value.permanent and len(srv.log("/download/film/gone.mp4")) == 1
    assert list((data / "film").iterdir()) == []


def test_stall_times_out_and_retries(srv: IAServer, data: Path) -> None:
    """A server stalling past the timeout is retried; the next attempt succeeds."""
    srv.add_faults("film", "stall.mp4", Fault(stall=3.0))
    t = time.monotonic()
    r, f = fetch(srv, data, "stall.mp4", timeout=0.4)
    assert r.attempts == 2 and r.md5 == f.md5 and time.monotonic() - t < 2.5


def test_stall_forever_fails_cleanly(srv: IAServer, data: Path) -> None:
    """A server that always stalls ends in a transient DownloadError after the last attempt."""
    srv.add_faults("film", "stall.mp4", Fault(stall=1.0, times=-1))
    with pytest.raises(DownloadError, match="after 2 attempts") as ei:
        fetch(srv, data, "stall.mp4", timeout=0.2, policy=RetryPolicy(2, 0.01, 0.1, 0))
    assert not ei.value.permanent
    assert list((data / "film").iterdir()) == []


def test_transient_exhaustion_keeps_part_for_resume(srv: IAServer, data: Path) -> None:
    """Drops outlasting the policy keep the part; the next call resumes from it."""
    srv.add_faults("film", "drop.mp4", Fault(drop_after=700_000, times=2))
    with pytest.raises(DownloadError) as ei:
        fetch(srv, data, "drop.mp4", policy=RetryPolicy(1, 0.01, 0.1, 0))
    assert not ei.value.permanent
    assert part_path(data / "film" / "drop.mp4").stat().st_size == 700_000
    r, f = fetch(srv, data, "drop.mp4")
    assert r.resumed_from == 1_400_000 and r.md5 == f.md5


def test_unsafe_names_refused_nothing_written(srv: IAServer, data: Path, tmp_path: Path) -> None:
    """'../' and absolute names never reach download_file; other files still complete."""
    for bad in ("../../outside.mp4", "/tmp/abs.mp4", "sub/../../x.mp4"):
        with pytest.raises(UnsafePathError):
            safe_media_path(data, "film", bad)
    r, f = fetch(srv, data, "ok.mp4")
    assert r.md5 == f.md5 and r.path.parent == data.resolve() / "film"


def test_limits_refuse_before_starting(srv: IAServer, data: Path) -> None:
    """max_bytes and the disk reserve refuse permanently without a request."""
    with pytest.raises(DownloadError, match="over the 1000-byte limit") as ei:
        fetch(srv, data, "ok.mp4", max_bytes=1000)
    assert ei.value.permanent
    with pytest.raises(DownloadError, match="not enough disk space") as ei:
        fetch(srv, data, "ok.mp4", disk_reserve_bytes=1 << 62)
    assert ei.value.permanent
    with pytest.raises(DownloadError, match="limit"):  # unknown size: checked from the response
        fetch(srv, data, "ok.mp4", expected_size=None, expected_md5=None, max_bytes=1000)
    assert len(srv.log("/download/")) == 1


def test_existing_bad_dest_is_replaced(srv: IAServer, data: Path) -> None:
    """A dest file that fails verification is downloaded again."""
    dest = data / "film" / "ok.mp4"
    dest.parent.mkdir()
    dest.write_bytes(b"corrupt")
    r, f = fetch(srv, data, "ok.mp4", session=requests.Session())
    assert r.attempts == 1 and dest.read_bytes() == f.data


def test_other_files_complete_alongside_faults(srv: IAServer, data: Path) -> None:
    """With every fault queued at once, the healthy and recoverable files all verify."""
    srv.add_faults("film", "drop.mp4", Fault(drop_after=123_456))
    srv.add_faults("film", "s503.mp4", Fault(status=503, times=2))
    srv.add_faults("film", "gone.mp4", Fault(status=404, times=-1))
    done, failed = [], []
    for name in NAMES:
        md5 = "0" * 32 if name == "badmd5.mp4" else None
        try:
            done.append(fetch(srv, data, name, **({"expected_md5": md5} if md5 else {}))[0])
        except DownloadError as exc:
            failed.append((name, exc.permanent))
    assert sorted(failed) == [("badmd5.mp4", True), ("gone.mp4", True)]
    assert sorted(p.name for p in (data / "film").iterdir()) == sorted(
        set(NAMES) - {"badmd5.mp4", "gone.mp4"}
    )


def test_progress_callback_errors_are_not_retried(srv: IAServer, data: Path) -> None:
    """An exception from the progress callback (e.g. a task time limit) propagates at once."""

    class Stop(Exception):
        pass

    def progress(done: int, total: int | None) -> None:
        raise Stop

    with pytest.raises(Stop):
        fetch(srv, data, "ok.mp4", progress=progress)
    assert len(srv.log("/download/film/ok.mp4")) == 1


def test_retry_helpers() -> None:
    """Backoff doubles up to max_delay, jitter stays in range, Retry-After parses both forms."""
    p = RetryPolicy(attempts=9, base_delay=1, max_delay=10, jitter=0)
    assert [backoff_delay(p, a) for a in range(1, 6)] == [1, 2, 4, 8, 10]
    assert backoff_delay(p, 1, retry_after=7) == 7
    pj = RetryPolicy(base_delay=4, max_delay=100, jitter=0.5)
    assert all(2 <= backoff_delay(pj, 1) <= 6 for _ in range(200))
    assert parse_retry_after("3") == 3 and parse_retry_after("junk") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_verify_file_messages(tmp_path: Path) -> None:
    """verify_file: None when fine, else a message naming the problem."""
    p = tmp_path / "f.mp4"
    assert "missing" in verify_file(p, expected_size=1, expected_md5=None)
    p.write_bytes(b"abc")
    good = hashlib.md5(b"abc").hexdigest()
    assert verify_file(p, expected_size=3, expected_md5=good.upper()) is None
    assert verify_file(p, expected_size=None, expected_md5=None) is None
    assert "size 3, expected 4" in verify_file(p, expected_size=4, expected_md5=good)
    assert f"expected {'0' * 32}" in verify_file(p, expected_size=3, expected_md5="0" * 32)


def test_in_process_limiter_and_empty_file(srv: IAServer, data: Path) -> None:
    """download_file works with the in-process limiter, and with a zero-byte file."""
    srv.add_item("empty", {}, [ServedFile("e.mp4", b"")])
    lim = LocalHostLimiter(concurrency=1, rate=100)
    r = download_file(
        srv.download_url("empty", "e.mp4"),
        data / "empty" / "e.mp4",
        expected_size=0,
        expected_md5=hashlib.md5(b"").hexdigest(),
        limiter=lim,
    )
    assert r.size == 0 and r.path.read_bytes() == b""
    r2, f = fetch(srv, data, "ok.mp4", limiter=lim)
    assert r2.md5 == f.md5


def test_concurrent_same_file_is_refused(srv: IAServer, data: Path) -> None:
    """While one call downloads a file, a second call for it fails fast instead of interleaving."""
    f = srv.file("film", "ok.mp4")
    f.rate = 4_000_000  # ~0.8 s for the whole file
    dest = data / "film" / "ok.mp4"
    errors: list[DownloadError] = []

    def second() -> None:
        while not (part_path(dest).exists() and part_path(dest).stat().st_size > 0):
            time.sleep(0.005)  # bytes in the part: the first call holds its lock
        try:
            fetch(srv, data, "ok.mp4")
        except DownloadError as exc:
            errors.append(exc)

    t = threading.Thread(target=second)
    t.start()
    r, _ = fetch(srv, data, "ok.mp4")
    t.join()
    assert r.md5 == f.md5
    assert len(errors) == 1 and "another process" in str(errors[0]) and not errors[0].permanent
