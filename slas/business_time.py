"""Business-time arithmetic for SLA deadlines: pure Python, no Django.

A promise such as "answer within 4 working hours" or "ship within 2 business days"
only means something against a warehouse's working calendar. Everything here turns
such promises into UTC instants (and back into minutes), so the SLA engine can store
and compare deadlines without caring about zones, weekends or holidays.

Rules chosen, so that every caller sees the same answer:

* Working time is *real elapsed time* between UTC instants that fall inside the local
  working periods. On a daylight-saving day a 00:00–24:00 period lasts 23 or 25 hours.
* A local wall time is turned into an instant with ``fold=0``: an ambiguous time
  (autumn fold) means its *first* occurrence; a time that does not exist
  (spring-forward gap) moves forward to the first instant that exists after the gap,
  i.e. the transition itself. A period lying wholly inside a gap is therefore empty.
  The mapping never runs backwards, so adjacent periods stay adjacent on every day.
* ``add_business_minutes(cal, start, 0)`` is ``start`` if it is inside working time,
  else the next opening: zero minutes of work still cannot be done while closed.
* Every function accepts aware datetimes in any zone and returns UTC datetimes;
  naive datetimes are refused because their meaning would be a guess.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "WorkingCalendar",
    "add_business_days",
    "add_business_minutes",
    "business_minutes_between",
    "describe",
    "format_minutes",
    "is_holiday",
    "is_open",
    "is_weekend",
    "local_date",
    "next_opening",
]

MINUTES_PER_DAY = 1440
# Give up looking for an opening after this many closed days in a row: only a
# calendar whose holidays cover (almost) everything gets here, and without a bound
# the search would run until datetime overflows.
MAX_CLOSED_DAYS = 3660
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_BUSINESS_WEEKDAYS = frozenset({0, 1, 2, 3, 4})

_ONE_DAY = timedelta(days=1)
_ONE_MINUTE = timedelta(minutes=1)
_ONE_SECOND = timedelta(seconds=1)

Period = tuple[int, int]
DayHours = tuple[Period, ...]
Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """When a site works: weekly local hours in one IANA zone, minus holidays.

    ``hours`` has 7 entries, Monday=0 .. Sunday=6, each a sorted tuple of
    non-overlapping ``(open_minute, close_minute)`` pairs counted from local midnight
    (1440 = end of day). Adjacent periods such as (0, 600), (600, 1440) are allowed and
    behave as one. Frozen and hashable so calendars can be cached and shared.

    ``fallback`` is empty for a calendar that is what its owner configured; otherwise
    it says why this calendar stands in for the configured one (an invalid calendar
    row runs 24×7 rather than stop ingestion), and `describe` quotes it, so every
    deadline explanation built on this calendar names the fallback.
    """

    tz: ZoneInfo
    hours: tuple[DayHours, ...]
    holidays: frozenset[date] = frozenset()
    name: str = ""
    fallback: str = ""

    def __post_init__(self) -> None:
        """Refuse calendars the arithmetic cannot honour, before any deadline uses them."""
        if not isinstance(self.tz, ZoneInfo):
            raise ValueError(f"tz must be a zoneinfo.ZoneInfo, got {type(self.tz).__name__}")
        # Freeze whatever sequences were given so the calendar stays hashable.
        object.__setattr__(self, "hours", _validated_hours(self.hours))
        object.__setattr__(self, "holidays", _validated_holidays(self.holidays))

    @classmethod
    def always_open(
        cls,
        tz: ZoneInfo,
        holidays: Iterable[date] = frozenset(),
        name: str = "24×7",
        fallback: str = "",
    ) -> WorkingCalendar:
        """A round-the-clock calendar, for SLAs measured in plain elapsed time."""
        return cls(
            tz=tz,
            hours=(((0, MINUTES_PER_DAY),),) * 7,
            holidays=frozenset(holidays),
            name=name,
            fallback=fallback,
        )

    @property
    def is_always_open(self) -> bool:
        """True when business time is plain elapsed time (lets callers skip the maths)."""
        return not self.holidays and _is_round_the_clock(self)


# --------------------------------------------------------------------------- validation


def _validated_hours(hours: object) -> tuple[DayHours, ...]:
    """Check the weekly hours and return them as nested tuples."""
    try:
        days = tuple(hours)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError("hours must be a sequence of 7 per-weekday period tuples") from None
    if len(days) != 7:
        raise ValueError(f"hours must have exactly 7 entries (Monday..Sunday), got {len(days)}")
    checked = tuple(_validated_day(WEEKDAY_NAMES[i], day) for i, day in enumerate(days))
    if not any(checked):
        # Adding minutes to such a calendar would search forever.
        raise ValueError("calendar has no working minutes on any weekday")
    return checked


def _validated_day(day_name: str, periods: object) -> DayHours:
    """Check one weekday's periods: integer bounds inside the day, sorted, not overlapping."""
    try:
        raw = tuple(periods)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"{day_name}: periods must be a sequence of (open, close)") from None
    checked: list[Period] = []
    for period in raw:
        open_minute, close_minute = _validated_period(day_name, period)
        if checked and open_minute < checked[-1][1]:
            raise ValueError(
                f"{day_name}: period {_hhmm(open_minute)}–{_hhmm(close_minute)} overlaps or "
                f"precedes {_hhmm(checked[-1][0])}–{_hhmm(checked[-1][1])}; periods must be "
                "sorted and non-overlapping"
            )
        checked.append((open_minute, close_minute))
    return tuple(checked)


