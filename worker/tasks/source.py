"""Task `samplemill.source`: list a local folder or scrape archive.org into items and files."""

from __future__ import annotations

import logging
from pathlib import Path

from core.errors import ConfigError, DownloadError, PermanentError
from db.checkpoints import clear_checkpoint, load_checkpoint, save_checkpoint
from db.engine import session_scope
from db.sources import UpsertCounts, upsert_local, upsert_scraped
from worker.app import app
from worker.sources.params import InternetArchiveSource, LocalSource
from worker.tasks import TargetIds
from worker.tasks.runner import Deferred, LeaseLost, TargetContext, run_target

log = logging.getLogger(__name__)

PAGE = 200  # items upserted (and committed) together at most; a scrape page's end commits too


@app.task(name="samplemill.source")
def source(target_id: TargetIds) -> str:
    """Run the source target `target_id` (or each target of a batch, in turn)."""
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
    """Scrape the query and upsert items and their chosen files, committing each page together
    with the scrape's progress (`checkpoints`).

    A killed or failed run's successor carries on from the saved cursor, so a long listing is
    walked once; upserts are idempotent, so the page in flight when it died is harmless to
    redo. Items whose metadata fetch failed are catalogued from their scrape fields and the
    scrape goes on; at the end the target waits SAMPLEMILL_RETRY_LATER_SECONDS (without
    spending an attempt) and its next run fetches only those items again.
    """
    from worker.sources.internet_archive import (
        DEFAULT_FIELDS,
        ScrapeProgress,
        download_url,
        scrape,
    )

    endpoint = ia_endpoint(spec, ctx.settings.ia_endpoint)
    with session_scope(ctx.engine) as session:
        progress = ScrapeProgress.from_json(load_checkpoint(session, ctx.target_id))
    if progress != ScrapeProgress():
        log.info("job %s: resuming the scrape at %d items (%d to fetch again)",
                 ctx.job_id, progress.seen, len(progress.failed))
    items = scrape(
        spec.query,
        endpoint=endpoint,
        fields=spec.fields or DEFAULT_FIELDS,
        sorts=spec.sort,
        formats=spec.format,
        multi=spec.multi,
        limit=spec.limit,
        timeout=ctx.settings.http_timeout,
        progress=progress,
    )
    total = UpsertCounts()

    def commit(page: list) -> None:
        """Upsert a batch and save the progress that follows it, in one transaction."""
        with session_scope(ctx.engine) as session:
            total.add(
                upsert_scraped(
                    session,
                    ctx.job_id,
                    page,
                    url_for=lambda ident, name: download_url(endpoint, ident, name),
                )
            )
            if not save_checkpoint(session, ctx.target_id, ctx.run_token, progress.to_json()):
                raise LeaseLost(f"target {ctx.target_id} was taken over by another run")
        log.info("job %s: scraped %d items so far", ctx.job_id, progress.seen)

    try:
        page: list = []
        for item in items:
            page.append(item)
            # every PAGE items, and wherever a scrape page ends (progress.skip back to 0)
            if len(page) >= PAGE or progress.skip == 0:
                commit(page)
                page = []
        if page:
            commit(page)
    except ConfigError as exc:  # e.g. a malformed endpoint: retrying cannot help
        raise PermanentError(str(exc)) from exc
    except DownloadError as exc:
        if exc.permanent:
            raise PermanentError(str(exc)) from exc
        raise
    if progress.failed:
        names = ", ".join(
            f"{ident} ({entry.get('error')})" for ident, entry in list(progress.failed.items())[:5]
        )
        more = len(progress.failed) - 5
        raise Deferred(
            ctx.settings.retry_later_seconds,
            f"metadata failed for {len(progress.failed)} item(s): {names}"
            + (f" and {more} more" if more > 0 else "")
            + "; fetched again on the next run",
        )
    with ctx.commit() as session:
        clear_checkpoint(session, ctx.target_id)
    log.info("job %s: archive.org source %r: %s", ctx.job_id, spec.query, total)
