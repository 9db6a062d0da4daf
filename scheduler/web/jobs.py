"""Jobs: the list, one job's live per-stage progress (rates, ETA), its failures with
tracebacks, retry/cancel/resume, its outputs played or shown in the page, and its subsets."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from db import read
from db.models import utcnow
from db.read import web as wread
from db.read.jobs import ArtifactRecord
from scheduler.web import actions
from scheduler.web.context import check_csrf, ctx, form_fields, json_response, wants_json

AUDIO = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"}
VIDEO = {".mp4", ".webm", ".mkv", ".mov", ".m4v"}
IMAGE = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
FAILURES_PAGE = 50


def media_kind(path: str) -> str:
    """How the page shows an output: audio, video, image or a plain link."""
    suffix = Path(path).suffix.lower()
    if suffix in AUDIO:
        return "audio"
    if suffix in VIDEO:
        return "video"
    return "image" if suffix in IMAGE else "file"


def _artifact(a: ArtifactRecord) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "name": a.name, "subset": a.subset,
            "file": Path(a.path).name, "size": a.size, "duration": a.duration,
            "created_at": a.created_at, "media": media_kind(a.path),
            "url": f"/media/artifacts/{a.id}"}


def _age(then: Any) -> float:
    return max(0.0, (utcnow() - then).total_seconds())


def list_data(request: Request) -> list[dict[str, Any]]:
    """The newest jobs with their target counts."""
    with ctx(request).session() as s:
        jobs = read.list_jobs(s, limit=200)
        sums = wread.job_summaries(s, [j.id for j in jobs])
    return [{"id": j.id, "name": j.name, "status": j.status, "error": j.error,
             "created_at": j.created_at, "age": _age(j.created_at), **asdict(sums[j.id]),
             "finished": sums[j.id].finished}
            for j in jobs]


def jobs_page(request: Request) -> Response:
    return ctx(request).page(request, "jobs.html", jobs=list_data(request),
                             notice=request.query_params.get("notice"))


def jobs_api(request: Request) -> Response:
    return json_response(list_data(request), headers={"cache-control": "no-store"})


def _page_args(request: Request, name: str, default: int, most: int) -> int:
    raw = request.query_params.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, got {raw!r}") from None
    return max(0, min(value, most))


def job_data(request: Request, job_id: int, *, offset: int = 0) -> dict[str, Any]:
    """One job: its progress per stage, failures (a page), outputs and subsets."""
    with ctx(request).session() as s:
        job = read.get_job(s, job_id)
        progress = read.job_progress(s, job_id)
        failed, failures = wread.failure_details(
            s, job_id, stages=[st.stage for st in progress.stages], offset=offset,
            limit=FAILURES_PAGE)
        outputs = [_artifact(a) for a in read.artifacts(s, job_id)]
        subsets = [{"name": x.name, "count": x.count, "layout": x.layout is not None}
                   for x in read.subsets(s, job_id)]
    return {
        "id": job.id, "name": job.name, "status": job.status, "error": job.error,
        "created_at": job.created_at, "finished_at": job.finished_at,
        "stages": [asdict(st) | {"finished": st.finished} for st in progress.stages],
        "failed": failed, "failures": [asdict(f) for f in failures], "offset": offset,
        "page": FAILURES_PAGE, "outputs": outputs, "subsets": subsets,
    }


def job_page(request: Request) -> Response:
    job_id = request.path_params["job"]
    data = job_data(request, job_id, offset=_page_args(request, "offset", 0, 10**9))
    return ctx(request).page(request, "job.html", job=data,
                             notice=request.query_params.get("notice"))


def job_api(request: Request) -> Response:
    job_id = request.path_params["job"]
    data = job_data(request, job_id, offset=_page_args(request, "offset", 0, 10**9))
    return json_response(data, headers={"cache-control": "no-store"})


async def _form(request: Request) -> dict[str, str]:
    await check_csrf(request)
    return await form_fields(request)


def _done(request: Request, job_id: int, message: str, **data: Any) -> Response:
    if wants_json(request):
        return json_response({"job": job_id, "message": message, **data})
    from urllib.parse import quote

    return RedirectResponse(f"/jobs/{job_id}?notice={quote(message)}", 303)


def _optional_int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, got {value!r}") from None


async def retry_action(request: Request) -> Response:
    job_id = request.path_params["job"]
    form = await _form(request)
    stage = form.get("stage") or None
    target = _optional_int(form.get("target"), "target")

    def work() -> int:
        with ctx(request).session() as s:
            return actions.retry(s, job_id, stage=stage, target_id=target)

    count = await run_in_threadpool(work)
    what = f"target {target}" if target is not None else (f"{stage} targets" if stage else
                                                          "failed targets")
    message = (f"re-queued {count} {what}; a running scheduler picks them up"
               if count else "nothing to retry")
    return _done(request, job_id, message, retried=count)


async def cancel_action(request: Request) -> Response:
    job_id = request.path_params["job"]
    await _form(request)

    def work() -> bool:
        with ctx(request).session() as s:
            return actions.cancel(s, job_id)

    ok = await run_in_threadpool(work)
    return _done(request, job_id, "cancelled" if ok else "the job was not active",
                 changed=ok)


async def resume_action(request: Request) -> Response:
    job_id = request.path_params["job"]
    await _form(request)

    def work() -> bool:
        with ctx(request).session() as s:
            return actions.resume(s, job_id)

    ok = await run_in_threadpool(work)
    return _done(request, job_id, "resumed" if ok else "the job was not cancelled", changed=ok)


async def delete_action(request: Request) -> Response:
    job_id = request.path_params["job"]
    await _form(request)
    web = ctx(request)

    def work() -> bool:
        with web.session() as s:
            return actions.delete(s, job_id, web.settings.job_output_dir(job_id))

    await run_in_threadpool(work)
    if wants_json(request):
        return json_response({"job": job_id, "deleted": True})
    from urllib.parse import quote

    return RedirectResponse(f"/jobs?notice={quote(f'deleted job {job_id}')}", 303)


routes = [
    Route("/jobs", jobs_page),
    Route("/api/jobs", jobs_api),
    Route("/jobs/{job:id}", job_page),
    Route("/api/jobs/{job:id}", job_api),
    Route("/jobs/{job:id}/retry", retry_action, methods=["POST"]),
    Route("/jobs/{job:id}/cancel", cancel_action, methods=["POST"]),
    Route("/jobs/{job:id}/resume", resume_action, methods=["POST"]),
    Route("/jobs/{job:id}/delete", delete_action, methods=["POST"]),
]
