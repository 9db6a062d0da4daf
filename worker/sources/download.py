"""Download one file robustly: resumable .part file, size+md5 check, retries, atomic rename."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
import urllib3

from core.errors import DownloadError
from worker.sources.checksums import CHUNK, md5_of
from worker.sources.disk import NO_SPACE, LowDiskError, ensure_room
from worker.sources.retry import RetryPolicy, backoff_delay, parse_retry_after

if TYPE_CHECKING:
    from worker.sources.politeness import HostLimiter, LocalHostLimiter

log = logging.getLogger(__name__)

NET_CHUNK = 1 << 18  # network reads: a killed worker loses at most this much of a part
PART_SUFFIX = ".part"
USER_AGENT = "samplemill/0.1 (+batch media sampler)"
PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 451})
__all__ = [
    "DownloadResult",
    "LowDiskError",
    "RetryLaterError",
    "RetryPolicy",
    "download_file",
    "md5_of",
    "part_path",
    "verify_file",
]


@dataclass(frozen=True)
class DownloadResult:
    """What download_file did: final path, verified size and md5, where it resumed, how long."""

    path: Path
    size: int
    md5: str
    resumed_from: int
    attempts: int
    seconds: float


class RetryLaterError(DownloadError):
    """The server asked to come back after `retry_after` seconds, longer than the policy waits."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, permanent=False)
        self.retry_after = retry_after


class _Transient(Exception):
    """An attempt failed in a way worth retrying; `retry_after` from the server if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Corrupt(Exception):
    """The bytes arrived but failed verification; the part was discarded."""


def part_path(dest: Path) -> Path:
    """The temporary file a download of `dest` streams into (same folder, so rename is atomic)."""
    return dest.with_name(dest.name + PART_SUFFIX)


def verify_file(path: Path, *, expected_size: int | None, expected_md5: str | None) -> str | None:
    """None if `path` exists with the expected size and md5, else a message saying what's wrong."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{path}: missing"
    if expected_size is not None and size != expected_size:
        return f"{path}: size {size}, expected {expected_size}"
    if expected_md5:
        got, _ = md5_of(path)
        if got != expected_md5.lower():
            return f"{path}: md5 {got}, expected {expected_md5.lower()}"
    return None


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _content_range_start(header: str | None) -> int | None:
    """The first byte of a `Content-Range: bytes a-b/n` header."""
    if not header or not header.startswith("bytes "):
        return None
    try:
        return int(header[6:].split("-", 1)[0])
    except ValueError:
        return None


