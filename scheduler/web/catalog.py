"""Catalog: samples, files and items through the query language (bound SQL; a bad expression
shows its caret), sortable paged tables, CSV and Parquet downloads, and a file's page with its
probe data and its samples on a waveform, each playable."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from db import read
from db.query import ExpressionError, build_query, run_query
from db.query.columns import SCOPES
from db.read import web as wread
from scheduler.web.context import ctx, json_response

PAGE_SIZES = (25, 50, 100, 250, 500)
DOWNLOAD_CAP = 5_000_000


class QueryArgs:
    """A catalog query as the page's form sends it, checked."""

    def __init__(self, request: Request) -> None:
        q = request.query_params
        self.scope = q.get("scope", "samples")
        if self.scope not in SCOPES:
            raise HTTPException(400, f"scope must be one of {', '.join(SCOPES)}, got "
                                     f"{self.scope!r}")
        self.where = q.get("where", "").strip()
        self.sort = q.get("sort", "").strip()
        self.job = _int(q.get("job"), "job")
        self.size = _int(q.get("size"), "size") or 50
        if self.size not in PAGE_SIZES:
            self.size = 50
        self.offset = max(0, _int(q.get("offset"), "offset") or 0)
        self.limit = _int(q.get("limit"), "limit")
        if len(self.where) > 4000 or len(self.sort) > 1000:
            raise HTTPException(400, "expression too long")

    def params(self, **override: Any) -> dict[str, Any]:
        values = {"scope": self.scope, "where": self.where, "sort": self.sort,
                  "job": self.job if self.job is not None else "", "size": self.size,
                  "offset": self.offset}
        values.update(override)
        return {k: v for k, v in values.items() if v not in ("", None)}


def _int(raw: str | None, name: str) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, got {raw!r}") from None
    if not 0 <= value < 2**62:
        raise HTTPException(400, f"{name} is out of range")
    return value


def _caret(exc: ExpressionError) -> dict[str, Any]:
    return {"problem": exc.problem, "expression": exc.expression, "position": exc.position,
            "length": exc.length, "valid_names": exc.valid_names,
            "caret": " " * exc.position + "^" * exc.length, "message": str(exc)}


def query_data(request: Request) -> dict[str, Any]:
    """A page of the query's rows, or its error with the caret."""
    args = QueryArgs(request)
    out: dict[str, Any] = {"args": args, "columns": [], "rows": [], "more": False,
                           "error": None, "scopes": SCOPES, "sizes": PAGE_SIZES}
    with ctx(request).session() as s:
        out["jobs"] = [{"id": j.id, "name": j.name} for j in read.list_jobs(s, limit=200)]
        try:
            cols, rows, more = wread.query_page(
                s, args.scope, job_id=args.job, where=args.where, sort=args.sort,
                offset=args.offset, limit=args.size)
        except ExpressionError as exc:
            out["error"] = _caret(exc)
            return out
    out.update(columns=cols, rows=rows, more=more)
    return out


def catalog_page(request: Request) -> Response:
    data = query_data(request)
    status = 400 if data["error"] else 200
    return ctx(request).page(request, "catalog.html", status=status, q=data,
                             sort_link=_sort_links(data))


def catalog_api(request: Request) -> Response:
    data = query_data(request)
    if data["error"]:
        return json_response({"error": data["error"]}, 400)
    return json_response({"columns": data["columns"], "rows": data["rows"],
                          "more": data["more"], "offset": data["args"].offset})


