"""Media by id, never by path: a sample's audio decoded from its source range on demand
(Ogg Opus or WAV, cached on disk, ETag and Cache-Control), a wider window to hear it in
context, a file's waveform, artifacts and downloaded sources, all inside the data directory."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from core.errors import NotFoundError
from db.read import web as wread
from scheduler.web.context import WebContext, ctx, json_response
from scheduler.web.security import inside
from worker.render import preview

HOVER_CAP_MS = 2000.0  # the longest a sample plays on hover
CONTEXT_MS = 2500.0  # heard before and after a sample in context
CONTEXT_CAP_MS = 10_000.0
CACHE_CONTROL = "private, max-age=86400"


def _stamp(path: str | None) -> str:
    """The source's identity for cache keys: a changed file gets new cached audio."""
    if not path:
        raise NotFoundError("the sample's file has no local path (not downloaded?)")
    try:
        st = os.stat(path)
    except OSError:
        raise NotFoundError(f"the source file {Path(path).name} is missing") from None
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


def _cached(request: Request, web: WebContext, key: str, suffix: str, media_type: str,
            make: object) -> Response:
    etag = f'"{web.cache.digest(key)[:32]}"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"etag": etag, "cache-control": CACHE_CONTROL})
    path, hit = web.cache.get_or_make(key, suffix, make)  # type: ignore[arg-type]
    return FileResponse(path, media_type=media_type,
                        headers={"etag": etag, "cache-control": CACHE_CONTROL,
                                 "x-cache": "hit" if hit else "miss"})


def _format(request: Request) -> str:
    fmt = request.path_params["fmt"]
    if fmt not in preview.FORMATS:
        raise HTTPException(404, f"audio comes as {', '.join(preview.FORMATS)}, not {fmt!r}")
    return fmt


def sample_audio(request: Request) -> Response:
    """A sample's own audio, capped for hovering."""
    web = ctx(request)
    fmt = _format(request)
    with web.session() as s:
        src = wread.sample_source(s, request.path_params["sample"])
    smp = src.sample
    key = f"sample|{smp.id}|{_stamp(src.path)}|{smp.start}|{smp.dur}|{fmt}|{HOVER_CAP_MS}"
    return _cached(request, web, key, f".{fmt}", preview.FORMATS[fmt],
                   lambda: preview.clip_audio(src.path or "", smp.start, smp.dur, fmt=fmt,
                                              cap_ms=HOVER_CAP_MS))


def context_audio(request: Request) -> Response:
    """The sample with a few seconds around it, to hear where it comes from."""
    web = ctx(request)
    fmt = _format(request)
    with web.session() as s:
        src = wread.sample_source(s, request.path_params["sample"])
    smp = src.sample
    start = max(0.0, smp.start - CONTEXT_MS)
    dur = min(CONTEXT_CAP_MS, smp.start - start + smp.dur + CONTEXT_MS)
    key = f"context|{smp.id}|{_stamp(src.path)}|{start}|{dur}|{fmt}"
    return _cached(request, web, key, f".{fmt}", preview.FORMATS[fmt],
                   lambda: preview.clip_audio(src.path or "", start, dur, fmt=fmt))


def waveform(request: Request) -> Response:
    """A file's waveform peaks (JSON), decoded once and cached."""
    web = ctx(request)
    with web.session() as s:
        detail = wread.file_detail(s, request.path_params["file"])
    key = f"peaks|{_stamp(detail['path'])}"

    def make() -> bytes:
        import json

        peaks = preview.waveform_peaks(detail["path"])
        return json.dumps({"duration": peaks.duration, "low": peaks.low,
                           "high": peaks.high}).encode()

    return _cached(request, web, key, ".json", "application/json", make)


def artifact_file(request: Request) -> Response:
    """An artifact a job left, when it lies inside the data directory."""
    web = ctx(request)
    with web.session() as s:
        art = wread.get_artifact(s, request.path_params["artifact"])
    path = inside(web.data_dir, art.path)
    return FileResponse(path, filename=path.name, content_disposition_type="inline",
                        headers={"cache-control": "private, max-age=60"})


def source_file(request: Request) -> Response:
    """A catalogued media file itself, when it lies inside the data directory (downloads);
    files catalogued in place elsewhere are heard through their samples and context."""
    web = ctx(request)
    with web.session() as s:
        detail = wread.file_detail(s, request.path_params["file"])
    if not detail["path"]:
        raise NotFoundError(f"file {detail['id']} has no local copy")
    path = inside(web.data_dir, detail["path"])
    return FileResponse(path, filename=path.name, content_disposition_type="inline",
                        headers={"cache-control": "private, max-age=3600"})


def sample_info(request: Request) -> Response:
    """A sample's features and where it comes from (file page, time, archive.org item)."""
    with ctx(request).session() as s:
        src = wread.sample_source(s, request.path_params["sample"])
    smp = src.sample
    archive = None
    if src.item_source == "internet_archive" and src.item:
        from urllib.parse import quote

        archive = (f"https://archive.org/details/{quote(src.item, safe='')}"
                   f"?start={smp.start / 1000:.1f}")
    return json_response({
        "id": smp.id, "job": smp.job_id, "file_id": smp.file_id, "file": src.file_name,
        "start": smp.start, "dur": smp.dur, "power": smp.power, "hz": smp.hz,
        "note": smp.note, "octave": smp.octave, "clarity": smp.clarity, "item": src.item,
        "file_url": f"/files/{smp.file_id}?t={smp.start / 1000:.3f}",
        "archive_url": archive,
        "audio": f"/media/samples/{smp.id}.opus",
        "context": f"/media/samples/{smp.id}/context.opus"})


routes = [
    Route("/media/samples/{sample:id}.{fmt}", sample_audio),
    Route("/media/samples/{sample:id}/context.{fmt}", context_audio),
    Route("/media/artifacts/{artifact:id}", artifact_file),
    Route("/media/files/{file:id}", source_file),
    Route("/api/files/{file:id}/waveform", waveform),
    Route("/api/samples/{sample:id}", sample_info),
]
