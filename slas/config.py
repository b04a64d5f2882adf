"""Which policy and which calendar apply to an order's stage, read once per tenant.

Every ingested stage event needs its tenant's policies and calendars. Reading
them from the database per event would cost more than the deadline maths, so a
process keeps each tenant's configuration for `SLA_CONFIG_CACHE_SECONDS` and
drops it at once when this process saves or deletes any of it (signals below).
Other processes pick up a change within that TTL; a clock that starts in that
window may still use the previous version, which `manage.py sla_recompute`
corrects.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.db.models.signals import post_delete, post_save

from orders.models import Order, Tenant

from .business_time import WorkingCalendar, describe
from .deadlines import forget_factors
from .defaults import ensure_default_policy
from .metrics import INVALID_CALENDARS
from .models import BusinessCalendar, Holiday, PeakSeason, SlaPolicy, WorkingHours

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CalendarChoice:
    """A tenant's calendar for one warehouse: the row (None = 24×7) and its maths form."""

    row: BusinessCalendar | None
    working: WorkingCalendar


@dataclass(slots=True)
class TenantSlaConfig:
    tenant_id: int
    tz: ZoneInfo
    # Scope (tenant_id or None, warehouse, service_level) → versions, newest first.
    versions: dict[tuple[int | None, str, str], list[SlaPolicy]]
    calendars: dict[str, CalendarChoice]
    always_open: WorkingCalendar = field(init=False)
    policies: dict[int, SlaPolicy] = field(init=False)

    def __post_init__(self) -> None:
        self.always_open = WorkingCalendar.always_open(self.tz)
        self.policies = {p.pk: p for versions in self.versions.values() for p in versions}

    def policy(self, policy_id: int) -> SlaPolicy:
        """A policy this tenant can use, by id (loaded again if it is newer than the cache)."""
        found = self.policies.get(policy_id)
        if found is None:
            found = SlaPolicy.objects.prefetch_related("peak_seasons").get(pk=policy_id)
            self.policies[policy_id] = found
        return found

    def working_calendar_by_id(self, calendar_id: int | None) -> WorkingCalendar:
        """The working calendar of a clock's calendar id (24×7 if it is gone)."""
        if calendar_id is not None:
            for choice in self.calendars.values():
                if choice.row is not None and choice.row.pk == calendar_id:
                    return choice.working
        return self.always_open

    def policy_for(self, *, warehouse: str, service_level: str, at: datetime) -> SlaPolicy | None:
        """The most specific policy in force at `at`: tenant before default, then
        warehouse and service level before "any"."""
        for owner in (self.tenant_id, None):
            for scope in (
                (owner, warehouse, service_level),
                (owner, warehouse, ""),
                (owner, "", service_level),
                (owner, "", ""),
            ):
                for policy in self.versions.get(scope, ()):
                    if policy.effective_from <= at:
                        return policy
        return None

    def calendar_for(self, warehouse: str) -> CalendarChoice:
        return (
            self.calendars.get(warehouse)
            or self.calendars.get("")
            or CalendarChoice(None, self.always_open)
        )


def working_calendar(
    row: BusinessCalendar, hours: Iterable[WorkingHours], holidays: Iterable[Holiday]
) -> WorkingCalendar:
    """The maths form of a calendar row; one without any hours counts as 24×7."""
    by_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for period in hours:
        by_day[period.weekday].append(period.minutes)
    days = frozenset(h.date for h in holidays)
    if not any(by_day):
        return WorkingCalendar.always_open(ZoneInfo(row.timezone), holidays=days, name=row.name)
    return WorkingCalendar(
        tz=ZoneInfo(row.timezone),
        hours=tuple(tuple(sorted(day)) for day in by_day),
        holidays=days,
        name=row.name,
    )


def _calendar_problem(
    row: BusinessCalendar, hours: Iterable[WorkingHours], holidays: Iterable[Holiday]
) -> tuple[WorkingCalendar | None, str]:
    """The maths form of a calendar row, or None and what makes it unusable."""
    try:
        return working_calendar(row, hours, holidays), ""
    except ZoneInfoNotFoundError:
        return None, f"unknown time zone {row.timezone!r}"
    except ValueError as exc:
        return None, str(exc)


def calendar_description(
    row: BusinessCalendar, hours: Iterable[WorkingHours], holidays: Iterable[Holiday]
) -> str:
    """How the admin shows a calendar's hours, including why the clock cannot use it."""
    working, problem = _calendar_problem(row, hours, holidays)
    if working is None:
        return f"invalid, the clock runs 24×7: {problem}"
    return describe(working)


