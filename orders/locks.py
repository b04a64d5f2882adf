"""Short Redis locks that keep concurrent copies of one event off the database.

The database unique constraint is what guarantees exactly-once; these locks only
spare it the work when a sender fires the same event many times at once. A
request that finds an event's lock taken waits for it to be released (the first
copy is being stored) and then goes on, so the constraint answers "duplicate"
only for events that really are stored. With Redis down or not configured the
locks are skipped, and for a few seconds after a Redis error no request pays
for another connection attempt.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import redis
from django.conf import settings

log = logging.getLogger(__name__)

_ACQUIRE = """
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('set', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    taken[#taken + 1] = i
  end
end
return taken
"""
_RELEASE = """
local released = 0
for i, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then
    redis.call('del', key)
    released = released + 1
  end
end
return released
"""
_RETRY_AFTER_ERROR_SECONDS = 5.0
_POLL_SECONDS = 0.01

_client: redis.Redis | None = None
_client_url: str | None = None
_down_until = 0.0


def _redis() -> redis.Redis | None:
    global _client, _client_url
    url = settings.REDIS_URL
    if not url or time.monotonic() < _down_until:
        return None
    if _client is None or _client_url != url:
        _client = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25, health_check_interval=30
        )
        _client_url = url
    return _client


def _mark_down(exc: Exception) -> None:
    global _down_until
    _down_until = time.monotonic() + _RETRY_AFTER_ERROR_SECONDS
    log.warning("redis unavailable, ingest locks skipped", extra={"error": str(exc)})


def reset_state() -> None:
    """Forget a remembered Redis outage (used when settings change, e.g. in tests)."""
    global _down_until, _client, _client_url
    _down_until = 0.0
    _client = None
    _client_url = None


def lock_key(tenant_id: int, source: str, event_id: str) -> str:
    # Tenant ids repeat across installations (and test databases) sharing one Redis.
    return f"{settings.REDIS_KEY_PREFIX}e2a:ingest:{tenant_id}:{source}:{event_id}"


@contextmanager
def event_locks(tenant_id: int, keys: Sequence[tuple[str, str]]) -> Iterator[int]:
    """Hold the locks of these (source, event_id) keys for the block.

    Yields how many locks were taken (0 when Redis is not in use).
    """
    client = _redis()
    if client is None or not keys:
        yield 0
        return
    names = [lock_key(tenant_id, s, e) for s, e in keys]
    token = uuid.uuid4().hex
    ttl_ms = int(settings.INGEST_LOCK_TTL_SECONDS * 1000)
    held: list[str] = []
    try:
        pending = names
        deadline = time.monotonic() + settings.INGEST_LOCK_TTL_SECONDS
        while pending:
            # One round trip for any number of keys: a batch's thousand locks are
            # one script call, not a thousand commands in a pipeline.
            if len(pending) == 1:
                got = {0} if client.set(pending[0], token, nx=True, px=ttl_ms) else set()
            else:
                taken = client.eval(_ACQUIRE, len(pending), *pending, token, ttl_ms)
                got = {int(i) - 1 for i in taken}
            held.extend(n for i, n in enumerate(pending) if i in got)
            pending = [n for i, n in enumerate(pending) if i not in got]
            if pending and time.monotonic() < deadline:
                time.sleep(_POLL_SECONDS)
            else:
                break  # a stuck lock expires on its own; the constraint still guards
    except redis.RedisError as exc:
        # Keys taken before the error would otherwise block every copy of those
        # events until their TTL: give them back now if Redis still answers.
        _release(client, held, token)
        _mark_down(exc)
        held = []
    try:
        yield len(held)
    finally:
        _release(client, held, token)


def _release(client: redis.Redis, names: list[str], token: str) -> None:
    """Delete those of `names` that still hold our token (never another request's)."""
    if not names:
        return
    try:
        client.eval(_RELEASE, len(names), *names, token)
    except redis.RedisError as exc:
        _mark_down(exc)
