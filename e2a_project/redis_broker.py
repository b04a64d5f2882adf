"""The Redis broker: kombu's Redis transport, made to survive a Redis restart.

When Redis goes away under a worker, Celery throws the broken connection away
(it collects it, which drops the transport's client) and reconnects with a new
one. Pieces of the old connection can still be used afterwards: a task that
finishes during the outage acknowledges its message on the old channel, and the
consumer's close of the old connection closes its channels again and tries to
put their unacknowledged messages back. kombu's Redis channel then builds a
connection pool from the transport's client, which is gone, and fails with
AttributeError. Celery ignores connection errors at those places, not
AttributeError, so the worker stopped with "Unrecoverable error" and nothing
consumed the queue any more: the Redis-restart proof
(tests/reliability/test_redis_restart.py) lost its worker on about one run in
three, with Celery 5.7.0 and kombu 5.7.0.

Here a channel whose transport has lost its client raises redis's
ConnectionError instead, which is what that state is. Celery handles it as it
handles any broker outage: the close is ignored, an acknowledgement that cannot
be sent is logged ("Couldn't ack") and its message is delivered again after the
visibility timeout (every task is idempotent), and the consumer reconnects.
The settings make `redis://` and `rediss://` name this transport (`use_for_redis_urls`).
"""

from __future__ import annotations

from typing import Any

from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

#: The transport as kombu imports it.
TRANSPORT_PATH = "e2a_project.redis_broker:Transport"
SCHEMES = ("redis", "rediss")


class Channel(kombu_redis.Channel):
    """kombu's Redis channel; a channel of a discarded connection says so."""

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise RedisConnectionError("this broker connection was closed after a connection loss")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with `Channel`."""

    Channel = Channel


def use_for_redis_urls() -> None:
    """Make every `redis://` and `rediss://` URL in this process mean this transport.

    An alias, as for the embedded broker (e2a_project.broker.use_for_filesystem_urls):
    the URL operators write stays kombu's. kombu caches resolved names, so a cached
    stock class is dropped as well.
    """
    for scheme in SCHEMES:
        kombu_transport.TRANSPORT_ALIASES[scheme] = TRANSPORT_PATH
        getattr(kombu_transport, "_transport_cache", {}).pop(scheme, None)
