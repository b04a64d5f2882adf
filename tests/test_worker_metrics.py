"""The Celery worker serves the metrics its processes record (WORKER_METRICS_PORT).

Runs the Procfile's worker line as a real process (prefork, so the task runs in a
child process) next to the web, on the served app's own broker (Redis under a key
prefix of its own in CI, the embedded filesystem broker on a laptop), sends it
`slas.scan` as an operator would, and scrapes the worker's metrics port for the
scan's histogram.
"""

from __future__ import annotations

import pytest

from .served import free_port, http_get

# A long run with real processes or a replayed day: `make proof` (not `make test`).
pytestmark = pytest.mark.proof


def test_the_worker_serves_the_metrics_its_task_processes_record(serve):
    port = free_port()
    app = serve(worker=True, env={"WORKER_METRICS_PORT": str(port)})
    app.celery_call("slas.scan")

    def scanned() -> bool:
        try:
            body = http_get(f"http://127.0.0.1:{port}/metrics")[1]
        except OSError:
            return False
        return "e2a_sla_scan_duration_seconds_count 1.0" in body

    app.wait_for("the worker's metrics counting one SLA scan", scanned, timeout=60, every=0.5)
