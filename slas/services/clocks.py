"""The ingest hook: keep each order's stage clocks in step with its projection.

Runs inside the ingest transaction (an orders projection hook), after the orders
were locked and projected, for the orders that got new events. It must cost
ingestion little, so it reads nothing and, for an ordinary on-time event, writes
nothing but the order row: the row carries the clocks (`Order.sla_clocks`, the
memo, see `slas.memo`) and the next deadline in indexed columns (`sla_due_at`,
`sla_warn_at`, `sla_stage`), which the ingest UPDATE stores with the projection.
A deadline is worked out again only when what it depends on changed.

A clock row (`StageClock`) is written here only when something must be on record
in this transaction: a stage completed late (its breach hangs on the row), a
missing-scan deadline (the scan's missing-scan pass reads rows), or a stage the
scan had breached now completing or stopping (its breach is withdrawn or
finalised, and the ageing pass must stop). The worker's follow-up writes the
other rows shortly after (`clock_rows.clock_rows_followup`). The scan breaches a
stuck stage with the order row locked, and says so in the memo ("b"), so the
next event knows, as it holds the same lock. Entries change only through
`ClockEntry`'s transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orders.db import upsert_returning
from orders.models import Order, Tenant
from orders.projection_hooks import Projected

from .. import business_time as bt
from ..config import TenantSlaConfig, config_for, is_high_volume, volumes_prefetch
from ..deadlines import Explained, inputs_key, no_words, plan_deadline
from ..memo import DEADLINE_FIELDS, ClockEntry, Memo, read_memo, set_deadlines
from ..models import DELAY_REASON, Breach, BreachReason, DetectedBy, StageClock, StopReason
from ..severity import severity_for
from ..stages import StageTimes, stage_times
from .breaches import record_metrics
from .clock_rows import clocks_save, facts_of, memo_clock


@dataclass(slots=True)
class _Pending:
    """What one call has to write, gathered over all its orders."""

    rows: list[StageClock] = field(default_factory=list)  # to be on record now
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
    memos = {order.pk: read_memo(order) for order in projected.orders}
    _prefetch_volumes(config, projected.orders, wanted, memos)
    for order in projected.orders:
        memo = memos[order.pk]
        changed = False
        for stage, times in wanted[order.pk].items():
            now = projected.received_at
            changed |= _sync_stage(config, order, stage, times, memo, now, pending)
        if changed:
            set_deadlines(order, memo)
            projected.mark_changed(order, "sla_clocks", *DEADLINE_FIELDS)
    if pending.rows:
        _write(projected.tenant, config, pending, projected.received_at)


def _prefetch_volumes(
    config: TenantSlaConfig,
    orders: Sequence[Order],
    wanted: dict[int, dict[str, StageTimes]],
    memos: dict[int, Memo],
) -> None:
    """Ask for the volume of every clock that starts in this call in one statement."""
    starts: dict[int, list[datetime]] = {}
    for order in orders:
        memo = memos[order.pk]
        facts = facts_of(order)
        for stage, times in wanted[order.pk].items():
            entry = memo.get(stage)
            if entry is not None and entry.started_at == times.started_at:
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
    memo: Memo,
    now: datetime,
    pending: _Pending,
) -> bool:
    """Bring one stage's entry in step with the projection; True when it changed."""
    facts = facts_of(order)
    before = memo.get(stage)
    same_start = before is not None and before.started_at == times.started_at
    explain: Callable[[], Explained] = no_words  # no new plan, no new words
    if same_start and before.policy_id:
        # A running clock keeps its policy version (sla_recompute may have moved it on).
        policy = config.policy(before.policy_id)
    else:
        policy = config.policy_for(
            warehouse=facts.warehouse, service_level=facts.service_level, at=times.started_at
        )
    if policy is None:
        return False  # no policy in force at all then: this stage is not on the clock
    # Volume is judged once, when the clock starts; the memo remembers the verdict.
    if same_start:
        high_volume = bool(before.high_volume)
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
    entry = before
    if entry is None or entry.inputs_key != key:
        plan = plan_deadline(
            stage=stage,
            started_at=times.started_at,
            facts=facts,
            policy=policy,
            calendar=choice.working,
            always_open=config.always_open,
            high_volume=high_volume,
        )
        planned = {
            "started_at": times.started_at,
            "high_volume": high_volume,
            "plan": plan,
            "policy_id": policy.pk,
            "calendar_id": calendar_id,
            "inputs_key": key,
        }
        # A moved deadline keeps the progress and breaches so far (replan).
        entry = ClockEntry.start(**planned) if entry is None else entry.replan(**planned)
        explain = plan.explain  # worked out only if a row is written below
    if times.met_at is not None:
        entry = entry.meet(times.met_at)
    elif times.stopped_at is not None:
        entry = entry.stop(times.stopped_at, by=times.stopped_by)
        if times.stopped_by == StopReason.LATER_STAGE:
            entry = entry.flag_missing_scan(
                now + timedelta(minutes=policy.missing_scan_buffer_minutes)
            )
    if entry == before:
        return False
    due = entry.due_at
    was_met = before.met_at if before is not None else None
    was_stopped = before.stopped_at if before is not None else None

    ident = (order.pk, stage)
    cal = (
        config.working_calendar_by_id(entry.calendar_id)
        if entry.business_time
        else config.always_open
    )
    # A missing-scan deadline must be on a row for the scan's missing-scan pass.
    record_now = entry.missing_scan_due_at != (
        before.missing_scan_due_at if before is not None else None
    )
    if times.met_at is not None and entry.met_at != was_met:
        pending.newly_met.add(ident)
        # A flagged missing scan or a scan breach to clear or finalise hangs on the row.
        record_now = record_now or bool(entry.missing_scan_due_at or entry.breached_at)
        if times.met_at > due:
            late = bt.business_minutes_between(cal, due, times.met_at)
            actual = bt.business_minutes_between(cal, times.started_at, times.met_at)
            pending.late[ident] = (
                DELAY_REASON[stage],
                actual,
                late,
                entry.allowed_minutes,
                entry.policy_id,
            )
            if before is not None and before.late_breach_recorded:
                pending.recorded_before.add(ident)
            entry = entry.record_late_breach()  # this order's late breach is on record
            record_now = True
        else:
            pending.met_in_time.add(ident)
    elif times.stopped_at is not None and entry.stopped_at != was_stopped:
        late = bt.business_minutes_between(cal, due, times.stopped_at)
        pending.stopped_late[ident] = max(late, 0.0)
        record_now = record_now or entry.breached_at is not None
    memo[stage] = entry
    if record_now:
        pending.rows.append(memo_clock(config, order, stage, entry, now=now, explained=explain()))
    return True


def _write(tenant: Tenant, config: TenantSlaConfig, pending: _Pending, now: datetime) -> None:
    returned = clocks_save(
        pending.rows, returning=("id", "order", "stage", "breached_at", "missing_scan_flagged_at")
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
