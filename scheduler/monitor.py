"""Monitoring the broker: queue depths, and the workers online with what each runs.

The catalog side (jobs, progress, failures) is db.read."""

from __future__ import annotations

from typing import Any

from celery import Celery

from core.queues import QUEUES


def queue_depths(app: Celery, queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
    """Messages waiting in each queue (read straight from the broker)."""
    depths: dict[str, int] = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for queue in queues:
            try:
                depths[queue] = channel.client.llen(queue)
            except Exception:
                depths[queue] = channel.queue_declare(queue, passive=True).message_count
    return depths


def workers(app: Celery, timeout: float = 1.0) -> dict[str, list[dict[str, Any]]]:
    """Workers online and the tasks each is running."""
    active = app.control.inspect(timeout=timeout).active() or {}
    return {
        name: [{"task": t.get("name"), "args": t.get("args"), "started": t.get("time_start")}
               for t in tasks]
        for name, tasks in active.items()
    }
