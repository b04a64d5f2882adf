"""Billing months are calendar months in the tenant's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(period: date) -> date:
    return date(period.year + (period.month == 12), period.month % 12 + 1, 1)


def previous_month(period: date) -> date:
    return date(period.year - (period.month == 1), (period.month - 2) % 12 + 1, 1)


def local_midnight(day: date, tz_name: str) -> datetime:
    """The instant (UTC) a tenant-local day begins."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz_name)).astimezone(UTC)


def month_bounds(period: date, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) of the tenant-local calendar month `period`, as UTC instants."""
    period = month_start(period)
    return local_midnight(period, tz_name), local_midnight(next_month(period), tz_name)


def local_date(at: datetime, tz_name: str) -> date:
    return at.astimezone(ZoneInfo(tz_name)).date()


def parse_period(text: str) -> date:
    """`2026-11` → date(2026, 11, 1); ValueError with a plain message otherwise."""
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise ValueError(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-11.") from None
    return parsed.date()
