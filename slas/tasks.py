"""Celery tasks of the slas app: thin wrappers around one service each."""

from __future__ import annotations

from celery import shared_task

from .services.scan import sla_scan


@shared_task(name="slas.scan", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def scan() -> dict[str, int]:
    """Beat runs this every minute; two overlapping runs are safe (see sla_scan)."""
    result = sla_scan()
    return {
        "breached": result.breached,
        "missing_scans": result.missing_scans,
        "severity_raised": result.severity_raised,
    }
