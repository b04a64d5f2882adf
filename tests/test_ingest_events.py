"""POST /ingest/events and the typed paths: the contract senders rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from orders.models import DeadLetter, Order, OrderEvent

from .factories import TenantFactory, api_key_for, event_body

pytestmark = pytest.mark.django_db


def test_new_event_is_accepted_stored_and_projected(api):
    response = api.post(
        "/ingest/events",
        event_body(event_id="e-1", carrier="DHL"),
        HTTP_X_CORRELATION_ID="corr-123",
    )

    assert response.status_code == 202
    assert response.json() == {
        "status": "accepted",
        "event_id": "e-1",
        "order_id": "#1001",
        "correlation_id": "corr-123",
    }
    assert response["X-Correlation-ID"] == "corr-123"
    event = OrderEvent.objects.get()
    assert (event.source, event.event_type, event.correlation_id) == (
        "wms",
        "order_paid",
        "corr-123",
    )
    order = Order.objects.get()
    assert order.external_id == "#1001"
    assert order.status == "paid"
    assert order.paid_at == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert order.carrier == "DHL"


def test_repeat_is_a_duplicate_and_does_no_further_work(api, django_capture_on_commit_callbacks):
    body = event_body(event_id="e-dup")
    with django_capture_on_commit_callbacks(execute=True) as first:
        assert api.post("/ingest/events", body).status_code == 202
    with django_capture_on_commit_callbacks(execute=True) as second:
        response = api.post("/ingest/events", body)

    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert len(first) == 1 and second == []  # no second follow-up task
    assert OrderEvent.objects.count() == 1
    assert Order.objects.get().event_count == 1


def test_accepted_event_is_processed_by_the_follow_up_task(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/ingest/events", event_body())
    assert OrderEvent.objects.get().processed_at is not None


def test_every_bad_field_is_named_and_the_body_is_dead_lettered(api):
    response = api.post(
        "/ingest/events",
        {
            "source": "wms",
            "event_type": "Not A Type!",
            "order_id": "",
            "occurred_at": "yesterday",
            "line_count": -2,
            "handling": ["sparkly"],
            "service_level": "warp",
        },
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {
        "event_type",
        "event_id",
        "order_id",
        "occurred_at",
        "line_count",
        "handling",
        "service_level",
    }
    letter = DeadLetter.objects.get(pk=response.json()["dead_letter_id"])
    assert letter.kind == "event" and "occurred_at" in letter.errors
    assert OrderEvent.objects.count() == 0 and Order.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("service_level", ["express"]),
        ("service_level", {"name": "express"}),
        ("service_level", 2),
        ("currency", ["EUR"]),
        ("handling", {"fragile": True}),
    ],
)
def test_a_field_of_the_wrong_json_type_is_a_400_naming_it(api, field, value):
    """Found by Schemathesis: a list or object where a word belongs was a 500."""
    response = api.post("/ingest/events", event_body(**{field: value}))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_a_retried_bad_body_counts_on_one_dead_letter(api):
    body = event_body(occurred_at="not a time")
    api.post("/ingest/events", body)
    api.post("/ingest/events", body)
    letter = DeadLetter.objects.get()
    assert letter.times_received == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 401),
        ({"HTTP_AUTHORIZATION": "Bearer e2a_not-a-real-key"}, 401),
        ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, 401),
    ],
)
def test_missing_or_wrong_credentials_are_401(client, tenant, headers, expected):
    response = client.post(
        "/ingest/events", data=event_body(), content_type="application/json", **headers
    )
    assert response.status_code == expected
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert OrderEvent.objects.count() == 0


def test_revoked_key_is_refused(api, api_key):
    from orders.models import ApiKey
    from orders.services.api_keys import api_key_revoke

    api_key_revoke(api_key=ApiKey.objects.get())
    assert api.post("/ingest/events", event_body()).status_code == 401


def test_key_of_an_inactive_tenant_is_refused(api, tenant):
    tenant.is_active = False
    tenant.save()
    assert api.post("/ingest/events", event_body()).status_code == 401


def test_tenant_header_or_field_must_match_the_key(api, tenant):
    assert api.post("/ingest/events", event_body(), HTTP_X_TENANT_ID="other").status_code == 403
    assert api.post("/ingest/events", event_body(tenant="other")).status_code == 403
    assert api.post("/ingest/events", event_body(tenant_id="999999")).status_code == 403
    assert api.post("/ingest/events", event_body(), HTTP_X_TENANT_ID="acme").status_code == 202
    assert api.post("/ingest/events", event_body(tenant="acme")).status_code == 202
    assert OrderEvent.objects.count() == 2


def test_one_tenant_cannot_touch_another_tenants_order(api, client):
    other = TenantFactory(slug="globex")
    other_api_key = api_key_for(other)
    api.post("/ingest/events", event_body(event_id="same", order_id="#1"))
    response = client.post(
        "/ingest/events",
        data=event_body(event_id="same", order_id="#1", event_type="order_cancelled"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other_api_key}",
    )
    assert response.status_code == 202  # its own event, its own order
    acme_order = Order.objects.get(tenant__slug="acme")
    assert acme_order.status == "paid"
    assert Order.objects.get(tenant=other).status == "cancelled"


def test_non_json_is_415_and_malformed_json_is_400(api):
    assert (
        api.post(
            "/ingest/events", raw="a=b", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 415
    )
    response = api.post("/ingest/events", raw="{not json", content_type="application/json")
    assert response.status_code == 400
    assert OrderEvent.objects.count() == 0


def test_body_over_the_limit_is_413(api, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    response = api.post("/ingest/events", event_body(payload={"blob": "x" * 4096}))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_typed_paths_fix_the_source(api):
    body = event_body(event_id="c-1", event_type="delivered")
    del body["source"]
    assert api.post("/ingest/carrier", body).status_code == 202
    assert OrderEvent.objects.get().source == "carrier"
    response = api.post("/ingest/wms", event_body(source="carrier"))
    assert response.status_code == 400
    assert "source" in response.json()["errors"]


def test_time_without_offset_is_read_in_the_tenant_time_zone(api):
    api.post("/ingest/events", event_body(occurred_at="2026-07-01T12:00:00"))  # Berlin, CEST
    assert OrderEvent.objects.get().occurred_at == datetime(2026, 7, 1, 10, tzinfo=UTC)


def test_far_future_time_is_refused(api):
    response = api.post("/ingest/events", event_body(occurred_at="2099-01-01T00:00:00Z"))
    assert response.status_code == 400 and "occurred_at" in response.json()["errors"]


def test_unknown_type_is_stored_for_the_timeline_but_changes_no_state(api):
    api.post("/ingest/events", event_body(event_type="order_paid", event_id="a"))
    response = api.post(
        "/ingest/events", event_body(event_type="gift_note.printed", event_id="b", carrier="UPS")
    )
    assert response.status_code == 202
    order = Order.objects.get()
    assert order.status == "paid" and order.event_count == 2
    assert OrderEvent.objects.filter(event_type="gift_note.printed").exists()


def test_unknown_top_level_fields_are_kept_with_the_payload(api):
    api.post("/ingest/events", event_body(legacy_flag=True, payload={"a": 1}))
    payload = OrderEvent.objects.get().payload
    assert payload["legacy_flag"] is True and payload["payload"] == {"a": 1}


def test_typed_fields_land_on_the_order(api):
    api.post(
        "/ingest/events",
        event_body(
            tracking_number="1Z999",
            line_count=2,
            items_count=5,
            total_amount_cents=12999,
            currency="eur",
            service_level="Express",
            warehouse="BER-1",
            handling=["hazmat", "Fragile"],
            station="P4",
            worker_id="w-7",
            zone="A",
        ),
    )
    order = Order.objects.get()
    assert (order.tracking_number, order.line_count, order.items_count) == ("1Z999", 2, 5)
    assert (order.total_amount_cents, order.currency) == (12999, "EUR")
    assert (order.service_level, order.warehouse) == ("express", "BER-1")
    assert order.handling == ["fragile", "hazmat"]


def test_shopify_order_under_data_lands_on_the_order(api):
    shopify_order = {
        "id": 450789469,
        "name": "#1001",
        "total_price": "199.65",
        "currency": "USD",
        "financial_status": "paid",
        "tags": "rush, Gift Wrap, vip",
        "line_items": [
            {"id": 1, "sku": "A", "quantity": 2, "price": "50.00"},
            {"id": 2, "sku": "B", "quantity": 1, "price": "99.65"},
        ],
        "shipping_lines": [{"title": "Express Shipping", "code": "EXP", "price": "10.00"}],
        "customer": {"id": 7, "email": "c@example.com", "first_name": "Ada", "note": "x"},
        "shipping_address": {"address1": "1 Main St", "zip": "10115", "country_code": "DE"},
    }
    api.post("/ingest/shopify", event_body(source="shopify", data={"order": shopify_order}))
    order = Order.objects.get()
    assert (order.line_count, order.items_count, order.total_amount_cents) == (2, 3, 19965)
    assert order.handling == ["gift_wrap", "rush"]
    assert order.service_level == "express"
    assert order.tags == ["rush", "Gift Wrap", "vip"]
    assert order.customer == {"id": 7, "email": "c@example.com", "first_name": "Ada"}
    assert order.shipping_address["zip"] == "10115"


def test_order_ids_may_hold_any_printable_characters(api):
    for i, order_id in enumerate(["#1001", "A/B 7", "ü-ß-€", "x" * 255]):
        assert (
            api.post("/ingest/events", event_body(event_id=f"o{i}", order_id=order_id)).status_code
            == 202
        )
    assert api.post("/ingest/events", event_body(order_id="tab\there")).status_code == 400
    assert api.post("/ingest/events", event_body(order_id="x" * 256)).status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        # U+0000 cannot be stored by PostgreSQL (text or jsonb)
        '{"source":"wms","event_type":"order_paid","event_id":"n1","order_id":"1",'
        '"occurred_at":"2026-11-27T10:00:00Z","payload":{"note":"a\\u0000b"}}',
        # a lone UTF-16 surrogate cannot be encoded as UTF-8
        '{"source":"wms","event_type":"order_paid","event_id":"n2","order_id":"1",'
        '"occurred_at":"2026-11-27T10:00:00Z","payload":{"note":"\\ud800"}}',
        # nesting deep enough to exhaust a recursive parser
        '{"payload":' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["nul", "lone-surrogate", "deep-nesting"],
)
def test_unstorable_json_is_a_4xx_not_a_500(api, raw):
    response = api.post("/ingest/events", raw=raw)
    assert response.status_code == 400
    assert OrderEvent.objects.count() == 0


@pytest.mark.parametrize("endpoint", ["/ingest/events", "/ingest/v2/events/batch"])
def test_a_payload_nested_deeper_than_any_sender_needs_is_a_400_not_a_500(api, endpoint):
    # 1,000 levels pass the JSON parser's own limit (1,024) but not the standard
    # library's encoder that stores a JSONField: it raised RecursionError (a 500).
    nested = '{"n":' * 1000 + '"bottom"' + "}" * 1000
    event = json.dumps(event_body(payload={"deep": "@@"})).replace('"@@"', nested)
    raw = event if endpoint == "/ingest/events" else f'{{"events": [{event}]}}'

    response = api.post(endpoint, raw=raw)

    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["detail"]
    assert not (OrderEvent.objects.exists() or DeadLetter.objects.exists())


def test_a_payload_nested_as_deep_as_allowed_is_accepted(api):
    deep: dict = {"leaf": 1}
    for _ in range(62):  # 62 levels inside the payload, inside the event: 64 in all
        deep = {"n": deep}
    response = api.post("/ingest/events", event_body(payload=deep))
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_amount_cents", 10**20),
        ("line_count", 2**40),
        ("items_count", True),
        ("occurred_at", "0001-01-01T00:30:00+01:00"),
        ("occurred_at", "1970-01-01T00:00:00Z"),
    ],
)
def test_values_the_database_cannot_hold_are_refused_by_name(api, field, value):
    response = api.post("/ingest/events", event_body(**{field: value}))
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_revoked_key_is_refused_at_once_even_after_recent_use(api):
    from orders.models import ApiKey
    from orders.services.api_keys import api_key_revoke

    assert api.post("/ingest/events", event_body()).status_code == 202  # now cached
    api_key_revoke(api_key=ApiKey.objects.get())
    assert api.post("/ingest/events", event_body()).status_code == 401


def test_tenant_deactivation_reaches_a_cached_key_after_the_cache_ttl(api, tenant, settings):
    assert api.post("/ingest/events", event_body()).status_code == 202  # now cached
    tenant.is_active = False
    tenant.save()
    # The documented trade-off: within API_KEY_CACHE_SECONDS a recently seen key still works…
    assert api.post("/ingest/events", event_body()).status_code == 202
    # …and with the cache off (or once the entry expires) it is refused.
    settings.API_KEY_CACHE_SECONDS = 0
    from orders.selectors import forget_verified_keys

    forget_verified_keys()
    assert api.post("/ingest/events", event_body()).status_code == 401
