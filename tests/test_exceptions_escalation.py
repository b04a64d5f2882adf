"""Beat's escalation with a fixed clock: unacknowledged, acknowledged-but-unresolved,
snoozed, auto-close after the reopen window, and two beats at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exceptions.models import ExceptionActivity, ExceptionStatus, OrderException
from exceptions.services import lifecycle
from exceptions.services.escalation import exceptions_escalate

from .concurrency import at_once
from .exception_helpers import OPERATOR, actions_of, make_order, raise_exception
from .factories import TenantFactory
from .sla_helpers import at

T0 = at("2026-06-03T10:00:00Z")


@pytest.fixture
def exc(db):
    order = make_order(TenantFactory(slug="acme"))
    # PICK_DELAY: escalation after 4 h unacknowledged, 8 h acknowledged but unresolved.
    return raise_exception(order, "PICK_DELAY", severity="MEDIUM", now=T0)


def reload(exc: OrderException) -> OrderException:
    exc.refresh_from_db()
    return exc


def test_an_unacknowledged_exception_escalates_after_its_catalogue_hours(exc):
    assert exc.next_escalation_at == T0 + timedelta(hours=4)
    assert exceptions_escalate(now=T0 + timedelta(hours=3, minutes=59)) == {
        "escalated": 0,
        "closed": 0,
    }
    assert exceptions_escalate(now=T0 + timedelta(hours=4))["escalated"] == 1
    exc = reload(exc)
    assert (exc.escalation_level, exc.severity) == (1, "HIGH")
    assert exc.next_escalation_at == T0 + timedelta(hours=8)
    row = ExceptionActivity.objects.get(exception=exc, action="escalated")
    assert row.note == "Not acknowledged within 4 h."
    assert (row.before["severity"], row.after["severity"]) == ("MEDIUM", "HIGH")
    assert row.actor_type == "system"

    # Nobody again for 4 h: level 2, CRITICAL, and it stays CRITICAL after that.
    exceptions_escalate(now=T0 + timedelta(hours=8))
    exceptions_escalate(now=T0 + timedelta(hours=12))
    exc = reload(exc)
    assert (exc.escalation_level, exc.severity) == (3, "CRITICAL")


def test_escalation_stops_at_the_top_level_instead_of_paging_forever(exc):
    for hour in (4, 8, 12):
        exceptions_escalate(now=T0 + timedelta(hours=hour))
    exc = reload(exc)
    assert exc.escalation_level == 3 and exc.next_escalation_at is None
    last = ExceptionActivity.objects.filter(exception=exc, action="escalated").latest("pk")
    assert last.note.endswith("Top escalation level: no further escalation.")
    assert exceptions_escalate(now=T0 + timedelta(days=30))["escalated"] == 0
    assert ExceptionActivity.objects.filter(exception=exc, action="escalated").count() == 3

    # Acknowledged at the top: nothing higher to page, so its deadline just clears.
    lifecycle.exception_acknowledge(
        exception_id=exc.pk, actor=OPERATOR, now=T0 + timedelta(days=30, hours=1)
    )
    assert exceptions_escalate(now=T0 + timedelta(days=31))["escalated"] == 0
    exc = reload(exc)
    assert exc.escalation_level == 3 and exc.next_escalation_at is None


def test_acknowledged_but_unresolved_escalates_after_the_second_timeout(exc):
    lifecycle.exception_acknowledge(
        exception_id=exc.pk, actor=OPERATOR, now=T0 + timedelta(hours=1)
    )
    assert reload(exc).next_escalation_at == T0 + timedelta(hours=9)
    assert exceptions_escalate(now=T0 + timedelta(hours=8))["escalated"] == 0
    assert exceptions_escalate(now=T0 + timedelta(hours=9))["escalated"] == 1
    exc = reload(exc)
    assert exc.status == ExceptionStatus.ACKNOWLEDGED and exc.escalation_level == 1
    assert (
        ExceptionActivity.objects.get(exception=exc, action="escalated").note
        == "Acknowledged but not resolved within 8 h."
    )


def test_a_snoozed_exception_waits_until_the_snooze_ends(exc):
    lifecycle.exception_snooze(
        exception_id=exc.pk, until=T0 + timedelta(hours=6), actor=OPERATOR, now=T0
    )
    assert exceptions_escalate(now=T0 + timedelta(hours=5))["escalated"] == 0
    assert reload(exc).escalation_level == 0
    assert exceptions_escalate(now=T0 + timedelta(hours=6))["escalated"] == 1
    exc = reload(exc)
    assert exc.escalation_level == 1 and exc.snoozed_until is None


def test_a_short_snooze_does_not_bring_escalation_forward(exc):
    lifecycle.exception_snooze(
        exception_id=exc.pk, until=T0 + timedelta(hours=1), actor=OPERATOR, now=T0
    )
    assert reload(exc).next_escalation_at == T0 + timedelta(hours=4)


def test_snooze_input_is_checked(exc):
    with pytest.raises(lifecycle.InvalidChange):
        lifecycle.exception_snooze(exception_id=exc.pk, until=T0, actor=OPERATOR, now=T0)
    with pytest.raises(lifecycle.InvalidChange):
        lifecycle.exception_snooze(
            exception_id=exc.pk, until=T0 + timedelta(days=31), actor=OPERATOR, now=T0
        )


def test_resolved_exceptions_do_not_escalate_and_close_after_the_window(exc, settings):
    settings.EXCEPTION_CLOSE_AFTER_HOURS = 72
    lifecycle.exception_resolve(
        exception_id=exc.pk, resolution="Picked.", actor=OPERATOR, now=T0 + timedelta(hours=1)
    )
    assert exceptions_escalate(now=T0 + timedelta(hours=20)) == {"escalated": 0, "closed": 0}
    assert exceptions_escalate(now=T0 + timedelta(hours=73))["closed"] == 1
    exc = reload(exc)
    assert exc.status == ExceptionStatus.CLOSED and exc.closed_at == T0 + timedelta(hours=73)
    assert actions_of(exc)[-1] == "closed"


def test_beat_runs_escalation_every_minute():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["exceptions-escalate"]
    assert (entry["task"], entry["schedule"]) == ("exceptions.escalate", 60.0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_escalate_each_exception_once():
    order = make_order(TenantFactory(slug="acme"))
    for code in ("PICK_DELAY", "PACK_DELAY", "SHIP_DELAY", "CARRIER_ISSUE"):
        raise_exception(order, code, now=T0)
    results = at_once(lambda: exceptions_escalate(now=T0 + timedelta(hours=5)), threads=2)
    assert sum(r["escalated"] for r in results) == 4
    assert ExceptionActivity.objects.filter(action="escalated").count() == 4
    assert set(OrderException.objects.values_list("escalation_level", flat=True)) == {1}


def test_every_escalation_is_announced_even_below_the_posting_threshold(exc, settings):
    from exceptions.models import Notification

    settings.SLACK_DEFAULT_CHANNEL = "#ops"
    settings.SLACK_MIN_SEVERITY = "CRITICAL"  # the MEDIUM exception was not posted
    assert not Notification.objects.filter(exception=exc).exists()
    exceptions_escalate(now=T0 + timedelta(hours=4))  # → HIGH, level 1
    [first] = Notification.objects.filter(exception=exc)
    assert (first.kind, first.channel) == ("new", "#ops")
    assert first.text.startswith("Escalated to level 1:")
    exceptions_escalate(now=T0 + timedelta(hours=8))  # → CRITICAL, level 2: a thread reply
    kinds = list(
        Notification.objects.filter(exception=exc).order_by("pk").values_list("kind", flat=True)
    )
    assert kinds == ["new", "escalation"]
