"""The model server hanging, slow past the timeout, or answering garbage, under real workers.

The served app's worker (the Procfile's line) analyses every new exception with a
model at a local OpenAI-compatible server of this test's (tests/llm_server.py)
that misbehaves one way for the whole run. Twelve orders arrive with an address
that cannot exist, so twelve ADDRESS_INVALID exceptions open and twelve analyses
are queued on the `ai` queue. What must hold:

* the circuit breaker opens after AI_BREAKER_FAILURES failed calls, so the model
  is asked only a few times, not once per exception;
* every exception gets exactly one automatic analysis, and its notes come from
  the rules, saying why (timeout, invalid reply, breaker open);
* no analysis task runs past its time limit (AI_TIMEOUT_SECONDS + 30 s): the
  client's timeout ends a hanging call, not Celery killing the worker;
* the `ai` queue is empty at the end: nothing backs up behind the model.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from ..llm_server import Canned, LLMServer
from .matrix import FaultRow, record

pytestmark = pytest.mark.proof

EXCEPTIONS = 12
TIMEOUT_SECONDS = 2
BREAKER_FAILURES = 3
TASK_TIME_LIMIT = TIMEOUT_SECONDS + 30  # ai.analyze_exception's hard limit


@dataclass(frozen=True)
class Misbehaviour:
    name: str
    does: str  # what the model does, as the report says it
    reply: Canned
    causes: frozenset[str]  # the fallback causes a failing call is recorded with


MISBEHAVIOURS = [
    Misbehaviour(
        "hangs",
        "never answers",
        Canned(delay=600, body={}),  # never answers within the test
        frozenset({"timeout", "error"}),
    ),
    Misbehaviour(
        "slow",
        f"answers {TIMEOUT_SECONDS + 2} s late, after the client's timeout",
        Canned(delay=TIMEOUT_SECONDS + 2, body={}),  # would answer, after the timeout
        frozenset({"timeout", "error"}),
    ),
    Misbehaviour(
        "garbage",
        "answers 200 with a body that is not JSON",
        Canned(status=200, body="<html>upstream says hello</html> {not json"),
        frozenset({"invalid_reply", "error"}),
    ),
]


@pytest.mark.parametrize("misbehaviour", MISBEHAVIOURS, ids=lambda m: m.name)
def test_a_misbehaving_model_opens_the_breaker_and_notes_come_from_the_rules(serve, misbehaviour):
    started = time.monotonic()
    model = LLMServer().start()
    model.default = misbehaviour.reply
    try:
        app = serve(
            worker=True,
            env={
                "AI_PROVIDER_BASE_URL": model.url,
                "AI_API_KEY": "",
                "AI_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
                "AI_RETRY_MAX_ATTEMPTS": "1",
                "AI_BREAKER_FAILURES": str(BREAKER_FAILURES),
                "AI_BREAKER_COOLDOWN_SECONDS": "300",  # no probe within the test
            },
        )
        key = app.create_tenant_with_key("model")
        sent_at = time.monotonic()
        for n in range(EXCEPTIONS):
            app.ingest(
                key,
                source="shopify",
                event_type="order_paid",
                event_id=f"paid-{n}",
                order_id=f"#M{n}",
                occurred_at="2026-12-01T10:00:00Z",
                shipping_address={
                    "address1": "1 Main St",
                    "city": "Berlin",
                    "zip": "00000",
                    "country_code": "DE",
                },
            )

        def analysed() -> bool:
            [(n,)] = app.query(
                "SELECT count(DISTINCT exception_id) FROM exceptions_explanation"
                " WHERE trigger = 'auto'"
            )
            return n >= EXCEPTIONS

        app.wait_for("every exception analysed", analysed, timeout=120, every=0.5)
        done_at = time.monotonic()
        time.sleep(1)  # anything still queued would show in the counts below

        [(exceptions, exception_orders)] = app.query(
            "SELECT count(*), count(DISTINCT order_id) FROM exceptions_orderexception"
        )
        [(explanations, explained)] = app.query(
            "SELECT count(*), count(DISTINCT exception_id) FROM exceptions_explanation"
            " WHERE trigger = 'auto'"
        )
        causes = Counter(
            cause for (cause,) in app.query("SELECT cause FROM exceptions_explanation")
        )
        sources = Counter(
            s for (s,) in app.query("SELECT explanation_source FROM exceptions_orderexception")
        )
        worker_log = (app.logs / "worker.log").read_text()
        durations = [
            float(seconds)
            for seconds in re.findall(
                r"ai\.analyze_exception\[[^\]]+\] succeeded in ([0-9.]+)s", worker_log
            )
        ]
        queued = app.queue_length("ai")
    finally:
        model.stop()
    model_calls = len(model.requests)
    record(
        FaultRow(
            fault=f"Model server {misbehaviour.name}",
            what_was_done=f"{EXCEPTIONS} exceptions analysed against a model that"
            f" {misbehaviour.does} (timeout {TIMEOUT_SECONDS} s, breaker after"
            f" {BREAKER_FAILURES} failures)",
            sent=EXCEPTIONS,
            stored=explained,
            doubled=(explanations - explained) + (exceptions - exception_orders),
            recovery_seconds=None,
            notes=f"model asked {model_calls} times; notes by {dict(sources)};"
            f" fallback causes {dict(causes)}; longest analysis task"
            f" {max(durations, default=0):.1f} s (limit {TASK_TIME_LIMIT} s);"
            f" all analysed {done_at - sent_at:.1f} s after the first event;"
            f" ai queue left: {queued if queued is not None else 'n/a (no Redis broker)'}",
        )
    )
    print(
        f"\nmodel {misbehaviour.name}: asked {model_calls} times for {EXCEPTIONS} exceptions;"
        f" causes {dict(causes)}; sources {dict(sources)}; longest task"
        f" {max(durations, default=0):.1f} s; whole test {time.monotonic() - started:.0f} s"
    )
    assert exceptions == exception_orders == EXCEPTIONS
    assert explanations == explained == EXCEPTIONS  # one automatic analysis each
    assert sources == {"rules": EXCEPTIONS}
    assert set(causes) <= misbehaviour.causes | {"breaker_open"}
    assert causes["breaker_open"] >= EXCEPTIONS - BREAKER_FAILURES - 2  # in-flight races
    assert model_calls <= BREAKER_FAILURES + 2
    assert durations and max(durations) < TASK_TIME_LIMIT
    assert "TimeLimitExceeded" not in worker_log and "SoftTimeLimitExceeded" not in worker_log
    assert queued in (0, None)
