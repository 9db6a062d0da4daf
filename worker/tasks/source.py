"""Task `samplemill.source`: list a local folder or scrape archive.org into items and files."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from db.engine import session_scope
from db.sources import upsert_local, upsert_scraped
from worker.app import app
from worker.errors import ConfigError
from worker.tasks.runner import TargetContext, run_target

PAGE = 200


@app.task(name="samplemill.source")
def source(target_id: int) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext) -> None:
    spec = ctx.spec["source"]
    if spec["kind"] == "local":
        from worker.sources.local import list_local

        files = list(list_local(Path(spec["folder"]), spec["patterns"]))
        with ctx.commit() as session:
            upsert_local(session, ctx.job_id, files)
        return
    if spec["kind"] != "internet_archive":
        raise ConfigError(f"unknown source kind {spec['kind']!r}")
    from worker.sources.internet_archive import DEFAULT_FIELDS, download_url, scrape

    endpoint = spec.get("endpoint") or ctx.settings.ia_endpoint or None
    items = scrape(
        spec["query"],
        endpoint=endpoint,
        fields=spec.get("fields") or DEFAULT_FIELDS,
        sorts=spec.get("sort") or ("downloads desc",),
        formats=spec.get("format") or (".mp4",),
        multi=bool(spec.get("multi")),
        limit=spec.get("limit"),
        timeout=ctx.settings.http_timeout,
    )
    # Commit page by page: upserts are idempotent, so a crash mid-scrape loses nothing.
    while page := list(islice(items, PAGE)):
        with session_scope(ctx.engine) as session:
            upsert_scraped(
                session, ctx.job_id, page, url_for=lambda i, n: download_url(endpoint, i, n)
            )
