"""generate_events: deterministic demo traffic with a known share of known problems."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exceptions.postal import postal_problem
from orders.demo.catalog import PROBLEM_KINDS, PROBLEM_REASONS
from orders.demo.generator import Generator
from orders.demo.send import STANDARD_SHARE, HttpSender, Tally, plan_parcels
from orders.management.commands import generate_events
from orders.models import Order, OrderEvent
from orders.models.tenant import WebhookSecretKind
from orders.services.tenants import webhook_secret_set

from .factories import TenantFactory, api_key_for

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STANDARD_SECRET = "whsec_" + "ZGVtby13bXMtc2lnbmluZy1rZXktMDAwMS1hYmNkZWY="


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


def test_standard_webhooks_take_a_share_of_the_wms_and_carrier_parcels_only() -> None:
    events = [e for o in _orders(9, 60) for e in o.events]

    def plan(standard: bool) -> list:
        return plan_parcels(
            events, rng=random.Random(1), native_shopify=True, standard_webhooks=standard
        )

    without, with_standard = plan(False), plan(True)
    assert "standard" not in {p.kind for p in without}
    standard = [p for p in with_standard if p.kind == "standard"]
    non_shop = [p for p in with_standard if p.kind != "shopify"]
    assert 0.5 * STANDARD_SHARE < len(standard) / len(non_shop) < 1.5 * STANDARD_SHARE
    assert all(len(p.events) == 1 and not p.events[0].shopify_topic for p in standard)
    assert plan(True) == with_standard  # the same rng, the same plan
    delivered = [e.body["event_id"] for p in with_standard for e in p.events]
    assert delivered == [e.body["event_id"] for e in events]  # every event once, in order


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
    # In-process, every kind of parcel is built as its view would build it.
    channels = set(events.values_list("channel", flat=True))
    assert channels == {"shopify", "standard", "event", "batch"}
    assert not events.filter(channel="standard", source="shopify").exists()
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
def test_http_delivery_with_api_key_and_signed_webhooks(live_server) -> None:
    """The default path: real endpoints, the tenant's key, Shopify and Standard Webhooks
    deliveries signed with the tenant's secrets (and timestamped now, though the
    events occurred days ago)."""
    tenant = TenantFactory(slug="demo-3pl")
    webhook_secret_set(
        tenant=tenant, kind=WebhookSecretKind.SHOPIFY, secret="shpss_test_secret_0123456789"
    )
    webhook_secret_set(tenant=tenant, kind=WebhookSecretKind.STANDARD, secret=STANDARD_SECRET)
    out = StringIO()
    call_command(
        "generate_events", "batch", "--orders", "6", "--seed", "11", "--now", NOW.isoformat(),
        "--base-url", live_server.url, "--api-key", api_key_for(tenant),
        stdout=out, stderr=StringIO(),
    )  # fmt: skip
    stored = OrderEvent.objects.filter(tenant=tenant)
    assert "rejected 0," in out.getvalue() and "failed 0;" in out.getvalue()
    assert stored.filter(channel="shopify").exists()
    standard = stored.filter(channel="standard")
    assert standard.exists()
    assert set(standard.values_list("source", flat=True)) <= {"wms", "carrier"}
    assert all(at <= NOW for at in standard.values_list("occurred_at", flat=True))
    assert stored.count() == int(out.getvalue().split("accepted ")[1].split(",")[0]) > 0


@pytest.mark.django_db(transaction=True)
def test_http_delivery_without_a_standard_secret_sends_no_standard_webhooks(live_server) -> None:
    tenant = TenantFactory(slug="demo-3pl")
    out = StringIO()
    call_command(
        "generate_events", "batch", "--orders", "3", "--seed", "11", "--now", NOW.isoformat(),
        "--base-url", live_server.url, "--api-key", api_key_for(tenant),
        stdout=out, stderr=StringIO(),
    )  # fmt: skip
    assert "rejected 0," in out.getvalue()
    channels = set(OrderEvent.objects.filter(tenant=tenant).values_list("channel", flat=True))
    assert channels <= {"event", "batch"}


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


class _FakeStreamClock:
    """Real time for the stream, made of sleeps only: every run ticks the same way."""

    def __init__(self) -> None:
        self.at = 1000.0

    def monotonic(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += max(seconds, 0.001)


def _stream_events(monkeypatch, slug: str, now: datetime) -> list[tuple[str, datetime]]:
    clock = _FakeStreamClock()
    monkeypatch.setattr(generate_events, "_monotonic", clock.monotonic)
    monkeypatch.setattr(generate_events, "_sleep", clock.sleep)
    tenant = TenantFactory(slug=slug)
    out = StringIO()
    call_command(
        "generate_events", "stream", "--tenant", slug, "--seconds", "3", "--rate", "4",
        "--seed", "5", "--now", now.isoformat(), "--direct", stdout=out, stderr=StringIO(),
    )  # fmt: skip
    assert "rejected 0," in out.getvalue()
    return list(
        OrderEvent.objects.filter(tenant=tenant)
        .order_by("occurred_at", "event_id")
        .values_list("event_id", "occurred_at")
    )


@pytest.mark.django_db
def test_stream_runs_on_the_clock_given_by_now_and_is_reproducible(monkeypatch) -> None:
    first = _stream_events(monkeypatch, "acme", NOW)
    again = _stream_events(monkeypatch, "globex", NOW)
    day_earlier = _stream_events(monkeypatch, "initech", NOW - timedelta(days=1))

    assert first and first == again
    # Nothing from the stream's future: its clock ran from NOW for three seconds.
    assert all(at <= NOW + timedelta(seconds=3) for _, at in first)
    assert any(at > NOW - timedelta(hours=48) for _, at in first)
    # Another start: the same orders, every event exactly that much earlier.
    assert day_earlier == [(event_id, at - timedelta(days=1)) for event_id, at in first]


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_a_long_run_off_a_terminal_gets_one_plain_progress_line() -> None:
    TenantFactory(slug="demo-3pl")
    out, err = StringIO(), StringIO()
    call_command(
        "generate_events", "backfill", "--days", "1", "--orders-per-day", "60",
        "--seed", "4", "--now", NOW.isoformat(), "--direct", stdout=out, stderr=err,
    )  # fmt: skip
    requests = int(out.getvalue().split(" requests:")[0].split(" in ")[-1])
    assert requests >= generate_events.LONG_RUN
    [line] = err.getvalue().splitlines()
    assert line.startswith("sending") and f"{requests}/{requests} requests" in line
    assert "\r" not in err.getvalue() and "\x1b" not in err.getvalue()
    assert "rejected 0," in out.getvalue()


@pytest.mark.django_db
def test_a_short_run_shows_a_bar_on_a_terminal_only() -> None:
    TenantFactory(slug="demo-3pl")
    quiet, terminal = StringIO(), _Terminal()
    for err in (quiet, terminal):
        call_command(
            "generate_events", "single", "--seed", "3", "--now", NOW.isoformat(), "--direct",
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
    assert quiet.getvalue() == ""
    assert "requests" in terminal.getvalue()


@pytest.mark.django_db
def test_a_long_stream_off_a_terminal_says_how_it_goes_once_a_minute(monkeypatch) -> None:
    clock = _FakeStreamClock()
    monkeypatch.setattr(generate_events, "_monotonic", clock.monotonic)
    monkeypatch.setattr(generate_events, "_sleep", clock.sleep)
    TenantFactory(slug="demo-3pl")
    out = StringIO()
    call_command(
        "generate_events", "stream", "--seconds", "150", "--rate", "0.1", "--seed", "3",
        "--now", NOW.isoformat(), "--direct", stdout=out, stderr=StringIO(),
    )  # fmt: skip
    lines = [line for line in out.getvalue().splitlines() if line.startswith("stream: ")]
    assert len(lines) == 2, out.getvalue()
    assert "orders (" in lines[1] and "rejected 0, failed 0" in lines[1]


def test_the_api_key_goes_to_ingest_only_never_with_a_signed_webhook() -> None:
    """A store or carrier signs its webhooks; it has no E²A key to send with them."""
    seen: list[tuple[str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path.split("/")[1], request.headers.get("Authorization")))
        return httpx.Response(202, json={"status": "accepted", "results": []})

    sender = HttpSender(
        base_url="http://e2a.test",
        tenant_slug="acme",
        api_key="e2a_key",
        shopify_secret="shpss_0123456789abcdef",
        standard_secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    sender.client = httpx.Client(base_url="http://e2a.test", transport=httpx.MockTransport(answer))
    gen = Generator(seed=9)
    events = [e for at in (NOW, NOW + timedelta(hours=1)) for e in gen.order(at).events]
    for parcel in plan_parcels(
        events, rng=random.Random(1), native_shopify=True, standard_webhooks=True
    ):
        sender.send(parcel, Tally())
    assert {path for path, _ in seen} == {"ingest", "webhooks"}
    assert all((key is None) == (path == "webhooks") for path, key in seen), seen
