"""Task `samplemill.download`: fetch one archive.org file into the data directory, verified."""

from __future__ import annotations

from functools import lru_cache

from db.models import File
from worker.app import app
from worker.errors import DownloadError, PermanentError
from worker.settings import Settings
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.download")
def download(target_id: int) -> str:
    return run_target(target_id, handle)


@lru_cache(maxsize=1)
def _limiter(broker_url: str, concurrency: int, rate: float):  # type: ignore[no-untyped-def]
    """Per-host politeness shared by every worker through the broker's Redis, when it is one."""
    from worker.sources.politeness import HostLimiter

    client = None
    if broker_url.startswith(("redis://", "rediss://", "redis+socket://")):
        import redis

        url = broker_url.replace("redis+socket://", "unix://")
        client = redis.Redis.from_url(url)
    return HostLimiter(client, concurrency=concurrency, rate=rate)


def limiter_for(settings: Settings):  # type: ignore[no-untyped-def]
    return _limiter(settings.resolved_broker_url, settings.host_concurrency, settings.host_rate)


def handle(ctx: TargetContext) -> None:
    from worker.sources.download import RetryPolicy, download_file
    from worker.sources.paths import safe_media_path

    file = ctx.file
    assert file is not None and file.url
    identifier, _, name = file.key.partition("/")
    dest = safe_media_path(ctx.settings.media_dir, identifier, name)
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
    except DownloadError as exc:
        if exc.permanent:
            raise PermanentError(str(exc)) from exc
        raise
    with ctx.commit() as session:
        row = session.get(File, file.id)
        assert row is not None
        row.path, row.size, row.md5 = str(result.path), result.size, result.md5
