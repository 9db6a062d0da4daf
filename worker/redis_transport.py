"""kombu's Redis transport, made to survive a broker that goes away while a task is unacked.

When Redis restarts under a worker, Celery's consumer first collects the lost connection
(`Connection.collect`: the channel's close fails on the dead socket, then the transport lets go
of its client, `transport.client = None`) and then closes it again
(`on_connection_error_after_connected` → `connection.close()`). That second close reaches the
channel's restore of its unacked messages, which builds a new Redis client from
`transport.client.hostname` and raises AttributeError: not a connection error, so the worker's
main process dies with "Unrecoverable error: AttributeError('NoneType' object has no attribute
'hostname')" (the chaos suite's finding 2; the same family as celery/kombu#582 and #970).

Here the restore finds the client gone and raises a connection error instead, which kombu's
close ignores as it does the first failure, so the consumer reconnects. Nothing is lost by not
restoring there: the messages are still in the broker's unacked set and come back after the
visibility timeout when Redis kept them, and when Redis restarted without them the scheduler's
broker watch re-sends them (scheduler/broker_watch.py).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class QoS(kombu_redis.QoS):
    """Redis QoS whose restore of unacked messages fails as a connection error once the
    transport has let go of its client."""

    def restore_unacked(self, client: Any = None) -> Any:
        transport = self.channel.connection
        if client is None and (transport is None or transport.client is None):
            raise RedisConnectionError("the broker connection is gone: unacked messages are "
                                       "left to the visibility timeout")
        return super().restore_unacked(client)


class Channel(kombu_redis.Channel):
    """Redis channel using that QoS."""

    QoS = QoS


class Transport(kombu_redis.Transport):
    """Redis transport using that channel (`broker_transport` in worker/app.py)."""

    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
