"""sla_scan: find the clocks that ran out without an event, run by beat every minute.

Three passes, each reading only a partial index that holds just the rows in play,
so a scan costs time in proportion to what is due, not to the open orders:

1. due: orders whose next deadline (`Order.sla_due_at`, kept by ingest from the
   memo) has passed have a stuck stage. The stage is marked breached in the memo,
   gets its clock row (written now if the follow-up has not yet) with
   `breached_at` and a scan-detected breach, and the order's deadline moves on;
2. missing scans: clocks stopped by a later stage's event whose own event has
   not come within the policy's buffer get a MISSING_SCAN breach;
3. ageing: stuck breaches whose lateness crossed the next severity band rise.

The due pass claims orders the way ingestion does: it locks them (SELECT … FOR
UPDATE, in ingest's (tenant, external id) order, so the two cannot deadlock) with
the condition checked again on the locked row, and decides from the memo it then
reads. A second scan waits on the same rows, finds them no longer due and claims
nothing; an event that completed the stage first has already taken it out of the
memo's running stages; an event that comes after sees the breach in the memo.
The other passes claim clock rows by compare-and-swap: one UPDATE … WHERE <still in
that state> RETURNING id per chunk. So no stage is ever breached twice; the unique
(clock, reason) constraint on breaches is the backstop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from orders.db import update_fields
from orders.models import Order, Tenant

from .. import metrics
from ..breach_listeners import breaches_changed
from ..config import config_for
from ..memo import DEADLINE_FIELDS, ClockEntry, read_memo, set_deadlines
from ..models import DELAY_REASON, Breach, BreachReason, DetectedBy, StageClock
from ..severity import severity_for
from .breaches import breach_for, breaches_save, elapsed_minutes, next_rise_at
from .clock_rows import clocks_save, memo_clock, stored_rows

# What the due pass reads of an order: its memo, and the facts its explanation needs.
_DUE_ORDER_FIELDS = (
    "tenant_id",
    "external_id",
    "sla_clocks",
    *DEADLINE_FIELDS,
    "warehouse",
    "service_level",
    "handling",
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ScanResult:
    breached: int = 0
    missing_scans: int = 0
    severity_raised: int = 0
    seconds: float = 0.0


def sla_scan(*, now: datetime | None = None, chunk: int | None = None) -> ScanResult:
    """Run the three passes until nothing is left due at `now`."""
    now = now or timezone.now()
    chunk = chunk or settings.SLA_SCAN_CHUNK
    started = time.perf_counter()
    result = ScanResult()
    result.breached = _drain(_due_pass, now, chunk)
    result.missing_scans = _drain(_missing_scan_pass, now, chunk)
    result.severity_raised = _drain(_ageing_pass, now, chunk)
    result.seconds = time.perf_counter() - started
    metrics.SCAN_SECONDS.observe(result.seconds)
    _record_gauges(now)
    if result.breached or result.missing_scans or result.severity_raised:
        log.info(
            "sla scan",
            extra={
                "breached": result.breached,
                "missing_scans": result.missing_scans,
                "severity_raised": result.severity_raised,
                "seconds": round(result.seconds, 4),
            },
        )
    return result


def _drain(one_pass, now: datetime, chunk: int) -> int:
    total = 0
    while True:
        with transaction.atomic():
            seen, claimed = one_pass(now, chunk)
        total += claimed
        if seen < chunk:
            return total


def _claim(
    candidates: QuerySet[StageClock],
    order_by: str,
    chunk: int,
    set_sql: str,
    where_sql: str,
    params: Sequence[object],
) -> tuple[int, list[int]]:
    """Take the first `chunk` candidates (by `order_by`, from their partial index) and
    UPDATE those still matching `where_sql`; return (how many were seen, the ids changed)."""
    ids = list(candidates.order_by(order_by).values_list("pk", flat=True)[:chunk])
    if not ids:
        return 0, []
    table = connection.ops.quote_name(StageClock._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {table} SET {set_sql} "  # noqa: S608 (identifiers are ours, values are params)
        f"WHERE {where_sql} AND id IN ({marks}) RETURNING id"
    )
    with connection.cursor() as cursor:
        # As the ORM would store them (SQLite keeps datetimes as text in one format).
        adapted = [
            connection.ops.adapt_datetimefield_value(p) if isinstance(p, datetime) else p
            for p in params
        ]
        cursor.execute(sql, [*adapted, *ids])
        return len(ids), [row[0] for row in cursor.fetchall()]


def _claimed_clocks(ids: list[int]) -> list[StageClock]:
    return list(
        StageClock.objects.filter(pk__in=ids).select_related("policy", "tenant").order_by("pk")
    )


def _due_pass(now: datetime, chunk: int) -> tuple[int, int]:
    ids = list(
        Order.objects.filter(sla_due_at__lte=now)
        .order_by("sla_due_at")
        .values_list("pk", flat=True)[:chunk]
    )
    if not ids:
        return 0, 0
    orders = list(
        Order.objects.select_for_update(of=("self",))
        .filter(pk__in=ids, sla_due_at__lte=now)
        .only(*_DUE_ORDER_FIELDS)
        .order_by("tenant_id", "external_id")
    )
    tenants = Tenant.objects.in_bulk({o.tenant_id for o in orders})
    stuck: list[tuple[Order, str, ClockEntry]] = []
    for order in orders:
        order.tenant = tenants[order.tenant_id]
        memo = read_memo(order)
        for stage, entry in memo.items():
            if entry.waiting and entry.due_at <= now:
                memo[stage] = entry.breach(now)
                stuck.append((order, stage, memo[stage]))
        set_deadlines(order, memo)
    update_fields(Order, orders, ("sla_clocks", *DEADLINE_FIELDS))
    rows = stored_rows(o.pk for o in orders)
    clocks = [
        memo_clock(
            config_for(order.tenant),
            order,
            stage,
            entry,
            now=now,
            row=rows.get((order.pk, stage)),
        )
        for order, stage, entry in stuck
    ]
    for clock, (order, _stage, _entry) in zip(clocks, stuck, strict=True):
        clock.tenant = order.tenant
    clocks_save(clocks)
    breaches = _record(clocks, now, reason=lambda c: DELAY_REASON[c.stage], until=lambda c: now)
    for clock, breach in zip(clocks, breaches, strict=True):
        clock.severity_next_at = next_rise_at(config_for(clock.tenant), clock, breach.late_minutes)
    update_fields(StageClock, clocks, ("severity_next_at",))
    metrics.SCAN_CLAIMED.labels("breached").inc(len(clocks))
    return len(ids), len(clocks)


def _record(
    clocks: list[StageClock],
    now: datetime,
    *,
    reason: Callable[[StageClock], str],
    until: Callable[[StageClock], datetime],
) -> list[Breach]:
    """Record a scan-detected breach for each claimed clock; returns them in order."""
    breaches = [
        breach_for(
            config_for(clock.tenant),
            clock,
            reason=reason(clock),
            at=now,
            until=until(clock),
            detected_by=DetectedBy.SCAN,
            final=False,
        )
        for clock in clocks
    ]
    by_tenant: dict[str, list[Breach]] = {}
    for clock, breach in zip(clocks, breaches, strict=True):
        by_tenant.setdefault(clock.tenant.slug, []).append(breach)
    for slug, group in by_tenant.items():
        breaches_save(group, tenant_slug=slug, overwrite=False)
    return breaches


def _missing_scan_pass(now: datetime, chunk: int) -> tuple[int, int]:
    seen, claimed = _claim(
        StageClock.objects.filter(
            met_at__isnull=True,
            missing_scan_due_at__isnull=False,
            missing_scan_flagged_at__isnull=True,
            missing_scan_due_at__lte=now,
        ),
        "missing_scan_due_at",
        chunk,
        "missing_scan_flagged_at = %s, updated_at = %s",
        "met_at IS NULL AND missing_scan_flagged_at IS NULL",
        [now, now],
    )
    # What is known: the stage was done by the later stage's event, at the latest.
    _record(
        _claimed_clocks(claimed),
        now,
        reason=lambda c: BreachReason.MISSING_SCAN,
        until=lambda c: c.stopped_at or now,
    )
    metrics.SCAN_CLAIMED.labels("missing_scan").inc(len(claimed))
    return seen, len(claimed)


def _ageing_pass(now: datetime, chunk: int) -> tuple[int, int]:
    seen, claimed = _claim(
        StageClock.objects.filter(
            severity_next_at__isnull=False,
            met_at__isnull=True,
            stopped_at__isnull=True,
            severity_next_at__lte=now,
        ),
        "severity_next_at",
        chunk,
        "severity_next_at = NULL, updated_at = %s",
        "severity_next_at <= %s AND met_at IS NULL AND stopped_at IS NULL",
        [now, now],
    )
    clocks = _claimed_clocks(claimed)
    breaches = {
        b.clock_id: b
        for b in Breach.objects.filter(
            clock_id__in=claimed, reason_code__in=list(DELAY_REASON.values())
        )
    }
    changed: list[Breach] = []
    for clock in clocks:
        config = config_for(clock.tenant)
        actual, late = elapsed_minutes(config, clock, now)
        clock.severity_next_at = next_rise_at(config, clock, late)
        breach = breaches.get(clock.pk)
        if breach is None or breach.final:
            continue
        breach.late_minutes = round(max(late, 0.0), 2)
        breach.actual_minutes = round(actual, 2)
        breach.severity = severity_for(late, clock.allowed_minutes, clock.policy)
        breach.updated_at = now
        changed.append(breach)
    update_fields(StageClock, clocks, ("severity_next_at",))
    update_fields(Breach, changed, ("late_minutes", "actual_minutes", "severity", "updated_at"))
    breaches_changed({b.order_id for b in changed}, now)
    metrics.SCAN_CLAIMED.labels("severity_raised").inc(len(changed))
    return seen, len(changed)


_tenants_at_risk: set[str] = set()


def _record_gauges(now: datetime) -> None:
    # One running stage per order at most (slas.memo), so orders count stages.
    with transaction.atomic():
        # With millions of open orders the planner's histogram on sla_warn_at is too
        # coarse to see that few are at risk; it plans parallel workers and JIT-compiles
        # the count, ~200 ms of compiling at 10M orders for a few rows
        # (bench/sla_scan.py). Without JIT the same plan takes ~80 ms there.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        at_risk = {
            row["tenant__slug"]: row["n"]
            for row in Order.objects.filter(sla_warn_at__lte=now, sla_due_at__gt=now)
            .values("tenant__slug")
            .annotate(n=Count("id"))
        }
    for slug in _tenants_at_risk - at_risk.keys():  # no longer at risk: back to 0
        metrics.AT_RISK.labels(slug).set(0)
    for slug, count in at_risk.items():
        metrics.AT_RISK.labels(slug).set(count)
    _tenants_at_risk.clear()
    _tenants_at_risk.update(at_risk)
    oldest = Order.objects.filter(sla_due_at__isnull=False).aggregate(due=Min("sla_due_at"))["due"]
    metrics.SCAN_LAG.set(max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
