"""Stage clocks kept by ingestion, pinned to concrete timelines with a fixed clock.

The tenant "acme" is in Europe/Berlin and, unless a test gives it a calendar,
runs on the default policy around the clock (24×7): pick 120 min from payment,
pack 180 min from pick, ship 1440 min from pack.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from slas.memo import read_memo
from slas.models import BusinessCalendar, Holiday, SlaPolicy, StageClock, WorkingHours

from .factories import event_body
from .sla_helpers import at, breaches, clock, send


@pytest.fixture
def berlin_office_hours(tenant):
    """Mon–Fri 08:00–18:00 Berlin, closed on Corpus Christi (Thu 2026-06-04)."""
    calendar = BusinessCalendar.objects.create(
        tenant=tenant, name="Main DC", timezone="Europe/Berlin"
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(calendar=calendar, weekday=d, opens_at=dt.time(8), closes_at=dt.time(18))
        for d in range(5)
    )
    Holiday.objects.create(calendar=calendar, date=dt.date(2026, 6, 4), name="Corpus Christi")
    return calendar


@pytest.mark.django_db
def test_an_order_within_sla_has_met_clocks_and_no_breach(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    pick = clock("#1001", "pick")
    assert (pick.started_at, pick.due_at) == (
        at("2026-06-03T10:00:00Z"),
        at("2026-06-03T12:00:00Z"),
    )
    assert pick.warn_at == at("2026-06-03T11:36:00Z")  # 80 % of 120 min
    assert pick.allowed_minutes == 120

    send(api, "pick_completed", "2026-06-03T11:30:00Z")
    send(api, "pack_completed", "2026-06-03T13:00:00Z")
    pick.refresh_from_db()
    assert pick.met_at == at("2026-06-03T11:30:00Z")
    pack = clock("#1001", "pack")
    assert pack.due_at == at("2026-06-03T14:30:00Z") and pack.met_at == at("2026-06-03T13:00:00Z")
    ship = clock("#1001", "ship")
    assert ship.due_at == at("2026-06-04T13:00:00Z")  # 1440 min after packing
    assert breaches("#1001") == []


@pytest.mark.django_db
def test_a_late_pick_records_a_breach_with_its_lateness(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pick_completed", "2026-06-03T12:45:00Z")
    [breach] = breaches("#1001")
    assert breach.reason_code == "PICK_DELAY" and breach.stage == "pick"
    assert (breach.allowed_minutes, breach.actual_minutes, breach.late_minutes) == (120, 165, 45)
    assert breach.severity == "MEDIUM"  # 45 of 120 min late: 37.5 %, under 100 %
    assert breach.detected_by == "event" and breach.final


@pytest.mark.django_db
def test_a_clock_starting_on_a_weekend_gets_the_weekend_multiplier(api):
    send(api, "order_paid", "2026-06-06T10:00:00+02:00")  # Saturday in Berlin
    pick = clock("#1001", "pick")
    assert pick.allowed_minutes == 180
    assert pick.due_at == at("2026-06-06T11:00:00Z")
    assert "120 min × 1.5 weekend = 180 min" in pick.explanation
    assert pick.explanation_detail["multipliers"][0]["name"] == "weekend"


@pytest.mark.django_db
def test_hazmat_doubles_the_allowance(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z", handling=["hazmat"])
    pick = clock("#1001", "pick")
    assert pick.allowed_minutes == 240
    assert pick.due_at == at("2026-06-03T14:00:00Z")
    assert "× 2 hazmat" in pick.explanation


@pytest.mark.django_db
def test_a_clock_in_business_hours_pauses_overnight_and_over_the_weekend(api, berlin_office_hours):
    send(api, "order_paid", "2026-06-05T17:00:00+02:00")  # Friday, one working hour left
    pick = clock("#1001", "pick")
    assert pick.business_time and pick.allowed_minutes == 120
    assert pick.due_at == at("2026-06-08T09:00:00+02:00")  # 60 min Friday + 60 min Monday
    assert "warehouse hours Mon–Fri 08:00–18:00 Europe/Berlin" in pick.explanation
    assert pick.explanation.startswith("pick due Mon 08 Jun 09:00")


@pytest.mark.django_db
def test_a_clock_starting_on_a_holiday_waits_for_the_next_working_day_and_doubles(
    api, berlin_office_hours
):
    send(api, "order_paid", "2026-06-04T10:00:00+02:00")  # Corpus Christi: closed
    pick = clock("#1001", "pick")
    assert pick.allowed_minutes == 240  # holiday × 2.0 (not also weekend)
    assert pick.due_at == at("2026-06-05T12:00:00+02:00")  # counts from Friday 08:00
    assert "holiday" in pick.explanation


@pytest.mark.django_db
def test_out_of_order_events_give_the_clocks_in_order_delivery_gives(api):
    timeline = [
        ("order_paid", "2026-06-03T10:00:00Z"),
        ("pick_completed", "2026-06-03T12:30:00Z"),
        ("pack_completed", "2026-06-03T13:00:00Z"),
        ("package_shipped", "2026-06-03T18:00:00Z"),
    ]
    for event_type, occurred in timeline:
        send(api, event_type, occurred, order="in-order", received="2026-06-03T19:00:00Z")
    for event_type, occurred in reversed(timeline):
        send(api, event_type, occurred, order="shuffled", received="2026-06-03T19:00:00Z")

    fields = [
        "stage",
        "started_at",
        "due_at",
        "warn_at",
        "met_at",
        "stopped_at",
        "allowed_minutes",
        "explanation",
    ]

    def state(order):
        return list(
            StageClock.objects.filter(order__external_id=order).order_by("stage").values(*fields)
        )

    assert state("in-order") == state("shuffled")
    assert [(b.reason_code, b.late_minutes) for b in breaches("shuffled")] == [("PICK_DELAY", 30)]


@pytest.mark.django_db
def test_a_policy_version_applies_to_clocks_that_start_after_it(api, tenant):
    SlaPolicy.objects.create(
        tenant=tenant, name="acme v1", effective_from=at("2026-01-01T00:00:00Z"), pick_minutes=60
    )
    SlaPolicy.objects.create(
        tenant=tenant, name="acme v2", effective_from=at("2026-06-03T12:00:00Z"), pick_minutes=90
    )
    send(api, "order_paid", "2026-06-03T11:00:00Z", order="before")
    send(api, "order_paid", "2026-06-03T12:30:00Z", order="after")
    assert clock("before", "pick").allowed_minutes == 60
    assert clock("after", "pick").allowed_minutes == 90
    assert clock("after", "pick").policy.name == "acme v2"

    # Editing the version in force does not move a clock that is already running…
    SlaPolicy.objects.filter(name="acme v2").update(pick_minutes=30)
    SlaPolicy.objects.get(name="acme v2").save()  # the admin's save: refreshes the cache
    send(api, "pick_started", "2026-06-03T12:40:00Z", order="after")
    assert clock("after", "pick").allowed_minutes == 90
    # …but clocks that start after the change use it, without a restart.
    send(api, "order_paid", "2026-06-03T12:45:00Z", order="later")
    assert clock("later", "pick").allowed_minutes == 30


@pytest.mark.django_db
def test_a_warehouse_and_service_level_policy_wins_over_the_tenant_wide_one(api, tenant):
    SlaPolicy.objects.create(
        tenant=tenant, name="acme", effective_from=at("2026-01-01T00:00:00Z"), pick_minutes=100
    )
    SlaPolicy.objects.create(
        tenant=tenant,
        name="acme express at DC2",
        warehouse="DC2",
        service_level="express",
        effective_from=at("2026-01-01T00:00:00Z"),
        pick_minutes=45,
    )
    send(
        api,
        "order_paid",
        "2026-06-03T10:00:00Z",
        order="a",
        warehouse="DC2",
        service_level="express",
    )
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="b", warehouse="DC2")
    assert clock("a", "pick").allowed_minutes == 45
    assert clock("b", "pick").allowed_minutes == 100


@pytest.mark.django_db
def test_delivery_is_promised_in_business_days_by_service_level(api):
    send(api, "package_shipped", "2026-06-05T15:00:00+02:00", service_level="express")  # a Friday
    delivery = clock("#1001", "delivery")
    assert delivery.due_at == at("2026-06-10T00:00:00+02:00")  # end of Tuesday
    assert "2 business days (Mon–Fri) (express)" in delivery.explanation
    send(api, "delivered", "2026-06-10T09:00:00+02:00")
    [breach] = breaches("#1001")
    assert breach.reason_code == "DELIVERY_DELAY" and breach.late_minutes == 540


@pytest.mark.django_db
def test_a_cancelled_order_stops_its_running_clock(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "order_cancelled", "2026-06-03T10:30:00Z")
    pick = clock("#1001", "pick")
    assert (pick.stopped_at, pick.stopped_by) == (at("2026-06-03T10:30:00Z"), "cancelled")


@pytest.mark.django_db
def test_a_carrier_in_transit_scan_proves_the_handover(api):
    """Shopify fulfilments often start at in_transit: that meets the ship clock."""
    send(api, "pack_completed", "2026-06-03T10:00:00Z")
    send(api, "in_transit", "2026-06-03T16:00:00Z")
    ship = clock("#1001", "ship")
    assert ship.met_at == at("2026-06-03T16:00:00Z") and ship.stopped_at is None
    assert clock("#1001", "delivery").started_at == at("2026-06-03T16:00:00Z")


@pytest.mark.django_db
def test_a_busy_hour_stretches_the_clocks_that_start_after_it(api, tenant):
    SlaPolicy.objects.create(
        tenant=tenant,
        name="acme",
        effective_from=at("2026-01-01T00:00:00Z"),
        high_volume_orders_per_hour=2,
    )
    for n in range(3):
        send(api, "order_paid", f"2026-06-03T10:0{n}:00Z", order=f"early-{n}")
    assert clock("early-2", "pick").allowed_minutes == 120  # only 2 paid before it
    send(api, "order_paid", "2026-06-03T10:30:00Z", order="busy")
    pick = clock("busy", "pick")
    assert pick.allowed_minutes == 156 and pick.high_volume  # 120 × 1.3
    assert "1.3 high volume" in pick.explanation
    send(api, "order_paid", "2026-06-03T12:30:00Z", order="quiet")  # the hour before is calm
    assert clock("quiet", "pick").allowed_minutes == 120


@pytest.mark.django_db
def test_a_batch_asks_for_the_volume_of_all_its_clock_starts_at_once(api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    events = [
        {
            "source": "shopify",
            "event_type": "order_paid",
            "event_id": f"b-{n}",
            "order_id": f"batch-{n}",
            "occurred_at": f"2026-06-03T1{n % 10}:{n % 60:02d}:00Z",
        }
        for n in range(40)
    ]
    import time_machine

    with (
        time_machine.travel(at("2026-06-03T21:00:00Z"), tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        response = api.post("/ingest/v2/events/batch", {"events": events})
    assert response.json()["processed_count"] == 40
    volume = [q for q in queries.captured_queries if "paid_at" in q["sql"] and "COUNT" in q["sql"]]
    assert len(volume) == 1  # 40 distinct minutes, one statement
    # The clocks are on the order rows at once; their rows follow in the worker.
    from orders.models import Order, OrderEvent
    from orders.services.processing import events_process

    assert Order.objects.filter(sla_stage="pick", sla_due_at__isnull=False).count() == 40
    events_process(event_ids=list(OrderEvent.objects.values_list("pk", flat=True)))
    assert StageClock.objects.filter(stage="pick").count() == 40


@pytest.mark.django_db
def test_a_policy_in_use_cannot_be_deleted(api, tenant):
    from django.db.models import ProtectedError

    policy = SlaPolicy.objects.create(
        tenant=tenant, name="acme", effective_from=at("2026-01-01T00:00:00Z")
    )
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    assert clock("#1001", "pick").policy == policy
    with pytest.raises(ProtectedError):
        policy.delete()


@pytest.mark.django_db
def test_a_policy_version_in_force_is_history_even_before_clock_rows_exist(api, tenant):
    from django.db.models import ProtectedError

    from orders.models import Order

    policy = SlaPolicy.objects.create(
        tenant=tenant, name="acme", effective_from=at("2026-01-01T00:00:00Z")
    )
    future = SlaPolicy.objects.create(
        tenant=tenant, name="acme 2027", effective_from=at("2027-01-01T00:00:00Z")
    )
    with time_machine.travel(at("2026-06-03T10:00:00Z"), tick=False):
        api.post(
            "/ingest/events",
            event_body(event_type="order_paid", occurred_at="2026-06-03T10:00:00Z"),
        )
        assert read_memo(Order.objects.get())["pick"].policy_id == policy.pk  # memo only
        with pytest.raises(ProtectedError):
            SlaPolicy.objects.filter(pk=policy.pk).delete()
        future.delete()  # never in force: nothing can use it
    assert SlaPolicy.objects.filter(pk=policy.pk).exists()