def usable_calendar(
    row: BusinessCalendar,
    hours: Iterable[WorkingHours],
    holidays: Iterable[Holiday],
    *,
    tenant: Tenant,
    tenant_tz: ZoneInfo,
) -> WorkingCalendar:
    """The calendar the clock counts in: the row's, or 24×7 if the row is unusable.

    A calendar that breaks the rules (written before the database refused that, or
    on SQLite past the services, or with an unknown time zone) must not fail
    ingestion: every event of the tenant would answer 500 until someone fixed it.
    The clock runs 24×7 instead (in the calendar's zone when that is valid), the
    fallback is named in every explanation built on it (`WorkingCalendar.fallback`),
    and the problem is logged and counted so that someone does fix it.
    """
    working, problem = _calendar_problem(row, hours, holidays)
    if working is not None:
        return working
    log.error(
        "invalid business calendar: its clocks run 24x7 until it is fixed",
        extra={
            "tenant": tenant.slug,
            "calendar_id": row.pk,
            "calendar": row.name,
            "warehouse": row.warehouse,
            "problem": problem,
        },
    )
    INVALID_CALENDARS.labels(tenant.slug).inc()
    try:
        tz = ZoneInfo(row.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = tenant_tz
    return WorkingCalendar.always_open(
        tz, name=row.name, fallback=f"calendar {row.name!r} is invalid: {problem}"
    )


def _policy_versions(tenant: Tenant) -> dict[tuple[int | None, str, str], list[SlaPolicy]]:
    versions: dict[tuple[int | None, str, str], list[SlaPolicy]] = {}
    policies = (
        SlaPolicy.objects.filter(Q(tenant=tenant) | Q(tenant__isnull=True))
        .prefetch_related("peak_seasons")
        .order_by("-effective_from")
    )
    for policy in policies:
        scope = (policy.tenant_id, policy.warehouse, policy.service_level)
        versions.setdefault(scope, []).append(policy)
    return versions


def _load(tenant: Tenant) -> TenantSlaConfig:
    versions = _policy_versions(tenant)
    if (None, "", "") not in versions:  # the default is gone (a flushed database)
        ensure_default_policy()
        versions = _policy_versions(tenant)
    tz = ZoneInfo(tenant.timezone)
    calendars = {
        row.warehouse: CalendarChoice(
            row,
            usable_calendar(row, row.hours.all(), row.holidays.all(), tenant=tenant, tenant_tz=tz),
        )
        for row in BusinessCalendar.objects.filter(tenant=tenant).prefetch_related(
            "hours", "holidays"
        )
    }
    return TenantSlaConfig(tenant_id=tenant.pk, tz=tz, versions=versions, calendars=calendars)


_cache: dict[int, tuple[float, TenantSlaConfig]] = {}


def config_for(tenant: Tenant) -> TenantSlaConfig:
    now = time.monotonic()
    hit = _cache.get(tenant.pk)
    if hit is not None and now - hit[0] < settings.SLA_CONFIG_CACHE_SECONDS:
        return hit[1]
    config = _load(tenant)
    _cache[tenant.pk] = (now, config)
    return config


def forget_config(**_: object) -> None:
    """Drop every cached configuration (connected to saves and deletes below)."""
    _cache.clear()
    _volume_cache.clear()
    forget_factors()


for _model in (SlaPolicy, PeakSeason, BusinessCalendar, WorkingHours, Holiday):
    post_save.connect(forget_config, sender=_model, dispatch_uid=f"sla-config-{_model.__name__}")
    post_delete.connect(
        forget_config, sender=_model, dispatch_uid=f"sla-config-{_model.__name__}-d"
    )


# High volume: more paid orders in the tenant's hour before a clock starts than the
# policy's threshold. Counted with LIMIT threshold+1 on (tenant, paid_at), and kept
# per (tenant, minute) so a busy tenant costs one count a minute, not one per event;
# a batch asks for all the minutes it needs in one statement (volumes_prefetch).
_volume_cache: OrderedDict[tuple[int, int, int], bool] = OrderedDict()
_VOLUME_CACHE_SIZE = 4096


def _minute(at: datetime) -> int:
    return int(at.timestamp() // 60)


def is_high_volume(tenant_id: int, at: datetime, threshold: int) -> bool:
    key = (tenant_id, _minute(at), threshold)
    if key not in _volume_cache:
        volumes_prefetch(tenant_id, [at], threshold)
    return _volume_cache[key]


def volumes_prefetch(tenant_id: int, starts: Iterable[datetime], threshold: int) -> None:
    """Count, in one statement, the paid orders in the hour before each start's minute."""
    minutes = sorted(
        m for m in {_minute(at) for at in starts} if (tenant_id, m, threshold) not in _volume_cache
    )
    if not minutes:
        return
    ops = connection.ops
    cast = "CAST(%s AS timestamp with time zone)" if connection.vendor == "postgresql" else "%s"
    rows = ", ".join(f"({cast}, {cast})" for _ in minutes)
    params: list[object] = []
    for minute in minutes:
        until = datetime.fromtimestamp(minute * 60, tz=UTC)
        params += [
            ops.adapt_datetimefield_value(until - timedelta(hours=1)),
            ops.adapt_datetimefield_value(until),
        ]
    table = ops.quote_name(Order._meta.db_table)
    sql = (
        f"WITH w (since, until) AS (VALUES {rows}) "  # noqa: S608 (identifiers are ours)
        f"SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM {table} AS o WHERE o.tenant_id = %s "
        "AND o.paid_at >= w.since AND o.paid_at < w.until LIMIT %s) AS recent) FROM w "
        "ORDER BY w.until"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, tenant_id, threshold + 1])
        counts = [row[0] for row in cursor.fetchall()]
    for minute, count in zip(minutes, counts, strict=True):
        _volume_cache[(tenant_id, minute, threshold)] = count > threshold
    while len(_volume_cache) > _VOLUME_CACHE_SIZE:
        _volume_cache.popitem(last=False)
