"""Builders for SLA tests: post an order's events at fixed instants, read its clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import time_machine
from django.test import TestCase

from slas.models import Breach, StageClock

from .factories import event_body


def at(text: str) -> datetime:
    """An aware instant from ISO text ('2026-06-03T10:00:00Z' or with an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def send(
    api,
    event_type: str,
    occurred: str,
    *,
    order: str = "#1001",
    received: str | None = None,
    **extra: Any,
):
    """Post one event that occurred at `occurred`, received at `received` (default: then)."""
    with (
        time_machine.travel(at(received or occurred), tick=False),
        # The worker's follow-up runs on commit, as in production (eager Celery).
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        response = api.post(
            "/ingest/events",
            event_body(event_type=event_type, order_id=order, occurred_at=occurred, **extra),
        )
    assert response.status_code in (200, 202), response.content
    return response


def clock(order: str, stage: str) -> StageClock:
    return StageClock.objects.select_related("order").get(order__external_id=order, stage=stage)


def breaches(order: str) -> list[Breach]:
    return list(Breach.objects.filter(order__external_id=order).order_by("reason_code", "stage"))
