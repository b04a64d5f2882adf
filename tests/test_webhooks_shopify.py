"""POST /webhooks/shopify/<tenant>: native Shopify webhooks, signed with the app secret.

Signatures are computed here with hmac/hashlib, not with orders.signatures, so a
bug there cannot hide behind a matching bug in the test.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from orders.models import DeadLetter, Order, OrderEvent, WebhookSecret
from orders.services.dead_letters import dead_letter_replay
from orders.services.tenants import webhook_secret_set

from .factories import TenantFactory

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "sample_webhooks"
SECRET = "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"
OTHER_SECRET = "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"
URL = "/webhooks/shopify/acme"

_webhook_ids = itertools.count(1)


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def deliver(
    client,
    topic: str,
    body: dict[str, Any] | bytes,
    *,
    url: str = URL,
    secret: str | None = SECRET,
    webhook_id: str | None = "auto",
    signature: str | None = "auto",
    content_type: str = "application/json",
):
    """POST one webhook the way Shopify does; `None` leaves a header out."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "acme-teas.myshopify.com",
        "X-Shopify-Api-Version": "2026-10",
        "X-Shopify-Triggered-At": "2026-11-26T09:00:00.000000000Z",
    }
    if signature == "auto":
        signature = sign(secret, raw) if secret else None
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    if webhook_id == "auto":
        webhook_id = f"b1e0c2d4-{next(_webhook_ids):04d}-4f7a-9c3e-5d2b8a6f1e0c"
    if webhook_id is not None:
        headers["X-Shopify-Webhook-Id"] = webhook_id
    return client.post(url, data=raw, content_type=content_type, headers=headers)


def nothing_stored() -> bool:
    return not (
        OrderEvent.objects.exists() or Order.objects.exists() or DeadLetter.objects.exists()
    )


@pytest.fixture
def shop(db, tenant):
    webhook_secret_set(tenant=tenant, kind="shopify", secret=SECRET)
    return tenant


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the happy path ------------------------------------------------------------------


def test_signed_order_is_accepted_and_its_details_land_on_the_order(client, shop):
    response = deliver(client, "orders/create", sample("orders_create.json"), webhook_id="wh-1")

    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    assert (response.json()["event_id"], response.json()["order_id"]) == ("wh-1", "#1001")
    event = OrderEvent.objects.get()
    assert (event.tenant, event.source, event.event_type) == (shop, "shopify", "order_created")
    assert event.channel == "shopify"
    assert event.payload["shopify_topic"] == "orders/create"

    order = Order.objects.get()
    assert (order.tenant, order.external_id, order.source) == (shop, "#1001", "shopify")
    assert order.status == "created"
    assert order.placed_at == datetime(2026, 11, 23, 8, 14, 27, tzinfo=UTC)
    assert (order.line_count, order.items_count) == (3, 6)
    assert [(i["sku"], i["quantity"]) for i in order.line_items] == [
        ("MUG-CER-350-BLU", 2),
        ("TEA-EGR-250", 3),
        ("GLS-TPT-1L", 1),
    ]
    assert order.tags == ["rush", "fragile", "wholesale"]
    assert order.handling == ["fragile", "rush"]
    assert order.customer["email"] == "jana.novak@example.org"
    assert (order.customer["first_name"], order.customer["last_name"]) == ("Jana", "Novak")
    assert order.shipping_address["city"] == "Berlin"
    assert order.shipping_address["zip"] == "10969"
    assert (order.total_amount_cents, order.currency) == (10220, "EUR")
    assert order.financial_status == "pending"
    assert order.service_level == "express"
    assert order.shipping_lines[0]["code"] == "dhl-express-24h"
    assert order.channel == "web"


def test_the_earlier_senders_problem_flags_land_on_the_order(client, shop):
    deliver(client, "orders/create", sample("orders_create_inventory_shortage.json"))
    deliver(client, "orders/create", sample("orders_create_payment_issues.json"))

    short = Order.objects.get(external_id="#1002")
    assert [
        (i["sku"], i["quantity"], i["available_quantity"], i["inventory_shortage"])
        for i in short.line_items
    ] == [
        ("MUG-CER-350-BLU", 2, 1, True),
        ("TEA-EGR-250", 3, 40, False),
        ("GLS-TPT-1L", 1, 0, False),
    ]
    assert short.payment_issues is False
    assert Order.objects.get(external_id="#1003").payment_issues is True


