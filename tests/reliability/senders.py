"""Senders as the fault tests model them: they post events and retry on any non-2xx.

A real store, WMS or carrier keeps an event until it is answered 2xx, waiting
what Retry-After says (or half a second) between tries, and some deliver an
event twice. `Sender` does that from a thread against a served app's
`/ingest/events`, and keeps every answer it got, so a test can count them.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MAX_WAIT_SECONDS = 2.0  # a longer Retry-After would only slow the test down


@dataclass
class Answer:
    at: float
    status: int  # 0: no HTTP answer at all (connection refused or reset)
    retry_after: str | None
    body: str
    resend: bool = False  # the answer to a second delivery of an event already answered 2xx


def event_body(event_id: str, order_id: str, event_type: str = "order_paid") -> bytes:
    """One generic event as a sender posts it."""
    body = {
        "source": "wms",
        "event_type": event_type,
        "event_id": event_id,
        "order_id": order_id,
        "occurred_at": "2026-11-27T10:00:00Z",
    }
    return json.dumps(body).encode()


@dataclass
class Sender:
    """Posts its events one by one; on anything but 2xx it waits Retry-After and retries.

    With `resend_every=n`, every n-th event is delivered once more after its 2xx
    (retried the same way), as a sender that lost the first answer would.
    """

    base: str
    key: str
    events: Sequence[tuple[str, bytes]]
    resend_every: int = 0
    pause: float = 0.02  # between events: a steady stream, not a flood on two cores
    answers: list[Answer] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    done: bool = False

    def post(self, data: bytes, *, resend: bool = False) -> Answer:
        request = urllib.request.Request(
            f"{self.base}/ingest/events",
            data=data,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(
                    time.monotonic(), response.status, None, response.read().decode(), resend
                )
        except urllib.error.HTTPError as exc:
            return Answer(
                time.monotonic(),
                exc.code,
                exc.headers.get("Retry-After"),
                exc.read().decode(),
                resend,
            )
        except OSError as exc:
            return Answer(time.monotonic(), 0, None, repr(exc), resend)

    def deliver(self, data: bytes, stop_at: float, *, resend: bool = False) -> bool:
        """Post until answered 2xx; False if `stop_at` passed first."""
        while time.monotonic() < stop_at:
            answer = self.post(data, resend=resend)
            self.answers.append(answer)
            if 200 <= answer.status < 300:
                return True
            try:
                wait = float(answer.retry_after or 0.5)
            except ValueError:
                wait = 0.5
            time.sleep(min(wait, MAX_WAIT_SECONDS))
        return False

    def __call__(self, stop_at: float) -> None:
        for i, (event_id, data) in enumerate(self.events, start=1):
            if not self.deliver(data, stop_at):
                return
            self.sent.append(event_id)
            if self.resend_every and i % self.resend_every == 0:
                if not self.deliver(data, stop_at, resend=True):
                    return
                self.resent.append(event_id)
            time.sleep(self.pause)
        self.done = True


def statuses(answers: Iterable[Answer]) -> dict[str, int]:
    """Answers counted by HTTP status ("0" for no answer at all), for the matrix row."""
    return {str(status): n for status, n in sorted(Counter(a.status for a in answers).items())}
