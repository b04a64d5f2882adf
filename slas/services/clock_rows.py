"""Clock rows (`StageClock`) written from the order's memo, the per-stage record.

The memo on the order row (see `slas.memo`) is the truth about a clock; a row is
its durable, queryable copy for the admin, the breach foreign key, the missing-
scan and ageing passes. Ingest writes a row only when something must be on
record at once (a late completion's breach, a missing-scan deadline, a scan
breach to withdraw or finalise); otherwise the worker's follow-up for the event
(`clock_rows_followup`, swept until it runs) writes it shortly after, and the
scan writes it when it breaches a stage whose row is not there yet.

Everyone who writes a row from the memo holds the order row's lock (ingest's
upsert, the follow-up's SELECT … FOR UPDATE, the scan's due pass, sla_recompute),
so rows never go back to an older memo. The two fields the other scan passes
own (`missing_scan_flagged_at`, `severity_next_at`) are written only by them
(and by the due pass and sla_recompute, which set `severity_next_at` with the
breach they record).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from orders.db import upsert_returning
from orders.followups import OrderEvents
from orders.models import Order

from ..config import TenantSlaConfig, config_for
from ..deadlines import OrderFacts, plan_deadline
from ..memo import ClockEntry, read_memo
from ..models import StageClock

# What a row takes from the memo: written on conflict by every writer.
MEMO_FIELDS = (
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
    "breached_at",
    "updated_at",
)
# An empty explanation keeps the stored one (ingest knows it only when it planned).
KEEP_UNLESS = {"explanation": "explanation", "explanation_detail": "explanation"}
_COMPARED = tuple(
    StageClock._meta.get_field(name).attname for name in MEMO_FIELDS if name != "updated_at"
)
_STAGE_ORDER = {stage: i for i, stage in enumerate(("pick", "pack", "ship", "delivery"))}


def facts_of(order: Order) -> OrderFacts:
    return OrderFacts(
        warehouse=order.warehouse or "",
        service_level=order.service_level or "",
        handling=frozenset(order.handling or ()),
    )


def explain(
    config: TenantSlaConfig, order: Order, stage: str, entry: ClockEntry
) -> tuple[str, dict[str, Any]]:
    """The explanation of a memo deadline, planned again from the inputs it records.

    Planning is pure, so this is the text ingestion would have written, unless the
    policy version was edited in place since the clock started (which never moves a
    running deadline): then the text says which deadline stands and why.
    """
    policy = config.policy(entry.policy_id)
    plan = plan_deadline(
        stage=stage,
        started_at=entry.started_at,
        facts=facts_of(order),
        policy=policy,
        calendar=config.working_calendar_by_id(entry.calendar_id),
        always_open=config.always_open,
        high_volume=bool(entry.high_volume),
    )
    allowed = entry.allowed_minutes
    if plan.due_at == entry.due_at and plan.allowed_minutes == allowed:
        return plan.explanation, plan.detail
    due = entry.due_at.astimezone(config.tz)
    text = (
        f"{stage} due {due:%a %d %b %H:%M} = {allowed} min, as set when the clock started "
        f"under {policy.name} (the policy has been edited since; sla_recompute moves it)"
    )
    return text, {"allowed": allowed, "policy": {"id": policy.pk, "name": policy.name}}


def memo_clock(
    config: TenantSlaConfig,
    order: Order,
    stage: str,
    entry: ClockEntry,
    *,
    now: datetime,
    row: StageClock | None = None,
    explained: tuple[str, dict[str, Any]] | None = None,
) -> StageClock:
    """A stage's clock as the memo has it (unsaved), with what only its row knows.

    `explained` is the explanation when the caller just planned the deadline ("" keeps
    the stored one on save); otherwise the row's, when it is for the same inputs, or
    it is planned again.
    """
    clock = StageClock(
        pk=row.pk if row is not None else None,
        tenant_id=order.tenant_id,
        order=order,
        stage=stage,
        policy=config.policy(entry.policy_id),
        calendar_id=entry.calendar_id,
        business_time=entry.business_time,
        started_at=entry.started_at,
        allowed_minutes=entry.allowed_minutes,
        due_at=entry.due_at,
        warn_at=entry.warn_at,
        high_volume=bool(entry.high_volume),
        inputs_key=entry.inputs_key,
        met_at=entry.met_at,
        stopped_at=entry.stopped_at,
        stopped_by=entry.stopped_by or "",
        missing_scan_due_at=entry.missing_scan_due_at,
        breached_at=entry.breached_at,
        missing_scan_flagged_at=row.missing_scan_flagged_at if row is not None else None,
        severity_next_at=row.severity_next_at if row is not None else None,
        updated_at=now,
    )
    if (
        explained is None
        and row is not None
        and row.explanation
        and row.inputs_key == entry.inputs_key
    ):
        explained = (row.explanation, row.explanation_detail)
    clock.explanation, clock.explanation_detail = explained or explain(config, order, stage, entry)
    return clock


def stored_rows(order_ids: Iterable[int]) -> dict[tuple[int, str], StageClock]:
    """The clock rows of these orders, by (order id, stage): one indexed read."""
    return {
        (row.order_id, row.stage): row
        for row in StageClock.objects.filter(order_id__in=list(order_ids))
    }


def order_clocks(
    order: Order, *, now: datetime, rows: dict[tuple[int, str], StageClock] | None = None
) -> list[StageClock]:
    """Every started stage of one order as its memo has it, in stage order."""
    config = config_for(order.tenant)
    rows = stored_rows([order.pk]) if rows is None else rows
    clocks = [
        memo_clock(config, order, stage, entry, now=now, row=rows.get((order.pk, stage)))
        for stage, entry in read_memo(order).items()
    ]
    return sorted(clocks, key=lambda c: (c.started_at, _STAGE_ORDER.get(c.stage, 9)))


def clocks_save(
    clocks: Sequence[StageClock],
    *,
    also: tuple[str, ...] = (),
    returning: tuple[str, ...] = ("id", "order", "stage"),
) -> list[tuple[Any, ...]]:
    """Upsert the clocks by (order, stage): the memo's fields, plus `also`; give each its id.

    Returns the RETURNING rows (the first three columns must stay id, order, stage).
    """
    if not clocks:
        return []
    names = ("tenant", "order", "stage", *MEMO_FIELDS, *also)
    attnames = [StageClock._meta.get_field(n).attname for n in names]
    returned = upsert_returning(
        StageClock,
        [dict(zip(names, (getattr(c, a) for a in attnames), strict=True)) for c in clocks],
        conflict_fields=("order", "stage"),
        update_fields=(*MEMO_FIELDS, *also),
        keep_unless=KEEP_UNLESS,
        returning=returning,
    )
    ids = {(order_id, stage): pk for pk, order_id, stage, *_ in returned}
    for clock in clocks:
        clock.pk = ids[(clock.order_id, clock.stage)]
    return returned


def clock_rows_sync(orders: Sequence[Order], *, now: datetime) -> int:
    """Write the clock rows that differ from the orders' memos; returns how many.

    The caller holds the orders' row locks. Idempotent: a row that already agrees
    is not written again.
    """
    rows = stored_rows(o.pk for o in orders)
    changed = []
    for order in orders:
        for clock in order_clocks(order, now=now, rows=rows):
            row = rows.get((order.pk, clock.stage))
            if row is None or any(getattr(clock, a) != getattr(row, a) for a in _COMPARED):
                changed.append(clock)
    clocks_save(changed)
    return len(changed)


def clock_rows_followup(batch: Sequence[OrderEvents]) -> None:
    """The worker's follow-up for the orders' new events (registered in SlasConfig.ready):
    their clock rows catch up with the memos the events' ingest left on the (locked) rows."""
    clock_rows_sync([order for order, _ in batch], now=timezone.now())
