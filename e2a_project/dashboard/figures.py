"""One dashboard's figures: computed from the selectors, cached for a minute.

The figures depend only on the tenants in scope and the minute, not on who asks,
so the cache key is the sorted tenant ids: ten operators of the same warehouse
watching the page cost one computation a minute, not ten. The cached value is
plain data (numbers, dates and the SVG strings); Redis in production, the
process's memory embedded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import cache

from . import charts, selectors
from .windows import Zones

CACHE_SECONDS = 60
CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Dashboard:
    computed_at: datetime
    tenant_ids: tuple[int, ...]
    open_by_severity: dict[str, int]
    on_time_today: selectors.Ended
    on_time_week: selectors.Ended
    response: selectors.ResponseTimes
    at_risk: int
    ai: selectors.AiToday
    intake: selectors.Intake
    days: list[date] = field(default_factory=list)
    exceptions_chart: str = ""
    exceptions_legend: list[tuple[str, str]] = field(default_factory=list)
    on_time_chart: str = ""

    @property
    def open_total(self) -> int:
        return sum(self.open_by_severity.values())


def dashboard_build(*, zones: Zones) -> Dashboard:
    """Every tile and chart for the tenants in `zones`, as of `zones.now`.

    A fixed number of queries (one or two per tile group), whatever the number
    of tenants, zones or rows.
    """
    ids = zones.tenant_ids
    now = zones.now
    clocks = selectors.clock_outcomes(zones=zones, days=selectors.CHART_DAYS)
    last = zones.latest_today()
    days = [last - timedelta(days=n) for n in range(selectors.CHART_DAYS - 1, -1, -1)]
    found = selectors.exceptions_per_day_by_reason(zones=zones, days=selectors.CHART_DAYS)
    per_reason = {day: found.get(day, {}) for day in days}
    per_day = {day: (e.on_time, e.ended) for day, e in clocks.per_day().items()}
    return Dashboard(
        computed_at=now,
        tenant_ids=tuple(ids),
        open_by_severity=selectors.open_exceptions_by_severity(tenant_ids=ids),
        on_time_today=clocks.window(zones, 1),
        on_time_week=clocks.window(zones, selectors.WEEK),
        response=selectors.response_times(zones=zones, days=selectors.WEEK),
        at_risk=selectors.at_risk_now(tenant_ids=ids, now=now),
        ai=selectors.ai_today(zones=zones),
        intake=selectors.intake(tenant_ids=ids, now=now),
        days=days,
        exceptions_chart=charts.stacked_bars(
            days=days,
            per_day=per_reason,
            chart_id="exceptions-per-day",
            title=f"Exceptions first seen per day by reason, last {len(days)} days",
        ),
        exceptions_legend=charts.legend(per_reason),
        on_time_chart=charts.percent_line(
            days=days,
            per_day=per_day,
            chart_id="on-time-per-day",
            title=f"SLA on-time % per day, last {len(days)} days",
        ),
    )


def cache_key(*, tenant_ids: list[int]) -> str:
    """The scope's key: a digest of the sorted ids (a superuser's scope may be long)."""
    digest = hashlib.sha256(",".join(map(str, sorted(tenant_ids))).encode()).hexdigest()[:32]
    return f"e2a:dashboard:v{CACHE_VERSION}:{digest}"


def dashboard_for(*, zones: Zones, refresh: bool = False) -> Dashboard:
    """The scope's dashboard from the cache if computed in the last minute, else fresh.

    Two requests racing past an empty cache each compute once; cheap enough that
    a lock would cost more than it saves.
    """
    key = cache_key(tenant_ids=zones.tenant_ids)
    if not refresh:
        cached = cache.get(key)
        if isinstance(cached, Dashboard) and cached.tenant_ids == tuple(zones.tenant_ids):
            return cached
    built = dashboard_build(zones=zones)
    cache.set(key, built, CACHE_SECONDS)
    return built