def _sort_links(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per column: the params that sort by it (toggling direction) and its current arrow."""
    args: QueryArgs = data["args"]
    links = {}
    for col in data["columns"]:
        current = ""
        if args.sort == f"{col}=asc" or args.sort == col:
            current, nxt = "▲", f"{col}=desc"
        elif args.sort == f"{col}=desc":
            current, nxt = "▼", f"{col}=asc"
        else:
            nxt = f"{col}=asc"
        links[col] = {"params": args.params(sort=nxt, offset=0), "arrow": current}
    return links


def _validated(args: QueryArgs) -> None:
    """Build the query once (no database) so a bad expression fails before streaming."""
    build_query(args.scope, job_id=args.job, where=args.where or None, sort=args.sort or None)


def _rows(request: Request, args: QueryArgs) -> Iterator[tuple[list[str], Iterator[tuple]]]:
    with ctx(request).session() as s:
        result = run_query(s, args.scope, job_id=args.job, where=args.where or None,
                           sort=args.sort or None,
                           limit=min(args.limit or DOWNLOAD_CAP, DOWNLOAD_CAP))
        yield result.columns, result.rows


def download_csv(request: Request) -> Response:
    args = QueryArgs(request)
    try:
        _validated(args)
    except ExpressionError as exc:
        return json_response({"error": _caret(exc)}, 400)

    def body() -> Iterator[str]:
        for columns, rows in _rows(request, args):
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(columns)
            for i, row in enumerate(rows, 1):
                writer.writerow(row)
                if i % 2000 == 0:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

    name = f"{args.scope}.csv"
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"content-disposition": f'attachment; filename="{name}"'})


def download_parquet(request: Request) -> Response:
    args = QueryArgs(request)
    try:
        _validated(args)
    except ExpressionError as exc:
        return json_response({"error": _caret(exc)}, 400)
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp_dir = Path(ctx(request).settings.data_dir) / "web-cache" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=".parquet", dir=tmp_dir)
    os.close(fd)
    path = Path(name)
    try:
        for columns, rows in _rows(request, args):
            writer = None
            batch: list[tuple] = []

            def flush(rows_: list[tuple], cols: list[str] = columns) -> None:
                nonlocal writer
                table = pa.table({c: [r[i] for r in rows_] for i, c in enumerate(cols)})
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table.cast(writer.schema))

            for row in rows:
                batch.append(row)
                if len(batch) >= 50_000:
                    flush(batch)
                    batch = []
            if batch or writer is None:
                flush(batch)
            assert writer is not None
            writer.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(path, media_type="application/vnd.apache.parquet",
                        filename=f"{args.scope}.parquet",
                        background=BackgroundTask(path.unlink, missing_ok=True))


def file_page(request: Request) -> Response:
    file_id = request.path_params["file"]
    with ctx(request).session() as s:
        detail = wread.file_detail(s, file_id)
        samples = wread.file_samples(s, file_id)
    item = detail.pop("item")
    probe = {k: detail[k] for k in (
        "duration", "has_audio", "has_video", "container", "audio_codec", "video_codec",
        "sample_rate", "channels", "fps", "width", "height", "size", "md5")}
    stats = {k: detail[k] for k in ("samples", "median_power", "median_hz", "median_clarity",
                                     "median_dur")}
    return ctx(request).page(
        request, "file.html", file=detail, item=item, probe=probe, stats=stats,
        samples=samples[:2000], sample_count=len(samples),
        archive_url=_archive_url(item),
        start=request.query_params.get("t"))


def _archive_url(item: dict[str, Any] | None) -> str | None:
    if item and item.get("source") == "internet_archive" and item.get("identifier"):
        from urllib.parse import quote

        return f"https://archive.org/details/{quote(item['identifier'], safe='')}"
    return None


def file_samples_api(request: Request) -> Response:
    file_id = request.path_params["file"]
    with ctx(request).session() as s:
        wread.file_detail(s, file_id)
        samples = wread.file_samples(s, file_id)
    return json_response({
        "file": file_id,
        "id": [x.id for x in samples], "start": [x.start for x in samples],
        "dur": [x.dur for x in samples], "power": [x.power for x in samples],
        "hz": [x.hz for x in samples], "note": [x.note for x in samples],
        "clarity": [x.clarity for x in samples]})


routes = [
    Route("/catalog", catalog_page),
    Route("/api/catalog", catalog_api),
    Route("/catalog.csv", download_csv),
    Route("/catalog.parquet", download_parquet),
    Route("/files/{file:id}", file_page),
    Route("/api/files/{file:id}/samples", file_samples_api),
]
