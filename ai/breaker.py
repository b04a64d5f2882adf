"""The circuit breaker in front of the language model, shared by every worker.

Why: when the model's provider is down or rate-limiting, each Celery worker on
each machine would otherwise keep paying a timeout per exception. After
AI_BREAKER_FAILURES consecutive failed calls (counted across all workers) the
breaker opens and notes come from the rules; after AI_BREAKER_COOLDOWN_SECONDS
exactly one call, in all processes together, probes the model. Its success closes
the breaker, its failure opens it for another cool-down.

Callers do::

    if breaker_allow():
        try:
            reply = call_the_model()
        except ModelError:
            breaker_failure()
        else:
            breaker_success()

Where the state lives:
* REDIS_URL set: in Redis, changed only by Lua scripts (one atomic step each), so
  concurrent workers count every failure and the probe is a `SET NX PX`: one
  winner, and a probe whose worker died is given up when its key expires.
  pybreaker's Redis storage was not used: its open state moves to half-open with
  a plain SET and lets every caller through while half-open, so a cool-down's end
  would send a burst of calls from all workers instead of one probe.
* REDIS_URL set but Redis unreachable: fail closed. `breaker_allow()` answers
  False (the rules write the notes) rather than letting every worker hammer a
  model nobody can count failures for; for a few seconds after an error no call
  pays for another connection attempt.
* REDIS_URL empty (the embedded laptop mode, one machine): the same state machine
  in this process, so a laptop with a local model still gets notes from it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from prometheus_client import Gauge

log = logging.getLogger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
STATES = (CLOSED, OPEN, HALF_OPEN)

# A probe whose worker died never reports back; after this long (at least the
# cool-down) another caller may probe. Longer than a model call's timeout, so a slow
# probe is not joined by a second one.
_MIN_PROBE_TTL_SECONDS = 30.0
_RETRY_AFTER_ERROR_SECONDS = 5.0

STATE = Gauge(
    "e2a_ai_breaker_state",
    "State of the language model's circuit breaker as this process last saw it: "
    "1 for the current state (closed, open, half_open), 0 for the others.",
    ["state"],
    multiprocess_mode="livemostrecent",
)

# KEYS: failures, tripped, cooldown, probe. "tripped" marks open or half-open; the
# "cooldown" key expiring is what turns open into half-open.
_STATE_OF = """
if redis.call('exists', KEYS[2]) == 0 then return 'closed' end
if redis.call('exists', KEYS[3]) == 1 then return 'open' end
return 'half_open'
"""
# ARGV: probe ttl (ms). Returns the state, or 'probe' when this caller won the probe.
_ALLOW = """
if redis.call('exists', KEYS[2]) == 0 then return 'closed' end
if redis.call('exists', KEYS[3]) == 1 then return 'open' end
if redis.call('set', KEYS[4], '1', 'NX', 'PX', ARGV[1]) then return 'probe' end
return 'half_open'
"""
# ARGV: failures that open the breaker, cool-down (ms).
_FAILURE = """
if redis.call('exists', KEYS[2]) == 1 then
  if redis.call('exists', KEYS[3]) == 1 then return 'open' end
  redis.call('set', KEYS[3], '1', 'PX', ARGV[2])
  redis.call('del', KEYS[4])
  return 'open'
