"""A worker that is behind works its backlog off in large batches.

A follow-up's cost is mostly per call (issue 19: 6.9 ms of CPU per event one event
at a time, 0.8 ms in calls of 32), so a message that waited longer than
FOLLOWUP_CATCH_UP_AFTER_MS takes other waiting events into its transaction.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from orders.models import FollowUpFailure, Order, OrderEvent
from orders.services.processing import events_process

from .factories import event_body
from .followup_helpers import followup_registered

pytestmark = pytest.mark.django_db


def _ingest(api, order_ids: list[str]) -> list[int]:
    for order_id in order_ids:
        body = event_body(order_id=order_id, event_id=f"{order_id}-paid", event_type="order_paid")
        assert api.post("/ingest/events", body).status_code == 202
    return list(
        OrderEvent.objects.filter(order__external_id__in=order_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _waited(ms: int) -> None:
    """Every waiting event was received `ms` milliseconds ago."""
    OrderEvent.objects.filter(processed_at__isnull=True).update(
        received_at=timezone.now() - timedelta(milliseconds=ms)
    )


def _waiting() -> set[str]:
    return set(
        OrderEvent.objects.filter(processed_at__isnull=True).values_list(
            "order__external_id", flat=True
        )
    )


@pytest.fixture
def catch_up(settings):
    settings.FOLLOWUP_CATCH_UP_AFTER_MS = 250
    settings.FOLLOWUP_CATCH_UP_EVENTS = 3
    return settings


def test_a_late_message_tops_its_batch_up_with_the_newest_waiting_orders(api, catch_up):
    ids = _ingest(api, ["#A", "#B", "#C", "#D", "#E"])
    _waited(1000)

    # Its own, then two more: the newest, whose messages are furthest back in the queue.
    assert events_process(event_ids=[ids[0]]) == 3

    assert _waiting() == {"#B", "#C"}
    assert events_process(event_ids=[ids[4]]) == 0  # #E's own message finds it done


def test_a_taken_order_runs_all_its_waiting_events(api, catch_up):
    ids = _ingest(api, ["#A", "#B"])
    picked = event_body(order_id="#B", event_id="#B-picked", event_type="pick_completed")
    assert api.post("/ingest/events", picked).status_code == 202
    _waited(1000)

    assert events_process(event_ids=[ids[0]]) == 3

    assert _waiting() == set()


def test_a_message_that_fills_the_batch_takes_nothing_more(api, catch_up):
    ids = _ingest(api, ["#A", "#B", "#C", "#D"])
    _waited(1000)

    assert events_process(event_ids=ids[:3]) == 3

    assert _waiting() == {"#D"}


def test_a_message_on_time_runs_only_its_own_events(api, catch_up):
    ids = _ingest(api, ["#A", "#B", "#C"])
    _waited(50)

    assert events_process(event_ids=[ids[2]]) == 1

    assert _waiting() == {"#A", "#B"}


def test_catching_up_can_be_switched_off(api, catch_up):
    catch_up.FOLLOWUP_CATCH_UP_EVENTS = 0
    ids = _ingest(api, ["#A", "#B"])
    _waited(60_000)

    assert events_process(event_ids=[ids[1]]) == 1

    assert _waiting() == {"#A"}


def test_events_whose_follow_up_failed_are_left_to_the_sweep(api, catch_up):
    ids = _ingest(api, ["#A", "#B", "#C"])
    FollowUpFailure.objects.create(
        event_id=ids[0],
        attempts=1,
        handler="test",
        last_error="boom",
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    _waited(1000)

    assert events_process(event_ids=[ids[2]]) == 2

    assert _waiting() == {"#A"}


@pytest.fixture
def fails_on_b():
    def handler(batch) -> None:
        if any(order.external_id == "#B" for order, _ in batch):
            raise ValueError("a bad record on #B")

    with followup_registered("test.fails-on-b", handler):
        yield


def test_a_taken_event_that_breaks_the_batch_is_left_for_its_own_message(api, catch_up, fails_on_b):
    ids = _ingest(api, ["#A", "#B"])
    _waited(1000)

    assert events_process(event_ids=[ids[0]]) == 1  # the batch rolled back; #A alone ran

    assert _waiting() == {"#B"}
    assert not FollowUpFailure.objects.exists()  # #B's failure is its own message's to record
    events_process(event_ids=[ids[1]])
    assert FollowUpFailure.objects.get().event.order.external_id == "#B"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_orders_another_transaction_holds_are_skipped_without_waiting(api, catch_up):
    ids = _ingest(api, ["#A", "#B", "#C"])
    # Committed for real here, so the follow-ups ran at once: owe them again.
    OrderEvent.objects.update(processed_at=None)
    _waited(1000)
    locked, release = threading.Event(), threading.Event()

    def hold_b() -> None:
        try:
            with transaction.atomic():
                Order.objects.select_for_update().get(external_id="#B")
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_b)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        assert events_process(event_ids=[ids[2]]) == 2  # #C and #A; #B is busy elsewhere
        assert _waiting() == {"#B"}
    finally:
        release.set()
        holder.join(timeout=30)