def test_an_order_without_payment_issues_keeps_the_flag_it_had(client, shop):
    """Shopify itself never sends the key: its absence says nothing either way."""
    deliver(client, "orders/create", sample("orders_create_payment_issues.json"))
    body = sample("orders_create_payment_issues.json")
    del body["payment_issues"]
    body["updated_at"] = "2026-11-23T13:00:00+01:00"
    deliver(client, "orders/updated", body)
    assert Order.objects.get(external_id="#1003").payment_issues is True


@pytest.mark.parametrize(
    ("title", "code", "level"),
    [
        ("Standard Shipping", "standard", "standard"),
        ("Priority Mail", "priority", "express"),
        ("UPS Next Day Air", "ups-nda", "overnight"),
        ("Same-day courier", "courier", "overnight"),
    ],
)
def test_service_level_follows_the_shipping_line(client, shop, title, code, level):
    body = sample("orders_create.json")
    body["shipping_lines"][0].update(title=title, code=code)

    assert deliver(client, "orders/create", body).status_code == 202
    assert Order.objects.get().service_level == level


def test_a_price_with_many_digits_is_kept_exactly_in_cents(client, shop):
    body = sample("orders_create.json")
    body["total_price"] = "1234567.89"

    deliver(client, "orders/create", body)
    assert Order.objects.get().total_amount_cents == 123456789


# --- deduplication -------------------------------------------------------------------


def test_the_same_webhook_id_again_is_a_duplicate_and_stored_once(client, shop):
    body = sample("orders_paid.json")
    assert deliver(client, "orders/paid", body, webhook_id="wh-retry").status_code == 202

    response = deliver(client, "orders/paid", body, webhook_id="wh-retry")

    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert response.json()["event_id"] == "wh-retry"
    assert OrderEvent.objects.count() == 1
    assert Order.objects.get().event_count == 1


def test_a_different_webhook_id_for_the_same_order_is_a_new_event(client, shop):
    deliver(client, "orders/create", sample("orders_create.json"), webhook_id="wh-a")
    response = deliver(client, "orders/paid", sample("orders_paid.json"), webhook_id="wh-b")

    assert response.status_code == 202
    assert OrderEvent.objects.count() == 2
    assert Order.objects.get().event_count == 2


# --- authentication ------------------------------------------------------------------


def test_a_bad_signature_is_401_and_nothing_is_stored(client, shop):
    response = deliver(client, "orders/create", sample("orders_create.json"), secret=OTHER_SECRET)

    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert "X-Shopify-Hmac-Sha256" in response.json()["detail"]
    assert nothing_stored()


def test_a_body_changed_after_signing_is_refused(client, shop):
    original = json.dumps(sample("orders_create.json")).encode()
    tampered = original.replace(b'"102.20"', b'"1.02"')
    assert tampered != original

    response = deliver(client, "orders/create", tampered, signature=sign(SECRET, original))

    assert response.status_code == 401
    assert nothing_stored()


@pytest.mark.parametrize(
    "signature",
    [None, "", "not base64 at all!", "ü" * 44, "c2hvcnQ=", "A" * 4096],
    ids=["missing", "empty", "not-base64", "non-ascii", "too-short", "huge"],
)
def test_a_missing_or_malformed_signature_is_401(client, shop, signature):
    response = deliver(client, "orders/create", sample("orders_create.json"), signature=signature)

    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert nothing_stored()


def test_a_signature_over_the_pretty_printed_body_does_not_cover_a_compacted_one(client, shop):
    """The HMAC is over the raw bytes: re-serialising the JSON breaks it."""
    pretty = (SAMPLES / "orders_create.json").read_bytes()
    compact = json.dumps(json.loads(pretty), separators=(",", ":")).encode()

    assert (
        deliver(client, "orders/create", compact, signature=sign(SECRET, pretty)).status_code == 401
    )
    assert (
        deliver(client, "orders/create", pretty, signature=sign(SECRET, pretty)).status_code == 202
    )


