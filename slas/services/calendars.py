"""Writing working hours and peak seasons so that no two of them overlap.

Every write path other than the admin (shell, imports, a future API) should come
here. PostgreSQL refuses overlaps by itself (exclusion constraints, migration
0006); SQLite cannot, so on SQLite these services are the guarantee: each locks
the owning calendar or policy row, checks the whole set with the rule in
`slas.calendar_rules`, then writes, so two writers cannot both pass the check
against a set the other is about to change. An overlap is refused with a
ValidationError naming the periods or seasons, on both databases.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time

from django.db import transaction

from ..calendar_rules import HoursRow, check_working_hours
from ..models import BusinessCalendar, PeakSeason, SlaPolicy, WorkingHours


def _locked_calendar(calendar: BusinessCalendar) -> BusinessCalendar:
    return BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)


@transaction.atomic
def working_hours_add(
    *, calendar: BusinessCalendar, weekday: int, opens_at: time, closes_at: time
) -> WorkingHours:
    """Add one opening period; ValidationError if it overlaps one already there."""
    _locked_calendar(calendar)
    period = WorkingHours(
        calendar=calendar, weekday=weekday, opens_at=opens_at, closes_at=closes_at
    )
    period.full_clean()  # the field checks, and clean(): the overlap rule
    period.save()
    return period


@transaction.atomic
def working_hours_replace(
    *, calendar: BusinessCalendar, periods: Iterable[HoursRow]
) -> list[WorkingHours]:
    """Replace all of a calendar's hours with `periods` (weekday, opens_at, closes_at).

    The shape an import wants: the new set is judged as a whole before the old
    one is removed, so a refused import leaves the calendar as it was.
    """
    rows = list(periods)
    check_working_hours(rows)
    _locked_calendar(calendar)
    new = [
        WorkingHours(calendar=calendar, weekday=weekday, opens_at=opens_at, closes_at=closes_at)
        for weekday, opens_at, closes_at in rows
    ]
    for period in new:
        # Field checks only: clean() would compare with the rows being replaced.
        period.clean_fields(exclude=["calendar"])
    calendar.hours.all().delete()
    return WorkingHours.objects.bulk_create(new)


@transaction.atomic
def peak_season_add(*, policy: SlaPolicy, name: str, starts_on: date, ends_on: date) -> PeakSeason:
    """Add one peak season; ValidationError if it overlaps another of the policy."""
    SlaPolicy.objects.select_for_update().only("pk").get(pk=policy.pk)
    season = PeakSeason(policy=policy, name=name, starts_on=starts_on, ends_on=ends_on)
    season.full_clean()
    season.save()
    return season
