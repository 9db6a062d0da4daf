"""Queue: depths per queue on the broker, workers online and what each runs (job, stage,
file, from the catalog), and a link to Flower when one is configured."""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db.read import web as wread
from scheduler.web.context import ctx, json_response

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="broker")
BROKER_TIMEOUT = 3.0
_lock = threading.Lock()


def _celery(request: Request) -> Any:
    state = request.app.state
    if getattr(state, "celery", None) is None:
        from worker.app import create_app

        state.celery = create_app()
    return state.celery


def _ask_broker(app: Any, timeout: float) -> tuple[dict[str, int], dict[str, list[dict]]]:
    from scheduler.monitor import queue_depths, workers

    return queue_depths(app), workers(app, timeout)


def _broker_answer(request: Request) -> concurrent.futures.Future:
    """The broker's answer, asking again only once the last question was answered (a broker
    that hangs must not pile up threads)."""
    state = request.app.state
    with _lock:
        future = getattr(state, "broker_future", None)
        if future is None or future.done():
            future = state.broker_future = _pool.submit(_ask_broker, _celery(request), 1.0)
        return future


def _target_id(args: Any) -> int | None:
    """The target id a samplemill task was sent with (its first argument; the first of a
    batch of tiny targets when the scheduler sent several in one message)."""
    if isinstance(args, list | tuple) and args and isinstance(args[0], list | tuple) and args[0]:
        args = args[0]
    if isinstance(args, list | tuple) and args and isinstance(args[0], int):
        return args[0]
    return None


def queue_data(request: Request) -> dict[str, Any]:
    """Broker depths and workers (or why they could not be read), with what each runs."""
    web = ctx(request)
    out: dict[str, Any] = {"broker": _display(web.settings.resolved_broker_url),
                           "embedded": web.settings.broker_url == "embedded",
                           "reachable": False, "error": None, "queues": {}, "workers": [],
                           "flower": web.flower_url or None}
    try:
        if out["embedded"] and not Path(web.settings.broker_socket).exists():
            raise ConnectionError(f"no socket at {web.settings.broker_socket}")
        depths, workers = _broker_answer(request).result(timeout=BROKER_TIMEOUT)
    except concurrent.futures.TimeoutError:
        out["error"] = f"the broker did not answer within {BROKER_TIMEOUT:g} s"
        workers, depths = {}, {}
    except Exception as exc:  # any broker failure is shown, never a traceback
        out["error"] = _broker_error(exc, out["embedded"])
        workers, depths = {}, {}
    else:
        out["reachable"] = True
    out["queues"] = depths
    ids = [t for tasks in workers.values() for task in tasks
           if (t := _target_id(task.get("args"))) is not None]
    with web.session() as s:
        info = wread.targets_info(s, ids)
        running = wread.running_targets(s, limit=100)
    for name, tasks in sorted(workers.items()):
        rows = []
        for task in tasks:
            tid = _target_id(task.get("args"))
            t = info.get(tid) if tid is not None else None
            rows.append({"task": task.get("task"), "target": tid,
                         "job": t.job_id if t else None, "job_name": t.job if t else None,
                         "stage": t.stage if t else None, "file": t.file if t else None,
                         "key": t.key if t else None})
        out["workers"].append({"name": name, "tasks": rows})
    out["running"] = [{"target": t.target_id, "job": t.job_id, "job_name": t.job,
                       "stage": t.stage, "file": t.file, "key": t.key} for t in running]
    return out


def _display(url: str) -> str:
    """A broker URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def _broker_error(exc: Exception, embedded: bool) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if embedded:
        return ("the embedded broker is not running (it lives while `samplemill run` runs); "
                f"{text}")
    return f"cannot reach the broker: {text}"


def queue_page(request: Request) -> Response:
    return ctx(request).page(request, "queue.html", q=queue_data(request))


def queue_api(request: Request) -> Response:
    return json_response(queue_data(request), headers={"cache-control": "no-store"})


routes = [Route("/queue", queue_page), Route("/api/queue", queue_api)]
