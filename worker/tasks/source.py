"""Task `samplemill.source`: list a local folder or scrape archive.org into items and files."""

from __future__ import annotations

import logging
from itertools import islice
from pathlib import Path

from core.errors import ConfigError, DownloadError, PermanentError
from db.engine import session_scope
from db.sources import UpsertCounts, upsert_local, upsert_scraped
from worker.app import app
from worker.sources.params import InternetArchiveSource, LocalSource
from worker.tasks.runner import TargetContext, run_target

log = logging.getLogger(__name__)

PAGE = 200  # items upserted (and committed) together


@app.task(name="samplemill.source")
def source(target_id: int) -> str:
    """Run the source target `target_id`."""
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: LocalSource | InternetArchiveSource) -> None:
    """Catalogue the job's source: a local folder in one transaction, archive.org page by page."""
    if isinstance(params, LocalSource):
        handle_local(ctx, params)
    else:
        handle_internet_archive(ctx, params)


def handle_local(ctx: TargetContext, spec: LocalSource) -> None:
    """List the folder and upsert its files together with the target's completion."""
    from worker.sources.local import list_local

    files = list(list_local(Path(spec.folder), spec.patterns))
    with ctx.commit() as session:
        counts = upsert_local(session, ctx.job_id, files)
    log.info("job %s: local source %s: %s", ctx.job_id, spec.folder, counts)


def ia_endpoint(spec: InternetArchiveSource, default: str) -> str | None:
    """The job's endpoint, else the SAMPLEMILL_IA_ENDPOINT setting, else None (archive.org)."""
    return spec.endpoint or default or None


def handle_internet_archive(ctx: TargetContext, spec: InternetArchiveSource) -> None:
    """Scrape the query and upsert items and their chosen files, committing each page.

    Upserts are idempotent, so a crash or retry mid-scrape loses nothing and duplicates
    nothing: the next run walks the query again, adding new items and updating changed ones.
    """
    from worker.sources.internet_archive import DEFAULT_FIELDS, download_url, scrape

    endpoint = ia_endpoint(spec, ctx.settings.ia_endpoint)
    items = scrape(
        spec.query,
        endpoint=endpoint,
        fields=spec.fields or DEFAULT_FIELDS,
        sorts=spec.sort,
        formats=spec.format,
        multi=spec.multi,
        limit=spec.limit,
        timeout=ctx.settings.http_timeout,
    )
    total = UpsertCounts()
    seen = 0
    try:
        while page := list(islice(items, PAGE)):
            seen += len(page)
            with session_scope(ctx.engine) as session:
                total.add(
                    upsert_scraped(
                        session,
                        ctx.job_id,
                        page,
                        url_for=lambda ident, name: download_url(endpoint, ident, name),
                    )
                )
            log.info("job %s: scraped %d items so far", ctx.job_id, seen)
    except ConfigError as exc:  # e.g. a malformed endpoint: retrying cannot help
        raise PermanentError(str(exc)) from exc
    except DownloadError as exc:
        if exc.permanent:
            raise PermanentError(str(exc)) from exc
        raise
    log.info("job %s: archive.org source %r: %s", ctx.job_id, spec.query, total)
