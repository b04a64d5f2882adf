"""Prometheus metrics of the Celery worker, served on WORKER_METRICS_PORT.

The scan, escalation, detection and Slack sending run in the worker, so their
counters and gauges (e2a_sla_*, e2a_exception_*, e2a_slack_*) live in the
worker's processes, which gunicorn's /metrics cannot see. With WORKER_METRICS_PORT
set, the worker's processes keep their values in prometheus_client's
multiprocess files (a fresh directory made in `e2a_project.celery`, before
anything imports prometheus_client) and the main worker process serves their
sum over HTTP for Prometheus to scrape, next to the web's /metrics.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import worker_process_shutdown, worker_ready

log = logging.getLogger(__name__)

PORT_VARIABLE = "WORKER_METRICS_PORT"


def metrics_port() -> int:
    return int(os.environ.get(PORT_VARIABLE) or 0)


@worker_ready.connect
def _serve(**_: Any) -> None:
    port = metrics_port()
    if not port:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    addr = os.environ.get("WORKER_METRICS_ADDR", "127.0.0.1")
    start_http_server(port, addr=addr, registry=registry)
    log.info("worker metrics served", extra={"port": port})


@worker_process_shutdown.connect
def _process_gone(pid: int | None = None, **_: Any) -> None:
    if metrics_port():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
