"""The Celery app: `celery -A worker.app worker -Q io,cpu,render` runs samplemill's tasks.

Reliability settings: late acks and reject-on-worker-lost so a killed worker's task is
re-delivered; prefetch 1 so long tasks don't sit behind each other; a memory cap per child
and a hard/soft time limit per queue. Results live in the catalog, never in a result backend.
On Redis, a transport that survives the broker restarting under an unacked task
(worker/redis_transport.py). After a task that met a dropped or refused catalog connection, its
targets' attempts are recorded `interrupted` once the catalog answers (db/fault_log.py), so a
catalog outage that cut work shows in `task_runs`.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from celery import Celery
from celery.exceptions import Retry
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init

from core.settings import get_settings
from core.stages import Stage, all_stages
from db import fault_log
from worker import redis_transport
from worker.pipeline import TASK_MODULES

log = logging.getLogger(__name__)
CUT_PATIENCE = 120.0  # seconds a task cut by a catalog outage waits for the catalog to record it


def _stage_for_task(name: str) -> Stage | None:
    return next((s for s in all_stages() if s.task_name == name), None)


def route_by_stage(name: str, args: Any, kwargs: Any, options: Any, **_: Any) -> dict[str, str]:
    """Send each stage's task to its queue (looked up lazily: extra stages register late)."""
    stage = _stage_for_task(name)
    return {"queue": stage.queue} if stage else {}


class TimeLimitsByQueue:
    """Celery task annotation: hard and soft time limits from the stage's queue."""

    def annotate(self, task: Any) -> dict[str, int] | None:
        stage = _stage_for_task(task.name)
        if stage is None:
            return None
        hard = get_settings().time_limits.get(stage.queue, 4 * 3600)
        return {"time_limit": hard, "soft_time_limit": max(1, hard - 30)}


def transport_options(visibility_timeout: int) -> dict[str, int]:
    """Redis transport options: kombu sweeps for expired unacked messages only every
    interval x throttle seconds (100 s by default), so a short timeout needs a faster sweep."""
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": max(1, min(10, visibility_timeout // 10)),
        "unacked_restore_throttle": 1 if visibility_timeout < 600 else 10,
    }


def create_app() -> Celery:
    """Build the Celery app from the settings."""
    settings = get_settings()
    include = [*TASK_MODULES, *settings.extra_stages]
    broker = settings.resolved_broker_url
    app = Celery("samplemill", broker=broker, include=include)
    if broker.startswith(("redis://", "rediss://")):
        # kombu's Redis transport, minus the crash of the worker's main process when the
        # broker restarts while a task is unacked (worker/redis_transport.py)
        app.conf.broker_transport = redis_transport.TRANSPORT
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_default_queue="cpu",
        task_routes=(route_by_stage,),
        task_annotations=(TimeLimitsByQueue(),),
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options(settings.visibility_timeout),
        broker_connection_retry_on_startup=True,
        worker_max_memory_per_child=settings.max_memory_per_child_mb * 1024,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


app = create_app()


@worker_process_init.connect
def _fresh_connections_after_fork(**_: Any) -> None:
    """Pooled catalog connections must not be shared across a fork."""
    from db.engine import dispose_engines

    dispose_engines(close=False)


@worker_init.connect
def _warm_up_before_fork(**_: Any) -> None:
    """Import the media code and run it once on a tiny signal in the main process: numba's
    compiled functions are then inherited by every child the pool forks."""
    if not get_settings().preload:
        return
    import numpy as np

    from worker.analysis import AnalysisParams, analyze_signal

    params = AnalysisParams()
    t = np.arange(params.sr) / params.sr
    tone = (np.sin(2 * np.pi * 440 * t) * np.exp(-t * 4)).astype(np.float32)
    analyze_signal(np.tile(tone, 2), params.sr, params)


@task_prerun.connect
def _watch_the_catalog(**_: Any) -> None:
    """Note the catalog connections this task sees dropped or refused (db/fault_log.py)."""
    fault_log.install()
    fault_log.WATCH.begin()


@task_postrun.connect
def _record_catalog_cuts(task_id: str | None = None, task: Any = None, args: Any = None,
                         retval: Any = None, **_: Any) -> None:
    """A task that met a dropped or refused catalog connection may have lost its attempt's
    record with it (a claim or commit rolled back, an asynchronous claim forgotten by the
    restarted server): once the catalog answers, each of its targets gets its attempt's row,
    closed `interrupted` with the error, so the outage shows in `task_runs`."""
    if task is None or _stage_for_task(task.name) is None:
        return
    error = fault_log.WATCH.met()
    raised = retval if isinstance(retval, BaseException) else None
    if isinstance(raised, Retry) and isinstance(raised.exc, BaseException):
        raised = raised.exc  # retried for the outage (worker/tasks/runner.py): say what cut it
    if raised is not None and fault_log.is_catalog_error(raised):
        error = fault_log.describe(raised)
    if error is None:
        return
    first = args[0] if args else []
    try:
        ids = [int(t) for t in (first if isinstance(first, list | tuple) else [first])]
    except (TypeError, ValueError):  # not a samplemill target message
        return
    outcomes = retval.split(",") if isinstance(retval, str) else []
    ids = [t for i, t in enumerate(ids)
           if not (i < len(outcomes) and outcomes[i] == "skipped-duplicate")]
    _record_when_back(ids, fault_log.WATCH.since,
                      f"catalog connection cut (task {task_id}): {error}")


def _record_when_back(target_ids: list[int], since: datetime, error: str) -> None:
    """Write the cut attempts' rows, waiting up to CUT_PATIENCE seconds for the catalog."""
    from db.engine import get_engine, session_scope
    from worker.tasks.runner import worker_id

    deadline = time.monotonic() + CUT_PATIENCE
    while True:
        try:
            engine = get_engine(get_settings().resolved_catalog_url)
            with session_scope(engine) as session:
                n = fault_log.record_cut(session, target_ids, worker=worker_id(), since=since,
                                         error=error)
            if n:
                log.warning("targets %s: %d attempt(s) recorded interrupted: %s",
                            target_ids, n, error)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                log.error("targets %s: could not record the cut attempt: %s", target_ids, exc)
                return
            time.sleep(0.5)
