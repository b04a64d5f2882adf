"""The rules a calendar's working hours and a policy's peak seasons must keep.

One place for each rule, because four callers need it and must agree: the models'
`clean()` (a clear message wherever `full_clean()` runs), the admin formsets (which
judge a whole set of inline rows before any is saved), the write services in
`slas.services.calendars` (the only guarantee on SQLite, which has no exclusion
constraints), and the clock code (which must never meet a calendar breaking them;
PostgreSQL refuses such rows with exclusion constraints, see `slas.models.constraints`).

Pure functions over plain values: no queries, so callers decide which rows count.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time
from itertools import pairwise

from django.core.exceptions import ValidationError

MINUTES_PER_DAY = 1440
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# (weekday Monday=0, opens_at, closes_at)
HoursRow = tuple[int, time, time]
# (name, starts_on, ends_on inclusive)
SeasonRow = tuple[str, date, date]


def period_minutes(opens_at: time, closes_at: time) -> tuple[int, int]:
    """(open, close) in minutes after local midnight; a close of 00:00 is 1440 (24:00).

    A period cannot close at the midnight that starts its own day, so 00:00 as a
    closing time can only mean the end of the day.
    """
    close = closes_at.hour * 60 + closes_at.minute
    return opens_at.hour * 60 + opens_at.minute, close or MINUTES_PER_DAY


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def working_hours_problems(rows: Iterable[HoursRow]) -> list[str]:
    """What is wrong with one calendar's working hours, each as a sentence (none: [])."""
    problems: list[str] = []
    by_day: dict[int, list[tuple[int, int]]] = {}
    for weekday, opens_at, closes_at in rows:
        opens, closes = period_minutes(opens_at, closes_at)
        if closes <= opens:
            problems.append(
                f"{WEEKDAY_NAMES[weekday]} {_hhmm(opens)}–{_hhmm(closes)}: a period must close "
                "after it opens (00:00 = midnight)."
            )
            continue
        by_day.setdefault(weekday, []).append((opens, closes))
    for weekday in sorted(by_day):
        for (first_open, first_close), (second_open, second_close) in pairwise(
            sorted(by_day[weekday])
        ):
            if second_open < first_close:
                problems.append(
                    f"Working periods on {WEEKDAY_NAMES[weekday]} overlap: "
                    f"{_hhmm(first_open)}–{_hhmm(first_close)} and "
                    f"{_hhmm(second_open)}–{_hhmm(second_close)}."
                )
    return problems


def check_working_hours(rows: Iterable[HoursRow]) -> None:
    """Raise ValidationError naming every broken period, or return quietly."""
    problems = working_hours_problems(rows)
    if problems:
        raise ValidationError(problems, code="working_hours_overlap")


def peak_season_problems(rows: Iterable[SeasonRow]) -> list[str]:
    """What is wrong with one policy's peak seasons (inclusive date ranges), or []."""
    problems: list[str] = []
    ranges: list[tuple[date, date, str]] = []
    for name, starts_on, ends_on in rows:
        if ends_on < starts_on:
            problems.append(f"Peak season {name!r} ends before it starts.")
        else:
            ranges.append((starts_on, ends_on, name))
    ranges.sort()
    for (first_start, first_end, first), (second_start, _, second) in pairwise(ranges):
        if second_start <= first_end:
            problems.append(
                f"Peak seasons {first!r} ({first_start}–{first_end}) and {second!r} "
                f"(from {second_start}) overlap."
            )
    return problems


def check_peak_seasons(rows: Iterable[SeasonRow]) -> None:
    """Raise ValidationError naming every overlap, or return quietly."""
    problems = peak_season_problems(rows)
    if problems:
        raise ValidationError(problems, code="peak_season_overlap")
