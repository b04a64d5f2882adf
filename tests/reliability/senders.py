"""Senders as real ones behave: post events one by one, retry on any non-2xx after Retry-After.

Fault tests run several of them in threads against a served app while they break
a dependency, then compare what the senders were told was accepted with what the
database holds.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field


@dataclass
class Answer:
    at: float
    status: int  # 0: no HTTP answer at all (connection refused or reset)
    retry_after: str | None
    body: str


@dataclass
class Sender:
    """Posts its events one by one; on anything but 2xx it waits Retry-After and retries."""

    base: str
    key: str
    name: str
    run: str
    events: int = 60
    answers: list[Answer] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    done: bool = False

    def event(self, i: int) -> tuple[str, bytes]:
        event_id = f"{self.run}-{self.name}-{i}"
        body = {
            "source": "wms",
            "event_type": "order_paid",
            "event_id": event_id,
            "order_id": f"#{self.name}-{i % 7}",
            "occurred_at": "2026-11-27T10:00:00Z",
        }
        return event_id, json.dumps(body).encode()

    def post(self, data: bytes) -> Answer:
        request = urllib.request.Request(
            f"{self.base}/ingest/events",
            data=data,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(time.monotonic(), response.status, None, "")
        except urllib.error.HTTPError as exc:
            return Answer(
                time.monotonic(), exc.code, exc.headers.get("Retry-After"), exc.read().decode()
            )
        except OSError as exc:
            return Answer(time.monotonic(), 0, None, repr(exc))

    def __call__(self, stop_at: float) -> None:
        for i in range(self.events):
            event_id, data = self.event(i)
            while time.monotonic() < stop_at:
                answer = self.post(data)
                self.answers.append(answer)
                if 200 <= answer.status < 300:
                    self.sent.append(event_id)
                    break
                try:
                    wait = float(answer.retry_after or 0.5)
                except ValueError:
                    wait = 0.5
                time.sleep(min(wait, 2.0))
            else:
                return
            time.sleep(0.02)  # a steady stream, not a flood on two shared cores
        self.done = True
