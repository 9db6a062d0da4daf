"""Task `samplemill.download`: fetch one archive.org file into the data directory, verified.

The file lands at `<data_dir>/media/<identifier>/<name>` (refused when the remote name could
escape that folder), streamed into a `.part` that survives crashes so the next attempt resumes
with a Range request, checked against the expected size and md5, then renamed into place.
Requests are shared out per host among all workers through the broker's Redis.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select, update

from db.engine import session_scope
from db.models import File, Target, TargetStatus, TaskRun, utcnow
from worker.app import app
from worker.errors import DownloadError, PermanentError, UnsafePathError
from worker.settings import Settings
from worker.sources.politeness import HostLimiter
from worker.tasks.runner import LeaseLost, TargetContext, run_target

log = logging.getLogger(__name__)

DEFERRED = "deferred"  # TaskRun status of an attempt that handed back to honour Retry-After
MAX_DEFERRALS = 20  # after this many deferrals of one target, Retry-After burns attempts again
MAX_DEFER_SECONDS = 6 * 3600.0  # never park a target longer than this on one Retry-After


@app.task(name="samplemill.download")
def download(target_id: int) -> str:
    """Run the download target `target_id`."""
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


def handle(ctx: TargetContext) -> None:
    """Download, verify and record one file; see the module docstring."""
    from worker.sources.download import RetryLaterError, RetryPolicy, download_file

    file = ctx.file
    assert file is not None
    if not file.url:
        raise PermanentError(f"{file.key}: no URL to download")
    dest = destination(ctx)  # before anything touches the disk
    params = ctx.params
    attempts = params.get("attempts") or ctx.settings.download_attempts
    max_mb = params.get("max_file_mb")
    max_mb = ctx.settings.max_file_mb if max_mb is None else max_mb
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
        )
    except RetryLaterError as exc:
        if defer(ctx, exc.retry_after, str(exc)):
            return
        raise
    except DownloadError as exc:
        if exc.permanent:
            raise PermanentError(str(exc)) from exc
        raise
    log.info(
        "downloaded %s: %d bytes, resumed from %d, %d request(s)",
        file.key, result.size, result.resumed_from, result.attempts,
    )
    with ctx.commit() as session:
        row = session.get(File, file.id)
        assert row is not None
        row.path, row.size, row.md5 = str(result.path), result.size, result.md5


def defer(ctx: TargetContext, seconds: float, message: str) -> bool:
    """Hand the target back as pending until `seconds` from now, without spending an attempt.

    Writes the target and its run like runner._record_failure, guarded by the run token.
    Returns False (the caller then fails the attempt as usual) after MAX_DEFERRALS.
    """
    wait = min(MAX_DEFER_SECONDS, max(1.0, seconds))
    with session_scope(ctx.engine) as session:
        deferrals = session.scalar(
            select(func.count())
            .select_from(TaskRun)
            .where(TaskRun.target_id == ctx.target_id, TaskRun.status == DEFERRED)
        )
        if (deferrals or 0) >= MAX_DEFERRALS:
            return False
        handed_back = session.execute(
            update(Target)
            .where(
                Target.id == ctx.target_id,
                Target.run_token == ctx.run_token,
                Target.status == TargetStatus.RUNNING,
            )
            .values(
                status=TargetStatus.PENDING,
                attempts=Target.attempts - 1,
                not_before=utcnow() + timedelta(seconds=wait),
                queued_at=None,
                error=f"deferred {wait:g}s: {message}",
            )
        )
        if handed_back.rowcount != 1:
            raise LeaseLost(f"target {ctx.target_id} was taken over by another run")
        session.execute(
            update(TaskRun)
            .where(TaskRun.run_token == ctx.run_token)
            .values(status=DEFERRED, finished_at=utcnow(), error=message)
        )
    ctx.committed = True  # the outcome is written: run_target must not mark the target done
    log.info("target %s deferred %gs: %s", ctx.target_id, wait, message)
    return True
