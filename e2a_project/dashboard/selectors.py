"""The dashboard's aggregates: one function per tile group, each batched across tenants.

Every function answers for all the tenants in `zones` at once with a fixed number
of queries (one, mostly), grouped in the database over indexed columns, so the
page costs the same for one tenant or fifty and for ten rows or a million. The
windows are the tenants' local days (see `windows`); `now` is passed in so tests
and the cache agree on one instant.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Count,
    F,
    Q,
    Sum,
)

from ai.budget import today as budget_today
from ai.models import AiDailySpend
from exceptions.models import (
    ACTIVE_STATUSES,
    Explanation,
    ExplanationDecision,
    OrderException,
)
from exceptions.selectors import ResponseTimes, response_times_of
from orders.models import DeadLetter, FollowUpFailure, OrderEvent
from slas.models import Severity, StageClock, StopReason
from slas.selectors import at_risk_stage_counts_by_tenant

from .windows import Zones

CHART_DAYS = 30
WEEK = 7


# ------------------------------------------------------------------ exceptions


def open_exceptions_by_severity(*, tenant_ids: Sequence[int]) -> dict[str, int]:
    """Exceptions someone still has to act on (open, acknowledged, in progress), by severity.

    Served by the (tenant, status, last seen) index; every severity is present.
    """
    rows = (
        OrderException.objects.filter(tenant_id__in=tenant_ids, status__in=ACTIVE_STATUSES)
        .order_by()
        .values_list("severity")
        .annotate(n=Count("pk"))
    )
    counts = {s: 0 for s in Severity.values}
    for severity, n in rows:
        counts[severity] = counts.get(severity, 0) + n
    return counts


def response_times(*, zones: Zones, days: int = WEEK) -> ResponseTimes:
    """MTTA and MTTR of the exceptions created in each tenant's last `days` local days.

    The stats report's definitions (`exceptions.selectors.response_times_of`), over
    every tenant in one aggregate query.
    """
    return response_times_of(OrderException.objects.filter(zones.in_last_days("created_at", days)))


def exceptions_per_day_by_reason(
    *, zones: Zones, days: int = CHART_DAYS
) -> dict[date, dict[str, int]]:
    """Exceptions first seen per tenant-local day, by reason code, over the last `days` days.

    One grouped query (zone, local day, reason) over the (tenant, first seen) index;
    the caller sums the zones by date. Days without exceptions are absent.
    """
    rows = (
        OrderException.objects.filter(zones.in_last_days("first_seen_at", days))
        .order_by()
        .annotate(day=zones.local_date("first_seen_at"))
        .values_list("day", "reason_code_id")
        # Counting a column of the (tenant, first seen, reason) index, not the id,
        # lets PostgreSQL answer from the index alone.
        .annotate(n=Count("reason_code_id"))
    )
    per_day: dict[date, dict[str, int]] = defaultdict(dict)
    for day, reason, n in rows:
        per_day[day][reason] = per_day[day].get(reason, 0) + n
    return dict(per_day)


# ------------------------------------------------------------------------ SLAs


@dataclass(slots=True)
class Ended:
    """Stage clocks that ended in a window and how many of them met their deadline."""

    ended: int = 0
    on_time: int = 0

    def add(self, other: Ended) -> None:
        self.ended += other.ended
        self.on_time += other.on_time

    @property
    def percent(self) -> float | None:
        """On-time share in %, None when nothing ended (not 0 %: nothing was late either)."""
        return None if not self.ended else round(100 * self.on_time / self.ended, 1)


@dataclass(slots=True)
class ClockOutcomes:
    """Ended clocks per (zone, local day), the sums for today and the last 7 days."""

    by_zone_day: dict[tuple[str, date], Ended] = field(default_factory=dict)

    def window(self, zones: Zones, days: int) -> Ended:
        """Sum over each zone's own last `days` local days (its today included)."""
        total = Ended()
        for (zone, day), counts in self.by_zone_day.items():
            today = zones.today(zone)
            if today - timedelta(days=days - 1) <= day <= today:
                total.add(counts)
        return total

    def per_day(self) -> dict[date, Ended]:
        totals: dict[date, Ended] = {}
        for (_, day), counts in self.by_zone_day.items():
            totals.setdefault(day, Ended()).add(counts)
        return totals


