"""A real local HTTP server speaking OpenAI-compatible chat completions, for tests.

The model client is tested against real sockets, not a mocked httpx: what it sends,
how it reads a slow or failing server, and its retries are all exercised as they
would be against OpenRouter or Ollama. Replies are canned files in `fixtures/llm/`
(status, headers, delay, body), queued by name for the next requests:

    llm_server.queue("rate_limited", "good")
    reply = chat_structured(...)
    assert len(llm_server.requests) == 2

With nothing queued the server answers 500 "no canned reply queued", so a test
notices an unexpected extra request. The `llm_server` fixture also points the AI_*
settings at the server.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "llm"


@dataclass
class Recorded:
    """One request as the server received it (header names lower-cased)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Canned:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: Any = None


def canned(name: str) -> Canned:
    """The reply stored in fixtures/llm/<name>.json."""
    spec = json.loads((FIXTURES / f"{name}.json").read_text())
    return Canned(
        status=int(spec.get("status", 200)),
        headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
        delay=float(spec.get("delay") or 0),
        body=spec.get("body"),
    )


NOTHING_QUEUED = Canned(
    500, body={"error": {"message": "no canned reply queued", "type": "test_error"}}
)


class LLMServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Canned] = deque()
        # The answer when nothing is queued: a 500 that a test notices, unless a test
        # wants every request answered alike (a model that hangs, or talks nonsense).
        self.default: Canned = NOTHING_QUEUED
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = server._next(Recorded(self.path, headers, body))
                if reply.delay and server._stopping.wait(reply.delay):
                    return  # the test is over; nobody is listening any more
                data = (
                    reply.body.encode()
                    if isinstance(reply.body, str)
                    else json.dumps(reply.body).encode()
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up first (a timeout test)
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL, as AI_PROVIDER_BASE_URL takes it."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def queue(self, *names: str) -> None:
        """Answer the next requests with these canned replies, in order."""
        with self._lock:
            self.replies.extend(canned(name) for name in names)

    def queue_reply(self, reply: Canned) -> None:
        with self._lock:
            self.replies.append(reply)

    def _next(self, request: Recorded) -> Canned:
        with self._lock:
            self.requests.append(request)
            return self.replies.popleft() if self.replies else self.default

    def start(self) -> LLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm_server(settings: Any) -> Iterator[LLMServer]:
    """A running LLMServer with the AI_* settings pointing at it (no key, 5 s, 2 attempts)."""
    from ai import client

    server = LLMServer().start()
    settings.AI_PROVIDER_BASE_URL = server.url
    settings.AI_API_KEY = ""
    settings.AI_MODEL = "openai/gpt-4o-mini"
    settings.AI_TIMEOUT_SECONDS = 5.0
    settings.AI_RETRY_MAX_ATTEMPTS = 2
    settings.AI_MAX_REPLY_TOKENS = 800
    try:
        yield server
    finally:
        server.stop()
        client.forget_json_schema_refusals()
