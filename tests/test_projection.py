"""Late and out-of-order events build exactly the state in-order delivery would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders.contract import EventIn
from orders.event_types import KNOWN_EVENT_TYPES
from orders.models import Order, OrderEvent
from orders.projection import apply_event

from .factories import event_body

BASE = datetime(2026, 11, 23, 8, tzinfo=UTC)
SNAPSHOT_FIELDS = [
    f.name
    for f in Order._meta.fields
    if f.name not in {"id", "tenant", "first_seen_at", "updated_at", "external_id", "source"}
]


def _event(i: int, event_type: str, minutes: int, attributes: dict) -> EventIn:
    return EventIn(
        source="wms",
        event_type=event_type,
        event_id=f"e{i}",
        order_external_id="#1",
        occurred_at=BASE + timedelta(minutes=minutes),
        raw={},
        attributes=attributes,
    )


def _project(events: list[EventIn]) -> dict:
    order = Order(external_id="#1", source="wms")
    for event in events:
        apply_event(order, event)
    return {name: getattr(order, name) for name in SNAPSHOT_FIELDS}


attribute_values = st.fixed_dictionaries(
    {},
    optional={
        "carrier": st.sampled_from(["DHL", "UPS", "GLS"]),
        "tracking_number": st.sampled_from(["T1", "T2"]),
        "line_count": st.integers(0, 5),
        "handling": st.sampled_from([["rush"], ["hazmat", "rush"], []]),
        "shipping_address": st.sampled_from([{"zip": "1"}, {"zip": "2"}]),
    },
)
events_strategy = st.lists(
    st.tuples(
        st.sampled_from(sorted(KNOWN_EVENT_TYPES | {"custom.thing"})),
        st.integers(0, 60 * 24 * 3),
        attribute_values,
    ),
    min_size=1,
    max_size=25,
)


@given(events=events_strategy, data=st.data())
@settings(max_examples=300, deadline=None)
def test_any_arrival_order_gives_the_in_order_state(events, data):
    built = [_event(i, t, m, a) for i, (t, m, a) in enumerate(events)]
    in_order = sorted(built, key=lambda e: e.version)
    shuffled = data.draw(st.permutations(built))
    assert _project(shuffled) == _project(in_order)


def test_older_event_never_overwrites_newer_data():
    newer = _event(1, "fulfillment_update", 60, {"carrier": "UPS"})
    older = _event(2, "fulfillment_update", 10, {"carrier": "DHL", "tracking_number": "T-old"})
    state = _project([newer, older])
    assert state["carrier"] == "UPS"  # the late, older report loses for the field it shares
    assert state["tracking_number"] == "T-old"  # but still fills what nothing newer said


def test_stage_times_keep_the_first_report_and_status_the_latest_stage():
    state = _project(
        [
            _event(1, "delivered", 300, {}),
            _event(2, "order_paid", 0, {}),
            _event(3, "pick_completed", 100, {}),
            _event(4, "pick_completed", 90, {}),  # an earlier scan of the same stage arrives late
        ]
    )
    assert state["status"] == "delivered"
    assert state["picked_at"] == BASE + timedelta(minutes=90)


@pytest.mark.django_db
def test_out_of_order_timeline_over_the_api_matches_in_order(api, client, api_key):
    timeline = [
        event_body(event_id="p", event_type="order_paid", occurred_at="2026-11-23T08:00:00Z"),
        event_body(
            event_id="k",
            event_type="pick_completed",
            occurred_at="2026-11-23T09:00:00Z",
            warehouse="BER-1",
        ),
        event_body(
            event_id="s",
            event_type="package_shipped",
            occurred_at="2026-11-23T12:00:00Z",
            carrier="DHL",
            tracking_number="JD01",
        ),
        event_body(
            event_id="c",
            event_type="fulfillment_update",
            occurred_at="2026-11-23T10:00:00Z",
            carrier="UPS",
        ),
    ]
    for body in timeline:
        api.post("/ingest/events", {**body, "order_id": "in-order"})
    for body in reversed(timeline):
        api.post(
            "/ingest/events", {**body, "order_id": "late", "event_id": body["event_id"] + "-late"}
        )

    fields = [
        "status",
        "paid_at",
        "picked_at",
        "shipped_at",
        "carrier",
        "tracking_number",
        "warehouse",
        "event_count",
        "last_event_at",
    ]
    in_order = Order.objects.values(*fields).get(external_id="in-order")
    late = Order.objects.values(*fields).get(external_id="late")
    assert late == in_order
    assert in_order["status"] == "shipped" and in_order["carrier"] == "DHL"
    assert OrderEvent.objects.count() == 8
