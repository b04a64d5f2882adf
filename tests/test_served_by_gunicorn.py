"""The web command of the Procfile (and docker-compose) serves the app for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def gunicorn(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
        "HOME": str(tmp_path / "home"),  # where gunicorn's own default control socket goes
    }
    env.pop("E2A_REQUIRE_SERVICES", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py sets its own
    bin_dir = Path(sys.executable).parent
    for step in (["migrate"], ["collectstatic"]):
        subprocess.run(
            [sys.executable, "manage.py", *step, "--no-input", "-v0"], cwd=ROOT, env=env, check=True
        )
    # The Procfile's web line, verbatim.
    procfile = (ROOT / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    command = web.removeprefix("web:").split()
    command[0] = str(bin_dir / command[0])
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_procfile_web_command_serves_probes_metrics_and_docs(gunicorn):
    assert _get(f"{gunicorn}/healthz") == (200, '{"status": "ok"}')
    status, body = _get(f"{gunicorn}/readyz")
    assert status == 200, body
    for _ in range(4):  # spread over both workers
        _get(f"{gunicorn}/healthz")
    status, metrics = _get(f"{gunicorn}/metrics")
    assert status == 200
    # Multiprocess mode: the counter sums what every worker served (at least 6 /healthz).
    healthz = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("django_http_requests_total_by_view_transport_method_total{")
        and 'view="healthz"' in line
    ]
    assert sum(healthz) >= 6
    status, docs = _get(f"{gunicorn}/docs")
    assert status == 200
    # Swagger UI's files come from WhiteNoise, with hashed names, not from a CDN.
    script = docs.split('src="', 2)[1].split('"', 1)[0] if 'src="' in docs else ""
    assert script.startswith("/static/") and _get(f"{gunicorn}{script}")[0] == 200, script


def test_each_gunicorn_keeps_its_control_socket_in_the_checkout(gunicorn, tmp_path):
    """Two gunicorns on one host no longer take one control socket from each other."""
    import stat

    port = gunicorn.rsplit(":", 1)[1]
    control = ROOT / "var" / "run" / f"gunicorn-{port}.ctl"
    deadline = time.monotonic() + 10
    while not control.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stat.S_ISSOCK(control.stat().st_mode)
    assert not (tmp_path / "home" / ".gunicorn").exists()


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


def test_a_chunked_body_is_read_and_bounded(gunicorn, tmp_path):
    """Senders that stream their body (no Content-Length) are heard, within the limit."""
    import json

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}"}
    env.pop("E2A_REQUIRE_SERVICES", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "create_tenant", "chunky"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [*manage, "create_api_key", "chunky"], cwd=ROOT, env=env, check=True, capture_output=True
    ).stdout.decode()
    key = next(word for word in out.split() if word.startswith("e2a_"))
    event = json.dumps(
        {
            "source": "wms",
            "event_type": "order_paid",
            "event_id": "chunked-1",
            "order_id": "#1",
            "occurred_at": "2026-11-27T10:00:00Z",
        }
    ).encode()
    status, body = _post_chunked(gunicorn, "/ingest/events", key, [event[:20], event[20:]])
    assert status == 202, body
    assert json.loads(body)["event_id"] == "chunked-1"

    too_big = [b" " * 65536] * 17 + [event]  # over the 1 MiB single-event limit
    status, body = _post_chunked(gunicorn, "/ingest/events", key, too_big)
    assert status == 413 and json.loads(body)["code"] == "payload_too_large"
