"""A bad calendar must not take a tenant's ingestion down (issue 10).

Overlapping working periods or peak seasons are refused on every write path:
PostgreSQL itself (exclusion constraints), the models' clean() and the write
services (the guarantee on SQLite). A calendar the clock still cannot use (an
unknown time zone, or overlaps that predate the checks) makes the clock run 24×7,
says so in the explanation, and is logged and counted; ingestion answers 202.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from prometheus_client import REGISTRY

from slas.models import BusinessCalendar, PeakSeason, SlaPolicy, WorkingHours
from slas.services.calendars import peak_season_add, working_hours_add, working_hours_replace

from .sla_helpers import at, clock, send

pytestmark = pytest.mark.django_db

T = dt.time
D = dt.date


@pytest.fixture
def calendar(tenant) -> BusinessCalendar:
    return BusinessCalendar.objects.create(tenant=tenant, name="Main DC", timezone="Europe/Berlin")


@pytest.fixture
def policy(tenant) -> SlaPolicy:
    return SlaPolicy.objects.create(
        tenant=tenant, name="Acme", effective_from=at("2026-01-01T00:00:00Z")
    )


def _hours(calendar: BusinessCalendar, weekday: int, opens: dt.time, closes: dt.time) -> None:
    WorkingHours.objects.create(
        calendar=calendar, weekday=weekday, opens_at=opens, closes_at=closes
    )


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((T(8), T(14)), (T(13), T(18))),
        ((T(8), T(18)), (T(10), T(11))),  # one inside the other
        ((T(20), T(0)), (T(23), T(23, 30))),  # a 00:00 close is 24:00, not 00:00
        ((T(0), T(0)), (T(12), T(13))),  # 00:00–00:00 is the whole day
    ],
)
def test_postgresql_refuses_overlapping_hours_written_past_the_admin(calendar, first, second):
    _hours(calendar, 0, *first)
    with pytest.raises(IntegrityError, match="hours_no_overlap"), transaction.atomic():
        _hours(calendar, 0, *second)


@pytest.mark.postgres
def test_postgresql_accepts_touching_periods_and_other_days_and_calendars(calendar, tenant):
    _hours(calendar, 0, T(8), T(12))
    _hours(calendar, 0, T(12), T(18))  # touching is fine: [08:00, 12:00) then [12:00, 18:00)
    _hours(calendar, 0, T(18), T(0))
    _hours(calendar, 1, T(8), T(18))
    other = BusinessCalendar.objects.create(
        tenant=tenant, warehouse="east", name="East", timezone="Europe/Berlin"
    )
    _hours(other, 0, T(8), T(18))
    assert WorkingHours.objects.count() == 5


@pytest.mark.postgres
def test_postgresql_refuses_overlapping_peak_seasons_of_one_policy(policy):
    PeakSeason.objects.create(
        policy=policy, name="BFCM", starts_on=D(2026, 11, 20), ends_on=D(2026, 12, 1)
    )
    with pytest.raises(IntegrityError, match="peak_season_no_overlap"), transaction.atomic():
        # Both ends are inclusive: sharing 1 December is an overlap.
        PeakSeason.objects.create(
            policy=policy, name="Xmas", starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 24)
        )
    PeakSeason.objects.create(
        policy=policy, name="Xmas", starts_on=D(2026, 12, 2), ends_on=D(2026, 12, 24)
    )
    default = SlaPolicy.objects.get(tenant__isnull=True, warehouse="", service_level="")
    PeakSeason.objects.create(
        policy=default, name="Other policy", starts_on=D(2026, 11, 25), ends_on=D(2026, 11, 26)
    )


def test_the_migrations_enable_btree_gist_only_on_postgresql():
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            return
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'")
        assert cursor.fetchone() == (1,)


# --------------------------------------------------------------------------- clean() and services


def test_clean_refuses_an_overlapping_period_with_a_clear_message(calendar):
    _hours(calendar, 2, T(8), T(14))
    period = WorkingHours(calendar=calendar, weekday=2, opens_at=T(13), closes_at=T(18))
    with pytest.raises(ValidationError) as refused:
        period.full_clean()
    assert "Working periods on Wednesday overlap: 08:00–14:00 and 13:00–18:00." in str(
        refused.value
    )
    WorkingHours(calendar=calendar, weekday=2, opens_at=T(14), closes_at=T(0)).full_clean()


def test_clean_lets_a_period_be_edited_without_meeting_itself(calendar):
    _hours(calendar, 2, T(8), T(14))
    period = WorkingHours.objects.get()
    period.closes_at = T(15)
    period.full_clean()


def test_clean_refuses_an_overlapping_peak_season(policy):
    PeakSeason.objects.create(
        policy=policy, name="BFCM", starts_on=D(2026, 11, 20), ends_on=D(2026, 12, 1)
    )
    season = PeakSeason(
        policy=policy, name="Xmas", starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 24)
    )
    with pytest.raises(ValidationError, match=r"Peak seasons 'BFCM'.*and 'Xmas'.*overlap"):
        season.full_clean()


def test_the_services_refuse_overlaps_on_every_database(calendar, policy):
    working_hours_add(calendar=calendar, weekday=0, opens_at=T(8), closes_at=T(14))
    with pytest.raises(ValidationError, match="overlap"):
        working_hours_add(calendar=calendar, weekday=0, opens_at=T(13), closes_at=T(18))
    peak_season_add(policy=policy, name="BFCM", starts_on=D(2026, 11, 20), ends_on=D(2026, 12, 1))
    with pytest.raises(ValidationError, match="overlap"):
        peak_season_add(
            policy=policy, name="Xmas", starts_on=D(2026, 11, 30), ends_on=D(2026, 12, 24)
        )
    assert WorkingHours.objects.count() == 1
    assert policy.peak_seasons.count() == 1


def test_replacing_hours_with_an_overlapping_set_leaves_the_calendar_as_it_was(calendar):
    working_hours_add(calendar=calendar, weekday=0, opens_at=T(8), closes_at=T(18))
    with pytest.raises(ValidationError, match="Monday overlap"):
        working_hours_replace(calendar=calendar, periods=[(0, T(8), T(14)), (0, T(13), T(18))])
    assert list(calendar.hours.values_list("opens_at", "closes_at")) == [(T(8), T(18))]
    working_hours_replace(calendar=calendar, periods=[(0, T(8), T(12)), (0, T(12), T(0))])
    assert calendar.hours.count() == 2


# --------------------------------------------------------------------------- the clock degrades


def _invalid_calendars(tenant: str = "acme") -> float:
    return REGISTRY.get_sample_value("e2a_sla_invalid_calendars_total", {"tenant": tenant}) or 0.0


def _overlapping_hours(calendar: BusinessCalendar) -> str:
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL refuses the rows themselves (tests above)")
    _hours(calendar, 2, T(8), T(14))
    _hours(calendar, 2, T(13), T(18))
    return "Wed: period 13:00–18:00 overlaps or precedes 08:00–14:00"


def _unknown_time_zone(calendar: BusinessCalendar) -> str:
    _hours(calendar, 2, T(8), T(18))
    calendar.timezone = "Mars/Olympus"  # validators run in forms, not in save()
    calendar.save()
    return "unknown time zone 'Mars/Olympus'"


@pytest.mark.parametrize("spoil", [_overlapping_hours, _unknown_time_zone])
def test_an_invalid_calendar_runs_the_clock_24x7_and_ingestion_goes_on(
    api, calendar, caplog, spoil
):
    problem = spoil(calendar)
    before = _invalid_calendars()
    with caplog.at_level(logging.ERROR, logger="slas.config"):
        # Wednesday 10:00 UTC: with the calendar's hours the pick would be due at 14:00.
        response = send(api, "order_paid", "2026-06-03T10:00:00Z")
    assert response.status_code == 202
    pick = clock("#1001", "pick")
    assert pick.due_at == at("2026-06-03T12:00:00Z")  # 120 min of plain elapsed time
    assert "24×7" in pick.explanation
    assert f"fallback: calendar 'Main DC' is invalid: {problem}" in pick.explanation
    assert _invalid_calendars() > before
    logged = [r for r in caplog.records if r.name == "slas.config"]
    assert logged and logged[0].levelno == logging.ERROR
    assert (logged[0].tenant, logged[0].calendar) == ("acme", "Main DC")
    assert logged[0].problem.startswith(problem)

    # Every later event goes on too (it used to answer 500 until someone fixed the row).
    assert send(api, "pick_completed", "2026-06-03T11:00:00Z").status_code == 202


def test_the_admin_list_says_which_calendar_the_clock_cannot_use(admin_client, calendar):
    _unknown_time_zone(calendar)
    response = admin_client.get(reverse("admin:slas_businesscalendar_changelist"))
    assert response.status_code == 200
    assert "invalid, the clock runs 24×7: unknown time zone" in response.content.decode()