@dataclass
class _Job:
    """The state one download_file call carries between attempts."""

    url: str
    dest: Path
    part: Path
    expected_size: int | None
    expected_md5: str | None
    timeout: float
    max_bytes: int
    disk_reserve_bytes: int
    session: requests.Session
    progress: Callable[[int, int | None], None] | None
    min_rate: float = 0.0
    resumed_from: int = 0

    def attempt(self, fd: int) -> tuple[int, str]:
        """One request: resume or restart the part, stream, fsync; return (size, md5)."""
        have = os.fstat(fd).st_size
        if self.expected_size is not None and have > self.expected_size:
            os.ftruncate(fd, 0)
            have = 0
        h = hashlib.md5()
        if have:
            os.lseek(fd, 0, os.SEEK_SET)
            left = have
            while left:
                buf = os.read(fd, min(CHUNK, left))
                if not buf:
                    break
                h.update(buf)
                left -= len(buf)
        if self.expected_size is not None and have == self.expected_size:
            return have, h.hexdigest()  # complete from an earlier attempt: just verify
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            resp = self.session.get(
                self.url, headers=headers, stream=True, timeout=(self.timeout, self.timeout)
            )
        except requests.RequestException as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        with resp:
            return self._consume(fd, resp, have, h)

    def _consume(
        self, fd: int, resp: requests.Response, have: int, h: hashlib._Hash
    ) -> tuple[int, str]:
        """Check the status, then append the body to the part."""
        status = resp.status_code
        if status == 416 and have:
            os.ftruncate(fd, 0)  # our part is longer than the file: start over
            raise _Transient("416 range not satisfiable; restarting")
        if status in PERMANENT_STATUS:
            raise DownloadError(f"HTTP {status} for {self.url}", permanent=True)
        if status == 429 or status == 408 or status >= 500:
            raise _Transient(f"HTTP {status}", parse_retry_after(resp.headers.get("Retry-After")))
        if status not in (200, 206):
            raise DownloadError(f"unexpected HTTP {status} for {self.url}", permanent=True)
        if have and (
            status == 200 or _content_range_start(resp.headers.get("Content-Range")) != have
        ):
            log.info("server ignored Range for %s; restarting from 0", self.url)
            os.ftruncate(fd, 0)
            have, h = 0, hashlib.md5()
        if have:
            self.resumed_from = max(self.resumed_from, have)
        length = resp.headers.get("Content-Length")
        total = self.expected_size
        if total is None and length is not None and length.isdigit():
            total = have + int(length)
        if self.max_bytes > 0 and total is not None and total > self.max_bytes:
            raise DownloadError(
                f"{self.url} is {total} bytes, over the {self.max_bytes}-byte limit", permanent=True
            )
        if total is not None:
            ensure_room(self.part, total - have, self.disk_reserve_bytes)
        os.lseek(fd, have, os.SEEK_SET)
        done = have
        pace = _Pace(self.min_rate, self.timeout, done)
        while True:
            try:
                # read1: whatever has arrived (up to NET_CHUNK), so a trickle is measured
                # between reads instead of blocking until a whole chunk is in.
                buf = resp.raw.read1(NET_CHUNK, decode_content=False)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                os.fsync(fd)  # keep what arrived: the next attempt resumes from it
                raise _Transient(
                    f"connection lost at byte {done}: {type(exc).__name__}: {exc}"
                ) from exc
            if not buf:
                break
            self._write(fd, buf)
            h.update(buf)
            done += len(buf)
            if (slow := pace.check(done)) is not None:
                os.fsync(fd)
                raise _Transient(f"{slow} at byte {done}; cut off to retry")
            if self.max_bytes > 0 and done > self.max_bytes:
                os.ftruncate(fd, 0)
                raise DownloadError(
                    f"{self.url} exceeded the {self.max_bytes}-byte limit", permanent=True
                )
            if self.progress is not None:
                self.progress(done, total)
        if resp.raw.length_remaining:  # the body ended early without an error from urllib3
            os.fsync(fd)
            raise _Transient(f"connection lost at byte {done}: body ended early")
        os.fsync(fd)
        return done, h.hexdigest()

    def _write(self, fd: int, buf: bytes) -> None:
        """Append to the part; a full disk is LowDiskError (the part is kept for later)."""
        try:
            _write_all(fd, buf)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                with contextlib.suppress(OSError):
                    os.fsync(fd)
                raise LowDiskError(f"disk full writing {self.part}: {exc}") from exc
            raise DownloadError(f"writing {self.part}: {exc}", permanent=True) from exc


class _Pace:
    """Measures a body's rate over windows of `window` seconds against a minimum (bytes/s)."""

    def __init__(self, min_rate: float, window: float, done: int) -> None:
        self.min_rate = min_rate
        self.window = window
        self.since = time.monotonic()
        self.mark = done

    def check(self, done: int) -> str | None:
        """None while the body keeps up; a message once a whole window fell below the minimum."""
        if self.min_rate <= 0:
            return None
        now = time.monotonic()
        elapsed = now - self.since
        if elapsed < self.window:
            return None
        rate = (done - self.mark) / elapsed
        if rate < self.min_rate:
            return (
                f"too slow: {rate:.0f} B/s over {elapsed:.1f}s, "
                f"below the minimum {self.min_rate:g} B/s"
            )
        self.since, self.mark = now, done
        return None


def _write_all(fd: int, buf: bytes) -> None:
    """os.write until every byte is written."""
    view = memoryview(buf)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _lock_part(part: Path) -> int:
    """Open and exclusively lock the part file, so two workers never write the same download."""
    try:
        fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DownloadError(f"cannot open {part}: {exc}", permanent=True) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise DownloadError(f"{part} is being downloaded by another process") from exc
        raise
    return fd


