"""worker/redis_transport.py: the second close Celery's consumer makes after losing Redis (the
transport has already let go of its client) must not raise AttributeError while a message is
unacked; with kombu's own Redis transport it does, which is what killed the worker's main
process on a Redis restart (the chaos suite's finding 2). On the real test Redis; fast, so part
of the default suite (tests/chaos/test_service_restarts.py restarts a real redis-server under
a real worker)."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection, Exchange, Queue

from tests.services import REDIS_URL, redis_url_or_skip
from worker.redis_transport import TRANSPORT

QUEUE = "chaos-transport-probe"


def _close_after_collect(url: str, transport: str | None) -> None:
    """One unacked message on the default channel, the transport's client released as
    `Connection.collect()` leaves it, then the consumer's `connection.close()`."""
    conn = Connection(url, transport=transport)
    channel = conn.default_channel
    Queue(QUEUE, Exchange(QUEUE), QUEUE, channel=channel).declare()
    conn.Producer(channel).publish({"n": 1}, exchange=QUEUE, routing_key=QUEUE)
    message = channel.basic_get(QUEUE, no_ack=False)
    assert message is not None and channel.qos._delivered, "no unacked message to restore"
    conn._transport.client = None
    conn.close()


def test_close_after_the_broker_went_away_does_not_raise() -> None:
    url = redis_url_or_skip()
    with pytest.raises(AttributeError, match="hostname"):  # kombu's own transport
        _close_after_collect(url, None)
    _close_after_collect(url, TRANSPORT)
    # nothing was restored on that close: the message waits in the unacked set for the
    # visibility timeout (a restarted Redis has lost it anyway; the broker watch re-sends)
    assert redis.Redis.from_url(url).hlen("unacked") == 2
    redis.Redis.from_url(url).flushdb()


def test_the_worker_app_uses_it_for_redis_brokers(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import get_settings
    from worker.app import create_app

    monkeypatch.setenv("SAMPLEMILL_BROKER_URL", REDIS_URL)  # never connected to here
    get_settings.cache_clear()
    try:
        app = create_app()
        assert app.conf.broker_transport == TRANSPORT
        with app.connection_for_write() as conn:
            assert type(conn.transport).__module__ == "worker.redis_transport"
    finally:
        get_settings.cache_clear()
