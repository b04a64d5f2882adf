"""The Celery worker serves the metrics its processes record (WORKER_METRICS_PORT).

Runs the Procfile's worker line as a real process (prefork, so the task runs in a
child process) on a Redis broker database of its own, sends it `slas.scan`, and
scrapes the worker's metrics port for the scan's histogram.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from .test_served_by_gunicorn import ROOT, _free_port, _get


def _worker_command(bin_dir: Path) -> list[str]:
    procfile = (ROOT / "Procfile").read_text()
    line = next(line for line in procfile.splitlines() if line.startswith("worker:"))
    command = line.removeprefix("worker:").split()
    command[0] = str(bin_dir / command[0])
    return command


@pytest.mark.redis
def test_the_worker_serves_the_metrics_its_task_processes_record(tmp_path):
    port = _free_port()
    broker = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/13"
    redis.Redis.from_url(broker).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "CELERY_BROKER_URL": broker,
        "WORKER_METRICS_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    for name in ("E2A_REQUIRE_SERVICES", "PROMETHEUS_MULTIPROC_DIR", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
    )
    worker = subprocess.Popen(_worker_command(bin_dir), cwd=ROOT, env=env)
    try:
        subprocess.run(
            [str(bin_dir / "celery"), "-A", "e2a_project", "call", "slas.scan"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                body = _get(f"http://127.0.0.1:{port}/metrics")[1]
            except OSError:
                body = ""
            if "e2a_sla_scan_duration_seconds_count 1.0" in body:
                break
            time.sleep(0.5)
        assert "e2a_sla_scan_duration_seconds_count 1.0" in body, body[-2000:]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        redis.Redis.from_url(broker).flushdb()
