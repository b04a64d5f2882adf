"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; says nothing about dependencies."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return repr(exc)
    return None


def _broker_ok() -> str | None:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    except Exception as exc:
        return repr(exc)
    return None


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database and the broker answer; 503 with Retry-After otherwise."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    failed = {name: error for name, error in checks.items() if error}
    body = {
        "status": "unavailable" if failed else "ready",
        "checks": {name: ("fail" if error else "ok") for name, error in checks.items()},
    }
    if failed:
        log.warning("readiness check failed", extra={"failed": failed})
        response = JsonResponse(body, status=503)
        response["Retry-After"] = str(settings.UNAVAILABLE_RETRY_AFTER_SECONDS)
        return response
    return JsonResponse(body)
