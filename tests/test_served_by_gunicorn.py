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
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("E2A_REQUIRE_SERVICES", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py sets its own
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
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
    assert _get(f"{gunicorn}/docs")[0] == 200