def _validated_period(day_name: str, period: object) -> Period:
    """Check a single (open_minute, close_minute) pair."""
    try:
        open_minute, close_minute = period  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f"{day_name}: each period must be an (open, close) pair") from None
    for value in (open_minute, close_minute):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{day_name}: period bounds must be whole minutes, got {value!r}")
    if not 0 <= open_minute < close_minute <= MINUTES_PER_DAY:
        raise ValueError(
            f"{day_name}: period ({open_minute}, {close_minute}) must satisfy "
            f"0 <= open < close <= {MINUTES_PER_DAY}"
        )
    return open_minute, close_minute


def _validated_holidays(holidays: object) -> frozenset[date]:
    """Holidays are local dates; datetimes would silently never match a date lookup."""
    try:
        values = frozenset(holidays)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError("holidays must be a collection of dates") from None
    for value in values:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ValueError(f"holidays must be datetime.date values, got {value!r}")
    return values


def _require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Return ``value`` in UTC; a naive datetime has no instant, so refuse it."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    # Converting up front matters: datetimes sharing one tzinfo compare by wall time.
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- local time


def _merged(periods: DayHours) -> DayHours:
    """Join adjacent periods so (0, 600), (600, 1440) reads and compares as (0, 1440)."""
    merged: list[Period] = []
    for open_minute, close_minute in periods:
        if merged and merged[-1][1] == open_minute:
            merged[-1] = (merged[-1][0], close_minute)
        else:
            merged.append((open_minute, close_minute))
    return tuple(merged)


@lru_cache(maxsize=1024)
def _is_round_the_clock(cal: WorkingCalendar) -> bool:
    """Every weekday open from 00:00 to 24:00 (holidays not considered)."""
    return all(_merged(day) == ((0, MINUTES_PER_DAY),) for day in cal.hours)


@lru_cache(maxsize=1024)
def _never_closed(cal: WorkingCalendar) -> bool:
    """Round the clock and no holidays: working time is plain elapsed time.

    The common case (a tenant without a calendar, or a calendar-time stage), worth
    a shortcut: ingestion works out a deadline for every stage that starts.
    """
    return _is_round_the_clock(cal) and not cal.holidays


