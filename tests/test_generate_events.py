"""generate_events: deterministic demo traffic with a known share of known problems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exceptions.postal import postal_problem
from orders.demo.catalog import PROBLEM_KINDS, PROBLEM_REASONS
from orders.demo.generator import Generator
from orders.demo.send import plan_parcels
from orders.models import Order, OrderEvent
from orders.models.tenant import WebhookSecretKind
from orders.services.tenants import webhook_secret_set

from .factories import TenantFactory, api_key_for

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _orders(seed: int, count: int) -> list:
    gen = Generator(seed=seed)
    times = gen.placement_times(start=NOW - timedelta(days=7), end=NOW, count=count)
    return [gen.order(at) for at in times]


def test_same_seed_makes_the_same_events_and_parcels() -> None:
    def run(seed: int) -> tuple[list, list]:
        gen = Generator(seed=seed)
        orders = [
            gen.order(at)
            for at in gen.placement_times(start=NOW - timedelta(days=2), end=NOW, count=30)
        ]
        events = [e for o in orders for e in o.events]
        parcels = plan_parcels(events, rng=gen.rng, native_shopify=True)
        return [e.body for e in events], [(p.kind, len(p.events)) for p in parcels]

    assert run(7) == run(7)
    assert run(7)[0] != run(8)[0]


def test_problem_share_and_every_kind_over_500_orders() -> None:
    orders = _orders(42, 500)
    problems = [o.problem for o in orders if o.problem]
    assert 0.10 <= len(problems) / len(orders) <= 0.16
    assert set(problems) == set(PROBLEM_KINDS)
    assert set(PROBLEM_REASONS.values()) >= {o.expected_reason for o in orders if o.problem}


def test_clean_orders_keep_the_sla_and_valid_addresses() -> None:
    """What is meant clean must not look like a problem to E²A's rules."""
    for order in _orders(3, 200):
        if order.problem:
            continue
        by_type = {e.body["event_type"]: e.occurred_at for e in order.events}
        assert by_type["pick_completed"] - by_type["order_paid"] < timedelta(minutes=120)
        assert by_type["pack_completed"] - by_type["pick_completed"] < timedelta(minutes=180)
        assert by_type["picked_up"] - by_type["pack_completed"] < timedelta(hours=24)
        address = order.events[0].body["data"]["order"]["shipping_address"]
        assert postal_problem(address["zip"], address["country_code"]) is None
        assert address["address1"] and address["city"]


def test_problem_texts_vary_within_a_kind() -> None:
    reasons = {
        e.body.get("payload", {}).get("reason")
        for o in _orders(5, 1500)
        if o.problem == "carrier_issue"
        for e in o.events
        if e.body["event_type"] == "delivery_failed"
    }
    assert len(reasons) >= 3


@pytest.mark.django_db
def test_direct_backfill_stores_orders_with_past_times() -> None:
    tenant = TenantFactory(slug="demo-3pl")
    out = StringIO()
    call_command(
        "generate_events", "backfill", "--days", "2", "--orders-per-day", "10",
        "--seed", "1", "--now", NOW.isoformat(), "--direct", stdout=out, stderr=StringIO(),
    )  # fmt: skip
    events = OrderEvent.objects.filter(tenant=tenant)
    assert events.count() > 40
    assert Order.objects.filter(tenant=tenant).count() == 20
    oldest = events.order_by("occurred_at").first()
    newest = events.order_by("-occurred_at").first()
    assert oldest is not None and newest is not None
    assert NOW - timedelta(days=2) <= oldest.occurred_at and newest.occurred_at <= NOW
    assert set(events.values_list("source", flat=True)) == {"shopify", "wms", "carrier"}
    summary = out.getvalue()
    assert "rejected 0," in summary and "duplicates 0," in summary

    again = StringIO()
    call_command(
        "generate_events", "backfill", "--days", "2", "--orders-per-day", "10",
        "--seed", "1", "--now", NOW.isoformat(), "--direct", stdout=again, stderr=StringIO(),
    )  # fmt: skip
    assert "accepted 0," in again.getvalue()  # same seed: every event a duplicate
    assert events.count() == OrderEvent.objects.filter(tenant=tenant).count()


@pytest.mark.django_db
def test_refuses_in_production(settings) -> None:
    TenantFactory(slug="demo-3pl")
    settings.APP_ENV = "production"
    with pytest.raises(CommandError, match="production"):
        call_command("generate_events", "single", "--direct", stdout=StringIO())


@pytest.mark.django_db
def test_unknown_tenant_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="'nope' does not exist"):
        call_command("generate_events", "single", "--tenant", "nope", "--direct")


@pytest.mark.django_db(transaction=True)
def test_http_delivery_with_api_key_and_signed_shopify_webhooks(live_server) -> None:
    """The default path: real endpoints, the tenant's key, Shopify webhooks signed."""
    tenant = TenantFactory(slug="demo-3pl")
    webhook_secret_set(
        tenant=tenant, kind=WebhookSecretKind.SHOPIFY, secret="shpss_test_secret_0123456789"
    )
    out = StringIO()
    call_command(
        "generate_events", "batch", "--orders", "4", "--seed", "11", "--now", NOW.isoformat(),
        "--base-url", live_server.url, "--api-key", api_key_for(tenant),
        stdout=out, stderr=StringIO(),
    )  # fmt: skip
    stored = OrderEvent.objects.filter(tenant=tenant)
    assert "rejected 0," in out.getvalue() and "failed 0;" in out.getvalue()
    assert stored.filter(channel="shopify").exists()
    assert stored.count() == int(out.getvalue().split("accepted ")[1].split(",")[0]) > 0


@pytest.mark.django_db
def test_stream_sends_what_is_due_for_its_duration() -> None:
    tenant = TenantFactory(slug="demo-3pl")
    out = StringIO()
    call_command(
        "generate_events", "stream", "--seconds", "0.5", "--rate", "8", "--seed", "2",
        "--direct", stdout=out, stderr=StringIO(),
    )  # fmt: skip
    assert "rejected 0," in out.getvalue()
    assert OrderEvent.objects.filter(tenant=tenant).exists()
