"""SLA breaches open and update exceptions: late events, stuck stages, missing scans."""

from __future__ import annotations

from importlib import import_module

import pytest

from exceptions.models import ExceptionActivity, ExceptionBreach, OrderException
from slas.services.scan import sla_scan

from .exception_helpers import actions_of
from .sla_helpers import at, breaches, send

pytestmark = pytest.mark.django_db


def the_exception(order: str = "#1001", code: str | None = None) -> OrderException:
    scope = OrderException.objects.filter(order__external_id=order)
    if code:
        scope = scope.filter(reason_code=code)
    [exc] = scope
    return exc


def test_a_late_pick_event_opens_a_pick_delay_exception_with_its_breach(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pick_completed", "2026-06-03T12:45:00Z")

    exc = the_exception()
    [breach] = breaches("#1001")
    assert (exc.reason_code_id, exc.stage, exc.status, exc.severity) == (
        "PICK_DELAY",
        "pick",
        "OPEN",
        "MEDIUM",  # 45 of 120 min late: 37.5 %
    )
    assert exc.late_minutes == 45
    assert ExceptionBreach.objects.get(breach=breach).exception == exc
    assert exc.evidence["allowed_minutes"] == 120
    assert exc.evidence["detected_by"] == "event" and exc.evidence["final"] is True
    assert exc.first_seen_at == breach.detected_at
    assert exc.evidence["met_at"] == "2026-06-03T12:45:00+00:00"
    # The stage was done, late: the note must not say it was not.
    assert "was picked late: 45 min past its pick deadline" in exc.ops_note
    assert "has not been picked" not in exc.ops_note
    opened = ExceptionActivity.objects.get(exception=exc)
    assert (opened.action, opened.actor_label) == ("opened", "system:sla")


def test_an_on_time_order_has_no_exception(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pick_completed", "2026-06-03T11:00:00Z")
    send(api, "pack_completed", "2026-06-03T12:00:00Z")
    assert not OrderException.objects.exists()


def test_a_stuck_pick_found_by_the_scan_ages_and_keeps_its_final_lateness(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    sla_scan(now=at("2026-06-03T12:01:00Z"))
    exc = the_exception()
    assert (exc.severity, exc.late_minutes, exc.evidence["detected_by"]) == ("LOW", 1, "scan")
    assert exc.evidence["met_at"] is None
    assert "has not been picked: 1 min past its pick deadline" in exc.ops_note

    sla_scan(now=at("2026-06-03T12:31:00Z"))
    exc.refresh_from_db()
    assert (exc.severity, exc.late_minutes) == ("MEDIUM", 31)

    send(api, "pick_completed", "2026-06-03T13:10:00Z", received="2026-06-03T14:05:00Z")
    exc.refresh_from_db()
    assert exc.late_minutes == 70 and exc.evidence["final"] is True
    assert exc.severity == "MEDIUM"
    assert exc.occurrence_count == 1  # the same problem, not a new one
    assert OrderException.objects.count() == 1
    assert actions_of(exc) == ["opened", "updated", "updated"]


def test_a_second_scan_does_not_touch_the_exception(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    sla_scan(now=at("2026-06-03T12:01:00Z"))
    sla_scan(now=at("2026-06-03T12:02:00Z"))
    assert actions_of(the_exception()) == ["opened"]


def test_a_withdrawn_breach_resolves_its_exception(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    sla_scan(now=at("2026-06-03T12:05:00Z"))
    send(api, "pick_completed", "2026-06-03T11:50:00Z", received="2026-06-03T12:10:00Z")

    exc = the_exception()
    assert exc.status == "RESOLVED"
    assert exc.resolution_code == "BREACH_WITHDRAWN"
    assert exc.resolved_by == "system:sla"
    assert actions_of(exc) == ["opened", "auto_resolved"]


def test_a_missing_scan_resolves_itself_when_the_scan_arrives(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pack_completed", "2026-06-03T10:50:00Z", received="2026-06-03T11:00:00Z")
    sla_scan(now=at("2026-06-03T12:01:00Z"))
    exc = the_exception(code="MISSING_SCAN")
    assert (exc.status, exc.stage, exc.severity) == ("OPEN", "pick", "LOW")

    send(api, "pick_completed", "2026-06-03T10:40:00Z", received="2026-06-03T13:30:00Z")
    exc.refresh_from_db()
    assert (exc.status, exc.resolution_code) == ("RESOLVED", "CONDITION_CLEARED")
    assert exc.resolved_at == at("2026-06-03T13:30:00Z")


def test_a_missing_scan_of_a_code_that_does_not_auto_resolve_stays_open(api):
    from exceptions.models import ReasonCode

    ReasonCode.objects.filter(code="MISSING_SCAN").update(auto_resolve=False)
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pack_completed", "2026-06-03T10:50:00Z", received="2026-06-03T11:00:00Z")
    sla_scan(now=at("2026-06-03T12:01:00Z"))
    send(api, "pick_completed", "2026-06-03T10:40:00Z", received="2026-06-03T13:30:00Z")
    assert the_exception(code="MISSING_SCAN").status == "OPEN"


def test_a_late_stage_of_an_order_with_a_resolved_exception_opens_its_own(api):
    from exceptions.services.lifecycle import exception_resolve

    from .exception_helpers import OPERATOR

    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pick_completed", "2026-06-03T12:45:00Z")
    exc = the_exception()
    exception_resolve(exception_id=exc.pk, resolution="Picked now.", actor=OPERATOR)
    # The pack of the same order is late too: a different reason, a new record.
    send(api, "pack_completed", "2026-06-03T16:00:00Z")
    assert the_exception(code="PACK_DELAY").status == "OPEN"
    assert the_exception(code="PICK_DELAY").status == "RESOLVED"


def test_a_late_event_s_exception_is_opened_by_the_worker_follow_up_not_the_request(api):
    from orders.models import OrderEvent
    from orders.services.processing import events_process

    from .factories import event_body

    send(api, "order_paid", "2026-06-03T10:00:00Z")
    # Posted without running its on-commit work: the request stores event and breach only.
    response = api.post(
        "/ingest/events",
        event_body(event_type="pick_completed", occurred_at="2026-06-03T12:45:00Z"),
    )
    assert response.status_code == 202
    assert len(breaches("#1001")) == 1 and not OrderException.objects.exists()

    pending = OrderEvent.objects.filter(processed_at__isnull=True).values_list("pk", flat=True)
    events_process(event_ids=list(pending))
    assert the_exception().late_minutes == 45
    events_process(event_ids=list(pending))  # a repeat delivery changes nothing
    assert actions_of(the_exception()) == ["opened"]


def test_one_scan_opens_new_records_and_counts_on_records_already_open(api):
    from orders.models import Order

    from .exception_helpers import raise_exception

    for order in ("#1001", "#1002", "#1003"):
        send(api, "order_paid", "2026-06-03T10:00:00Z", order=order)
        send(api, "package_shipped", "2026-06-03T11:00:00Z", order=order)  # no pick scan
    earlier = raise_exception(Order.objects.get(external_id="#1002"), "MISSING_SCAN")
    sla_scan(now=at("2026-06-03T13:00:00Z"))

    assert the_exception("#1002", "MISSING_SCAN").pk == earlier.pk
    assert the_exception("#1002", "MISSING_SCAN").occurrence_count == 2
    assert actions_of(earlier) == ["opened", "recurred"]
    for order in ("#1001", "#1003"):
        assert actions_of(the_exception(order, "MISSING_SCAN")) == ["opened"]
    assert ExceptionBreach.objects.count() == 3


def test_an_existing_catalogue_gets_the_late_completion_wording_but_keeps_an_operators_edits():
    """The data migration for databases whose delay notes predate `evidence.met_at`."""
    from django.apps import apps

    from exceptions.models import ReasonCode

    migration = import_module("exceptions.migrations.0011_delay_notes_tell_late_from_not_done")
    for (code, field), (shipped, _new) in migration.TEMPLATES.items():
        ReasonCode.objects.filter(code=code).update(**{field: shipped})
    edited = "Pack for {{ order.external_id }} is slow: ring the pack lead."
    ReasonCode.objects.filter(code="PACK_DELAY").update(ops_note_template=edited)

    migration.forwards(apps, None)

    pick = ReasonCode.objects.get(code="PICK_DELAY")
    assert "was picked late" in pick.ops_note_template
    ship = ReasonCode.objects.get(code="SHIP_DELAY")
    assert "shipped late" in ship.ops_note_template
    assert "left our warehouse later than planned" in ship.client_note_template
    assert ReasonCode.objects.get(code="PACK_DELAY").ops_note_template == edited


def test_a_late_handover_says_it_shipped_late_to_ops_and_to_the_customer(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pick_completed", "2026-06-03T10:30:00Z")
    send(api, "pack_completed", "2026-06-03T11:00:00Z")
    send(api, "picked_up", "2026-06-05T12:00:00Z")  # ship allows 24 h after packing

    exc = the_exception(code="SHIP_DELAY")
    assert "shipped late" in exc.ops_note and "has not shipped" not in exc.ops_note
    assert "on its way" in exc.client_note and "waiting for the carrier" not in exc.client_note
