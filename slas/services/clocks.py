"""The ingest hook: keep each order's stage clocks in step with its projection.

Runs inside the ingest transaction (an orders projection hook), after the orders
were locked and projected, for the orders that got new events. It must cost
ingestion little, so it reads nothing: the order row, which ingestion has just
read anyway, carries a compact copy of its clocks (`Order.sla_clocks`, the
"memo"), and what changed goes out in one upsert of `slas_stageclock` per call.
A deadline is worked out again only when what it depends on changed.

The memo holds what ingestion owns (start, deadline, met, stopped, the missing-
scan deadline). What the scan owns (`breached_at`, `missing_scan_flagged_at`,
`severity_next_at`) lives only on the clock row and is never written here, so a
scan committing at the same moment loses nothing. Whether the scan got there
first (a stage it saw stuck now completes, or a missing scan turns up) comes
back from the same upsert (RETURNING breached_at, missing_scan_flagged_at), so
the breach statements run only when there is a breach to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orders.db import upsert_returning
from orders.models import Order, Tenant
from orders.projection_hooks import Projected

from .. import business_time as bt
from ..config import TenantSlaConfig, config_for, is_high_volume, volumes_prefetch
from ..deadlines import DeadlinePlan, OrderFacts, inputs_key, plan_deadline
from ..models import DELAY_REASON, Breach, BreachReason, DetectedBy, StageClock, StopReason
from ..severity import severity_for
from ..stages import StageTimes, stage_times
from .breaches import record_metrics

# Written on conflict; the explanation keeps its stored text when sent empty.
UPSERT_FIELDS = (
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
)
KEEP_UNLESS = {"explanation": "explanation", "explanation_detail": "explanation"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def deadline_memo(
    plan: DeadlinePlan, policy_id: int, calendar_id: int | None, key: str
) -> dict[str, Any]:
    """The memo keys that describe a clock's deadline (see the module docstring)."""
    return {
        "k": key,
        "p": policy_id,
        "c": calendar_id,
        "bt": plan.business_time,
        "a": plan.allowed_minutes,
        "d": _iso(plan.due_at),
        "w": _iso(plan.warn_at),
    }


def facts_of(order: Order) -> OrderFacts:
    return OrderFacts(
        warehouse=order.warehouse or "",
        service_level=order.service_level or "",
        handling=frozenset(order.handling or ()),
    )