def test_rotation_accepts_either_active_secret_until_the_old_one_is_deactivated(client, shop):
    webhook_secret_set(tenant=shop, kind="shopify", secret=OTHER_SECRET, label="new")
    body = sample("orders_create.json")

    assert deliver(client, "orders/create", body, secret=SECRET).status_code == 202
    assert (
        deliver(client, "orders/paid", sample("orders_paid.json"), secret=OTHER_SECRET).status_code
        == 202
    )

    WebhookSecret.objects.filter(tenant=shop, secret=SECRET).update(is_active=False)

    assert deliver(client, "orders/updated", body, secret=SECRET).status_code == 401
    assert deliver(client, "orders/updated", body, secret=OTHER_SECRET).status_code == 202
    assert OrderEvent.objects.count() == 3


def test_setting_a_new_secret_with_deactivate_others_cuts_off_the_old_one(client, shop):
    webhook_secret_set(tenant=shop, kind="shopify", secret=OTHER_SECRET, deactivate_others=True)
    body = sample("orders_create.json")

    assert deliver(client, "orders/create", body, secret=SECRET).status_code == 401
    assert deliver(client, "orders/create", body, secret=OTHER_SECRET).status_code == 202


def test_an_unknown_tenant_gets_the_same_401_as_a_bad_signature(client, shop):
    body = sample("orders_create.json")
    unknown = deliver(client, "orders/create", body, url="/webhooks/shopify/no-such-shop")
    bad_signature = deliver(client, "orders/create", body, secret=OTHER_SECRET)

    assert unknown.status_code == bad_signature.status_code == 401
    assert unknown.json() == bad_signature.json()
    assert nothing_stored()


def test_an_inactive_tenant_is_refused_even_with_a_good_signature(client, shop):
    shop.is_active = False
    shop.save()

    response = deliver(client, "orders/create", sample("orders_create.json"))

    assert response.status_code == 401
    assert nothing_stored()


def test_a_body_signed_for_one_tenant_is_refused_at_another_tenants_url(client, shop):
    other = TenantFactory(slug="globex")
    webhook_secret_set(tenant=other, kind="shopify", secret=OTHER_SECRET)

    response = deliver(
        client, "orders/create", sample("orders_create.json"), url="/webhooks/shopify/globex"
    )

    assert response.status_code == 401
    assert nothing_stored()


def test_a_standard_webhooks_secret_does_not_sign_shopify_webhooks(client, tenant):
    standard = "whsec_" + base64.b64encode(b"k" * 32).decode()
    webhook_secret_set(tenant=tenant, kind="standard", secret=standard)

    response = deliver(client, "orders/create", sample("orders_create.json"), secret=standard)

    assert response.status_code == 401
    assert nothing_stored()


# --- malformed requests --------------------------------------------------------------


