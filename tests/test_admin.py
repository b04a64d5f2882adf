"""The operator console (Django admin): screens load, lists stay cheap, actions work."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import ApiKey, DeadLetter, Order, OrderEvent, WebhookSecret
from orders.services.api_keys import api_key_create
from orders.services.dead_letters import dead_letter_record
from orders.services.tenants import generate_webhook_secret, webhook_secret_set

from .factories import TenantFactory, event_body, ingest_event

pytestmark = pytest.mark.django_db

MODELS = ["tenant", "apikey", "webhooksecret", "order", "orderevent", "deadletter"]
TENANTS = 7  # populate() spreads its rows over at most this many tenants


def dead_letter(tenant, body, *, reason="invalid event: occurred_at: bad"):
    return dead_letter_record(
        tenant=tenant,
        kind="event",
        raw_body=json.dumps(body),
        reason=reason,
        errors={"occurred_at": ["Not an ISO 8601 date-time."]},
        headers={"User-Agent": "wms/1.0", "X-Correlation-ID": "corr-1"},
    )


def populate(n: int, *, start: int = 0) -> None:
    """n rows of every kind, spread over several tenants."""
    for i in range(start, start + n):
        tenant = TenantFactory(slug=f"merchant-{i % TENANTS}")
        api_key_create(tenant=tenant, name=f"key {i}")
        webhook_secret_set(tenant=tenant, kind="standard", label=f"s{i}")
        ingest_event(
            tenant,
            event_id=f"e-{i}",
            order_id=f"#{1000 + i}",
            carrier="DHL",
            warehouse=f"WH-{i % 3}",
        )
        dead_letter(tenant, event_body(event_id=f"bad-{i}", occurred_at="yesterday"))


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def changelist(model: str) -> str:
    return reverse(f"admin:orders_{model}_changelist")


def rows_listed(model: str, populated: int) -> int:
    return min(populated, TENANTS) if model == "tenant" else populated


@pytest.mark.parametrize("model", MODELS)
def test_changelist_shows_the_rows(admin_client, model):
    populate(3)
    response = admin_client.get(changelist(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows_listed(model, 3)
    assert "merchant-0" in response.content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, model
):
    populate(3)
    admin_client.get(changelist(model))  # warm up session and content-type caches
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(changelist(model)).status_code == 200

    populate(27, start=3)
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(changelist(model))
    assert response.context["cl"].result_count == rows_listed(model, 30)


@pytest.mark.parametrize("model", MODELS)
def test_change_page_shows_the_row(admin_client, model):
    populate(1)
    obj = {
        "tenant": lambda: OrderEvent.objects.get().tenant,
        "apikey": ApiKey.objects.get,
        "webhooksecret": WebhookSecret.objects.get,
        "order": Order.objects.get,
        "orderevent": OrderEvent.objects.get,
        "deadletter": DeadLetter.objects.get,
    }[model]()
    response = admin_client.get(reverse(f"admin:orders_{model}_change", args=[obj.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "merchant-0" in page
    expected = {
        "tenant": ["Merchant-0"],
        "apikey": [getattr(obj, "prefix", ""), "key 0"],
        "webhooksecret": ["s0"],
        "order": ["#1000", "DHL", "e-0"],  # the order and its event timeline
        "orderevent": ["e-0", "order_paid"],
        "deadletter": ["bad-0", "Not an ISO 8601 date-time.", "wms/1.0"],
    }[model]
    for text in expected:
        assert text in page


def test_adding_an_api_key_shows_it_once_and_stores_only_a_hash(admin_client, client):
    tenant = TenantFactory(slug="acme")
    response = admin_client.post(
        reverse("admin:orders_apikey_add"),
        {"tenant": tenant.pk, "name": "WMS", "scopes": ["ingest"]},
        follow=True,
    )

    assert response.status_code == 200
    shown = [m for m in messages_of(response) if "copy it now" in m]
    assert len(shown) == 1
    raw = re.search(r"(e2a_\S+)", shown[0]).group(1)
    key = ApiKey.objects.get()
    assert (key.tenant, key.name) == (tenant, "WMS")
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {key.prefix, key.key_hash, key.name}
    assert raw.startswith(key.prefix)

    # Not shown again on any later page.
    for url in (changelist("apikey"), reverse("admin:orders_apikey_change", args=[key.pk])):
        assert raw not in admin_client.get(url).content.decode()

    posted = client.post(
        "/ingest/events",
        data=event_body(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert posted.status_code == 202
    assert OrderEvent.objects.get().tenant == tenant


def test_revoke_action_revokes_the_selected_keys(admin_client, client):
    tenant = TenantFactory(slug="acme")
    doomed = api_key_create(tenant=tenant, name="old")
    kept = api_key_create(tenant=tenant, name="new")

    response = admin_client.post(
        changelist("apikey"),
        {"action": "revoke", "_selected_action": [doomed.api_key.pk]},
        follow=True,
    )

    assert "Revoked 1 key(s)." in messages_of(response)
    doomed.api_key.refresh_from_db()
    kept.api_key.refresh_from_db()
    assert doomed.api_key.revoked_at is not None
    assert kept.api_key.revoked_at is None

    def post_with(raw):
        return client.post(
            "/ingest/events",
            data=event_body(),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )

    assert post_with(doomed.raw).status_code == 401
    assert post_with(kept.raw).status_code == 202


def test_order_admin_is_read_only(admin_client):
    tenant = TenantFactory(slug="acme")
    ingest_event(tenant, order_id="#1001", carrier="DHL")
    order = Order.objects.get()

    assert admin_client.get(reverse("admin:orders_order_add")).status_code == 403
    assert (
        admin_client.get(reverse("admin:orders_order_delete", args=[order.pk])).status_code == 403
    )
    assert (
        admin_client.post(
            reverse("admin:orders_order_delete", args=[order.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    listing = admin_client.get(changelist("order"))
    assert reverse("admin:orders_order_add") not in listing.content.decode()
    assert "delete_selected" not in listing.content.decode()

    change_url = reverse("admin:orders_order_change", args=[order.pk])
    page = admin_client.get(change_url).content.decode()
    assert f"<h2>{order.tenant.slug} #1001</h2>" in page  # the order as operators say it
    assert 'name="carrier"' not in page
    assert 'name="external_id"' not in page
    admin_client.post(change_url, {"carrier": "UPS", "external_id": "#9"})
    order.refresh_from_db()
    assert (order.carrier, order.external_id) == ("DHL", "#1001")
    assert Order.objects.count() == 1


def test_replay_action_replays_fixed_letters_and_reports_still_failing(admin_client):
    tenant = TenantFactory(slug="acme")
    # Valid now, as if the bug that rejected it had been fixed.
    fixed = dead_letter(tenant, event_body(event_id="fixed-1", order_id="#7"))
    broken = dead_letter(tenant, event_body(event_id="broken-1", occurred_at="yesterday"))

    response = admin_client.post(
        changelist("deadletter"),
        {"action": "replay", "_selected_action": [fixed.pk, broken.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Replayed 1; still failing 1." in messages_of(response)
    fixed.refresh_from_db()
    broken.refresh_from_db()
    event = OrderEvent.objects.get()
    assert (event.event_id, event.order.external_id) == ("fixed-1", "#7")
    assert fixed.event == event
    assert fixed.replayed_at is not None
    assert broken.replayed_at is None
    assert broken.replay_attempts == 1
    assert "occurred_at" in broken.replay_result

    # Replaying again stores nothing new.
    admin_client.post(
        changelist("deadletter"), {"action": "replay", "_selected_action": [fixed.pk]}
    )
    assert OrderEvent.objects.count() == 1


def test_webhook_secret_form_refuses_a_standard_secret_without_whsec_prefix(admin_client):
    tenant = TenantFactory(slug="acme")
    bare = generate_webhook_secret("standard").removeprefix("whsec_")

    response = admin_client.post(
        reverse("admin:orders_webhooksecret_add"),
        {"tenant": tenant.pk, "kind": "standard", "secret": bare, "label": "", "is_active": "on"},
    )

    assert response.status_code == 200  # the form again, with the error
    assert "whsec_" in str(response.context["adminform"].form.errors["secret"])
    assert not WebhookSecret.objects.exists()
    assert bare not in response.content.decode()  # not echoed back either


def test_webhook_secret_form_adds_a_valid_secret(admin_client):
    tenant = TenantFactory(slug="acme")
    secret = generate_webhook_secret("standard")

    admin_client.post(
        reverse("admin:orders_webhooksecret_add"),
        {
            "tenant": tenant.pk,
            "kind": "standard",
            "secret": secret,
            "label": "2026",
            "is_active": "on",
        },
    )

    stored = WebhookSecret.objects.get()
    assert (stored.secret, stored.label, stored.is_active) == (secret, "2026", True)


def test_webhook_secret_is_never_rendered_back(admin_client):
    tenant = TenantFactory(slug="acme")
    stored = webhook_secret_set(tenant=tenant, kind="standard", label="2026")
    body_of_secret = stored.secret.removeprefix("whsec_")

    for url in (
        reverse("admin:orders_webhooksecret_change", args=[stored.pk]),
        changelist("webhooksecret"),
    ):
        page = admin_client.get(url).content.decode()
        assert stored.secret not in page
        assert body_of_secret not in page


def test_webhook_secret_label_can_change_without_retyping_the_secret(admin_client):
    tenant = TenantFactory(slug="acme")
    stored = webhook_secret_set(tenant=tenant, kind="standard", label="old")
    url = reverse("admin:orders_webhooksecret_change", args=[stored.pk])

    response = admin_client.post(
        url,
        {"tenant": tenant.pk, "kind": "standard", "secret": "", "label": "new", "is_active": ""},
    )

    assert response.status_code == 302
    changed = WebhookSecret.objects.get()
    assert (changed.secret, changed.label, changed.is_active) == (stored.secret, "new", False)
