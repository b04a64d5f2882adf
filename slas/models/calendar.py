"""Business calendars: when a warehouse works, in its own time zone.

A calendar belongs to a tenant, either for all its warehouses (warehouse blank)
or for one warehouse; the most specific one applies. Without any calendar the
clock runs 24×7 in the tenant's time zone. The maths lives in
`slas.business_time`; these rows are only its configuration.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.contrib.postgres.fields import RangeOperators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from orders.models import Tenant

from ..calendar_rules import check_working_hours, period_minutes
from .constraints import PostgresExclusionConstraint, working_period_range

WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"),
            (5, "Saturday"), (6, "Sunday")]  # fmt: skip


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not an IANA time zone, e.g. Europe/Berlin.") from exc


class BusinessCalendar(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="calendars")
    warehouse = models.CharField(
        max_length=64, blank=True, help_text="Blank: every warehouse of the tenant without its own."
    )
    name = models.CharField(max_length=100)
    timezone = models.CharField(
        max_length=64, validators=[validate_timezone], help_text="IANA time zone of the hours."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__slug", "warehouse"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "warehouse"], name="calendar_one_per_scope"),
        ]

    def __str__(self) -> str:
        scope = self.warehouse or "all warehouses"
        return f"{self.name} ({self.tenant.slug}, {scope})"


class WorkingHours(models.Model):
    """One opening period on one weekday; a day may have several (a lunch break)."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    opens_at = models.TimeField()
    closes_at = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        ordering = ["weekday", "opens_at"]
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="hours_weekday_range"),
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")) | Q(closes_at=dt.time(0)),
                name="hours_close_after_open",
            ),
            models.UniqueConstraint(
                fields=["calendar", "weekday", "opens_at"], name="hours_unique_opening"
            ),
            # Overlapping periods on one day used to fail every event of the tenant;
            # PostgreSQL refuses them whoever writes (SQLite: see the services).
            PostgresExclusionConstraint(
                name="hours_no_overlap",
                expressions=[
                    ("calendar", RangeOperators.EQUAL),
                    ("weekday", RangeOperators.EQUAL),
                    (working_period_range(), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"

    @property
    def minutes(self) -> tuple[int, int]:
        """(open, close) in minutes after local midnight; close 1440 for midnight."""
        return period_minutes(self.opens_at, self.closes_at)

    def clean(self) -> None:
        """Refuse a period that overlaps another of the same calendar and weekday.

        Compared with the rows already saved (minus this one, when it is being
        edited): the admin's formset compares the rows of one form among
        themselves with the same rule (`slas.calendar_rules`).
        """
        super().clean()
        if None in (self.opens_at, self.closes_at, self.weekday) or self.calendar_id is None:
            return
        others = WorkingHours.objects.filter(calendar_id=self.calendar_id, weekday=self.weekday)
        if self.pk is not None:
            others = others.exclude(pk=self.pk)
        check_working_hours(
            [
                (self.weekday, self.opens_at, self.closes_at),
                *others.values_list("weekday", "opens_at", "closes_at"),
            ]
        )


class Holiday(models.Model):
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_once_per_date"),
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()
