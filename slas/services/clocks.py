"""clocks_sync: keep each order's stage clocks in step with its projection.

Runs inside the ingest transaction (registered as an orders projection hook),
after the orders have been locked and projected, for the orders that got new
events. Per call, whatever the number of orders: one SELECT of their clocks,
one upsert of the clocks that changed, and, only when a stage completed late or
a missing scan arrived, one statement for the breaches.

Columns the scan owns (`breached_at`, `missing_scan_flagged_at`,
`severity_next_at`) are never written here, so a scan committing between this
SELECT and the upsert loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orders.models import Order, Tenant
from orders.projection_hooks import Projected

from ..config import TenantSlaConfig, config_for, is_high_volume
from ..deadlines import OrderFacts, inputs_key, plan_deadline
from ..models import DELAY_REASON, Breach, BreachReason, DetectedBy, StageClock, StopReason
from ..stages import StageTimes, stage_times
from .breaches import breach_for, breaches_save

# What the upsert may overwrite on an existing clock (never the scan's columns).
SYNCED_FIELDS = [
    "policy",
    "calendar",
    "business_time",
    "started_at",
    "allowed_minutes",
    "due_at",
    "warn_at",
    "explanation",
    "explanation_detail",
    "high_volume",
    "inputs_key",
    "met_at",
    "stopped_at",
    "stopped_by",
    "missing_scan_due_at",
    "updated_at",
]
# Enough to tell whether anything changed (the explanation follows inputs_key).
_COMPARED = [
    "policy_id",
    "calendar_id",
    "started_at",
    "due_at",
    "inputs_key",
    "met_at",
    "stopped_at",
    "stopped_by",
    "missing_scan_due_at",
]


def facts_of(order: Order) -> OrderFacts:
    return OrderFacts(
        warehouse=order.warehouse or "",
        service_level=order.service_level or "",
        handling=frozenset(order.handling or ()),
    )


@dataclass(slots=True)
class _Outcome:
    clocks: list[StageClock]
    late: list[Breach]
    counted_before: set[int]
    missing_scans_met: list[int]


def on_projected(projected: Projected) -> None:
    """The orders projection hook (see SlasConfig.ready)."""
    clocks_sync(tenant=projected.tenant, orders=projected.orders, now=projected.received_at)


def clocks_sync(*, tenant: Tenant, orders: list[Order] | tuple[Order, ...], now: datetime) -> None:
    wanted = {order.pk: stage_times(order) for order in orders}
    if not any(wanted.values()):
        return
    existing = {
        (c.order_id, c.stage): c
        for c in StageClock.objects.filter(
            order_id__in=[pk for pk, t in wanted.items() if t]
        ).select_related("policy")
    }
    config = config_for(tenant)
    outcome = _Outcome([], [], set(), [])
    for order in orders:
        for stage, times in wanted[order.pk].items():
            _sync_stage(config, order, stage, times, existing.get((order.pk, stage)), now, outcome)
    if outcome.clocks:
        StageClock.objects.bulk_create(
            outcome.clocks,
            update_conflicts=True,
            unique_fields=["order", "stage"],
            update_fields=SYNCED_FIELDS,
        )
    breaches_save(
        [_attach(b) for b in outcome.late],
        tenant_slug=tenant.slug,
        overwrite=True,
        counted_before=frozenset(outcome.counted_before),
    )
    if outcome.missing_scans_met:
        Breach.objects.filter(
            clock_id__in=outcome.missing_scans_met,
            reason_code=BreachReason.MISSING_SCAN,
            cleared_at__isnull=True,
        ).update(cleared_at=now, final=True, updated_at=now)


def _attach(breach: Breach) -> Breach:
    # The clock may have been inserted by the upsert above: take its new id.
    breach.clock_id = breach.clock.pk
    return breach


def _sync_stage(
    config: TenantSlaConfig,
    order: Order,
    stage: str,
    times: StageTimes,
    clock: StageClock | None,
    now: datetime,
    outcome: _Outcome,
) -> None:
    facts = facts_of(order)
    policy = config.policy_for(
        warehouse=facts.warehouse, service_level=facts.service_level, at=times.started_at
    )
    if policy is None:
        return  # no policy at all in force then (the default was deleted): no clock
    choice = config.calendar_for(facts.warehouse)
    calendar_id = choice.row.pk if choice.row is not None else None
    if clock is not None and clock.started_at == times.started_at:
        high_volume = clock.high_volume
    else:
        high_volume = is_high_volume(
            order.tenant_id, times.started_at, policy.high_volume_orders_per_hour
        )
    key = inputs_key(
        stage=stage,
        started_at=times.started_at,
        policy_id=policy.pk,
        calendar_id=calendar_id,
        facts=facts,
        high_volume=high_volume,
    )
    before = {f: getattr(clock, f) for f in _COMPARED} if clock is not None else None
    was_met = clock.met_at if clock is not None else None
    if clock is None:
        clock = StageClock(tenant_id=order.tenant_id, order_id=order.pk, stage=stage)
    if clock.pk is None or clock.inputs_key != key:
        plan = plan_deadline(
            stage=stage,
            started_at=times.started_at,
            facts=facts,
            policy=policy,
            calendar=choice.working,
            always_open=config.always_open,
            high_volume=high_volume,
        )
        clock.policy = policy
        clock.calendar = choice.row
        clock.business_time = plan.business_time
        clock.started_at = plan.started_at
        clock.allowed_minutes = plan.allowed_minutes
        clock.due_at = plan.due_at
        clock.warn_at = plan.warn_at
        clock.explanation = plan.explanation
        clock.explanation_detail = plan.detail
        clock.high_volume = high_volume
        clock.inputs_key = key
    clock.met_at = times.met_at
    clock.stopped_at = times.stopped_at
    clock.stopped_by = times.stopped_by
    if (
        times.stopped_by == StopReason.LATER_STAGE
        and times.met_at is None
        and clock.missing_scan_due_at is None
    ):
        clock.missing_scan_due_at = now + timedelta(minutes=policy.missing_scan_buffer_minutes)
    if before is not None and before == {f: getattr(clock, f) for f in _COMPARED}:
        return  # nothing this call changed
    clock.updated_at = now
    outcome.clocks.append(clock)

    if times.met_at is not None and times.met_at != was_met:
        if clock.missing_scan_flagged_at is not None and was_met is None:
            outcome.missing_scans_met.append(clock.pk)  # the scan it lacked came after all
        if times.met_at > clock.due_at:
            if clock.pk is not None and clock.breached_at is not None:
                outcome.counted_before.add(clock.pk)
            outcome.late.append(
                breach_for(
                    config,
                    clock,
                    reason=DELAY_REASON[stage],
                    at=now,
                    until=times.met_at,
                    detected_by=DetectedBy.EVENT,
                    final=True,
                )
            )
        elif clock.breached_at is not None:
            # The scan saw it stuck, but its own event (delivered late) shows it
            # was done in time: the breach is withdrawn, keeping the record.
            outcome.late.append(_withdrawn(config, clock, stage, now))
            outcome.counted_before.add(clock.pk)


def _withdrawn(config: TenantSlaConfig, clock: StageClock, stage: str, now: datetime) -> Breach:
    breach = breach_for(
        config,
        clock,
        reason=DELAY_REASON[stage],
        at=now,
        until=clock.met_at,
        detected_by=DetectedBy.EVENT,
        final=True,
    )
    breach.cleared_at = now
    return breach
