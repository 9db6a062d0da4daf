"""Notice a Redis broker that lost its messages, so the loop re-sends them at once.

Redis run without persistence forgets its queues when it restarts; a target the catalog says
is `queued` then has no message anywhere and, without this, waits SAMPLEMILL_REQUEUE_SECONDS
(15 minutes by default) to be sent again. Two signs, checked while targets are queued:

* the server's `run_id` changed since the last look (it restarted): every queued target whose
  message is not in the broker now is lost;
* a queued target's message is in no queue list (any priority) and in no worker's unacked
  set, and it was queued more than `grace` seconds ago (30 s: a message between the commit
  and the send, or between a worker's pop and its entry in the unacked set, which a starved
  worker can stretch to seconds, is not taken for lost). This catches what the run id cannot:
  a scheduler started after the broker lost its queues, a message popped by a connection that
  died before the worker got it.

A false alarm costs a duplicate message, which tasks ignore (they claim their target).
Reads the kombu Redis transport's layout: a list per queue and priority
(`<queue>\\x06\\x16<priority>` beside `<queue>`) and the `unacked` hash.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
UNACKED = "unacked"
MAX_SCAN = 50_000  # messages; beyond this only a restart is detected


def redis_url_of(broker_url: str) -> str | None:
    """The redis-py URL of a Celery broker URL, or None when the broker is not Redis."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url.removeprefix("redis+socket://")
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return broker_url
    return None


def target_ids_of(raw: bytes | str) -> list[int]:
    """The target ids a samplemill task message carries (its first argument: one id, or a
    list of a stage's tiny targets batched by the scheduler); [] for any other message."""
    try:
        message = json.loads(raw)
        if isinstance(message, list):  # an unacked entry: [message, exchange, routing key]
            message = message[0]
        if not str(message.get("headers", {}).get("task", "")).startswith(
            ("samplemill.", "tests.")
        ):
            return []
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        first = json.loads(body)[0][0]
        return [int(t) for t in first] if isinstance(first, list) else [int(first)]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return []


def target_id_of(raw: bytes | str) -> int | None:
    """The first target id a samplemill task message carries, or None."""
    ids = target_ids_of(raw)
    return ids[0] if ids else None


@dataclass(frozen=True)
class Look:
    """One look at the broker: its run id and the target ids of every message it holds
    (None when there were too many to read)."""

    run_id: str
    present: frozenset[int] | None


class BrokerWatch:
    """Finds queued targets whose messages the Redis broker lost."""

    def __init__(self, client: Any, queues: Sequence[str], *, grace: float = 30.0,
                 min_interval: float = 1.0) -> None:
        self.client = client
        self.queues = tuple(queues)
        self.grace = grace
        self.min_interval = min_interval
        self.run_id: str | None = None
        self._last = 0.0
        self.restarts = 0  # run id changes seen

    @classmethod
    def from_broker_url(cls, broker_url: str, queues: Sequence[str], **kw: Any
                        ) -> BrokerWatch | None:
        """A watch on the broker, or None when it is not Redis."""
        url = redis_url_of(broker_url)
        if url is None:
            return None
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        return cls(client, queues, **kw)

    def look(self) -> Look | None:
        """Read the run id and the messages; None when the broker does not answer."""
        import redis

        try:
            run_id = str(self.client.info("server")["run_id"])
            keys = [q if p == 0 else f"{q}{PRIORITY_SEP}{p}"
                    for q in self.queues for p in PRIORITY_STEPS]
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            pipe.hlen(UNACKED)
            sizes = pipe.execute()
            if sum(sizes) > MAX_SCAN:
                return Look(run_id, None)
            pipe = self.client.pipeline(transaction=False)
            for key, size in zip(keys, sizes, strict=False):
                if size:
                    pipe.lrange(key, 0, -1)
            pipe.hvals(UNACKED)
            found = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.debug("broker not readable: %s", exc)
            return None
        present = {t for batch in found for raw in batch for t in target_ids_of(raw)}
        return Look(run_id, frozenset(present))

    def lost(self, queued: Iterable[tuple[int, datetime]], now: datetime) -> list[int]:
        """Of the queued targets (id, queued at), those whose message the broker lost.

        At most one look per `min_interval` seconds; nothing is reported while the broker
        does not answer (sending would fail too).
        """
        queued = list(queued)
        if not queued or time.monotonic() - self._last < self.min_interval:
            return []
        self._last = time.monotonic()
        look = self.look()
        if look is None:
            return []
        restarted = self.run_id is not None and look.run_id != self.run_id
        if restarted:
            self.restarts += 1
            log.warning("the broker restarted (run id %s -> %s): re-sending lost messages",
                        self.run_id, look.run_id)
        self.run_id = look.run_id
        if look.present is None:
            return [t for t, _ in queued] if restarted else []
        return [
            t for t, at in queued
            if t not in look.present and (restarted or (now - at).total_seconds() >= self.grace)
        ]
