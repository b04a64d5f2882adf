"""Read side of the SLA engine: clocks as an operator or a sender sees them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count

from orders.models import Order, OrderEvent, Tenant

from . import business_time as bt
from .clock_state import state_at
from .config import config_for
from .memo import ClockEntry
from .models import Breach, StageClock
from .services.breaches import clock_calendar
from .services.clock_rows import memo_clock, order_clocks, stored_rows


@dataclass(frozen=True, slots=True)
class ClockView:
    """A stage clock with its minutes worked out at one instant."""

    clock: StageClock
    state: str
    elapsed_minutes: float
    remaining_minutes: float | None
    late_minutes: float | None

    def as_dict(self) -> dict[str, Any]:
        c = self.clock
        return {
            "stage": c.stage,
            "state": self.state,
            "started_at": c.started_at,
            "due_at": c.due_at,
            "warn_at": c.warn_at,
            "met_at": c.met_at,
            "breached_at": c.breached_at,
            "stopped_at": c.stopped_at,
            "stopped_by": c.stopped_by or None,
            "allowed_minutes": c.allowed_minutes,
            "time_basis": "business" if c.business_time else "calendar",
            "elapsed_minutes": round(self.elapsed_minutes, 1),
            "remaining_minutes": None
            if self.remaining_minutes is None
            else round(self.remaining_minutes, 1),
            "late_minutes": None if self.late_minutes is None else round(self.late_minutes, 1),
            "explanation": c.explanation,
            "explanation_detail": c.explanation_detail,
        }


def clock_state(clock: StageClock, now: datetime) -> str:
    """One word an operator can sort by (the rule is `clock_state.state_at`, shared
    with the order list's cells, which read the memo)."""
    return state_at(clock, now)


def clock_view(tenant: Tenant, clock: StageClock, now: datetime) -> ClockView:
    cal = clock_calendar(config_for(tenant), clock)
    end = clock.met_at or clock.stopped_at or now
    late = bt.business_minutes_between(cal, clock.due_at, end)
    running = clock.met_at is None and clock.stopped_at is None
    return ClockView(
        clock=clock,
        state=clock_state(clock, now),
        elapsed_minutes=bt.business_minutes_between(cal, clock.started_at, end),
        remaining_minutes=max(-late, 0.0) if running else None,
        late_minutes=late if late > 0 else None,
    )


class AtRiskStages:
    """The at-risk stages as a sliceable, countable sequence (what a paginator takes).

    Read from the orders' deadline columns and memos, which ingestion updates with
    the event, so a stage is listed (or not) from the moment its event is stored,
    before the worker's follow-up has written its clock row.
    """

    def __init__(self, tenant: Tenant, orders: Any, now: datetime) -> None:
        self.tenant = tenant
        self.orders = orders
        self.now = now

    def count(self) -> int:
        return self.orders.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[StageClock]:
        orders = list(self.orders[index])
        config = config_for(self.tenant)
        rows = stored_rows(o.pk for o in orders)
        clocks = []
        for order in orders:
            order.tenant = self.tenant
            stage = order.sla_stage
            clocks.append(
                memo_clock(
                    config,
                    order,
                    stage,
                    ClockEntry.from_json(order.sla_clocks[stage]),
                    now=self.now,
                    row=rows.get((order.pk, stage)),
                )
            )
        return clocks


def at_risk_stages(
    *, tenant: Tenant, now: datetime, stage: str | None = None, warehouse: str | None = None
) -> AtRiskStages:
    """Running stages past their warning time and not yet due, soonest due first.

    Served by the partial index on the orders' `sla_warn_at`, so its cost follows
    the stages at risk, not the open orders.
    """
    orders = Order.objects.filter(tenant=tenant, sla_warn_at__lte=now, sla_due_at__gt=now)
    if stage:
        orders = orders.filter(sla_stage=stage)
    if warehouse:
        orders = orders.filter(warehouse=warehouse)
    return AtRiskStages(tenant, orders.order_by("sla_due_at", "pk"), now)


def at_risk_stage_counts_by_tenant(
    *, tenant_ids: Sequence[int], now: datetime
) -> dict[int, dict[str, int]]:
    """Per tenant, how many running stages are at risk, by stage: what `at_risk_stages` lists.

    The same definition (warning passed, not yet due) read from the same deadline
    columns, grouped in one query for any number of tenants, so a count and the
    `/api/sla/at-risk` list never disagree. Tenants with nothing at risk are absent.
    """
    rows = (
        Order.objects.filter(tenant_id__in=tenant_ids, sla_warn_at__lte=now, sla_due_at__gt=now)
        .order_by()
        .values_list("tenant_id", "sla_stage")
        .annotate(n=Count("pk"))
    )
    counts: dict[int, dict[str, int]] = {}
    for tenant_id, stage, n in rows:
        counts.setdefault(tenant_id, {})[stage] = n
    return counts


@dataclass(frozen=True, slots=True)
class OrderSla:
    order: Order
    events: list[OrderEvent]
    clocks: list[ClockView]
    breaches: list[Breach]


def order_sla(*, tenant: Tenant, external_id: str, now: datetime) -> OrderSla | None:
    """One order of this tenant with its timeline, clocks and breaches; None if unknown."""
    order = Order.objects.filter(tenant=tenant, external_id=external_id).first()
    if order is None:
        return None
    events = list(order.events.order_by("occurred_at", "received_at", "pk"))
    order.tenant = tenant
    clocks = order_clocks(order, now=now)  # as of the last event, follow-up or not
    breaches = list(Breach.objects.filter(order=order).order_by("detected_at", "pk"))
    return OrderSla(
        order=order,
        events=events,
        clocks=[clock_view(tenant, c, now) for c in clocks],
        breaches=breaches,
    )