end
if redis.call('incr', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('set', KEYS[2], '1')
  redis.call('set', KEYS[3], '1', 'PX', ARGV[2])
  redis.call('del', KEYS[1], KEYS[4])
  return 'open'
end
return 'closed'
"""
_SUCCESS = """
if redis.call('exists', KEYS[2]) == 1 then
  if redis.call('exists', KEYS[3]) == 1 then return 'open' end
  redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return 'closed'
end
redis.call('del', KEYS[1])
return 'closed'
"""

_client: redis.Redis | None = None
_client_url: str | None = None
_down_until = 0.0
_lock = threading.Lock()


def _clock() -> float:
    """Seconds on a monotonic clock: the in-process breaker's time (tests replace it)."""
    return time.monotonic()


@dataclass
class _LocalBreaker:
    """The breaker of the embedded mode: the Redis scripts' state machine in memory."""

    failures: int = 0
    tripped: bool = False
    open_until: float = 0.0
    probe_until: float = 0.0

    def state(self, now: float) -> str:
        if not self.tripped:
            return CLOSED
        return OPEN if now < self.open_until else HALF_OPEN

    def allow(self, now: float, probe_ttl: float) -> str:
        state = self.state(now)
        if state == HALF_OPEN and now >= self.probe_until:
            self.probe_until = now + probe_ttl
            return "probe"
        return state

    def failure(self, now: float, threshold: int, cooldown: float) -> str:
        state = self.state(now)
        if state == OPEN:
            return OPEN
        if state == CLOSED:
            self.failures += 1
            if self.failures < threshold:
                return CLOSED
        self.failures = 0
        self.tripped = True
        self.open_until = now + cooldown
        self.probe_until = 0.0
        return OPEN

    def success(self, now: float) -> str:
        if self.state(now) == OPEN:
            return OPEN
        self.failures = 0
        self.tripped = False
        self.probe_until = 0.0
        return CLOSED


_local = _LocalBreaker()


def _keys() -> list[str]:
    # The hash tag keeps the four keys on one Redis Cluster slot (one script call).
    base = f"{settings.REDIS_KEY_PREFIX}{{e2a:ai:breaker}}"
    return [f"{base}:failures", f"{base}:tripped", f"{base}:cooldown", f"{base}:probe"]


def _cooldown_seconds() -> float:
    return max(float(settings.AI_BREAKER_COOLDOWN_SECONDS), 0.001)


def _probe_ttl_seconds() -> float:
    return max(_cooldown_seconds(), _MIN_PROBE_TTL_SECONDS)


def _redis() -> redis.Redis | None:
    """The shared client, or None while a recent error says Redis is down."""
    global _client, _client_url
    if time.monotonic() < _down_until:
        return None
    url = settings.REDIS_URL
    if _client is None or _client_url != url:
        _client = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25, health_check_interval=30
        )
        _client_url = url
    return _client


def _run(script: str, *args: object) -> str | None:
    """Run one breaker script in Redis; None when Redis cannot be reached."""
    global _down_until
    client = _redis()
    if client is None:
        return None
    try:
        result = client.eval(script, 4, *_keys(), *args)
    except redis.RedisError as exc:
        _down_until = time.monotonic() + _RETRY_AFTER_ERROR_SECONDS
        log.warning("redis unavailable, AI breaker refuses model calls", extra={"error": str(exc)})
        return None
    return result.decode() if isinstance(result, bytes) else str(result)


def _shared() -> bool:
    return bool(settings.REDIS_URL)


def _record(state: str) -> str:
    for name in STATES:
        STATE.labels(name).set(1 if name == state else 0)
    return state


def _local_call(step: Callable[[float], str]) -> str:
    with _lock:
        return step(_clock())


def breaker_allow() -> bool:
    """May this caller call the model now?

    True while closed, and for the one caller that wins the probe once the cool-down
    is over; False while open, to everyone else while a probe is out, and whenever
    the shared state in Redis cannot be read.
    """
    if _shared():
        outcome = _run(_ALLOW, int(_probe_ttl_seconds() * 1000))
        if outcome is None:
            _record(OPEN)
            return False
    else:
        outcome = _local_call(lambda now: _local.allow(now, _probe_ttl_seconds()))
    _record(HALF_OPEN if outcome == "probe" else outcome)
    return outcome in (CLOSED, "probe")


def breaker_failure() -> str:
    """Count a failed model call; returns the state it leaves the breaker in.

    The threshold-th consecutive failure opens the breaker; a failure while
    half-open (the probe's) opens it for another cool-down.
    """
    threshold = max(int(settings.AI_BREAKER_FAILURES), 1)
    if _shared():
        state = _run(_FAILURE, threshold, int(_cooldown_seconds() * 1000)) or OPEN
    else:
        state = _local_call(lambda now: _local.failure(now, threshold, _cooldown_seconds()))
    return _record(state)


def breaker_success() -> str:
    """Count a successful model call: it ends a run of failures and, half-open, closes."""
    state = (_run(_SUCCESS) or OPEN) if _shared() else _local_call(_local.success)
    return _record(state)


def breaker_state() -> str:
    """ "closed", "open" or "half_open" ("open" while Redis cannot be reached)."""
    state = (_run(_STATE_OF) or OPEN) if _shared() else _local_call(_local.state)
    return _record(state)


def reset_state() -> None:
    """Forget the in-process breaker and any remembered Redis outage (tests, settings changes).

    The shared state in Redis is left alone: it belongs to every worker.
    """
    global _local, _client, _client_url, _down_until
    with _lock:
        _local = _LocalBreaker()
    _client = None
    _client_url = None
    _down_until = 0.0
