"""The dead-letter store: nothing a sender delivered is lost, and a fix can replay it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from orders.models import DeadLetter, Order, OrderEvent
from orders.services.dead_letters import dead_letter_record, dead_letter_replay
from orders.services.tenants import webhook_secret_set

from .factories import TenantFactory, event_body, signed_standard_post

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
TWO_DAYS_AHEAD = (NOW + timedelta(days=2)).isoformat()  # beyond the 24 h skew allowance


def record(tenant, body, *, kind="event", reason="invalid event: test", headers=None):
    return dead_letter_record(
        tenant=tenant,
        kind=kind,
        raw_body=json.dumps(body),
        reason=reason,
        headers=headers,
    )


def test_a_repeated_body_counts_on_one_row(tenant):
    body = event_body(occurred_at="yesterday")
    first = record(tenant, body)
    again = record(tenant, body)
    third = record(tenant, body)

    assert first.pk == again.pk == third.pk
    assert DeadLetter.objects.count() == 1
    letter = DeadLetter.objects.get()
    assert letter.times_received == 3
    assert letter.last_received_at >= letter.received_at


def test_a_different_body_gets_its_own_row(tenant):
    record(tenant, event_body(event_id="a", occurred_at="yesterday"))
    record(tenant, event_body(event_id="b", occurred_at="yesterday"))
    assert DeadLetter.objects.count() == 2


def test_the_same_body_from_two_tenants_is_two_rows(tenant):
    other = TenantFactory(slug="globex")
    body = event_body(event_id="same", occurred_at="yesterday")
    record(tenant, body)
    record(other, body)
    record(other, body)

    assert DeadLetter.objects.get(tenant=tenant).times_received == 1
    assert DeadLetter.objects.get(tenant=other).times_received == 2


def test_rejected_request_keeps_useful_headers_but_never_credentials(api, api_key):
    response = api.post(
        "/ingest/events",
        event_body(occurred_at="yesterday"),
        HTTP_X_CORRELATION_ID="corr-9",
        HTTP_USER_AGENT="wms/1.0",
    )

    assert response.status_code == 400
    letter = DeadLetter.objects.get(pk=response.json()["dead_letter_id"])
    assert letter.headers["X-Correlation-ID"] == "corr-9"
    assert letter.headers["User-Agent"] == "wms/1.0"
    assert not any(name.lower() == "authorization" for name in letter.headers)
    assert api_key not in json.dumps(letter.headers)


def test_credentials_handed_to_the_store_are_dropped(tenant):
    letter = record(
        tenant,
        event_body(occurred_at="yesterday"),
        headers={
            "Authorization": "Bearer e2a_secret",
            "webhook-signature": "v1,abc",
            "X-Shopify-Hmac-Sha256": "xyz",
            "webhook-id": "msg_1",
        },
    )
    letter.refresh_from_db()
    assert letter.headers == {"Webhook-Id": "msg_1"}


@time_machine.travel(NOW, tick=False)
def test_replay_of_a_body_that_is_now_valid_stores_and_links_the_event(api):
    # The sender's clock ran two days ahead: refused today, fine once that time has come.
    response = api.post("/ingest/events", event_body(event_id="late-1", occurred_at=TWO_DAYS_AHEAD))
    assert response.status_code == 400
    letter = DeadLetter.objects.get(pk=response.json()["dead_letter_id"])

    with time_machine.travel(NOW + timedelta(days=2, hours=1), tick=False):
        result = dead_letter_replay(dead_letter=letter)

    assert result.ok
    letter.refresh_from_db()
    event = OrderEvent.objects.get()
    assert (event.event_id, event.channel) == ("late-1", "replay")
    assert letter.event == event
    assert letter.replayed_at == NOW + timedelta(days=2, hours=1)
    assert letter.replay_attempts == 1
    assert Order.objects.get().status == "paid"


@time_machine.travel(NOW, tick=False)
def test_replay_of_a_still_broken_body_counts_the_attempt_and_keeps_the_reason(tenant):
    letter = record(
        tenant, event_body(occurred_at="yesterday"), reason="invalid event: occurred_at"
    )

    result = dead_letter_replay(dead_letter=letter)
    dead_letter_replay(dead_letter=letter)

    assert not result.ok
    assert "occurred_at" in result.detail
    letter.refresh_from_db()
    assert letter.replay_attempts == 2
    assert letter.replayed_at is None
    assert letter.event is None
    assert letter.reason == "invalid event: occurred_at"
    assert "occurred_at" in letter.errors
    assert letter.replay_result.startswith("still failing")
    assert OrderEvent.objects.count() == 0


def test_replaying_twice_stores_one_event(tenant):
    letter = record(tenant, event_body(event_id="once"))

    first = dead_letter_replay(dead_letter=letter)
    second = dead_letter_replay(dead_letter=letter)  # same (stale) instance
    third = dead_letter_replay(dead_letter=DeadLetter.objects.get(pk=letter.pk))

    assert first.ok
    assert second.ok
    assert third.ok
    assert OrderEvent.objects.count() == 1
    letter.refresh_from_db()
    assert letter.replay_attempts == 1
    assert letter.event == OrderEvent.objects.get()


def test_replay_of_a_body_already_delivered_again_links_the_stored_event(api, tenant):
    body = event_body(event_id="resent")
    letter = record(tenant, body)
    api.post("/ingest/events", body)  # the sender retried after the fix

    assert dead_letter_replay(dead_letter=letter).ok
    assert OrderEvent.objects.count() == 1
    letter.refresh_from_db()
    assert letter.event == OrderEvent.objects.get()
    assert letter.replayed_at is not None


@time_machine.travel(NOW, tick=False)
def test_standard_webhook_without_event_id_is_replayed_under_its_webhook_id(client, tenant):
    secret = webhook_secret_set(tenant=tenant, kind="standard").secret
    body = event_body(occurred_at=TWO_DAYS_AHEAD)
    del body["event_id"]  # Standard Webhooks senders rely on webhook-id
    response = signed_standard_post(client, tenant.slug, secret, body, msg_id="msg_2Ld7")
    assert response.status_code == 400
    letter = DeadLetter.objects.get()
    assert letter.kind == "standard"
    assert letter.headers["Webhook-Id"] == "msg_2Ld7"

    with time_machine.travel(NOW + timedelta(days=2, hours=1), tick=False):
        result = dead_letter_replay(dead_letter=letter)
        assert result.ok
        # A late retry of the same message is now recognised as the same event.
        retry = signed_standard_post(client, tenant.slug, secret, body, msg_id="msg_2Ld7")

    assert retry.status_code == 200
    assert retry.json()["status"] == "duplicate"
    event = OrderEvent.objects.get()
    assert event.event_id == "msg_2Ld7"
    letter.refresh_from_db()
    assert letter.event == event


def test_standard_dead_letter_with_its_own_event_id_keeps_it(tenant):
    letter = record(
        tenant, event_body(event_id="own-id"), kind="standard", headers={"Webhook-Id": "msg_x"}
    )
    assert dead_letter_replay(dead_letter=letter).ok
    assert OrderEvent.objects.get().event_id == "own-id"


def test_replay_of_a_body_that_is_not_json_keeps_failing(tenant):
    letter = dead_letter_record(
        tenant=tenant, kind="event", raw_body="{not json", reason="invalid JSON"
    )
    result = dead_letter_replay(dead_letter=letter)
    assert not result.ok
    letter.refresh_from_db()
    assert letter.replay_attempts == 1
    assert letter.replayed_at is None


def test_shopify_deliveries_with_the_same_body_but_different_topics_stay_apart(tenant):
    body = {"name": "#1001", "id": 1}
    paid = record(
        tenant,
        body,
        kind="shopify",
        headers={"X-Shopify-Topic": "orders/paid", "X-Shopify-Webhook-Id": "w-1"},
    )
    updated = record(
        tenant,
        body,
        kind="shopify",
        headers={"X-Shopify-Topic": "orders/updated", "X-Shopify-Webhook-Id": "w-2"},
    )
    again = record(
        tenant,
        body,
        kind="shopify",
        headers={"X-Shopify-Topic": "orders/paid", "X-Shopify-Webhook-Id": "w-1"},
    )

    assert paid.pk != updated.pk
    assert again.pk == paid.pk
    assert DeadLetter.objects.get(pk=paid.pk).times_received == 2


def test_a_rejected_batch_envelope_replays_event_by_event(api, settings):
    settings.INGEST_BATCH_MAX_EVENTS = 2
    events = [
        event_body(event_id="b1", order_id="#B"),
        event_body(event_id="b2", order_id="#B", event_type="pick_completed"),
        event_body(event_id="b3", order_id="#B", occurred_at="not a time"),
    ]
    response = api.post("/ingest/v2/events/batch", {"events": events})
    assert response.status_code == 400  # over the (lowered) limit: refused whole, kept
    letter = DeadLetter.objects.get(pk=response.json()["dead_letter_id"])
    assert letter.kind == "batch"

    result = dead_letter_replay(dead_letter=letter)

    assert result.ok
    assert set(OrderEvent.objects.values_list("event_id", flat=True)) == {"b1", "b2"}
    assert Order.objects.get(external_id="#B").status == "picked"
    item = DeadLetter.objects.get(kind="batch_item")
    assert "occurred_at" in item.errors
    letter.refresh_from_db()
    assert letter.replayed_at is not None
    assert "2 accepted" in letter.replay_result


def _stored(tenant) -> tuple:
    """What a delivery left behind for a tenant, minus ids, channel and arrival times."""
    event = OrderEvent.objects.get(tenant=tenant)
    order = event.order
    return (
        event.source,
        event.event_type,
        event.event_id,
        event.occurred_at,
        event.payload,
        order.external_id,
        order.status,
        order.financial_status,
        order.shipping_address,
        order.line_items,
    )


def test_a_replayed_shopify_delivery_stores_exactly_what_a_live_one_does(client, tenant):
    from orders.services.tenants import webhook_secret_set

    from .test_webhooks_shopify import SECRET, deliver, sample

    webhook_secret_set(tenant=tenant, kind="shopify", secret=SECRET)
    body = sample("orders_create.json")
    live = deliver(client, "orders/create", body, webhook_id="same-delivery")
    assert live.status_code == 202

    other = TenantFactory(slug="other", timezone=tenant.timezone)
    letter = dead_letter_record(
        tenant=other,
        kind="shopify",
        source="shopify",
        raw_body=json.dumps(body),
        reason="kept while the adapter could not read it",
        headers={
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": "same-delivery",
            "X-Shopify-Triggered-At": "2026-11-26T09:00:00.000000000Z",
        },
    )
    assert dead_letter_replay(dead_letter=letter).ok
    assert _stored(other) == _stored(tenant)
    assert OrderEvent.objects.get(tenant=other).channel == "replay"
