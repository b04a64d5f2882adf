"""Tenant-local days: which UTC instants "today" and "the last N days" cover per zone.

An operator in Berlin reads "today" as Berlin's calendar day, so each tenant's
windows start at its own local midnight. The aggregates group tenants by zone (a
few zones, however many tenants), so their query count does not follow the
number of tenants: one `Case` branch per zone, in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Case, CharField, DateField, Q, Value, When
from django.db.models.functions import TruncDate

UTC = "UTC"


def zone_name(value: str | None) -> str:
    """A usable IANA zone: the tenant's own, or UTC where it is blank or unknown."""
    if not value:
        return UTC
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
    return value


@dataclass(frozen=True, slots=True)
class Zones:
    """The tenants in scope grouped by time zone, with `now` fixed for every window."""

    tenant_ids_by_zone: Mapping[str, tuple[int, ...]]
    now: datetime

    @classmethod
    def of(cls, *, tenants: Iterable[tuple[int, str | None]], now: datetime) -> Zones:
        """From (tenant id, zone) pairs; ids sorted so equal scopes give equal objects."""
        grouped: dict[str, list[int]] = {}
        for tenant_id, zone in tenants:
            grouped.setdefault(zone_name(zone), []).append(tenant_id)
        return cls({z: tuple(sorted(ids)) for z, ids in sorted(grouped.items())}, now)

    @property
    def tenant_ids(self) -> list[int]:
        return sorted(i for ids in self.tenant_ids_by_zone.values() for i in ids)

    @property
    def names(self) -> Sequence[str]:
        return list(self.tenant_ids_by_zone)

    def today(self, zone: str) -> date:
        return self.now.astimezone(ZoneInfo(zone)).date()

    def latest_today(self) -> date:
        """The newest local date among the zones: where the charts' 30 days end."""
        return max((self.today(z) for z in self.tenant_ids_by_zone), default=self.now.date())

    def day_start(self, zone: str, day: date) -> datetime:
        """Local midnight of `day` in `zone` (an aware datetime; DST gaps resolve forward)."""
        return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone))

    def window_start(self, zone: str, days: int) -> datetime:
        """Start of the last `days` local days including today (days=1: today's midnight)."""
        return self.day_start(zone, self.today(zone) - timedelta(days=days - 1))

    def in_last_days(self, field: str, days: int, *, tenant_field: str = "tenant_id") -> Q:
        """`field` within each tenant's last `days` local days and not after now.

        One OR branch per zone, so the (tenant, time) indexes serve each branch.
        """
        condition = Q(pk__in=[])
        for zone, ids in self.tenant_ids_by_zone.items():
            condition |= Q(
                **{
                    f"{tenant_field}__in": ids,
                    f"{field}__gte": self.window_start(zone, days),
                    f"{field}__lte": self.now,
                }
            )
        return condition

    def zone_of(self, *, tenant_field: str = "tenant_id") -> Case:
        """The row's tenant's zone name, as a value to group by."""
        return Case(
            *(
                When(**{f"{tenant_field}__in": ids}, then=Value(zone))
                for zone, ids in self.tenant_ids_by_zone.items()
            ),
            default=Value(UTC),
            output_field=CharField(),
        )

    def local_date(self, field: str, *, tenant_field: str = "tenant_id") -> Case:
        """The calendar date of `field` in the row's tenant's zone."""
        return Case(
            *(
                When(
                    **{f"{tenant_field}__in": ids},
                    then=TruncDate(field, tzinfo=ZoneInfo(zone)),
                )
                for zone, ids in self.tenant_ids_by_zone.items()
            ),
            default=TruncDate(field, tzinfo=ZoneInfo(UTC)),
            output_field=DateField(),
        )
