"""Task `samplemill.download`: fetch one archive.org file into the data directory, verified.

The file lands at `<data_dir>/media/<identifier>/<name>` (refused when the remote name could
escape that folder), streamed into a `.part` that survives crashes so the next attempt resumes
with a Range request, checked against the expected size and md5, then renamed into place.
Requests are shared out per host among all workers through the broker's Redis.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from core.errors import DownloadError, PermanentError, UnsafePathError
from core.settings import Settings
from db.files import update_file
from worker.app import app
from worker.sources.params import DownloadParams
from worker.sources.politeness import HostLimiter
from worker.tasks import TargetIds
from worker.tasks.runner import Deferred, TargetContext, run_target

log = logging.getLogger(__name__)


@app.task(name="samplemill.download")
def download(target_id: TargetIds) -> str:
    """Run the download target `target_id` (or each target of a batch, in turn)."""
    return run_target(target_id, handle)


@lru_cache(maxsize=1)
def _limiter(broker_url: str, concurrency: int, rate: float) -> HostLimiter:
    """Per-host politeness shared by every worker through the broker's Redis, when it is one."""
    client = None
    if broker_url.startswith(("redis://", "rediss://", "redis+socket://", "unix://")):
        import redis

        url = broker_url.replace("redis+socket://", "unix://")
        client = redis.Redis.from_url(url)
    return HostLimiter(client, concurrency=concurrency, rate=rate)


def limiter_for(settings: Settings) -> HostLimiter:
    """The process's host limiter for these settings."""
    return _limiter(settings.resolved_broker_url, settings.host_concurrency, settings.host_rate)


def destination(ctx: TargetContext) -> Path:
    """Where the target's file goes; UnsafePathError when its identifier or name is unsafe."""
    from worker.sources.paths import safe_media_path

    file = ctx.file
    assert file is not None
    identifier = file.key.partition("/")[0]  # keys are `<identifier>/<name>`; ids have no '/'
    try:
        return safe_media_path(ctx.settings.media_dir, identifier, file.name)
    except UnsafePathError as exc:
        raise UnsafePathError(f"refused to download {file.key!r}: {exc}") from exc


def handle(ctx: TargetContext, params: DownloadParams) -> None:
    """Download, verify and record one file; see the module docstring."""
    from worker.sources.download import LowDiskError, RetryLaterError, RetryPolicy, download_file

    file = ctx.file
    assert file is not None
    if not file.url:
        raise PermanentError(f"{file.key}: no URL to download")
    dest = destination(ctx)  # before anything touches the disk
    attempts = params.attempts or ctx.settings.download_attempts
    max_mb = ctx.settings.max_file_mb if params.max_file_mb is None else params.max_file_mb
    try:
        result = download_file(
            file.url,
            dest,
            expected_size=file.expected_size,
            expected_md5=file.expected_md5,
            policy=RetryPolicy(attempts=attempts),
            timeout=ctx.settings.http_timeout,
            limiter=limiter_for(ctx.settings),
            disk_reserve_bytes=ctx.settings.disk_reserve_mb * 1024 * 1024,
            max_bytes=max_mb * 1024 * 1024,
            min_rate=ctx.settings.min_download_rate,
        )
    except RetryLaterError as exc:
        raise Deferred(exc.retry_after, str(exc)) from exc
    except LowDiskError as exc:  # space may come back (other downloads, cleanup): wait
        raise Deferred(ctx.settings.retry_later_seconds, str(exc)) from exc
    except DownloadError as exc:
        if exc.permanent:
            raise PermanentError(str(exc)) from exc
        raise
    log.info(
        "downloaded %s: %d bytes, resumed from %d, %d request(s)",
        file.key, result.size, result.resumed_from, result.attempts,
    )
    with ctx.commit() as session:
        update_file(session, file.id, path=str(result.path), size=result.size, md5=result.md5)
