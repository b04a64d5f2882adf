"""A follow-up message is one batch: its orders locked together, each handler called once.

The worker's cost per message is a fixed number of queries whatever the number of
orders in it (issue 19's pipeline bench measured about six queries per order before);
a failure in the batch falls back to one transaction per order.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from exceptions.models import OrderException
from orders import followups
from orders.models import FollowUpFailure, OrderEvent
from orders.services.processing import events_process

from .factories import event_body
from .followup_helpers import followup_registered

pytestmark = pytest.mark.django_db


def _paid_and_picked(api, order_ids: list[str]) -> list[int]:
    for n, order_id in enumerate(order_ids):
        for event_type, minute in (("order_paid", 0), ("pick_completed", 30)):
            body = event_body(
                order_id=order_id,
                event_type=event_type,
                event_id=f"{order_id}-{event_type}",
                occurred_at=f"2026-11-27T10:{minute + n % 20:02d}:00Z",
            )
            assert api.post("/ingest/events", body).status_code == 202
    return list(
        OrderEvent.objects.filter(order__external_id__in=order_ids).values_list("pk", flat=True)
    )


def _queries_to_process(event_ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert events_process(event_ids=event_ids) == len(event_ids)
    return len(queries)


def test_a_message_of_eight_orders_costs_the_queries_of_one_of_two(api):
    events_process(event_ids=_paid_and_picked(api, ["#W"]))  # loads the cached configuration
    two = _paid_and_picked(api, ["#S1", "#S2"])
    eight = _paid_and_picked(api, [f"#L{n}" for n in range(8)])

    assert _queries_to_process(two) == _queries_to_process(eight)
    assert not OrderEvent.objects.filter(processed_at__isnull=True).exists()
    assert not OrderException.objects.exists()  # the same path for both: nothing to open


@pytest.fixture
def recorded():
    batches: list[list[tuple[str, list[str]]]] = []

    def record(batch) -> None:
        batches.append([(o.external_id, [e.event_id for e in evs]) for o, evs in batch])

    with followup_registered("test.recorder", record, rank=followups.ANALYSIS):
        yield batches


def test_each_handler_sees_the_whole_message_once_in_lock_order(api, recorded):
    ids = _paid_and_picked(api, ["#C", "#A", "#B"])

    events_process(event_ids=ids)

    assert recorded == [
        [
            ("#A", ["#A-order_paid", "#A-pick_completed"]),
            ("#B", ["#B-order_paid", "#B-pick_completed"]),
            ("#C", ["#C-order_paid", "#C-pick_completed"]),
        ]
    ]


@pytest.fixture
def deadlocks_in_batches():
    """A handler that fails like a deadlock whenever it is given more than one order."""

    def handler(batch) -> None:
        if len(batch) > 1:
            raise OperationalError("deadlock detected")

    with followup_registered("test.deadlock", handler):
        yield


def test_a_batch_that_fails_is_run_again_one_order_at_a_time(api, recorded, deadlocks_in_batches):
    ids = _paid_and_picked(api, ["#D1", "#D2"])

    assert events_process(event_ids=ids) == 4

    assert not OrderEvent.objects.filter(processed_at__isnull=True).exists()
    assert not FollowUpFailure.objects.exists()  # no order was at fault
    # The recorder ran before the failing handler in the rolled-back batch, then once per order.
    assert [[order for order, _ in batch] for batch in recorded] == [
        ["#D1", "#D2"],
        ["#D1"],
        ["#D2"],
    ]
