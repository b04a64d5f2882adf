"""Recording breaches: one row per (clock, reason), written set-based.

Both the ingest hook (a late completing event) and the scan (a stuck stage, a
missing scan) record breaches, possibly at the same moment for the same clock.
The unique (clock, reason) constraint decides: the scan inserts or does nothing;
a completing event inserts or overwrites the lateness with its final value,
keeping when and how the breach was first detected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from .. import business_time as bt
from .. import metrics
from ..breach_listeners import breaches_changed
from ..config import TenantSlaConfig
from ..models import Breach, StageClock
from ..severity import next_rise_minutes, severity_for

FINAL_FIELDS = ["late_minutes", "actual_minutes", "severity", "final", "cleared_at", "updated_at"]


def clock_calendar(config: TenantSlaConfig, clock: StageClock) -> bt.WorkingCalendar:
    """The working calendar a clock counts in (24×7 when it counts calendar time)."""
    if clock.business_time:
        return config.working_calendar_by_id(clock.calendar_id)
    return config.always_open


def elapsed_minutes(
    config: TenantSlaConfig, clock: StageClock, until: datetime
) -> tuple[float, float]:
    """(minutes since the clock started, minutes past due) at `until`, in the clock's time."""
    cal = clock_calendar(config, clock)
    return (
        bt.business_minutes_between(cal, clock.started_at, until),
        bt.business_minutes_between(cal, clock.due_at, until),
    )


def next_rise_at(
    config: TenantSlaConfig, clock: StageClock, late_minutes: float
) -> datetime | None:
    """When a stuck stage's breach next rises in severity (None once CRITICAL)."""
    threshold = next_rise_minutes(late_minutes, clock.allowed_minutes, clock.policy)
    if threshold is None:
        return None
    return bt.add_business_minutes(clock_calendar(config, clock), clock.due_at, threshold)


def breach_for(
    config: TenantSlaConfig,
    clock: StageClock,
    *,
    reason: str,
    at: datetime,
    until: datetime,
    detected_by: str,
    final: bool,
) -> Breach:
    actual, late = elapsed_minutes(config, clock, until)
    late = max(late, 0.0)
    return Breach(
        tenant_id=clock.tenant_id,
        order_id=clock.order_id,
        clock=clock,
        stage=clock.stage,
        reason_code=reason,
        severity=severity_for(late, clock.allowed_minutes, clock.policy),
        detected_at=at,
        detected_by=detected_by,
        allowed_minutes=clock.allowed_minutes,
        actual_minutes=round(actual, 2),
        late_minutes=round(late, 2),
        final=final,
        updated_at=at,
    )


def breaches_save(
    breaches: Sequence[Breach],
    *,
    tenant_slug: str,
    overwrite: bool,
) -> None:
    """Insert these breaches; on conflict overwrite the lateness (`overwrite`) or keep the row.

    Used by the scan and by sla_recompute, which claim each clock before they
    record its breach, so every breach saved here is new and is counted in the
    metrics, after commit (a rolled-back transaction counts nothing).
    """
    if not breaches:
        return
    if overwrite:
        Breach.objects.bulk_create(
            breaches,
            update_conflicts=True,
            unique_fields=["clock", "reason_code"],
            update_fields=FINAL_FIELDS,
        )
    else:
        Breach.objects.bulk_create(breaches, ignore_conflicts=True)
    record_metrics([(tenant_slug, b.stage, b.reason_code, b.detected_by) for b in breaches])
    breaches_changed({b.order_id for b in breaches}, breaches[0].updated_at)


def record_metrics(rows: list[tuple[str, str, str, str]]) -> None:
    """Count (tenant, stage, reason, detected_by) breaches once the transaction commits."""
    if rows:
        transaction.on_commit(lambda: metrics.count_breaches(rows))
