"""A local HTTP receiver for automated actions: it checks each request's Standard Webhooks
signature with the official `standardwebhooks` library, records it, and answers from a
script (default: 200 with no outcome, i.e. "done")."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from exceptions.models.automation import new_endpoint_secret


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool
    problem: str = ""


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None
    delay: float = 0.0  # seconds before answering: longer than the timeout = a hang
    headers: dict[str, str] = field(default_factory=dict)


class ActionReceiver:
    def __init__(self) -> None:
        self.secret = new_endpoint_secret()
        self.received: list[Received] = []
        self.answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = Webhook(receiver.secret).verify(raw, headers)
                    verified, problem = True, ""
                except WebhookVerificationError as exc:
                    body, verified, problem = json.loads(raw or b"{}"), False, str(exc)
                with receiver._lock:
                    receiver.received.append(Received(self.path, headers, body, verified, problem))
                    answer = receiver.answers.popleft() if receiver.answers else Answer()
                if answer.delay:
                    time.sleep(answer.delay)
                data = json.dumps(answer.body or {}).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller gave up waiting (the hang tests)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/actions") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)


@contextmanager
def running_receiver() -> Iterator[ActionReceiver]:
    receiver = ActionReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
