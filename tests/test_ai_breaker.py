"""The language model's circuit breaker, shared by all workers (issue 13).

Operators notice it as: after a few failed calls the notes come from the rules
without every worker waiting on a dead provider, and after the cool-down one call
(not a burst from every worker) finds out whether the model is back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from prometheus_client import REGISTRY

from ai import breaker
from ai.breaker import breaker_allow, breaker_failure, breaker_state, breaker_success
from tests.concurrency import at_once

FAILURES = 3
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Breaker:
    """How a test lets the cool-down pass for one kind of breaker."""

    wait_cooldown: Callable[[], None]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def embedded(settings, monkeypatch) -> Breaker:
    """The laptop mode: no REDIS_URL, the breaker lives in this process, on a fake clock."""
    settings.REDIS_URL = ""
    settings.AI_BREAKER_FAILURES = FAILURES
    settings.AI_BREAKER_COOLDOWN_SECONDS = 60
    clock = FakeClock()
    monkeypatch.setattr(breaker, "_clock", clock)

    def wait() -> None:
        clock.now += 60.5

    return Breaker(wait)


@pytest.fixture
def shared(settings) -> Iterator[Breaker]:
    """The real Redis, under a key prefix of this test's own; a short cool-down."""
    settings.REDIS_URL = os.environ["REDIS_URL"]
    settings.REDIS_KEY_PREFIX = f"test-breaker-{uuid.uuid4().hex}:"
    settings.AI_BREAKER_FAILURES = FAILURES
    settings.AI_BREAKER_COOLDOWN_SECONDS = 0.3
    breaker.reset_state()
    yield Breaker(lambda: time.sleep(0.4))
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = client.keys(f"{settings.REDIS_KEY_PREFIX}*")
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["embedded", pytest.param("shared", marks=pytest.mark.redis)])
def any_breaker(request) -> Breaker:
    return request.getfixturevalue(request.param)


def gauge(state: str) -> float | None:
    return REGISTRY.get_sample_value("e2a_ai_breaker_state", {"state": state})


def trip() -> None:
    for _ in range(FAILURES):
        breaker_failure()


def test_opens_after_n_consecutive_failures(any_breaker):
    for _ in range(FAILURES - 1):
        assert breaker_failure() == "closed"
    assert breaker_allow() is True
    assert breaker_failure() == "open"
    assert breaker_state() == "open"
    assert breaker_allow() is False
    assert gauge("open") == 1 and gauge("closed") == 0


def test_a_success_ends_the_run_of_failures(any_breaker):
    for _ in range(FAILURES - 1):
        breaker_failure()
    breaker_success()
    for _ in range(FAILURES - 1):
        breaker_failure()
    assert breaker_state() == "closed"
    assert breaker_allow() is True


def test_stays_open_for_the_cooldown_then_one_probe_closes_it(any_breaker):
    trip()
    assert breaker_allow() is False
    any_breaker.wait_cooldown()
    assert breaker_state() == "half_open"
    assert breaker_allow() is True  # the probe
    assert breaker_allow() is False  # everyone else waits for its outcome
    assert gauge("half_open") == 1
    assert breaker_success() == "closed"
    assert [breaker_allow() for _ in range(5)] == [True] * 5
    assert gauge("closed") == 1
    # a fresh run of failures is needed to open it again
    for _ in range(FAILURES - 1):
        breaker_failure()
    assert breaker_state() == "closed"


def test_a_failed_probe_reopens_for_another_cooldown(any_breaker):
    trip()
    any_breaker.wait_cooldown()
    assert breaker_allow() is True
    assert breaker_failure() == "open"
    assert breaker_allow() is False
    any_breaker.wait_cooldown()
    assert breaker_allow() is True  # the next probe
    assert breaker_allow() is False


def test_a_late_success_does_not_close_an_open_breaker(any_breaker):
    """A call started before the breaker opened may succeed later: the probe decides."""
    trip()
    assert breaker_success() == "open"
    assert breaker_allow() is False


def test_exactly_one_probe_when_many_threads_ask_at_once(any_breaker):
    trip()
    any_breaker.wait_cooldown()
    answers = at_once(breaker_allow, threads=16)
    assert sorted(answers) == [False] * 15 + [True]


def _run_workers(script: str, count: int, settings) -> list[str]:
    """Start `count` worker processes on the same Redis at once; their stdout lines."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "e2a_project.settings",
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "AI_BREAKER_FAILURES": str(settings.AI_BREAKER_FAILURES),
        "AI_BREAKER_COOLDOWN_SECONDS": str(settings.AI_BREAKER_COOLDOWN_SECONDS),
        "START_AT": str(time.time() + 3),  # past every process's Django start-up
    }
    code = textwrap.dedent(
        """
        import os, time, threading
        import django
        django.setup()
        from ai.breaker import breaker_allow, breaker_failure
        time.sleep(max(0.0, float(os.environ["START_AT"]) - time.time()))
        """
    ) + textwrap.dedent(script)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * count
    return outputs


@pytest.mark.redis
def test_workers_in_two_processes_share_the_count_and_the_probe(shared, settings):
    settings.AI_BREAKER_FAILURES = 20
    settings.AI_BREAKER_COOLDOWN_SECONDS = 2.0
    # Each worker sees 10 failures: neither alone reaches 20, together they open it.
    _run_workers(
        """
        threads = [threading.Thread(target=breaker_failure) for _ in range(10)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        """,
        2,
        settings,
    )
    assert breaker_state() == "open"
    time.sleep(2.1)
    outputs = _run_workers(
        """
        answers = []
        ask = lambda: answers.append(breaker_allow())
        threads = [threading.Thread(target=ask) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(sum(answers))
        """,
        2,
        settings,
    )
    assert sum(int(out) for out in outputs) == 1  # one probe across both processes
    assert breaker_allow() is False


def test_redis_unreachable_refuses_calls(settings):
    """REDIS_URL set but nothing answers: fail closed, the rules write the notes."""
    settings.REDIS_URL = "redis://127.0.0.1:1/12"  # nothing listens on port 1
    breaker.reset_state()
    started = time.monotonic()
    assert breaker_allow() is False
    assert breaker_failure() == "open"  # not counted anywhere, and no error raised
    assert breaker_success() == "open"
    assert breaker_state() == "open"
    assert breaker_allow() is False
    assert time.monotonic() - started < 2  # later calls skip the dead Redis
    assert gauge("open") == 1


def test_embedded_mode_needs_no_redis(embedded, settings):
    assert settings.REDIS_URL == ""
    assert breaker_state() == "closed"
    assert breaker_allow() is True
    trip()
    assert breaker_allow() is False
