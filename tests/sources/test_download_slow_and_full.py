"""download_file against a trickling server and a full disk: a trickle below the minimum rate
is cut off and resumed; a disk that is full now is LowDiskError (retry later), keeping the part,
and the download resumes once space is freed. Real HTTP on loopback, a real small tmpfs."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import DownloadError
from tests.ia_server import Fault, IAServer, ServedFile
from worker.sources.disk import LowDiskError, ensure_room
from worker.sources.download import RetryPolicy, download_file, part_path

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=1.0, jitter=0.0)
BLOB = os.urandom(600_000)
BIG = os.urandom(3 * 1024 * 1024)


@pytest.fixture
def srv() -> Iterator[IAServer]:
    with IAServer() as s:
        s.add_item("film", {}, [ServedFile("a.mp4", BLOB), ServedFile("big.mp4", BIG),
                                ServedFile("nosize.mp4", BIG, listed_size=False)])
        yield s


def fetch(srv: IAServer, dest: Path, name: str, **kw: object):
    f = srv.file("film", name)
    kw.setdefault("expected_size", f.size)
    kw.setdefault("expected_md5", f.md5)
    kw.setdefault("policy", FAST)
    kw.setdefault("timeout", 1.0)
    return download_file(srv.download_url("film", name), dest, **kw)


def test_trickle_below_minimum_is_cut_off_and_resumed(srv: IAServer, tmp_path: Path) -> None:
    """The first answer trickles at 4 kB/s (the file would take 150 s); with a 50 kB/s minimum
    over 1 s windows it is cut after about a second and the retry resumes with Range."""
    srv.add_faults("film", "a.mp4", Fault(rate=4000))
    started = time.monotonic()
    r = fetch(srv, tmp_path / "a.mp4", "a.mp4", min_rate=50_000)
    took = time.monotonic() - started
    assert r.path.read_bytes() == BLOB and r.attempts == 2
    reqs = srv.log("/download/film/a.mp4")
    assert [q.status for q in reqs] == [200, 206]
    assert 0 < r.resumed_from < 20_000 and reqs[1].range == f"bytes={r.resumed_from}-"
    assert took < 6, took


def test_steady_slow_server_above_minimum_is_left_alone(srv: IAServer, tmp_path: Path) -> None:
    """A server throttled to 400 kB/s (1.5 s for the file) stays above a 50 kB/s minimum:
    one request, nothing cut."""
    srv.file("film", "a.mp4").rate = 400_000
    r = fetch(srv, tmp_path / "a.mp4", "a.mp4", min_rate=50_000)
    assert r.attempts == 1 and r.resumed_from == 0 and r.path.read_bytes() == BLOB


def test_trickle_on_every_request_fails_transiently(srv: IAServer, tmp_path: Path) -> None:
    """A server that only ever trickles: after the policy's attempts, a transient error naming
    the rate, and the part holds what arrived (the target's next attempt resumes it)."""
    srv.add_faults("film", "a.mp4", Fault(rate=4000, times=-1))
    dest = tmp_path / "a.mp4"
    with pytest.raises(DownloadError, match="too slow") as ei:
        fetch(srv, dest, "a.mp4", min_rate=50_000, policy=RetryPolicy(attempts=2, base_delay=0))
    assert not ei.value.permanent and not dest.exists()
    assert part_path(dest).stat().st_size > 0
    ranges = [q.range for q in srv.log("/download/film/a.mp4")]
    assert ranges[0] is None and ranges[1].startswith("bytes=")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs mounted for this test (needs root; skipped, saying so, without it)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """Write a filler file leaving about `leave` bytes free on folder's file system."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    filler = folder / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_low_disk_before_starting_is_retryable(srv: IAServer, small_disk: Path) -> None:
    """3 MiB to fetch with 2 MiB free: LowDiskError (not permanent), no request, no part."""
    filler = fill(small_disk, 2 * 1024 * 1024)
    dest = small_disk / "film" / "big.mp4"
    with pytest.raises(LowDiskError, match="not enough disk space") as ei:
        fetch(srv, dest, "big.mp4")
    assert not ei.value.permanent and srv.log("/download/") == []
    assert not part_path(dest).exists()
    filler.unlink()
    r = fetch(srv, dest, "big.mp4")
    assert r.attempts == 1 and r.path.read_bytes() == BIG


def test_never_fits_is_permanent(srv: IAServer, small_disk: Path) -> None:
    """A file plus reserve larger than the whole disk can never succeed: permanent at once."""
    with pytest.raises(DownloadError, match="ever") as ei:
        fetch(srv, small_disk / "big.mp4", "big.mp4", disk_reserve_bytes=4 * 1024 * 1024)
    assert ei.value.permanent and not isinstance(ei.value, LowDiskError)
    fill(small_disk, 1024 * 1024)
    with pytest.raises(LowDiskError):  # 2 MiB fits the disk, not what is free right now
        ensure_room(small_disk, 2 * 1024 * 1024, 0)


def test_disk_filled_during_download_defers_and_resumes(
    srv: IAServer, small_disk: Path
) -> None:
    """Another process fills the disk while the body streams (size unlisted, so no up-front
    check can know): the write fails with ENOSPC, which is LowDiskError with the part kept;
    once the filler is deleted the next call resumes from the part and verifies."""
    srv.add_faults("film", "nosize.mp4", Fault(rate=3_000_000))  # about 1 s for the body
    dest = small_disk / "film" / "nosize.mp4"
    filler = small_disk / "filler"

    def fill_soon() -> None:
        while not part_path(dest).exists() or part_path(dest).stat().st_size < 300_000:
            time.sleep(0.01)
        fill(small_disk, 0)

    filling = threading.Thread(target=fill_soon)
    filling.start()
    with pytest.raises(LowDiskError, match="disk full") as ei:
        fetch(srv, dest, "nosize.mp4", expected_size=None)
    filling.join()
    assert not ei.value.permanent and not dest.exists()
    kept = part_path(dest).stat().st_size
    assert 300_000 <= kept < len(BIG)
    assert part_path(dest).read_bytes() == BIG[:kept]
    filler.unlink()
    r = fetch(srv, dest, "nosize.mp4", expected_size=None)
    assert r.resumed_from == kept and r.path.read_bytes() == BIG
    assert srv.log("/download/film/nosize.mp4")[-1].range == f"bytes={kept}-"