def test_a_non_json_content_type_is_415(client, shop):
    raw = b"name=%231001&total_price=102.20"
    response = deliver(
        client, "orders/create", raw, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert nothing_stored()


def test_json_with_a_charset_parameter_is_accepted(client, shop):
    response = deliver(
        client,
        "orders/create",
        sample("orders_create.json"),
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "#1001", ', b"\xff\xfe not utf-8", b"[1, 2,]"],
    ids=["truncated", "not-utf8", "trailing-comma"],
)
def test_malformed_json_with_a_valid_signature_is_400(client, shop, raw):
    response = deliver(client, "orders/create", raw)

    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
    assert nothing_stored()


@pytest.mark.parametrize("webhook_id", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_a_missing_webhook_id_is_400_naming_the_header(client, shop, webhook_id):
    response = deliver(client, "orders/create", sample("orders_create.json"), webhook_id=webhook_id)

    assert response.status_code == 400
    assert "X-Shopify-Webhook-Id" in response.json()["errors"]
    assert nothing_stored()


# --- topics --------------------------------------------------------------------------


def test_an_unsupported_topic_is_acknowledged_and_kept_as_a_dead_letter(client, shop):
    product = {
        "id": 8120057344234,
        "title": "Ceramic mug 350 ml",
        "updated_at": "2026-11-23T10:00:00+01:00",
    }

    response = deliver(client, "products/update", product, webhook_id="wh-product")

    assert response.status_code == 200  # Shopify would drop a subscription that keeps failing
    assert response.json()["status"] == "dead_lettered"
    assert "products/update" in response.json()["errors"]["non_field_errors"][0]
    letter = DeadLetter.objects.get(pk=response.json()["dead_letter_id"])
    assert (letter.tenant, letter.kind, letter.source) == (shop, "shopify", "shopify")
    assert letter.headers["X-Shopify-Topic"] == "products/update"
    assert letter.headers["X-Shopify-Webhook-Id"] == "wh-product"
    assert "X-Shopify-Hmac-Sha256" not in letter.headers
    assert json.loads(letter.raw_body) == product
    assert not OrderEvent.objects.exists()
    assert not Order.objects.exists()


def test_a_redelivered_unsupported_topic_counts_on_one_dead_letter(client, shop):
    product = {"id": 1, "title": "Glass teapot 1 l"}
    deliver(client, "products/update", product, webhook_id="wh-p")
    deliver(client, "products/update", product, webhook_id="wh-p")

    assert DeadLetter.objects.get().times_received == 2


def test_a_missing_topic_is_dead_lettered_not_guessed(client, shop):
    response = deliver(client, "", sample("orders_create.json"))

    assert response.status_code == 200
    assert response.json()["status"] == "dead_lettered"
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("topic", "sample_name", "named"),
    [
        ("orders/cancelled", "orders_create.json", "cancelled_at"),
        ("orders/paid", "orders_create.json", "financial_status"),
        ("orders/fulfilled", "orders_paid.json", "fulfillment_status"),
        ("orders/paid", "fulfillments_create.json", "not an order"),
        ("fulfillments/create", "orders_paid.json", "not a fulfillment"),
    ],
)
def test_a_signed_body_under_a_topic_it_contradicts_changes_no_order(
    client, shop, topic, sample_name, named
):
    """Shopify signs the body, not the topic header: a captured order's creation sent
    again as its cancellation (or payment, or fulfilment) must not act on the order."""
    deliver(client, "orders/create", sample("orders_create.json"))
    before = Order.objects.values("status", "financial_status", "cancelled_at").get()

    response = deliver(client, topic, sample(sample_name))

    assert response.status_code == 200
    assert response.json()["status"] == "dead_lettered"
    assert named in response.json()["errors"]["non_field_errors"][0]
    assert Order.objects.values("status", "financial_status", "cancelled_at").get() == before
    assert OrderEvent.objects.count() == 1


def test_a_delivery_replayed_under_a_new_webhook_id_leaves_the_order_as_it_was(client, shop):
    """Shopify signs no id: a captured body sent again under another id is a second
    event (README: Shopify webhooks), but it can only repeat what was said."""
    deliver(client, "orders/create", sample("orders_create.json"))
    deliver(client, "orders/paid", sample("orders_paid.json"), webhook_id="wh-paid")
    kept = [
        f.name for f in Order._meta.concrete_fields if f.name not in ("event_count", "updated_at")
    ]
    before = Order.objects.values(*kept).get()

    response = deliver(client, "orders/paid", sample("orders_paid.json"), webhook_id="wh-again")

    assert response.status_code == 202
    assert OrderEvent.objects.count() == 3
    assert Order.objects.values(*kept).get() == before


def _with(name: str, **changes: Any) -> dict[str, Any]:
    body = sample(name)
    body.update(changes)
    return body


TOPIC_CASES = [
    # (sample body, topic, event type, stage field, when, status)
    (
        "orders_create.json",
        {},
        "orders/create",
        "order_created",
        "placed_at",
        "2026-11-23T09:14:27+01:00",
        "created",
    ),
    (
        "orders_paid.json",
        {},
        "orders/paid",
        "order_paid",
        "paid_at",
        "2026-11-23T11:42:10+01:00",
        "paid",
    ),
    (
        "orders_cancelled.json",
        {},
        "orders/cancelled",
        "order_cancelled",
        "cancelled_at",
        "2026-11-23T13:20:00+01:00",
        "cancelled",
    ),
    (
        "orders_fulfilled.json",
        {},
        "orders/fulfilled",
        "order_fulfilled",
        "shipped_at",
        "2026-11-24T15:31:09+01:00",
        "shipped",
    ),
    (
        "fulfillments_create.json",
        {},
        "fulfillments/create",
        "package_shipped",
        "shipped_at",
        "2026-11-24T15:30:51+01:00",
        "shipped",
    ),
    (
        "fulfillments_create.json",
        {"shipment_status": "confirmed"},
        "fulfillments/create",
        "package_shipped",
        "shipped_at",
        "2026-11-24T15:30:51+01:00",
        "shipped",
    ),
    (
        "fulfillments_create.json",
        {"shipment_status": "label_printed"},
        "fulfillments/create",
        "ship_label_printed",
        "label_printed_at",
        "2026-11-24T15:30:51+01:00",
        "label_printed",
    ),
    (
        "fulfillments_update_in_transit.json",
        {},
        "fulfillments/update",
        "in_transit",
        "in_transit_at",
        "2026-11-24T21:08:33+01:00",
        "in_transit",
    ),
    (
        "fulfillments_update_in_transit.json",
        {"shipment_status": "out_for_delivery", "updated_at": "2026-11-25T07:41:00+01:00"},
        "fulfillments/update",
        "out_for_delivery",
        "out_for_delivery_at",
        "2026-11-25T07:41:00+01:00",
        "out_for_delivery",
    ),
    (
        "fulfillments_update_failure.json",
        {},
        "fulfillments/update",
        "delivery_failed",
        "delivery_failed_at",
        "2026-11-25T10:12:40+01:00",
        "delivery_failed",
    ),
    (
        "fulfillments_update_delivered.json",
        {},
        "fulfillments/update",
        "delivered",
        "delivered_at",
        "2026-11-26T09:58:21+01:00",
        "delivered",
    ),
]


@pytest.mark.parametrize(
    ("name", "changes", "topic", "event_type", "stage_field", "when", "status"),
    TOPIC_CASES,
    ids=[f"{c[2]}-{c[3]}" for c in TOPIC_CASES],
)
def test_each_topic_moves_the_order_to_its_stage(
    client, shop, name, changes, topic, event_type, stage_field, when, status
):
    response = deliver(client, topic, _with(name, **changes))

    assert response.status_code == 202
    assert response.json()["order_id"] == "#1001"
    assert OrderEvent.objects.get().event_type == event_type
    order = Order.objects.get()
    assert getattr(order, stage_field) == at(when)
    assert order.status == status
    assert order.status_as_of == at(when)


def test_orders_updated_changes_details_but_no_stage(client, shop):
    deliver(client, "orders/paid", sample("orders_paid.json"))
    response = deliver(client, "orders/updated", sample("orders_updated.json"))

    assert response.status_code == 202
    assert OrderEvent.objects.filter(event_type="order_updated").count() == 1
    order = Order.objects.get()
    assert order.status == "paid"
    assert order.shipping_address["address2"] == "Hinterhaus, 3. OG"


def test_a_failed_delivery_attempt_is_counted(client, shop):
    deliver(client, "fulfillments/update", sample("fulfillments_update_failure.json"))

    assert Order.objects.get().failed_delivery_attempts == 1


def test_fulfillment_webhooks_land_on_the_order_with_carrier_and_tracking(client, shop):
    deliver(client, "orders/create", sample("orders_create.json"))
    response = deliver(client, "fulfillments/create", sample("fulfillments_create.json"))

    assert response.status_code == 202
    assert response.json()["order_id"] == "#1001"  # from "#1001.1", not the numeric order_id
    order = Order.objects.get()
    assert order.external_id == "#1001"
    assert (order.carrier, order.tracking_number) == ("DHL Express", "4729105563")
    assert order.event_count == 2
    assert order.status == "shipped"
    assert order.placed_at == at("2026-11-23T09:14:27+01:00")


def test_the_tracking_of_an_orders_fulfilled_webhook_lands_on_the_order(client, shop):
    deliver(client, "orders/fulfilled", sample("orders_fulfilled.json"))

    order = Order.objects.get()
    assert (order.carrier, order.tracking_number) == ("DHL Express", "4729105563")


def test_a_fulfillment_without_a_name_falls_back_to_the_numeric_order_id(client, shop):
    body = sample("fulfillments_create.json")
    del body["name"]

    response = deliver(client, "fulfillments/create", body)

    assert response.status_code == 202
    assert response.json()["order_id"] == "5489207623914"


LIFECYCLE = [
    ("orders/create", "orders_create.json"),
    ("orders/paid", "orders_paid.json"),
    ("orders/updated", "orders_updated.json"),
    ("fulfillments/create", "fulfillments_create.json"),
    ("orders/fulfilled", "orders_fulfilled.json"),
    ("fulfillments/update", "fulfillments_update_in_transit.json"),
    ("fulfillments/update", "fulfillments_update_failure.json"),
    ("fulfillments/update", "fulfillments_update_delivered.json"),
]


@pytest.mark.parametrize("arrival", ["in order", "reversed"])
def test_a_whole_order_story_ends_the_same_whatever_order_it_arrives_in(client, shop, arrival):
    deliveries = [(topic, name, f"wh-{i}") for i, (topic, name) in enumerate(LIFECYCLE)]
    if arrival == "reversed":
        deliveries.reverse()
    for topic, name, webhook_id in deliveries:
        assert deliver(client, topic, sample(name), webhook_id=webhook_id).status_code == 202

    order = Order.objects.get()
    assert order.status == "delivered"
    assert order.event_count == len(LIFECYCLE)
    assert order.placed_at == at("2026-11-23T09:14:27+01:00")
    assert order.paid_at == at("2026-11-23T11:42:10+01:00")
    assert order.shipped_at == at("2026-11-24T15:30:51+01:00")  # the earlier of two reports
    assert order.in_transit_at == at("2026-11-24T21:08:33+01:00")
    assert order.delivery_failed_at == at("2026-11-25T10:12:40+01:00")
    assert order.delivered_at == at("2026-11-26T09:58:21+01:00")
    assert order.failed_delivery_attempts == 1
    assert order.financial_status == "paid"
    assert order.shipping_address["address2"] == "Hinterhaus, 3. OG"
    assert (order.carrier, order.tracking_number) == ("DHL Express", "4729105563")


# --- dead letters and replay ---------------------------------------------------------


def test_a_delivery_dated_too_far_ahead_is_kept_and_replays_once_its_time_has_come(client, shop):
    body = sample("orders_create.json")  # created 2026-11-23 08:14 UTC
    with time_machine.travel(datetime(2026, 11, 21, 12, tzinfo=UTC), tick=False):
        response = deliver(client, "orders/create", body, webhook_id="wh-early")

    assert response.status_code == 200
    assert response.json()["status"] == "dead_lettered"
    assert "occurred_at" in response.json()["errors"]
    assert not Order.objects.exists()
    letter = DeadLetter.objects.get(pk=response.json()["dead_letter_id"])
    assert letter.headers["X-Shopify-Topic"] == "orders/create"

    with time_machine.travel(datetime(2026, 11, 23, 9, tzinfo=UTC), tick=False):
        result = dead_letter_replay(dead_letter=letter)

    assert result.ok
    assert result.detail == "accepted"
    event = OrderEvent.objects.get()
    assert (event.event_id, event.event_type, event.channel) == (
        "wh-early",
        "order_created",
        "replay",
    )
    order = Order.objects.get()
    assert order.placed_at == at("2026-11-23T09:14:27+01:00")
    assert (order.items_count, order.total_amount_cents) == (6, 10220)
    letter.refresh_from_db()
    assert letter.replayed_at is not None
    assert letter.event == event

    # Shopify retrying the very delivery afterwards changes nothing.
    again = deliver(client, "orders/create", body, webhook_id="wh-early")
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert OrderEvent.objects.count() == 1


def test_a_payload_of_the_wrong_shape_is_dead_lettered_and_stays_failing_on_replay(client, shop):
    body = copy.deepcopy(sample("orders_create.json"))
    body["line_items"] = "three things"

    response = deliver(client, "orders/create", body)

    assert response.status_code == 200
    assert response.json()["status"] == "dead_lettered"
    assert "line_items" in response.json()["errors"]["data.order"][0]
    letter = DeadLetter.objects.get()
    result = dead_letter_replay(dead_letter=letter)
    assert not result.ok
    letter.refresh_from_db()
    assert (letter.replay_attempts, letter.replayed_at) == (1, None)
    assert not Order.objects.exists()


def test_deeply_nested_json_with_a_valid_signature_is_400_not_500(client, shop):
    raw = ("[" * 100_000 + "]" * 100_000).encode()
    response = client.post(
        "/webhooks/shopify/acme",
        data=raw,
        content_type="application/json",
        headers={
            "X-Shopify-Hmac-Sha256": base64.b64encode(
                hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()
            ).decode(),
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": "wh-deep",
        },
    )
    assert response.status_code == 400
