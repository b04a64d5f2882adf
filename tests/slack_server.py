"""A local HTTP server standing in for Slack's Web API (and response_url) in tests.

It records every request and answers from a script: by default `ok` with a fresh
`ts`; queue `rate_limited(retry_after)`, `error("channel_not_found")` or
`http_error(500)` for the next calls.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None  # None: ok with a new ts
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        # `hold()` makes the next answers wait until `release()`: a slow Slack.
        self.arrived = threading.Event()
        self._gate = threading.Event()
        self._gate.set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                fake.arrived.set()
                fake._gate.wait(30)
                status, reply, headers = fake._answer(self.path, dict(self.headers), body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}api/"

    def _answer(self, path: str, headers: dict[str, str], body: dict[str, Any]):
        with self._lock:
            self.requests.append(Recorded(path, headers, body))
            reply = self.replies.popleft() if self.replies else Reply()
        if reply.body is None:
            ts = f"1700000000.{next(self._ts):06d}"
            return reply.status, {"ok": True, "channel": body.get("channel"), "ts": ts}, {}
        return reply.status, reply.body, reply.headers

    # Scripted answers for the next calls.
    def rate_limited(self, retry_after: int) -> None:
        self.replies.append(
            Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        )

    def error(self, code: str) -> None:
        self.replies.append(Reply(200, {"ok": False, "error": code}))

    def http_error(self, status: int) -> None:
        self.replies.append(Reply(status, {"ok": False, "error": "internal_error"}))

    def hold(self) -> None:
        self.arrived.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def posts(self) -> list[dict[str, Any]]:
        """Bodies of the chat.postMessage calls, in order."""
        return [r.body for r in self.requests if r.path.endswith("/chat.postMessage")]

    def start(self) -> FakeSlack:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._gate.set()
        self.server.shutdown()
        self.server.server_close()


SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@contextmanager
def fake_slack(settings: Any) -> Iterator[FakeSlack]:
    """A running FakeSlack with the SLACK_* settings pointing at it (pytest `settings`)."""
    fake = FakeSlack().start()
    settings.SLACK_API_URL = fake.api_url
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_DEFAULT_CHANNEL = "#ops"
    settings.SLACK_NOTIFICATION_ENABLED = True
    settings.SLACK_MIN_SEVERITY = "HIGH"
    settings.SLACK_MESSAGES_PER_SECOND = 1.0
    settings.SLACK_DIGEST_MINUTES = 60
    # The sender's wake-up dedup keys must not leak between tests: same cache backend
    # as configured (Redis in CI), keys of their own.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"fake-slack-{id(fake)}"}
    }
    try:
        yield fake
    finally:
        fake.stop()