@dataclass(slots=True)
class _Pending:
    """What one call has to write, gathered over all its orders."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    # (order pk, stage) → (reason, actual minutes, late minutes, allowed minutes, policy id)
    late: dict[tuple[int, str], tuple[str, float, float, int, int]] = field(default_factory=dict)
    # Late stages whose breach an earlier event already recorded (and counted).
    recorded_before: set[tuple[int, str]] = field(default_factory=set)
    # Met in time, or stopped: a breach the scan recorded must be withdrawn or finalised.
    met_in_time: set[tuple[int, str]] = field(default_factory=set)
    stopped_late: dict[tuple[int, str], float] = field(default_factory=dict)
    newly_met: set[tuple[int, str]] = field(default_factory=set)


def on_projected(projected: Projected) -> None:
    """The orders projection hook (registered in SlasConfig.ready)."""
    pending = _Pending()
    wanted = {order.pk: stage_times(order) for order in projected.orders}
    if not any(wanted.values()):
        return
    config = config_for(projected.tenant)
    _prefetch_volumes(config, projected.orders, wanted)
    for order in projected.orders:
        memo = dict(order.sla_clocks or {})
        for stage, times in wanted[order.pk].items():
            _sync_stage(config, order, stage, times, memo, projected.received_at, pending)
        if memo != order.sla_clocks:
            order.sla_clocks = memo
            projected.mark_changed(order, "sla_clocks")
    if pending.rows:
        _write(projected.tenant, config, pending, projected.received_at)


def _prefetch_volumes(
    config: TenantSlaConfig, orders: Sequence[Order], wanted: dict[int, dict[str, StageTimes]]
) -> None:
    """Ask for the volume of every clock that starts in this call in one statement."""
    starts: dict[int, list[datetime]] = {}
    for order in orders:
        memo = order.sla_clocks or {}
        facts = facts_of(order)
        for stage, times in wanted[order.pk].items():
            if (memo.get(stage) or {}).get("s") == _iso(times.started_at):
                continue  # judged when the clock started
            policy = config.policy_for(
                warehouse=facts.warehouse, service_level=facts.service_level, at=times.started_at
            )
            if policy is not None:
                starts.setdefault(policy.high_volume_orders_per_hour, []).append(times.started_at)
    for threshold, instants in starts.items():
        volumes_prefetch(config.tenant_id, instants, threshold)


def _sync_stage(
    config: TenantSlaConfig,
    order: Order,
    stage: str,
    times: StageTimes,
    memo: dict[str, Any],
    now: datetime,
    pending: _Pending,
) -> None:
    facts = facts_of(order)
    before: dict[str, Any] = memo.get(stage) or {}
    started = _iso(times.started_at)
    entry = dict(before)
    explanation = ""
    detail: dict[str, Any] = {}
    due = warn = None
    if before.get("s") == started and before.get("p"):
        # A running clock keeps its policy version (sla_recompute may have moved it on).
        policy = config.policy(before["p"])
    else:
        policy = config.policy_for(
            warehouse=facts.warehouse, service_level=facts.service_level, at=times.started_at
        )
    if policy is None:
        return  # no policy in force at all then: this stage is not on the clock
    # Volume is judged once, when the clock starts; the memo remembers the verdict.
    if before.get("s") == started:
        high_volume = bool(before.get("hv"))
    else:
        high_volume = is_high_volume(
            order.tenant_id, times.started_at, policy.high_volume_orders_per_hour
        )
    choice = config.calendar_for(facts.warehouse)
    calendar_id = choice.row.pk if choice.row is not None else None
    key = inputs_key(
        stage=stage,
        started_at=times.started_at,
        policy_id=policy.pk,
        calendar_id=calendar_id,
        facts=facts,
        high_volume=high_volume,
    )
    if before.get("k") != key:
        plan = plan_deadline(
            stage=stage,
            started_at=times.started_at,
            facts=facts,
            policy=policy,
            calendar=choice.working,
            always_open=config.always_open,
            high_volume=high_volume,
        )
        entry.update(s=started, hv=high_volume, **deadline_memo(plan, policy.pk, calendar_id, key))
        explanation, detail = plan.explanation, plan.detail
        due, warn = plan.due_at, plan.warn_at
    entry.update(m=_iso(times.met_at), x=_iso(times.stopped_at), xb=times.stopped_by)
    if times.stopped_by == StopReason.LATER_STAGE and times.met_at is None and not entry.get("ms"):
        entry["ms"] = _iso(now + timedelta(minutes=policy.missing_scan_buffer_minutes))
    if entry == before:
        return
    memo[stage] = entry
    due = due or _dt(entry["d"])
    warn = warn or _dt(entry["w"])
    pending.rows.append(_row(order, stage, entry, times, due, warn, explanation, detail, now))

    ident = (order.pk, stage)
    cal = config.working_calendar_by_id(entry["c"]) if entry["bt"] else config.always_open
    if times.met_at is not None and entry["m"] != before.get("m"):
        pending.newly_met.add(ident)
        if times.met_at > due:
            late = bt.business_minutes_between(cal, due, times.met_at)
            actual = bt.business_minutes_between(cal, times.started_at, times.met_at)
            pending.late[ident] = (DELAY_REASON[stage], actual, late, entry["a"], entry["p"])
            if before.get("lb"):
                pending.recorded_before.add(ident)
            entry["lb"] = True  # this order's late breach is on record
        else:
            pending.met_in_time.add(ident)
    elif times.stopped_at is not None and entry["x"] != before.get("x"):
        late = bt.business_minutes_between(cal, due, times.stopped_at)
        pending.stopped_late[ident] = max(late, 0.0)


def _row(
    order: Order,
    stage: str,
    entry: dict[str, Any],
    times: StageTimes,
    due: datetime,
    warn: datetime,
    explanation: str,
    detail: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "tenant": order.tenant_id,
        "order": order.pk,
        "stage": stage,
        "policy": entry["p"],
        "calendar": entry["c"],
        "business_time": entry["bt"],
        "started_at": times.started_at,
        "allowed_minutes": entry["a"],
        "due_at": due,
        "warn_at": warn,
        "explanation": explanation,
        "explanation_detail": detail,
        "high_volume": entry["hv"],
        "inputs_key": entry["k"],
        "met_at": times.met_at,
        "stopped_at": times.stopped_at,
        "stopped_by": entry["xb"],
        "missing_scan_due_at": _dt(entry.get("ms")),
        "updated_at": now,
    }


def _write(tenant: Tenant, config: TenantSlaConfig, pending: _Pending, now: datetime) -> None:
    returned = upsert_returning(
        StageClock,
        pending.rows,
        conflict_fields=("order", "stage"),
        update_fields=UPSERT_FIELDS,
        keep_unless=KEEP_UNLESS,
        returning=("id", "order", "stage", "breached_at", "missing_scan_flagged_at"),
    )
    clock_ids: dict[tuple[int, str], int] = {}
    withdraw, finalise, scans_arrived = [], [], []
    breached: set[tuple[int, str]] = set()
    for pk, order_id, stage, breached_at, flagged_at in returned:
        ident = (order_id, stage)
        clock_ids[ident] = pk
        if breached_at is not None:
            breached.add(ident)
            if ident in pending.met_in_time:
                withdraw.append(pk)  # it looked stuck to the scan, but was done in time
            elif ident in pending.stopped_late:
                finalise.append((pk, pending.stopped_late[ident]))
        if flagged_at is not None and ident in pending.newly_met:
            scans_arrived.append(pk)
    if pending.late:
        _record_late(tenant, config, pending, clock_ids, breached, now)
    if withdraw:
        Breach.objects.filter(
            clock_id__in=withdraw, reason_code__in=_DELAY_CODES, cleared_at__isnull=True
        ).update(cleared_at=now, late_minutes=0, final=True, updated_at=now)
    for pk, late in finalise:
        Breach.objects.filter(clock_id=pk, reason_code__in=_DELAY_CODES, final=False).update(
            late_minutes=round(late, 2), final=True, updated_at=now
        )
    if scans_arrived:
        Breach.objects.filter(
            clock_id__in=scans_arrived,
            reason_code=BreachReason.MISSING_SCAN,
            cleared_at__isnull=True,
        ).update(cleared_at=now, final=True, updated_at=now)


_DELAY_CODES = [reason.value for reason in DELAY_REASON.values()]


def _record_late(
    tenant: Tenant,
    config: TenantSlaConfig,
    pending: _Pending,
    clock_ids: dict[tuple[int, str], int],
    breached: set[tuple[int, str]],
    now: datetime,
) -> None:
    """Insert each late stage's breach, or give the scan's breach its final lateness."""
    rows = []
    for (order_id, stage), (reason, actual, late, allowed, policy_id) in pending.late.items():
        policy = config.policy(policy_id)
        rows.append(
            {
                "tenant": tenant.pk,
                "order": order_id,
                "clock": clock_ids[(order_id, stage)],
                "stage": stage,
                "reason_code": reason,
                "severity": severity_for(late, allowed, policy),
                "detected_at": now,
                "detected_by": DetectedBy.EVENT,
                "allowed_minutes": allowed,
                "actual_minutes": round(actual, 2),
                "late_minutes": round(late, 2),
                "final": True,
                "cleared_at": None,
                "updated_at": now,
            }
        )
    upsert_returning(
        Breach,
        rows,
        conflict_fields=("clock", "reason_code"),
        update_fields=("severity", "actual_minutes", "late_minutes", "final", "updated_at"),
        returning=("id",),
    )
    # A stage the scan had breached was counted then; count only the new ones.
    record_metrics(
        [
            (tenant.slug, stage, reason, DetectedBy.EVENT.value)
            for (order_id, stage), (reason, *_rest) in pending.late.items()
            if (order_id, stage) not in breached
            and (order_id, stage) not in pending.recorded_before
        ]
    )