def download_file(
    url: str,
    dest: Path,
    *,
    expected_size: int | None,
    expected_md5: str | None,
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as default
    timeout: float = 30.0,
    limiter: HostLimiter | LocalHostLimiter | None = None,
    disk_reserve_bytes: int = 0,
    max_bytes: int = 0,
    session: requests.Session | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    min_rate: float = 0.0,
) -> DownloadResult:
    """Download `url` to `dest` via `dest.part`, resuming, verifying, retrying; atomic at the end.

    An existing `dest` passing verification is returned untouched (attempts=0). Raises
    DownloadError(permanent=True) for 4xx, verification failure on the last attempt, size over
    `max_bytes`, or too little disk; DownloadError(permanent=False) when transient failures
    outlast the policy (the part is kept, so the next call resumes); RetryLaterError when the
    server's Retry-After exceeds `policy.max_delay`; LowDiskError (not permanent; the part is
    kept) when the disk is too full now. A body arriving slower than `min_rate` bytes/s over
    a `timeout`-second window is cut off and retried from where it stopped (0: no minimum).
    """
    started = time.monotonic()
    dest = Path(dest)
    expected_md5 = expected_md5.lower() if expected_md5 else None
    if dest.exists() and not dest.is_file():
        raise DownloadError(f"{dest} exists and is not a file", permanent=True)
    if dest.is_file():
        problem = verify_file(dest, expected_size=expected_size, expected_md5=expected_md5)
        if problem is None:
            md5 = expected_md5 or md5_of(dest)[0]
            return DownloadResult(dest, dest.stat().st_size, md5, 0, 0, time.monotonic() - started)
        log.warning("re-downloading: %s", problem)
    if max_bytes > 0 and expected_size is not None and expected_size > max_bytes:
        raise DownloadError(
            f"{url} is {expected_size} bytes, over the {max_bytes}-byte limit", permanent=True
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest.parent}: {exc}", permanent=True) from exc
    part = part_path(dest)
    have = part.stat().st_size if part.exists() else 0
    ensure_room(dest.parent, (expected_size or 0) - have, disk_reserve_bytes)

    own_session = session is None
    job = _Job(
        url,
        dest,
        part,
        expected_size,
        expected_md5,
        timeout,
        max_bytes,
        disk_reserve_bytes,
        session or requests.Session(),
        progress,
        min_rate,
    )
    host = urlsplit(url).hostname or ""
    fd = _lock_part(part)
    try:
        return _run(job, fd, policy, limiter, host, started)
    finally:
        if os.fstat(fd).st_size == 0 and part.exists():
            part.unlink(missing_ok=True)  # nothing worth resuming: leave no empty .part behind
        os.close(fd)
        if own_session:
            job.session.close()


def _run(
    job: _Job,
    fd: int,
    policy: RetryPolicy,
    limiter: HostLimiter | LocalHostLimiter | None,
    host: str,
    started: float,
) -> DownloadResult:
    """The attempt loop of download_file, with the part locked."""
    last = ""
    corrupt = False
    for attempt in range(1, policy.attempts + 1):
        retry_after = None
        try:
            with limiter.slot(host) if limiter is not None else contextlib.nullcontext():
                size, md5 = job.attempt(fd)
            if job.expected_size is not None and size != job.expected_size:
                raise _Corrupt(f"size mismatch: expected {job.expected_size}, got {size}")
            if job.expected_md5 and md5 != job.expected_md5:
                raise _Corrupt(f"md5 mismatch: expected {job.expected_md5}, got {md5}")
            os.replace(job.part, job.dest)
            _fsync_dir(job.dest.parent)
            return DownloadResult(
                job.dest, size, md5, job.resumed_from, attempt, time.monotonic() - started
            )
        except _Corrupt as exc:
            os.ftruncate(fd, 0)
            corrupt, last = True, str(exc)
        except _Transient as exc:
            corrupt, last = False, str(exc)
            retry_after = exc.retry_after
        log.info("attempt %d/%d for %s failed: %s", attempt, policy.attempts, job.url, last)
        if attempt == policy.attempts:
            break
        if retry_after is not None and retry_after > policy.max_delay:
            raise RetryLaterError(
                f"{job.url}: server asked to retry after {retry_after:g}s ({last})", retry_after
            )
        time.sleep(backoff_delay(policy, attempt, retry_after))
    if corrupt:
        job.part.unlink(missing_ok=True)
        raise DownloadError(f"{last} after {policy.attempts} attempts ({job.url})", permanent=True)
    raise DownloadError(f"{job.url}: {last} after {policy.attempts} attempts", permanent=False)
