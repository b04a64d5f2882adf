"""Deadline maths for SLAs: fixed instants for every rule, hypothesis for the invariants.

Most expectations are written as local Berlin wall times, because that is how an
operations lead would check them by hand; the functions always answer in UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from slas.business_time import (
    WorkingCalendar,
    add_business_days,
    add_business_minutes,
    business_minutes_between,
    describe,
    format_minutes,
    is_holiday,
    is_open,
    is_weekend,
    local_date,
    next_opening,
)

BERLIN = ZoneInfo("Europe/Berlin")
SANTIAGO = ZoneInfo("America/Santiago")
UTC_ZONE = ZoneInfo("UTC")

CLOSED: tuple[tuple[int, int], ...] = ()
NINE_TO_SIX = ((8 * 60, 18 * 60),)  # 08:00–18:00
OFFICE = WorkingCalendar(BERLIN, (NINE_TO_SIX,) * 5 + (CLOSED, CLOSED), name="office")
LUNCH = WorkingCalendar(
    BERLIN,
    (((480, 720), (780, 1020)),) * 5 + (((540, 780),), CLOSED),
    name="lunch break",
)
CHRISTMAS = frozenset({date(2026, 12, 25), date(2026, 12, 26)})
OFFICE_XMAS = WorkingCalendar(BERLIN, OFFICE.hours, CHRISTMAS, name="office with holidays")
ALWAYS = WorkingCalendar.always_open(BERLIN)
SPLIT_AT_TEN = WorkingCalendar(BERLIN, (((0, 600), (600, 1440)),) * 7)
NIGHT = WorkingCalendar(BERLIN, (((60, 240),),) * 7)  # 01:00–04:00, across the DST hour
FROM_HALF_TWO = WorkingCalendar(BERLIN, (((150, 300),),) * 7)  # 02:30–05:00
TWO_TO_THREE = WorkingCalendar(BERLIN, (((120, 180),),) * 7)  # 02:00–03:00 only
UNTIL_HALF_TWO = WorkingCalendar(BERLIN, (((0, 150),),) * 7)  # 00:00–02:30

SPRING_FORWARD = date(2026, 3, 29)  # Berlin: 02:00 CET -> 03:00 CEST
FALL_BACK = date(2026, 10, 25)  # Berlin: 03:00 CEST -> 02:00 CET


def berlin(*args: int, fold: int = 0) -> datetime:
    """A Berlin wall time (fold=0 picks the summer-time reading of an ambiguous hour)."""
    return datetime(*args, tzinfo=BERLIN, fold=fold)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def midnight(day: date, tz: ZoneInfo = BERLIN) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


# --------------------------------------------------------------------------- add_business_minutes


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        pytest.param(berlin(2026, 6, 3, 10), 90, berlin(2026, 6, 3, 11, 30), id="inside-hours"),
        pytest.param(berlin(2026, 6, 3, 17), 120, berlin(2026, 6, 4, 9), id="over-end-of-day"),
        pytest.param(berlin(2026, 6, 3, 6, 30), 30, berlin(2026, 6, 3, 8, 30), id="before-open"),
        pytest.param(berlin(2026, 6, 3, 19), 60, berlin(2026, 6, 4, 9), id="after-close"),
        pytest.param(berlin(2026, 6, 3, 18), 1, berlin(2026, 6, 4, 8, 1), id="at-close"),
        pytest.param(berlin(2026, 6, 3, 8), 1, berlin(2026, 6, 3, 8, 1), id="at-open"),
        pytest.param(berlin(2026, 6, 6, 10), 60, berlin(2026, 6, 8, 9), id="saturday"),
        pytest.param(berlin(2026, 6, 7, 23, 59), 60, berlin(2026, 6, 8, 9), id="sunday-night"),
        pytest.param(berlin(2026, 6, 5, 17, 30), 60, berlin(2026, 6, 8, 8, 30), id="over-weekend"),
        pytest.param(berlin(2026, 6, 3, 16), 120, berlin(2026, 6, 3, 18), id="ends-at-close"),
        pytest.param(berlin(2026, 6, 3, 10), 0.5, berlin(2026, 6, 3, 10, 0, 30), id="half-min"),
        pytest.param(berlin(2026, 6, 1, 8), 3000, berlin(2026, 6, 5, 18), id="3000-from-mon"),
        pytest.param(berlin(2026, 6, 1, 8), 3001, berlin(2026, 6, 8, 8, 1), id="3001-from-mon"),
        pytest.param(berlin(2026, 6, 3, 13), 3000, berlin(2026, 6, 10, 13), id="3000-from-wed"),
        pytest.param(berlin(2026, 6, 1, 8), 60_000, berlin(2026, 10, 16, 18), id="100-days"),
    ],
)
def test_add_business_minutes_office_hours(
    start: datetime, minutes: float, expected: datetime
) -> None:
    assert add_business_minutes(OFFICE, start, minutes) == expected


def test_result_is_utc() -> None:
    result = add_business_minutes(OFFICE, berlin(2026, 6, 3, 10), 90)
    assert result.tzinfo is UTC
    assert result == utc(2026, 6, 3, 9, 30)


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        pytest.param(berlin(2026, 6, 3, 11, 30), 60, berlin(2026, 6, 3, 13, 30), id="over-lunch"),
        pytest.param(berlin(2026, 6, 3, 12, 15), 10, berlin(2026, 6, 3, 13, 10), id="in-lunch"),
        pytest.param(berlin(2026, 6, 3, 11), 60, berlin(2026, 6, 3, 12), id="ends-at-lunch"),
        pytest.param(berlin(2026, 6, 3, 16, 30), 60, berlin(2026, 6, 4, 8, 30), id="over-night"),
        pytest.param(berlin(2026, 6, 5, 16, 30), 60, berlin(2026, 6, 6, 9, 30), id="into-sat"),
        pytest.param(berlin(2026, 6, 6, 12), 120, berlin(2026, 6, 8, 9), id="sat-to-mon"),
        pytest.param(berlin(2026, 6, 1, 8), 480 * 5 + 240, berlin(2026, 6, 6, 13), id="full-week"),
        pytest.param(berlin(2026, 6, 1, 8), 480 * 5 + 241, berlin(2026, 6, 8, 8, 1), id="week+1"),
    ],
)
def test_add_business_minutes_with_lunch_break(
    start: datetime, minutes: float, expected: datetime
) -> None:
    assert add_business_minutes(LUNCH, start, minutes) == expected


def test_holidays_in_the_middle_are_skipped() -> None:
    # Thu 24 Dec 17:00: one hour left that day; Fri 25 and Sat 26 are holidays,
    # Sun 27 is a weekend, so the second hour is worked on Mon 28.
    start = berlin(2026, 12, 24, 17)
    assert add_business_minutes(OFFICE, start, 120) == berlin(2026, 12, 25, 9)
    assert add_business_minutes(OFFICE_XMAS, start, 120) == berlin(2026, 12, 28, 9)


def test_start_on_a_holiday_waits_for_the_next_working_day() -> None:
    assert add_business_minutes(OFFICE_XMAS, berlin(2026, 12, 25, 10), 30) == berlin(
        2026, 12, 28, 8, 30
    )


def test_holiday_on_an_always_open_calendar_closes_the_whole_local_day() -> None:
    cal = WorkingCalendar.always_open(BERLIN, holidays=frozenset({date(2026, 12, 25)}))
    assert add_business_minutes(cal, berlin(2026, 12, 24, 23), 120) == berlin(2026, 12, 26, 1)


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(utc(2026, 6, 3, 6, 30), id="utc"),  # 08:30 in Berlin
        pytest.param(
            datetime(2026, 6, 3, 1, 30, tzinfo=timezone(timedelta(hours=-5))), id="utc-minus-5"
        ),
        pytest.param(datetime(2026, 6, 3, 15, 30, tzinfo=ZoneInfo("Asia/Tokyo")), id="tokyo"),
    ],
)
def test_start_in_another_zone_is_the_same_instant(start: datetime) -> None:
    assert add_business_minutes(OFFICE, start, 60) == berlin(2026, 6, 3, 9, 30)


def test_utc_start_whose_local_date_is_the_next_day() -> None:
    # Fri 22:30 UTC is already Sat 00:30 in Berlin: closed until Monday.
    start = utc(2026, 6, 5, 22, 30)
    assert add_business_minutes(OFFICE, start, 60) == berlin(2026, 6, 8, 9)
    assert is_weekend(OFFICE, start)


def test_zero_minutes_inside_working_time_is_the_start_itself() -> None:
    start = berlin(2026, 6, 3, 10, 15, 7)
    assert add_business_minutes(OFFICE, start, 0) == start


def test_zero_minutes_outside_working_time_is_the_next_opening() -> None:
    assert add_business_minutes(OFFICE, berlin(2026, 6, 3, 18), 0) == berlin(2026, 6, 4, 8)
    assert add_business_minutes(OFFICE, berlin(2026, 6, 6, 10), 0) == berlin(2026, 6, 8, 8)


@pytest.mark.parametrize("minutes", [-1, -0.001, math.nan, math.inf, -math.inf])
def test_invalid_minutes_raise(minutes: float) -> None:
    with pytest.raises(ValueError, match="minutes"):
        add_business_minutes(OFFICE, berlin(2026, 6, 3, 10), minutes)


@pytest.mark.parametrize(
    "start",
    [
        berlin(2025, 1, 1),
        berlin(2026, 3, 28, 23),
        berlin(2026, 3, 29, 1, 59),
        berlin(2026, 10, 24, 22, 30),
        berlin(2026, 10, 25, 2, 30, fold=1),
        utc(2027, 12, 31, 23, 59, 59),
    ],
)
@pytest.mark.parametrize("minutes", [0, 1, 59.75, 1439.5, 1500, 100_000])
def test_always_open_is_plain_timedelta_addition(start: datetime, minutes: float) -> None:
    # Elapsed time must be added in UTC: aware + timedelta in one zone is wall-clock maths.
    expected = start.astimezone(UTC) + timedelta(minutes=minutes)
    assert add_business_minutes(ALWAYS, start, minutes) == expected


def test_adjacent_periods_behave_like_one_period() -> None:
    for start in (berlin(2026, 6, 3, 9), berlin(2026, 3, 28, 20), berlin(2026, 10, 24, 20)):
        for minutes in (0, 60, 61, 600, 1440, 5000):
            assert add_business_minutes(SPLIT_AT_TEN, start, minutes) == add_business_minutes(
                ALWAYS, start, minutes
            )
    assert business_minutes_between(SPLIT_AT_TEN, berlin(2026, 6, 3), berlin(2026, 6, 4)) == 1440
    assert is_open(SPLIT_AT_TEN, berlin(2026, 6, 3, 10))


# --------------------------------------------------------------------------- daylight saving


@pytest.mark.parametrize(("day", "hours"), [(SPRING_FORWARD, 23), (FALL_BACK, 25)])
def test_dst_day_lasts_23_or_25_hours_when_always_open(day: date, hours: int) -> None:
    start, end = midnight(day), midnight(day + timedelta(days=1))
    assert business_minutes_between(ALWAYS, start, end) == hours * 60
    assert add_business_minutes(ALWAYS, start, hours * 60) == end


def test_spring_forward_24_hours_of_work_end_at_one_in_the_morning() -> None:
    assert add_business_minutes(ALWAYS, midnight(SPRING_FORWARD), 1440) == berlin(2026, 3, 30, 1)


def test_fall_back_24_hours_of_work_end_before_midnight() -> None:
    assert add_business_minutes(ALWAYS, midnight(FALL_BACK), 1440) == berlin(2026, 10, 25, 23)


def test_hours_across_the_missing_hour_are_two_real_hours() -> None:
    # 01:00 CET (00:00 UTC) to 04:00 CEST (02:00 UTC): 02:00-03:00 never happens.
    start = berlin(2026, 3, 29, 1)
    assert business_minutes_between(NIGHT, midnight(SPRING_FORWARD), berlin(2026, 3, 29, 12)) == 120
    assert add_business_minutes(NIGHT, start, 90) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert add_business_minutes(NIGHT, start, 120) == utc(2026, 3, 29, 2)  # 04:00 CEST
    assert add_business_minutes(NIGHT, start, 121) == berlin(2026, 3, 30, 1, 1)


def test_hours_across_the_repeated_hour_are_four_real_hours() -> None:
    # 01:00 CEST (23:00 UTC the day before) to 04:00 CET (03:00 UTC).
    start = berlin(2026, 10, 25, 1)
    assert business_minutes_between(NIGHT, midnight(FALL_BACK), berlin(2026, 10, 25, 12)) == 240
    assert add_business_minutes(NIGHT, start, 90) == utc(2026, 10, 25, 0, 30)  # first 02:30
    assert add_business_minutes(NIGHT, start, 150) == utc(2026, 10, 25, 1, 30)  # second 02:30
    assert add_business_minutes(NIGHT, start, 240) == utc(2026, 10, 25, 3)
    assert is_open(NIGHT, berlin(2026, 10, 25, 2, 30, fold=0))
    assert is_open(NIGHT, berlin(2026, 10, 25, 2, 30, fold=1))


def test_opening_inside_the_gap_moves_forward_to_the_first_existing_instant() -> None:
    # 02:30 does not exist on 29 March; the period starts when clocks show 03:00 CEST.
    first_existing = utc(2026, 3, 29, 1)
    assert next_opening(FROM_HALF_TWO, midnight(SPRING_FORWARD)) == first_existing
    assert first_existing == berlin(2026, 3, 29, 3)
    assert not is_open(FROM_HALF_TWO, first_existing - timedelta(microseconds=1))
    assert is_open(FROM_HALF_TWO, first_existing)
    # ... and lasts until 05:00 CEST = 03:00 UTC: two real hours.
    day = (midnight(SPRING_FORWARD), berlin(2026, 3, 29, 12))
    assert business_minutes_between(FROM_HALF_TWO, *day) == 120


def test_period_wholly_inside_the_gap_has_no_working_time() -> None:
    day_before = berlin(2026, 3, 28, 12)
    assert next_opening(TWO_TO_THREE, day_before) == berlin(2026, 3, 30, 2)
    assert business_minutes_between(TWO_TO_THREE, day_before, berlin(2026, 3, 30)) == 0
    assert add_business_minutes(TWO_TO_THREE, berlin(2026, 3, 28, 2, 30), 60) == berlin(
        2026, 3, 30, 2, 30
    )


def test_ambiguous_opening_and_closing_use_the_first_occurrence() -> None:
    # 02:30 happens twice on 25 October; fold=0 means the first (CEST, 00:30 UTC).
    day = (midnight(FALL_BACK), berlin(2026, 10, 25, 12))
    assert next_opening(FROM_HALF_TWO, midnight(FALL_BACK)) == utc(2026, 10, 25, 0, 30)
    assert business_minutes_between(FROM_HALF_TWO, *day) == 210  # to 05:00 CET = 04:00 UTC
    assert business_minutes_between(UNTIL_HALF_TWO, *day) == 150  # 22:00 to 00:30 UTC
    assert not is_open(UNTIL_HALF_TWO, berlin(2026, 10, 25, 2, 15, fold=1))
    assert is_open(UNTIL_HALF_TWO, berlin(2026, 10, 25, 2, 15, fold=0))


def test_adjacent_periods_stay_adjacent_across_the_gap_and_the_fold() -> None:
    split = WorkingCalendar(BERLIN, (((0, 150), (150, 1440)),) * 7)
    for day in (SPRING_FORWARD, FALL_BACK):
        start, end = midnight(day), midnight(day + timedelta(days=1))
        assert business_minutes_between(split, start, end) == business_minutes_between(
            ALWAYS, start, end
        )


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 9, 6), 23), (date(2026, 4, 4), 25)])
def test_santiago_dst_changes_at_midnight(day: date, hours: int) -> None:
    always = WorkingCalendar.always_open(SANTIAGO)
    start, end = midnight(day, SANTIAGO), midnight(day + timedelta(days=1), SANTIAGO)
    assert business_minutes_between(always, start, end) == hours * 60


def test_end_of_day_before_a_missing_midnight_is_the_transition() -> None:
    # Santiago skips 00:00-01:00 on 6 Sept 2026; Saturday ends when clocks show 01:00.
    always = WorkingCalendar.always_open(SANTIAGO)
    saturday = datetime(2026, 9, 5, 12, tzinfo=SANTIAGO)
    assert add_business_days(always, saturday, 0, frozenset(range(7))) == utc(2026, 9, 6, 4)


# --------------------------------------------------------------------------- minutes between


def test_between_is_exact_to_the_second() -> None:
    assert business_minutes_between(
        ALWAYS, berlin(2026, 6, 3, 10), berlin(2026, 6, 3, 10, 0, 30)
    ) == pytest.approx(0.5, abs=1e-12)
    assert business_minutes_between(
        OFFICE, berlin(2026, 6, 3, 17, 59, 59), berlin(2026, 6, 4, 8, 0, 1)
    ) == pytest.approx(2 / 60, abs=1e-12)


@pytest.mark.parametrize(
    ("cal", "start", "end", "expected"),
    [
        (OFFICE, berlin(2026, 6, 5, 17), berlin(2026, 6, 8, 9), 120),
        (OFFICE, berlin(2026, 6, 3, 10), berlin(2026, 6, 3, 10), 0),
        (OFFICE, berlin(2026, 6, 6), berlin(2026, 6, 8), 0),
        (OFFICE, berlin(2026, 6, 1), berlin(2026, 6, 8), 3000),
        (LUNCH, berlin(2026, 6, 3, 11), berlin(2026, 6, 3, 14), 120),
        (LUNCH, berlin(2026, 6, 1), berlin(2026, 6, 8), 480 * 5 + 240),
        (OFFICE_XMAS, berlin(2026, 12, 24), berlin(2026, 12, 29), 1200),
        (OFFICE, berlin(2026, 12, 24), berlin(2026, 12, 29), 1800),
        (OFFICE, utc(2026, 6, 3, 6), utc(2026, 6, 3, 7), 60),
    ],
)
def test_business_minutes_between(
    cal: WorkingCalendar, start: datetime, end: datetime, expected: float
) -> None:
    assert business_minutes_between(cal, start, end) == expected
    assert business_minutes_between(cal, end, start) == -expected


def test_between_does_not_need_an_opening_after_end() -> None:
    cal = WorkingCalendar.always_open(UTC_ZONE, holidays=_every_day(2026, 2037))
    assert business_minutes_between(cal, utc(2026, 2, 1), utc(2026, 3, 1)) == 0


# --------------------------------------------------------------------------- business days


@pytest.mark.parametrize(
    ("cal", "start", "days", "expected"),
    [
        pytest.param(OFFICE, berlin(2026, 6, 5, 15), 2, berlin(2026, 6, 10), id="brief-example"),
        pytest.param(OFFICE, berlin(2026, 6, 5, 15), 0, berlin(2026, 6, 6), id="zero-today"),
        pytest.param(OFFICE, berlin(2026, 6, 6, 10), 0, berlin(2026, 6, 7), id="zero-saturday"),
        pytest.param(OFFICE, berlin(2026, 6, 6, 10), 1, berlin(2026, 6, 9), id="sat-plus-one"),
        pytest.param(OFFICE, berlin(2026, 6, 3, 23, 59), 1, berlin(2026, 6, 5), id="late-wed"),
        pytest.param(OFFICE, berlin(2026, 6, 1, 0), 10, berlin(2026, 6, 16), id="two-weeks"),
        pytest.param(
            OFFICE_XMAS, berlin(2026, 12, 23, 10), 2, berlin(2026, 12, 29), id="over-holiday"
        ),
        pytest.param(OFFICE, berlin(2026, 12, 23, 10), 2, berlin(2026, 12, 26), id="no-holiday"),
        pytest.param(
            OFFICE_XMAS, berlin(2026, 12, 25, 10), 0, berlin(2026, 12, 26), id="zero-holiday"
        ),
        pytest.param(OFFICE, utc(2026, 6, 5, 22, 30), 1, berlin(2026, 6, 9), id="utc-is-sat"),
        pytest.param(OFFICE, berlin(2026, 3, 27, 9), 1, berlin(2026, 3, 31), id="over-dst"),
    ],
)
def test_add_business_days(
    cal: WorkingCalendar, start: datetime, days: int, expected: datetime
) -> None:
    result = add_business_days(cal, start, days)
    assert result == expected
    assert result.tzinfo is UTC


def test_business_day_ends_at_the_real_local_midnight_on_dst_days() -> None:
    every_day = frozenset(range(7))
    assert add_business_days(OFFICE, berlin(2026, 3, 28, 9), 0, every_day) == utc(2026, 3, 28, 23)
    assert add_business_days(OFFICE, berlin(2026, 3, 28, 9), 1, every_day) == utc(2026, 3, 29, 22)
    assert add_business_days(OFFICE, berlin(2026, 10, 25, 9), 0, every_day) == utc(2026, 10, 25, 23)


def test_add_business_days_with_custom_weekdays() -> None:
    mon_to_sat = frozenset({0, 1, 2, 3, 4, 5})
    assert add_business_days(OFFICE, berlin(2026, 6, 5, 15), 1, mon_to_sat) == berlin(2026, 6, 7)
    assert add_business_days(OFFICE, berlin(2026, 6, 5, 15), 2, mon_to_sat) == berlin(2026, 6, 9)


@pytest.mark.parametrize("days", [-1, 1.5, True])
def test_add_business_days_rejects_bad_days(days: int) -> None:
    with pytest.raises(ValueError, match="days"):
        add_business_days(OFFICE, berlin(2026, 6, 5), days)


@pytest.mark.parametrize("weekdays", [frozenset(), frozenset({7}), frozenset({-1, 2})])
def test_add_business_days_rejects_bad_weekdays(weekdays: frozenset[int]) -> None:
    with pytest.raises(ValueError, match="weekdays"):
        add_business_days(OFFICE, berlin(2026, 6, 5), 1, weekdays)


def test_add_business_days_gives_up_when_holidays_cover_everything() -> None:
    cal = WorkingCalendar(BERLIN, OFFICE.hours, _every_day(2026, 2037))
    with pytest.raises(ValueError, match="no business day"):
        add_business_days(cal, berlin(2026, 6, 5), 1)


# --------------------------------------------------------------------------- predicates


def test_local_date_weekend_and_holiday_use_the_calendar_zone() -> None:
    late_christmas_eve_utc = utc(2026, 12, 24, 23, 30)  # 00:30 on the 25th in Berlin
    assert local_date(OFFICE_XMAS, late_christmas_eve_utc) == date(2026, 12, 25)
    assert is_holiday(OFFICE_XMAS, late_christmas_eve_utc)
    assert not is_holiday(OFFICE_XMAS, utc(2026, 12, 24, 22, 30))
    assert not is_holiday(OFFICE, late_christmas_eve_utc)
    assert not is_weekend(OFFICE_XMAS, late_christmas_eve_utc)  # a Friday
    assert is_weekend(OFFICE, berlin(2026, 12, 26, 12))
    assert is_weekend(OFFICE, berlin(2026, 12, 27, 23, 59))
    assert not is_weekend(OFFICE, berlin(2026, 12, 28))
    assert is_weekend(ALWAYS, berlin(2026, 6, 6))  # about the date, not the hours


@pytest.mark.parametrize(
    ("cal", "instant", "expected"),
    [
        (OFFICE, berlin(2026, 6, 3, 8), True),
        (OFFICE, berlin(2026, 6, 3, 7, 59, 59), False),
        (OFFICE, berlin(2026, 6, 3, 17, 59, 59), True),
        (OFFICE, berlin(2026, 6, 3, 18), False),
        (OFFICE, berlin(2026, 6, 6, 10), False),
        (OFFICE, utc(2026, 6, 3, 6), True),
        (OFFICE, utc(2026, 6, 3, 5, 59), False),
        (OFFICE_XMAS, berlin(2026, 12, 25, 10), False),
        (OFFICE, berlin(2026, 12, 25, 10), True),
        (LUNCH, berlin(2026, 6, 3, 12, 30), False),
        (LUNCH, berlin(2026, 6, 3, 13), True),
        (LUNCH, berlin(2026, 6, 6, 12, 59), True),
        (LUNCH, berlin(2026, 6, 7, 12), False),
        (ALWAYS, berlin(2026, 3, 29, 3), True),
    ],
)
def test_is_open(cal: WorkingCalendar, instant: datetime, expected: bool) -> None:
    assert is_open(cal, instant) is expected


@pytest.mark.parametrize(
    ("cal", "instant", "expected"),
    [
        (OFFICE, berlin(2026, 6, 3, 10, 0, 1), berlin(2026, 6, 3, 10, 0, 1)),
        (OFFICE, berlin(2026, 6, 3, 6), berlin(2026, 6, 3, 8)),
        (OFFICE, berlin(2026, 6, 3, 18), berlin(2026, 6, 4, 8)),
        (OFFICE, berlin(2026, 6, 5, 18), berlin(2026, 6, 8, 8)),
        (OFFICE_XMAS, berlin(2026, 12, 24, 20), berlin(2026, 12, 28, 8)),
        (LUNCH, berlin(2026, 6, 3, 12), berlin(2026, 6, 3, 13)),
        (LUNCH, berlin(2026, 6, 5, 17), berlin(2026, 6, 6, 9)),
    ],
)
def test_next_opening(cal: WorkingCalendar, instant: datetime, expected: datetime) -> None:
    result = next_opening(cal, instant)
    assert result == expected
    assert result.tzinfo is UTC


def test_search_gives_up_when_holidays_cover_everything() -> None:
    cal = WorkingCalendar.always_open(UTC_ZONE, holidays=_every_day(2026, 2037))
    with pytest.raises(ValueError, match="no working time within 3660 days"):
        next_opening(cal, utc(2026, 1, 1))
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(cal, utc(2026, 1, 1), 1)
    assert next_opening(cal, utc(2037, 6, 1)) == utc(2038, 1, 1)  # within reach again


@pytest.mark.parametrize(
    "call",
    [
        lambda naive: add_business_minutes(OFFICE, naive, 10),
        lambda naive: business_minutes_between(OFFICE, naive, berlin(2026, 6, 3)),
        lambda naive: business_minutes_between(OFFICE, berlin(2026, 6, 3), naive),
        lambda naive: add_business_days(OFFICE, naive, 1),
        lambda naive: is_open(OFFICE, naive),
        lambda naive: next_opening(OFFICE, naive),
        lambda naive: is_weekend(OFFICE, naive),
        lambda naive: is_holiday(OFFICE, naive),
        lambda naive: local_date(OFFICE, naive),
    ],
)
def test_naive_datetimes_are_refused(call) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(datetime(2026, 6, 3, 10))


# --------------------------------------------------------------------------- calendar validation


def _week(day: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[int, int], ...], ...]:
    return (day,) * 7


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        pytest.param((NINE_TO_SIX,) * 6, "exactly 7 entries", id="six-days"),
        pytest.param((NINE_TO_SIX,) * 8, "exactly 7 entries", id="eight-days"),
        pytest.param((CLOSED,) * 7, "no working minutes", id="never-open"),
        pytest.param(_week(((600, 600),)), "open < close", id="empty-period"),
        pytest.param(_week(((700, 600),)), "open < close", id="reversed"),
        pytest.param(_week(((-1, 600),)), "open < close", id="negative"),
        pytest.param(_week(((600, 1441),)), "open < close", id="past-midnight"),
        pytest.param(_week(((780, 1020), (480, 720))), "sorted", id="unsorted"),
        pytest.param(_week(((480, 800), (780, 1020))), "overlaps", id="overlapping"),
        pytest.param(_week(((480.0, 600),)), "whole minutes", id="float-bound"),
        pytest.param(_week(((True, 600),)), "whole minutes", id="bool-bound"),
        pytest.param(_week(((480, 600, 700),)), "pair", id="triple"),
        pytest.param(_week((480, 600)), "pair", id="flat-day"),
        pytest.param(None, "sequence", id="none"),
    ],
)
def test_invalid_hours_raise(hours: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(BERLIN, hours)  # type: ignore[arg-type]


def test_invalid_zone_and_holidays_raise() -> None:
    with pytest.raises(ValueError, match="ZoneInfo"):
        WorkingCalendar("Europe/Berlin", OFFICE.hours)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="date"):
        WorkingCalendar(BERLIN, OFFICE.hours, frozenset({datetime(2026, 12, 25)}))
    with pytest.raises(ValueError, match="date"):
        WorkingCalendar(BERLIN, OFFICE.hours, frozenset({"2026-12-25"}))  # type: ignore[arg-type]


def test_valid_edge_calendars() -> None:
    one_day = WorkingCalendar(BERLIN, (CLOSED,) * 6 + (((1439, 1440),),))
    assert next_opening(one_day, berlin(2026, 6, 3)) == berlin(2026, 6, 7, 23, 59)
    assert add_business_minutes(one_day, berlin(2026, 6, 3), 2) == berlin(2026, 6, 15)
    assert WorkingCalendar(BERLIN, _week(((0, 600), (600, 1440)))).is_always_open


def test_sequences_are_frozen_into_hashable_tuples() -> None:
    cal = WorkingCalendar(BERLIN, [[[480, 1080]]] * 5 + [[], []], [date(2026, 12, 25)])  # type: ignore[arg-type]
    assert cal.hours == OFFICE.hours
    assert cal.holidays == frozenset({date(2026, 12, 25)})
    assert {cal: "usable as a cache key"}[cal]
    with pytest.raises(AttributeError):
        cal.name = "changed"  # type: ignore[misc]


def test_always_open_and_is_always_open() -> None:
    assert ALWAYS.is_always_open
    assert ALWAYS.name == "24×7"
    assert ALWAYS.hours == _week(((0, 1440),))
    assert not WorkingCalendar.always_open(BERLIN, frozenset({date(2026, 1, 1)})).is_always_open
    assert not OFFICE.is_always_open
    assert not WorkingCalendar(BERLIN, (*_week(((0, 1440),))[:6], CLOSED)).is_always_open


# --------------------------------------------------------------------------- wording


@pytest.mark.parametrize(
    ("cal", "expected"),
    [
        (OFFICE, "Mon–Fri 08:00–18:00 Europe/Berlin"),
        (LUNCH, "Mon–Fri 08:00–12:00, 13:00–17:00; Sat 09:00–13:00 Europe/Berlin"),
        (ALWAYS, "24×7 Europe/Berlin"),
        (SPLIT_AT_TEN, "24×7 Europe/Berlin"),
        (WorkingCalendar.always_open(UTC_ZONE, CHRISTMAS), "24×7 UTC, 2 holidays"),
        (OFFICE_XMAS, "Mon–Fri 08:00–18:00 Europe/Berlin, 2 holidays"),
        (
            WorkingCalendar(BERLIN, OFFICE.hours, frozenset({date(2026, 1, 1)})),
            "Mon–Fri 08:00–18:00 Europe/Berlin, 1 holiday",
        ),
        (
            WorkingCalendar(
                BERLIN, (((1200, 1440),), ((0, 360),), CLOSED, ((0, 360),), (), (), ())
            ),
            "Mon 20:00–24:00; Tue 00:00–06:00; Thu 00:00–06:00 Europe/Berlin",
        ),
        (
            WorkingCalendar(UTC_ZONE, (NINE_TO_SIX,) * 4 + (((480, 960),),) + (((600, 840),),) * 2),
            "Mon–Thu 08:00–18:00; Fri 08:00–16:00; Sat–Sun 10:00–14:00 UTC",
        ),
        (
            WorkingCalendar(BERLIN, _week(((480, 600), (600, 1080)))),
            "Mon–Sun 08:00–18:00 Europe/Berlin",
        ),
    ],
)
def test_describe(cal: WorkingCalendar, expected: str) -> None:
    assert describe(cal) == expected


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (45, "45 min"),
        (120, "2 h"),
        (150, "2 h 30 min"),
        (1620, "1 d 3 h"),
        (0, "0 min"),
        (0.4, "0 min"),
        (0.5, "1 min"),
        (59.6, "1 h"),
        (60, "1 h"),
        (1440, "1 d"),
        (1441, "1 d 1 min"),
        (3 * 1440 + 61, "3 d 1 h 1 min"),
        (-90, "-1 h 30 min"),
    ],
)
def test_format_minutes(minutes: float, expected: str) -> None:
    assert format_minutes(minutes) == expected


@pytest.mark.parametrize("minutes", [math.nan, math.inf, "10"])
def test_format_minutes_rejects_non_numbers(minutes: float) -> None:
    with pytest.raises(ValueError, match="minutes"):
        format_minutes(minutes)


# --------------------------------------------------------------------------- properties

ZONES = [
    ZoneInfo(key)
    for key in (
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "America/Santiago",  # DST changes at midnight
        "Australia/Lord_Howe",  # 30-minute DST shift
        "Asia/Kolkata",  # fixed +05:30
    )
]
FIXED_OFFSET_ZONES = [ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")]
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
MICROSECOND = timedelta(microseconds=1)


def _every_day(first_year: int, last_year: int) -> frozenset[date]:
    first, last = date(first_year, 1, 1), date(last_year, 12, 31)
    return frozenset(first + timedelta(days=n) for n in range((last - first).days + 1))


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    """0-3 random periods on one day, sometimes with one split into adjacent halves."""
    count = draw(st.integers(0, 3))
    bounds = sorted(
        draw(st.lists(st.integers(0, 1440), min_size=2 * count, max_size=2 * count, unique=True))
    )
    periods = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    if periods and draw(st.booleans()):
        index = draw(st.integers(0, len(periods) - 1))
        open_minute, close_minute = periods[index]
        if close_minute - open_minute >= 2:
            middle = draw(st.integers(open_minute + 1, close_minute - 1))
            periods[index : index + 1] = [(open_minute, middle), (middle, close_minute)]
    return tuple(periods)


@st.composite
def calendars(draw: st.DrawFn, zones: list[ZoneInfo] = ZONES) -> WorkingCalendar:
    hours = tuple(draw(day_hours()) for _ in range(7))
    # A couple of working hours a week keeps 20,000 minutes within a few years of search.
    assume(sum(close - open_ for day in hours for open_, close in day) >= 120)
    holidays = draw(st.frozensets(st.dates(date(2025, 1, 1), date(2028, 12, 31)), max_size=12))
    return WorkingCalendar(draw(st.sampled_from(zones)), hours, holidays)


starts = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31, 23, 59, 59),
    timezones=st.sampled_from(ZONES),
)  # fmt: skip
budgets = st.floats(min_value=0, max_value=20_000, allow_nan=False, allow_infinity=False)


@PROPERTY_SETTINGS
@given(cal=calendars(), start=starts, minutes=budgets)
def test_property_minutes_between_inverts_add(
    cal: WorkingCalendar, start: datetime, minutes: float
) -> None:
    end = add_business_minutes(cal, start, minutes)
    opening = next_opening(cal, start)
    assert end >= opening >= start
    assert business_minutes_between(cal, start, end) == pytest.approx(minutes, abs=1e-6)
    assert business_minutes_between(cal, opening, end) == pytest.approx(minutes, abs=1e-6)


@PROPERTY_SETTINGS
@given(cal=calendars(), start=starts, budgets=st.lists(budgets, min_size=2, max_size=4))
def test_property_add_is_monotonic_in_minutes(
    cal: WorkingCalendar, start: datetime, budgets: list[float]
) -> None:
    ends = [add_business_minutes(cal, start, m) for m in sorted(budgets)]
    assert ends == sorted(ends)


@PROPERTY_SETTINGS
@given(cal=calendars(), start=starts, minutes=budgets.filter(lambda m: m > 0))
def test_property_result_is_never_inside_a_closed_period(
    cal: WorkingCalendar, start: datetime, minutes: float
) -> None:
    end = add_business_minutes(cal, start, minutes)
    # Inside a working period, or exactly at its close (open just before).
    assert is_open(cal, end) or is_open(cal, end - MICROSECOND)
    if minutes >= 1e-3:  # bigger than float->microsecond rounding
        assert end > next_opening(cal, start)


@PROPERTY_SETTINGS
@given(cal=calendars(), a=starts, b=starts, c=starts)
def test_property_between_is_additive_and_antisymmetric(
    cal: WorkingCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    ab = business_minutes_between(cal, a, b)
    assert business_minutes_between(cal, b, a) == -ab
    assert ab + business_minutes_between(cal, b, c) == pytest.approx(
        business_minutes_between(cal, a, c), abs=1e-6
    )
    real_minutes = (b - a) / timedelta(minutes=1)
    assert abs(ab) <= abs(real_minutes) + 1e-9


@PROPERTY_SETTINGS
@given(cal=calendars(), instant=starts)
def test_property_is_open_matches_the_wall_clock_away_from_dst_changes(
    cal: WorkingCalendar, instant: datetime
) -> None:
    local = instant.astimezone(cal.tz)
    offsets = {(instant + timedelta(days=n)).astimezone(cal.tz).utcoffset() for n in (-1, 0, 1)}
    assume(len(offsets) == 1)
    minute_of_day = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    expected = local.date() not in cal.holidays and any(
        open_ <= minute_of_day < close for open_, close in cal.hours[local.weekday()]
    )
    assert is_open(cal, instant) is expected


def _wall_clock_add(cal: WorkingCalendar, start: datetime, minutes: int) -> datetime:
    """Reference implementation for zones without DST: plain local wall-clock walking."""
    local = start.astimezone(cal.tz).replace(tzinfo=None)
    day = local.date()
    remaining = timedelta(minutes=minutes)
    while True:
        if day not in cal.holidays:
            for open_, close in cal.hours[day.weekday()]:
                begins = max(
                    datetime(day.year, day.month, day.day) + timedelta(minutes=open_), local
                )
                ends = datetime(day.year, day.month, day.day) + timedelta(minutes=close)
                if ends <= begins:
                    continue
                if remaining <= ends - begins:
                    return (begins + remaining).replace(tzinfo=cal.tz).astimezone(UTC)
                remaining -= ends - begins
        day += timedelta(days=1)


@PROPERTY_SETTINGS
@given(
    cal=calendars(FIXED_OFFSET_ZONES),
    start=starts,
    minutes=st.integers(min_value=0, max_value=20_000),
)
def test_property_matches_wall_clock_reference_without_dst(
    cal: WorkingCalendar, start: datetime, minutes: int
) -> None:
    assert add_business_minutes(cal, start, minutes) == _wall_clock_add(cal, start, minutes)


@PROPERTY_SETTINGS
@given(tz=st.sampled_from(ZONES), start=starts, minutes=budgets)
def test_property_always_open_is_elapsed_time(
    tz: ZoneInfo, start: datetime, minutes: float
) -> None:
    cal = WorkingCalendar.always_open(tz)
    expected = start.astimezone(UTC) + timedelta(minutes=minutes)
    assert add_business_minutes(cal, start, minutes) == expected
    assert business_minutes_between(cal, start, expected) == pytest.approx(minutes, abs=1e-6)
