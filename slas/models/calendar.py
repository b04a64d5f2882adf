"""Business calendars: when a warehouse works, in its own time zone.

A calendar belongs to a tenant, either for all its warehouses (warehouse blank)
or for one warehouse; the most specific one applies. Without any calendar the
clock runs 24×7 in the tenant's time zone. The maths lives in
`slas.business_time`; these rows are only its configuration.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from orders.models import Tenant

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
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"

    @property
    def minutes(self) -> tuple[int, int]:
        """(open, close) in minutes after local midnight; close 1440 for midnight."""
        close = self.closes_at.hour * 60 + self.closes_at.minute
        return self.opens_at.hour * 60 + self.opens_at.minute, close or 1440


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
