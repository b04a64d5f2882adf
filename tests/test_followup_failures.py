"""A follow-up that keeps failing is isolated, backed off, parked and replayable."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
import time_machine
from django.utils import timezone
from prometheus_client import REGISTRY

from exceptions.models import OrderException
from orders import followups
from orders.models import FollowUpFailure, OrderEvent
from orders.services import processing
from orders.services.followup_failures import followup_retry_pause
from orders.services.processing import events_process, events_sweep_unprocessed

from .factories import event_body
from .followup_helpers import followup_registered

pytestmark = pytest.mark.django_db

POISON = "#POISON"


class Poison:
    """A follow-up handler that raises for one order while `broken`, like a bug would."""

    def __init__(self, error: Exception | None = None) -> None:
        self.broken = True
        self.error = error or ZeroDivisionError("division by zero")
        self.calls = 0

    def __call__(self, batch) -> None:
        self.calls += 1
        if self.broken and any(order.external_id == POISON for order, _ in batch):
            raise self.error


@pytest.fixture
def poison():
    handler = Poison()
    with followup_registered("test.poison", handler, rank=followups.ANALYSIS):
        yield handler


def _event(api, order_id: str) -> OrderEvent:
    body = event_body(order_id=order_id)
    assert api.post("/ingest/events", body).status_code == 202
    return OrderEvent.objects.get(event_id=body["event_id"])


def _count(outcome: str) -> float:
    sample = REGISTRY.get_sample_value("e2a_followup_failures_total", {"outcome": outcome})
    return sample or 0.0


def test_one_poison_order_does_not_hold_back_the_others_in_its_message(api, poison):
    bad, good = _event(api, POISON), _event(api, "#GOOD")
    retrying = _count("retrying")

    assert events_process(event_ids=[bad.pk, good.pk]) == 1

    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.processed_at is not None
    assert bad.processed_at is None
    failure = FollowUpFailure.objects.get(event=bad)
    assert (failure.attempts, failure.handler, failure.parked_at) == (1, "test.poison", None)
    assert failure.last_error == "ZeroDivisionError: division by zero"
    assert failure.next_attempt_at == failure.last_failed_at + timedelta(minutes=1)
    assert _count("retrying") == retrying + 1


def test_the_sweep_waits_out_the_pause_and_a_success_clears_the_failure(api, poison):
    bad = _event(api, POISON)
    events_process(event_ids=[bad.pk])
    assert events_sweep_unprocessed(older_than=timedelta(0)) == 0  # still pausing

    poison.broken = False  # the bug is fixed meanwhile
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert events_sweep_unprocessed(older_than=timedelta(0)) == 1  # runs eagerly here
    bad.refresh_from_db()
    assert bad.processed_at is not None
    assert not FollowUpFailure.objects.exists()


def test_pauses_double_up_to_the_cap(settings):
    settings.FOLLOWUP_RETRY_BASE_SECONDS = 60
    settings.FOLLOWUP_RETRY_MAX_SECONDS = 3600
    minutes = [followup_retry_pause(n).total_seconds() / 60 for n in range(1, 9)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60]


def _fail_until_parked(event: OrderEvent) -> FollowUpFailure:
    start = timezone.now()
    for attempt in range(5):
        with time_machine.travel(start + timedelta(hours=attempt + 1)):
            events_process(event_ids=[event.pk])
    return FollowUpFailure.objects.get(event=event)


def test_after_five_failures_the_event_is_parked_and_an_operator_sees_it(api, poison):
    bad = _event(api, POISON)
    parked_before = _count("parked")

    failure = _fail_until_parked(bad)

    assert failure.attempts == 5 and failure.parked_at is not None
    bad.refresh_from_db()
    assert bad.processed_at is not None  # settled: out of the sweep's index
    assert _count("parked") == parked_before + 1
    exc = OrderException.objects.get(order__external_id=POISON, reason_code="SYSTEM_ERROR")
    assert exc.status == "OPEN" and exc.severity == "HIGH"
    assert exc.evidence["handler"] == "test.poison" and exc.evidence["attempts"] == 5
    assert exc.evidence["last_error"] == "ZeroDivisionError: division by zero"
    assert "failed 5 times in test.poison and is parked" in exc.ops_note
    # Parked is parked: neither the sweep nor a stray message runs it again.
    calls = poison.calls
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert events_sweep_unprocessed(older_than=timedelta(0)) == 0
    assert events_process(event_ids=[bad.pk]) == 0
    assert poison.calls == calls


def test_events_in_their_pause_cannot_starve_newer_ones(api, poison, monkeypatch):
    monkeypatch.setattr(processing, "SWEEP_LIMIT", 2)
    stuck = [_event(api, POISON) for _ in range(3)]
    events_process(event_ids=[e.pk for e in stuck])
    poison.broken = False
    fresh = _event(api, "#FRESH")

    assert events_sweep_unprocessed(older_than=timedelta(0)) == 1
    fresh.refresh_from_db()
    assert fresh.processed_at is not None


def test_the_admin_replays_parked_events(
    api, poison, admin_client, django_capture_on_commit_callbacks
):
    bad = _event(api, POISON)
    failure = _fail_until_parked(bad)
    retrying = FollowUpFailure.objects.create(
        event=_event(api, "#OTHER"),
        attempts=1,
        handler="x",
        last_error="e",
        next_attempt_at=timezone.now() + timedelta(minutes=1),
    )
    page = admin_client.get("/admin/orders/followupfailure/")
    assert page.status_code == 200
    assert "parked: waits for a replay" in page.content.decode()

    poison.broken = False
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/orders/followupfailure/",
            {"action": "replay", "_selected_action": [failure.pk, retrying.pk]},
            follow=True,
        )
    assert "Queued 1 follow-ups again. (1 not parked" in response.content.decode()
    bad.refresh_from_db()
    assert bad.processed_at is not None
    assert not FollowUpFailure.objects.filter(event=bad).exists()  # it worked this time
    assert FollowUpFailure.objects.filter(pk=retrying.pk, parked_at__isnull=True).exists()


def test_a_replay_that_fails_again_starts_a_fresh_count(
    api, poison, django_capture_on_commit_callbacks
):
    from orders.services.followup_failures import followup_failures_replay

    bad = _event(api, POISON)
    failure = _fail_until_parked(bad)
    with django_capture_on_commit_callbacks(execute=True):
        assert followup_failures_replay(failures=[failure]) == 1
    failure.refresh_from_db()
    assert (failure.attempts, failure.parked_at, failure.replays) == (1, None, 1)


def test_an_unreachable_dependency_is_not_counted_against_the_order(api, poison):
    poison.error = redis.ConnectionError("Connection refused")
    bad = _event(api, POISON)
    with pytest.raises(redis.ConnectionError):
        events_process(event_ids=[bad.pk])
    assert not FollowUpFailure.objects.exists()  # the message is redelivered instead


def test_handlers_run_by_rank_whatever_the_registration_order():
    followups.register("test.late", lambda batch: None, rank=followups.ANALYSIS + 1)
    followups.register("test.early", lambda batch: None, rank=0)
    try:
        names = [name for name, _ in followups.handlers()]
    finally:
        followups.unregister("test.late")
        followups.unregister("test.early")
    assert names[0] == "test.early" and names[-1] == "test.late"
    # Detection reads the clock rows' explanations: clocks first, in every app order.
    assert names.index("slas.clock_rows") < names.index("exceptions.detect")


def test_the_admin_filters_parked_from_retrying(api, poison, admin_client):
    parked = _fail_until_parked(_event(api, POISON))
    FollowUpFailure.objects.create(
        event=_event(api, "#OTHER"),
        attempts=1,
        handler="x",
        last_error="e",
        next_attempt_at=timezone.now() + timedelta(minutes=1),
    )
    page = admin_client.get("/admin/orders/followupfailure/?state=parked").content.decode()
    assert "1 follow-up failure" in page and str(parked.event.event_id) in page
    retrying = admin_client.get("/admin/orders/followupfailure/?state=retrying")
    assert "retrying at" in retrying.content.decode()