@lru_cache(maxsize=65_536)
def _wall_to_utc(tz: ZoneInfo, day: date, minute: int) -> datetime:
    """The instant at which local wall time ``day`` + ``minute`` happens in ``tz``.

    Ambiguous times use fold=0 (first occurrence); nonexistent times move forward to
    the end of the gap. Cached because every deadline walks the same few dates.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    guess = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _local_wall(tz, guess) == wall:
        return guess
    return _gap_end(tz, wall, guess)


def _local_wall(tz: ZoneInfo, instant: datetime) -> datetime:
    """Naive local wall time of an instant (naive comparison ignores fold, as wanted)."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _gap_end(tz: ZoneInfo, wall: datetime, upper: datetime) -> datetime:
    """First instant whose wall time is at or after ``wall``, which lies in a gap.

    zoneinfo does not expose transitions, so bisect between the fold=1 reading (before
    the transition) and the fold=0 reading (after it). Offsets and transitions are
    whole seconds, so the search ends after ~12 steps for an ordinary one-hour gap.
    """
    lower = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    while upper - lower > _ONE_SECOND:
        middle = lower + (upper - lower) // 2
        middle = middle.replace(microsecond=0)
        if middle <= lower:
            break
        if _local_wall(tz, middle) >= wall:
            upper = middle
        else:
            lower = middle
    return upper


def _day_intervals(cal: WorkingCalendar, day: date) -> list[Interval]:
    """The UTC intervals that ``day``'s working periods cover (empty on holidays)."""
    if day in cal.holidays:
        return []
    intervals: list[Interval] = []
    for open_minute, close_minute in cal.hours[day.weekday()]:
        begins = _wall_to_utc(cal.tz, day, open_minute)
        ends = _wall_to_utc(cal.tz, day, close_minute)
        if ends > begins:  # a period swallowed by a DST gap contributes nothing
            intervals.append((begins, ends))
    return intervals


def _working_intervals(
    cal: WorkingCalendar, after: datetime, stop: datetime | None = None
) -> Iterator[Interval]:
    """Yield, in order, the UTC working intervals that end after ``after``.

    Walks day by day (O(days), not O(minutes)). Intervals never overlap, though they
    may touch (adjacent periods, midnight). Stops once days begin at or after ``stop``;
    raises ValueError after MAX_CLOSED_DAYS closed days in a row.
    """
    # Start a day early as a cheap safety margin for zones whose clocks jump around
    # midnight; intervals that end before ``after`` are skipped anyway.
    day = after.astimezone(cal.tz).date() - _ONE_DAY
    previous_end = after
    closed_days = 0
    try:
        while stop is None or _wall_to_utc(cal.tz, day, 0) < stop:
            intervals = _day_intervals(cal, day)
            closed_days = 0 if intervals else closed_days + 1
            if closed_days > MAX_CLOSED_DAYS:
                raise ValueError(
                    f"no working time within {MAX_CLOSED_DAYS} days after {after.isoformat()} "
                    f"in calendar {cal.name or describe(cal)!r}; do holidays cover everything?"
                )
            for begins, ends in intervals:
                begins = max(begins, previous_end)
                if ends > begins:
                    yield begins, ends
                    previous_end = ends
            day += _ONE_DAY
    except OverflowError:
        raise ValueError("business-time search ran past the supported date range") from None


# --------------------------------------------------------------------------- public API


def local_date(cal: WorkingCalendar, instant: datetime) -> date:
    """The calendar-local date of an instant: what "today" means to the site."""
    return _require_aware(instant, "instant").astimezone(cal.tz).date()


def is_weekend(cal: WorkingCalendar, instant: datetime) -> bool:
    """True on a local Saturday or Sunday, whatever the calendar's hours say."""
    return local_date(cal, instant).weekday() >= 5


def is_holiday(cal: WorkingCalendar, instant: datetime) -> bool:
    """True when the instant's local date is one of the calendar's holidays."""
    return local_date(cal, instant) in cal.holidays


