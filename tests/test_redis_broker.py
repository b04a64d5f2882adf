"""The Redis broker transport (e2a_project.redis_broker): what is left of a broker
connection Celery threw away fails with a connection error, never AttributeError.

The whole story (Redis SIGKILLed under a stream, the worker reconnecting and
running the backlog) is tests/reliability/test_redis_restart.py, where the worker
stopped on about one run in three before this transport. Here the same state is
built step by step with real objects and a private redis-server.
"""

from __future__ import annotations

import contextlib
import logging
import shutil

import pytest
from kombu import Connection, Exchange, Queue
from kombu.common import ignore_errors
from redis.exceptions import ConnectionError as RedisConnectionError

from e2a_project import redis_broker

from .private_services import PrivateRedis


def test_redis_urls_use_the_e2a_transport():
    for url in ("redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6380/0"):
        assert type(Connection(url).transport) is redis_broker.Transport


def _consuming(connection: Connection, channel, name: str):
    """`channel` consumes queue `name` and holds one of its messages unacknowledged."""
    queue = Queue(name, Exchange(name), name)(channel)
    queue.declare()
    connection.Producer(channel).publish(
        {"task": name}, exchange=name, routing_key=name, declare=[queue]
    )
    message = queue.get(no_ack=False)
    assert message is not None
    channel.basic_consume(name, False, lambda m: None, f"tag-{name}")
    channel.connection.cycle._register_BRPOP(channel)  # waiting on BRPOP, as a worker's does
    return message


def test_a_connection_lost_with_redis_is_closed_and_its_late_ack_fails_cleanly(tmp_path, caplog):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server to run a private Redis")
    redis = PrivateRedis(tmp_path)
    redis.start()
    channels = []
    try:
        connection = Connection(redis.url)
        # A worker's connection: the task channel and another one (the remote-control
        # channel, say), both waiting on Redis; a task running, its message not acked.
        channels += [connection.default_channel, connection.channel()]
        running = _consuming(connection, channels[0], "tasks")
        _consuming(connection, channels[1], "control")
        redis.kill()

        # What Celery's consumer does on the connection error: collect the connection
        # (closing the other channel fails and leaves the task channel open, with its
        # transport's client dropped), then close it, ignoring connection errors.
        connection.collect()
        ignore_errors(connection, connection.close)  # stock kombu: AttributeError here

        # The task finishes and Celery acks it through ack_log_error with the
        # connection errors: logged, not raised; the message is delivered again later.
        with pytest.raises(RedisConnectionError):
            running.ack()
        with caplog.at_level(logging.CRITICAL, logger="test"):
            running.ack_log_error(logging.getLogger("test"), connection.connection_errors)
        assert "Couldn't ack" in caplog.text
    finally:
        redis.kill()
        # kombu would put the unacknowledged messages back at interpreter exit, into a
        # Redis that is gone; trying now (and failing quietly) cancels that.
        for channel in channels:
            with contextlib.suppress(Exception):
                channel.qos.restore_unacked_once()
