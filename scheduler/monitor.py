"""Monitoring the broker: queue depths, and the workers online with what each runs.

The catalog side (jobs, progress, failures) is db.read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from core.errors import NotFoundError, SamplemillError
from core.queues import QUEUES
from core.settings import EMBEDDED, get_settings


@contextmanager
def _broker(app: Celery) -> Iterator[None]:
    """Turn a broker that does not answer into one clear error saying where it looked."""
    url = str(app.conf.broker_url)
    settings = get_settings()
    if settings.broker_url == EMBEDDED and not settings.broker_socket.exists():
        raise NotFoundError(
            f"no broker: the embedded one ({settings.broker_socket}) runs only while "
            "`samplemill run` does, so nothing is queued now; `samplemill status` shows the jobs"
        )
    try:
        yield
    except (OSError, KombuOperationalError, RedisError) as exc:
        raise SamplemillError(f"no broker answers at {url}: {exc}") from None


def queue_depths(app: Celery, queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
    """Messages waiting in each queue (read straight from the broker)."""
    depths: dict[str, int] = {}
    with _broker(app), app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        channel = conn.default_channel
        for queue in queues:
            try:
                depths[queue] = channel.client.llen(queue)
            except AttributeError:  # not Redis
                depths[queue] = channel.queue_declare(queue, passive=True).message_count
    return depths


def workers(app: Celery, timeout: float = 1.0) -> dict[str, list[dict[str, Any]]]:
    """Workers online and the tasks each is running."""
    with _broker(app):
        active = app.control.inspect(timeout=timeout).active() or {}
    return {
        name: [{"task": t.get("name"), "args": t.get("args"), "started": t.get("time_start")}
               for t in tasks]
        for name, tasks in active.items()
    }
