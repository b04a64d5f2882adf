"""The Redis ingest locks: a failure half-way through taking them leaks none."""

from __future__ import annotations

import pytest
import redis

from orders import locks


class FailingOnSecondEval:
    """The real Redis client, except that its second `eval` fails like a dropped link.

    That is the moment the leak happened: the first round had taken some keys, the
    retry for the others raised, and the taken keys stayed until their TTL.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.evals = 0

    def eval(self, *args):
        self.evals += 1
        if self.evals == 2:
            raise redis.ConnectionError("connection dropped")
        return self._client.eval(*args)

    def __getattr__(self, name: str):
        return getattr(self._client, name)


@pytest.fixture
def real_redis(settings):
    settings.INGEST_LOCK_TTL_SECONDS = 30.0  # a leak would outlive the test by far
    locks.reset_state()
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    locks.reset_state()


@pytest.mark.redis
def test_keys_taken_before_a_redis_error_are_released_at_once(real_redis, monkeypatch):
    tenant_id = 9_000_001
    mine, other = ("s", "mine"), ("s", "other")
    busy = [("s", "busy-1"), ("s", "busy-2")]  # two, so the retry is a script call too
    busy_keys = [locks.lock_key(tenant_id, *k) for k in busy]
    for key in busy_keys:
        real_redis.set(key, "another-request", px=30_000)  # forces a second round
    flaky = FailingOnSecondEval(locks._redis())
    monkeypatch.setattr(locks, "_client", flaky)
    try:
        with locks.event_locks(tenant_id, [mine, *busy, other]) as taken:
            assert taken == 0  # the block runs unlocked; the unique constraint guards
        assert flaky.evals == 3  # take, failed retry, release
        assert real_redis.exists(locks.lock_key(tenant_id, *mine)) == 0
        assert real_redis.exists(locks.lock_key(tenant_id, *other)) == 0
        # never another request's
        assert [real_redis.get(k) for k in busy_keys] == [b"another-request"] * 2
    finally:
        real_redis.delete(*busy_keys, *(locks.lock_key(tenant_id, *k) for k in (mine, other)))


@pytest.mark.redis
def test_locks_are_released_after_the_block(real_redis):
    tenant_id = 9_000_002
    keys = [("s", "a"), ("s", "b")]
    with locks.event_locks(tenant_id, keys) as taken:
        assert taken == 2
        assert real_redis.exists(*(locks.lock_key(tenant_id, *k) for k in keys)) == 2
    assert real_redis.exists(*(locks.lock_key(tenant_id, *k) for k in keys)) == 0


def test_without_redis_no_lock_is_taken(settings):
    settings.REDIS_URL = ""
    locks.reset_state()
    with locks.event_locks(1, [("s", "a")]) as taken:
        assert taken == 0
