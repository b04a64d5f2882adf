"""POST /ingest/v2/events/batch: one result per event, always 200, set-based storage."""

from __future__ import annotations

import pytest

from orders.models import DeadLetter, Order, OrderEvent

from .factories import event_body

pytestmark = pytest.mark.django_db
BATCH = "/ingest/v2/events/batch"


def test_good_duplicate_and_bad_events_each_get_their_own_result(api):
    api.post("/ingest/events", event_body(event_id="already"))
    response = api.post(
        BATCH,
        {
            "batch_id": "b-1",
            "priority": "high",
            "events": [
                event_body(event_id="n1", event_type="pick_completed"),
                event_body(event_id="already"),
                {
                    "source": "wms",
                    "event_type": "pick_completed",
                    "order_id": "#2",
                },  # no id, no time
                event_body(event_id="n2", order_id="#2"),
                event_body(event_id="n1", event_type="pick_completed"),  # repeated inside the batch
            ],
        },
    )

    assert response.status_code == 200
    data = response.json()
    assert (data["batch_id"], data["priority"]) == ("b-1", "high")
    assert [r["status"] for r in data["results"]] == [
        "accepted",
        "duplicate",
        "rejected",
        "accepted",
        "duplicate",
    ]
    assert (data["processed_count"], data["duplicate_count"], data["rejected_count"]) == (2, 2, 1)
    rejected = data["results"][2]
    assert set(rejected["errors"]) == {"event_id", "occurred_at"}
    assert DeadLetter.objects.get(pk=rejected["dead_letter_id"]).kind == "batch_item"
    assert OrderEvent.objects.count() == 3
    assert Order.objects.get(external_id="#1001").status == "picked"


def test_one_bad_event_never_rejects_its_neighbours(api):
    events = [event_body(event_id=f"ok-{i}") for i in range(5)]
    events.insert(2, "not even an object")
    data = api.post(BATCH, {"events": events}).json()
    assert data["processed_count"] == 5 and data["rejected_count"] == 1


def test_a_resent_batch_is_all_duplicates(api):
    body = {"events": [event_body(event_id=f"r-{i}", order_id=f"#{i}") for i in range(20)]}
    first = api.post(BATCH, body).json()
    again = api.post(BATCH, body).json()
    assert first["processed_count"] == 20
    assert (again["processed_count"], again["duplicate_count"]) == (0, 20)
    assert OrderEvent.objects.count() == 20


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"nope": 1}, "events"),
        ({"events": [event_body()], "priority": "urgent"}, "priority"),
        ({"events": [event_body()], "batch_id": 7}, "batch_id"),
    ],
)
def test_bad_envelopes_are_400_naming_the_field(api, body, field):
    response = api.post(BATCH, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_more_than_the_limit_is_refused_whole(api, settings):
    settings.INGEST_BATCH_MAX_EVENTS = 10
    response = api.post(BATCH, {"events": [event_body(event_id=f"x{i}") for i in range(11)]})
    assert response.status_code == 400
    assert "At most 10" in response.json()["errors"]["events"][0]
    assert OrderEvent.objects.count() == 0


def test_tenant_claims_inside_a_batch_are_checked(api):
    response = api.post(BATCH, {"events": [event_body(), event_body(tenant="someone-else")]})
    assert response.status_code == 403
    assert OrderEvent.objects.count() == 0


def test_storage_is_set_based_not_per_event(api, django_assert_max_num_queries):
    """A batch costs the same number of statements for 100 events as for 300."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def body(prefix: str, n: int) -> dict:
        return {
            "events": [
                event_body(event_id=f"{prefix}-{i}", order_id=f"{prefix}-{i % 60}")
                for i in range(n)
            ]
        }

    assert api.post(BATCH, body("warm", 100)).json()["processed_count"] == 100
    with CaptureQueriesContext(connection) as hundred:
        assert api.post(BATCH, body("s", 100)).json()["processed_count"] == 100
    with django_assert_max_num_queries(len(hundred.captured_queries)):
        assert api.post(BATCH, body("l", 300)).json()["processed_count"] == 300


def test_a_batch_item_holding_nul_is_rejected_and_kept_without_breaking_storage(api):
    raw = (
        '{"events": [{"source": "wms", "event_type": "order_paid", "event_id": "z1", '
        '"order_id": "#1", "occurred_at": "2026-11-27T10:00:00Z", "payload": {"n": "a\\u0000"}},'
        '{"source": "wms", "event_type": "order_paid", "event_id": "z2", "order_id": "#2", '
        '"occurred_at": "2026-11-27T10:00:00Z"}]}'
    )
    data = api.post(BATCH, raw=raw).json()
    assert [r["status"] for r in data["results"]] == ["rejected", "accepted"]
    letter = DeadLetter.objects.get(pk=data["results"][0]["dead_letter_id"])
    assert "\\u0000" in letter.raw_body  # kept escaped, replayable as JSON