def next_opening(cal: WorkingCalendar, instant: datetime) -> datetime:
    """The instant itself if the site is working then, else when it next opens (UTC)."""
    start = _require_aware(instant, "instant")
    begins, _ = next(_working_intervals(cal, start))
    return max(begins, start)


def next_shift_start(cal: WorkingCalendar, instant: datetime) -> datetime | None:
    """When the site next opens after a closed spell: what "until the next opening" means.

    Unlike `next_opening`, an instant inside working time gives the start of the
    next shift, not the instant itself: an operator snoozing at 15:00 on a
    working day means tomorrow morning. Periods that touch (a split shift with no
    gap, 24:00 into 00:00) count as one. None for a calendar that never closes.
    """
    start = _require_aware(instant, "instant")
    if _never_closed(cal):
        return None
    previous_end: datetime | None = None
    for begins, ends in _working_intervals(cal, start):
        if begins > start and begins != previous_end:
            return begins
        previous_end = ends
    return None  # unreachable: _working_intervals raises before running out


def is_open(cal: WorkingCalendar, instant: datetime) -> bool:
    """True when the instant lies inside a working period (closing time is closed)."""
    start = _require_aware(instant, "instant")
    return next_opening(cal, start) == start


def add_business_minutes(cal: WorkingCalendar, start: datetime, minutes: float) -> datetime:
    """The UTC instant at which ``minutes`` of working time have elapsed after ``start``.

    Counting begins at ``start`` if open, else at the next opening; ``minutes == 0``
    thus yields that same instant. When the budget runs out exactly at a closing time
    the result is that closing instant, not the next opening: the work is due then.
    """
    cursor = _require_aware(start, "start")
    remaining = _minutes_to_timedelta(minutes)
    if _never_closed(cal):
        return cursor + remaining
    for begins, ends in _working_intervals(cal, cursor):
        begins = max(begins, cursor)
        available = ends - begins
        if remaining <= available:
            return begins + remaining
        remaining -= available
    raise AssertionError("unreachable: _working_intervals is endless or raises")  # pragma: no cover


