"""Reaching other systems: one interface, two implementations.

* `RecordOnly` (the default: no endpoint configured, or it is switched off):
  nothing leaves E²A; the run records what it would have sent ("would call …").
* `SignedWebhook`: a POST to the tenant's URL for that action kind, signed with
  Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
  `webhook-signature`), so the receiver can check it came from E²A and is not a
  replay. The webhook-id is the run's, the same on every try and after a worker
  crash, so a receiver can drop a repeat.

This module is the one retry layer for action calls (DESIGN.md): connection
errors, timeouts, 408, 429 and 5xx are tried again with capped, jittered
backoff up to ACTION_HTTP_MAX_ATTEMPTS requests. The runner above it records
the answer and never retries. Call it outside any database transaction: it can
take up to attempts × timeout.

The receiver's answer: any 2xx is success. Its JSON body may say
`{"outcome": "fixed" | "done" | "failed", "detail": "…"}`; "fixed" means the
problem is gone (E²A resolves the exception), "done" that the request was taken
(a trace opened, a scan asked for), "failed" that it could not be done. Without
an outcome, a 2xx is "done". Anything else is a failure.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook

RETRY_STATUSES = frozenset({408, 429})
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 5.0
# Enough of the receiver's answer for the audit; a larger body is cut.
RESPONSE_EXCERPT_CHARS = 2000
USER_AGENT = "E2A-actions/1"
OUTCOMES = ("fixed", "done", "failed")

# Injectable for tests: the wait between tries.
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the runner asks for: one message for one action."""

    message_id: str
    event_type: str
    data: dict[str, Any]


@dataclass(slots=True)
class Outcome:
    """What came of it: the run's status-to-be, in words, and the request/answer audit."""

    status: str  # fixed | done | recorded | failed
    detail: str
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    def deliver(self, delivery: Delivery) -> Outcome: ...


def envelope(delivery: Delivery, at: datetime) -> dict[str, Any]:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return {"type": delivery.event_type, "timestamp": at.isoformat(), "data": delivery.data}


class RecordOnly:
    """Nothing is sent: the run records what would have been."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def deliver(self, delivery: Delivery) -> Outcome:
        body = envelope(delivery, datetime.now(UTC))
        return Outcome(
            status="recorded",
            detail=f"would call the {delivery.event_type} receiver ({self.reason}); nothing sent",
            request={"would_send": body, "webhook_id": delivery.message_id},
        )


class SignedWebhook:
    """POST the envelope to `url`, signed with `secret` (whsec_…), retrying what may pass."""

    def __init__(self, *, url: str, secret: str) -> None:
        self.url = url
        self.signer = Webhook(secret)

    def deliver(self, delivery: Delivery) -> Outcome:
        max_tries = max(1, settings.ACTION_HTTP_MAX_ATTEMPTS)
        timeout = settings.ACTION_HTTP_TIMEOUT_SECONDS
        started = time.monotonic()
        problems: list[str] = []
        request: dict[str, Any] = {"method": "POST", "url": self.url}
        for tries in range(1, max_tries + 1):
            now = datetime.now(UTC)
            body = json.dumps(envelope(delivery, now), separators=(",", ":"))
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": delivery.message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.signer.sign(delivery.message_id, now, body),
            }
            request = {
                "method": "POST",
                "url": self.url,
                "webhook_id": delivery.message_id,
                "body": json.loads(body),
                "tries": tries,
            }
            wait: float | None = None
            try:
                response = httpx.post(
                    self.url, content=body, headers=headers, timeout=timeout, follow_redirects=False
                )
            except httpx.TimeoutException as exc:
                problems.append(f"no answer within {timeout:g} s ({type(exc).__name__})")
            except httpx.HTTPError as exc:
                problems.append(f"{type(exc).__name__}: {exc}")
            else:
                answer = _answer(response, started)
                if response.is_success:
                    return _judged(response, answer, request)
                problems.append(f"HTTP {response.status_code}")
                if response.status_code not in RETRY_STATUSES and response.status_code < 500:
                    return Outcome("failed", _tried(problems, tries), request, answer)
                wait = _retry_after(response.headers.get("retry-after"))
                request["last_answer"] = answer
            if tries < max_tries:
                sleep(wait if wait is not None else _backoff(tries))
        last_answer = request.pop("last_answer", {})
        return Outcome("failed", _tried(problems, max_tries), request, last_answer)


def _answer(response: httpx.Response, started: float) -> dict[str, Any]:
    text = response.text[:RESPONSE_EXCERPT_CHARS]
    return {
        "status": response.status_code,
        "body": text,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


def _judged(response: httpx.Response, answer: dict[str, Any], request: dict[str, Any]) -> Outcome:
    """A 2xx: the receiver's own outcome if it names one, else "done"."""
    said: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            said = parsed
    except ValueError:
        pass
    outcome = said.get("outcome")
    outcome = outcome if outcome in OUTCOMES else "done"
    detail = str(said.get("detail") or "").strip()[:500]
    words = {"fixed": "fixed", "done": "accepted", "failed": "could not do it"}[outcome]
    summary = f"HTTP {response.status_code}: the receiver {words}"
    return Outcome(outcome, f"{summary}: {detail}" if detail else summary, request, answer)


def _tried(problems: list[str], tries: int) -> str:
    return f"{problems[-1]} (after {tries} tr{'y' if tries == 1 else 'ies'})"


def _backoff(tries: int) -> float:
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (tries - 1))
    return ceiling * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not secrecy)


def _retry_after(raw: str | None) -> float | None:
    """Seconds from Retry-After (delta-seconds only), capped so a worker is not held long."""
    try:
        return min(BACKOFF_CAP_SECONDS, max(0.0, float(raw))) if raw else None
    except ValueError:
        return None
