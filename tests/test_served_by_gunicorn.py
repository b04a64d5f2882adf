"""The web command of the Procfile (and docker-compose) serves the app for real.

On PostgreSQL and Redis in CI, SQLite and the embedded broker on a laptop (tests/served.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .served import ROOT, ServedApp, served_app

# A long run with real processes or a replayed day: `make proof` (not `make test`).
pytestmark = pytest.mark.proof


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory, served_static) -> Iterator[ServedApp]:
    """One served app for this module's checks: each start costs a migrate and a boot."""
    with served_app(tmp_path_factory.mktemp("gunicorn"), served_static) as app:
        yield app


def test_the_procfile_web_command_serves_probes_metrics_and_docs(gunicorn):
    assert gunicorn.get("/healthz") == (200, '{"status": "ok"}')
    status, body = gunicorn.get("/readyz")
    assert status == 200, body  # the served app's own database and broker answer
    for _ in range(4):  # spread over both workers
        gunicorn.get("/healthz")
    status, metrics = gunicorn.get("/metrics")
    assert status == 200
    # Multiprocess mode: the counter sums what every worker served (at least 6 /healthz).
    healthz = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("django_http_requests_total_by_view_transport_method_total{")
        and 'view="healthz"' in line
    ]
    assert sum(healthz) >= 6
    status, docs = gunicorn.get("/docs")
    assert status == 200
    # Swagger UI's files come from WhiteNoise, with hashed names, not from a CDN.
    script = docs.split('src="', 2)[1].split('"', 1)[0] if 'src="' in docs else ""
    assert script.startswith("/static/") and gunicorn.get(script)[0] == 200, script


def test_each_gunicorn_keeps_its_control_socket_in_the_checkout(gunicorn):
    """Two gunicorns on one host no longer take one control socket from each other."""
    import stat
    from pathlib import Path

    port = gunicorn.url.rsplit(":", 1)[1]
    control = ROOT / "var" / "run" / f"gunicorn-{port}.ctl"
    deadline = time.monotonic() + 10
    while not control.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stat.S_ISSOCK(control.stat().st_mode)
    assert not (Path(gunicorn.env["HOME"]) / ".gunicorn").exists()


def _post_chunked(base: str, path: str, key: str, chunks: list[bytes]) -> tuple[int, str]:
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(base)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        conn.request(
            "POST",
            path,
            body=iter(chunks),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_a_chunked_body_is_read_and_bounded(gunicorn):
    """Senders that stream their body (no Content-Length) are heard, within the limit."""
    import json

    key = gunicorn.create_tenant_with_key("chunky")
    event = json.dumps(
        {
            "source": "wms",
            "event_type": "order_paid",
            "event_id": "chunked-1",
            "order_id": "#1",
            "occurred_at": "2026-11-27T10:00:00Z",
        }
    ).encode()
    status, body = _post_chunked(gunicorn.url, "/ingest/events", key, [event[:20], event[20:]])
    assert status == 202, body
    assert json.loads(body)["event_id"] == "chunked-1"

    too_big = [b" " * 65536] * 17 + [event]  # over the 1 MiB single-event limit
    status, body = _post_chunked(gunicorn.url, "/ingest/events", key, too_big)
    assert status == 413 and json.loads(body)["code"] == "payload_too_large"