def _minutes_to_timedelta(minutes: float) -> timedelta:
    """Convert once, to microseconds, so long spans do not accumulate float error."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise ValueError(f"minutes must be a number, got {minutes!r}")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}")
    try:
        return timedelta(minutes=minutes)
    except OverflowError:
        raise ValueError(f"minutes={minutes!r} is beyond the supported date range") from None


def business_minutes_between(cal: WorkingCalendar, start: datetime, end: datetime) -> float:
    """Working minutes in [start, end), negative when ``end`` precedes ``start``.

    The sign lets callers express "overdue by N working minutes" with the same call.
    Exact to the microsecond before conversion to float minutes.
    """
    begin_at = _require_aware(start, "start")
    end_at = _require_aware(end, "end")
    if end_at < begin_at:
        return -business_minutes_between(cal, end_at, begin_at)
    if _never_closed(cal):
        return (end_at - begin_at) / timedelta(minutes=1)
    total = timedelta()
    for begins, ends in _working_intervals(cal, begin_at, stop=end_at):
        if begins >= end_at:
            break
        total += min(ends, end_at) - max(begins, begin_at)
    return total / _ONE_MINUTE


def add_business_days(
    cal: WorkingCalendar,
    start: datetime,
    days: int,
    weekdays: frozenset[int] = DEFAULT_BUSINESS_WEEKDAYS,
) -> datetime:
    """End of the ``days``-th business day after ``start``'s local date, as a UTC instant.

    Delivery promises ("ships within 2 business days") are about whole local days, not
    working hours, so only ``weekdays`` and holidays matter. ``days=0`` means by the
    end of today. The end of a day is the next local midnight.
    """
    start_at = _require_aware(start, "start")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days must be a whole number >= 0, got {days!r}")
    business_weekdays = _validated_weekdays(weekdays)
    day = start_at.astimezone(cal.tz).date()
    counted = 0
    skipped = 0
    try:
        while counted < days:
            day += _ONE_DAY
            if day.weekday() in business_weekdays and day not in cal.holidays:
                counted += 1
                skipped = 0
            else:
                skipped += 1
                if skipped > MAX_CLOSED_DAYS:
                    raise ValueError(
                        f"no business day within {MAX_CLOSED_DAYS} days after {day.isoformat()}"
                    )
        return _wall_to_utc(cal.tz, day + _ONE_DAY, 0)
    except OverflowError:
        raise ValueError("business-day search ran past the supported date range") from None


def _validated_weekdays(weekdays: Iterable[int]) -> frozenset[int]:
    """Business weekdays must be a non-empty subset of Monday=0 .. Sunday=6."""
    values = frozenset(weekdays)
    if not values:
        raise ValueError("weekdays must name at least one business weekday")
    if not values <= frozenset(range(7)):
        raise ValueError(f"weekdays must be in 0..6 (Monday..Sunday), got {sorted(values)}")
    return values


# --------------------------------------------------------------------------- wording


@lru_cache(maxsize=1024)
def describe(cal: WorkingCalendar) -> str:
    """Calendar as an operations lead reads it, e.g. "Mon–Fri 08:00–18:00 Europe/Berlin".

    Deadline explanations quote this, so it must be short and unambiguous: consecutive
    weekdays with identical hours are grouped, closed days are left out.
    """
    zone = cal.tz.key or str(cal.tz)
    if _is_round_the_clock(cal):
        text = f"24×7 {zone}"
    else:
        groups = "; ".join(
            f"{_day_range(first, last)} {_periods_text(hours)}"
            for first, last, hours in _weekday_groups(cal)
        )
        text = f"{groups} {zone}"
    if cal.holidays:
        count = len(cal.holidays)
        text += f", {count} holiday" if count == 1 else f", {count} holidays"
    if cal.fallback:
        text += f" (fallback: {cal.fallback})"
    return text


def _weekday_groups(cal: WorkingCalendar) -> list[tuple[int, int, DayHours]]:
    """Runs of consecutive open weekdays sharing the same (merged) hours."""
    groups: list[tuple[int, int, DayHours]] = []
    for weekday, day in enumerate(cal.hours):
        hours = _merged(day)
        if not hours:
            continue
        if groups and groups[-1][1] == weekday - 1 and groups[-1][2] == hours:
            groups[-1] = (groups[-1][0], weekday, hours)
        else:
            groups.append((weekday, weekday, hours))
    return groups


def _day_range(first: int, last: int) -> str:
    """Render a run of weekdays as "Mon" or "Mon–Fri"."""
    if first == last:
        return WEEKDAY_NAMES[first]
    return f"{WEEKDAY_NAMES[first]}–{WEEKDAY_NAMES[last]}"


def _periods_text(hours: DayHours) -> str:
    """Render one day's periods as "08:00–12:00, 13:00–17:00"."""
    return ", ".join(f"{_hhmm(open_m)}–{_hhmm(close_m)}" for open_m, close_m in hours)


def _hhmm(minute: int) -> str:
    """Minutes after midnight as HH:MM; 1440 reads 24:00 (end of day), not 00:00."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def format_minutes(minutes: float) -> str:
    """Compact duration for humans: "45 min", "2 h 30 min", "1 d 3 h" (1 d = 24 h).

    Rounded to whole minutes (halves away from zero); negative durations, such as
    an overdue margin, get a leading minus sign.
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise ValueError(f"minutes must be a number, got {minutes!r}")
    if not math.isfinite(minutes):
        raise ValueError(f"minutes must be finite, got {minutes!r}")
    total = math.floor(abs(minutes) + 0.5)
    if total == 0:
        return "0 min"
    days, rest = divmod(total, MINUTES_PER_DAY)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{value} {unit}" for value, unit in ((days, "d"), (hours, "h"), (mins, "min")) if value
    ]
    sign = "-" if minutes < 0 else ""
    return sign + " ".join(parts)
