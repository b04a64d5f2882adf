"""The Celery application.

Correlation ids travel with each task in a message header: the publishing side
copies the one bound for the current request (or task), and the worker binds it
before the task runs, so a task's log lines share the id of the request that
caused it.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

from .logging import (
    bind_correlation_id,
    current_correlation_id,
    new_correlation_id,
    unbind_correlation_id,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2a_project.settings")
# A worker serving its metrics (e2a_project.worker_metrics) keeps them in files its
# processes share; prometheus_client reads this before anything imports it.
if os.environ.get("WORKER_METRICS_PORT") and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="e2a-worker-prometheus-")

app = Celery("e2a")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from . import worker_metrics  # noqa: E402, F401  (connects the worker's metrics signals)

# Not "correlation_id": Celery already uses that name on a task request (the task id).
CORRELATION_TASK_HEADER = "e2a_correlation_id"


@before_task_publish.connect
def _attach_correlation_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    correlation_id = current_correlation_id()
    if headers is not None and correlation_id and CORRELATION_TASK_HEADER not in headers:
        headers[CORRELATION_TASK_HEADER] = correlation_id


@task_prerun.connect
def _bind_correlation_id(task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    correlation_id = None
    if request is not None:
        correlation_id = getattr(request, CORRELATION_TASK_HEADER, None) or (
            (request.headers or {}).get(CORRELATION_TASK_HEADER)
            if isinstance(getattr(request, "headers", None), dict)
            else None
        )
    if not correlation_id and current_correlation_id():
        return  # eager execution inside a request: keep the request's id
    bind_correlation_id(correlation_id or new_correlation_id())


@task_postrun.connect
def _unbind_correlation_id(task: Any = None, **_: Any) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return  # eager: the surrounding request still owns the context
    unbind_correlation_id()