def clock_outcomes(*, zones: Zones, days: int = CHART_DAYS) -> ClockOutcomes:
    """Stage clocks whose clock ended in each tenant's last `days` local days, per local day.

    A clock ends when its stage is met (on time iff `met_at <= due_at`) or when a
    later stage stops it (its own scan never came: ended, not met). Cancelled
    clocks are left out: nobody was asked to finish them. Running clocks are not
    counted; they appear under at-risk until they end.

    Two grouped queries, each over a partial index built for them (slas 0007): met
    clocks by (tenant, met_at, due_at), clocks stopped by a later stage by (tenant,
    stopped_at). A clock is either met or stopped, never both, so none is counted
    twice; the `met_at IS NULL` guard makes sure of it.
    """
    outcomes = ClockOutcomes()
    met = (
        StageClock.objects.filter(zones.in_last_days("met_at", days))
        .order_by()
        .annotate(zone=zones.zone_of(), day=zones.local_date("met_at"))
        .values_list("zone", "day")
        # Columns of the (tenant, met, due) index only: an index-only scan.
        .annotate(ended=Count("met_at"), on_time=Count("met_at", filter=Q(met_at__lte=F("due_at"))))
    )
    for zone, day, ended, on_time in met:
        outcomes.by_zone_day.setdefault((zone, day), Ended()).add(Ended(ended, on_time))
    skipped = (
        StageClock.objects.filter(
            zones.in_last_days("stopped_at", days),
            stopped_by=StopReason.LATER_STAGE,
            met_at__isnull=True,
        )
        .order_by()
        .annotate(zone=zones.zone_of(), day=zones.local_date("stopped_at"))
        .values_list("zone", "day")
        .annotate(ended=Count("pk"))
    )
    for zone, day, ended in skipped:
        outcomes.by_zone_day.setdefault((zone, day), Ended()).add(Ended(ended, 0))
    return outcomes


def at_risk_now(*, tenant_ids: Sequence[int], now: datetime) -> int:
    """Running stages past their warning time and not yet due (what /api/sla/at-risk lists)."""
    counts = at_risk_stage_counts_by_tenant(tenant_ids=tenant_ids, now=now)
    return sum(n for by_stage in counts.values() for n in by_stage.values())


# -------------------------------------------------------------------------- AI


@dataclass(frozen=True, slots=True)
class AiToday:
    """Today's analyses and what the model cost against the daily budget."""

    analyses: int
    kept_rules: int
    causes: dict[str, int]  # why the rules' notes were kept, by FallbackCause
    spend_usd: Decimal
    calls: int
    budget_usd: Decimal
    budget_is_shared: bool  # the overall cap, shared with tenants outside the selection
    budget_day: date

    @property
    def fallback_percent(self) -> float | None:
        return None if not self.analyses else round(100 * self.kept_rules / self.analyses, 1)

    @property
    def spend_percent(self) -> float | None:
        return (
            None if not self.budget_usd else round(float(100 * self.spend_usd / self.budget_usd), 1)
        )


def ai_today(*, zones: Zones) -> AiToday:
    """Today's analyses by decision (each tenant's local day) and today's spend.

    Two queries: explanations by (decision, cause) over the (tenant, created_at)
    index, and the tenants' spend rows of the budget's day. The budget counts UTC
    days (`ai.budget`), so spend is the budget's day, not the tenants' local one.
    With a per-tenant cost cap the budget is that cap per tenant; otherwise it is
    the overall cap, which every tenant shares.
    """
    causes: Counter[str] = Counter()
    analyses = kept = 0
    rows = (
        Explanation.objects.filter(zones.in_last_days("created_at", 1))
        .order_by()
        .values_list("decision", "cause")
        .annotate(n=Count("pk"))
    )
    for decision, cause, n in rows:
        analyses += n
        if decision == ExplanationDecision.KEPT_RULES:
            kept += n
            causes[cause] += n
    day = budget_today()
    spent = AiDailySpend.objects.filter(day=day, tenant_id__in=zones.tenant_ids).aggregate(
        cost=Sum("cost_usd"), calls=Sum("calls")
    )
    per_tenant = settings.AI_MAX_DAILY_COST_USD_PER_TENANT
    if per_tenant is not None:
        budget, shared = Decimal(per_tenant) * len(zones.tenant_ids), False
    else:
        budget, shared = Decimal(settings.AI_MAX_DAILY_COST_USD), True
    return AiToday(
        analyses=analyses,
        kept_rules=kept,
        causes=dict(causes.most_common()),
        spend_usd=spent["cost"] or Decimal(0),
        calls=spent["calls"] or 0,
        budget_usd=budget,
        budget_is_shared=shared,
        budget_day=day,
    )


# ---------------------------------------------------------------------- intake


@dataclass(frozen=True, slots=True)
class Intake:
    events_last_hour: int
    dead_letters_waiting: int
    parked_followups: int


def intake(*, tenant_ids: Sequence[int], now: datetime) -> Intake:
    """Events received in the last hour, and what waits for an operator's replay.

    Three counts, each over an index: events by (tenant, received_at) (orders
    0012), dead letters never replayed by the pending index, parked follow-ups by
    their partial index. "Received", not "occurred": a late sender's backfill is
    this hour's intake.
    """
    events = OrderEvent.objects.filter(
        tenant_id__in=tenant_ids, received_at__gt=now - timedelta(hours=1), received_at__lte=now
    ).count()
    dead = DeadLetter.objects.filter(tenant_id__in=tenant_ids, replayed_at__isnull=True).count()
    parked = FollowUpFailure.objects.filter(
        parked_at__isnull=False, event__tenant_id__in=tenant_ids
    ).count()
    return Intake(events_last_hour=events, dead_letters_waiting=dead, parked_followups=parked)
