"""manage.py stats: the numbers an operator reads after a demo, right and cheap to get."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from exceptions import stats
from exceptions.models import ExceptionStatus, OrderException
from orders.models import Order, Tenant

from .exception_helpers import exception_in, make_order
from .factories import TenantFactory, ingest_event
from .sla_helpers import at

pytestmark = pytest.mark.django_db

NOW = "2026-06-03T11:40:00Z"  # a Wednesday; the pick stage of an order paid at 10:00 warns 11:36


def run(*args: str) -> str:
    out = StringIO()
    with time_machine.travel(at(NOW), tick=False):
        call_command("stats", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def row(output: str, label: str, section: str | None = None) -> list[str]:
    """The cells of the first row starting with `label` (after `section`'s title, if given)."""
    if section is not None:
        output = output[output.index(section) :]
    match = re.search(rf"^  {re.escape(label)}\s.*$", output, re.MULTILINE)
    assert match, f"no row {label!r} in:\n{output}"
    return match.group(0).split()


def block(output: str, slug: str) -> str:
    """The part of the output about one tenant: from its heading to the next one."""
    start = output.index(f"\n{slug}: ") + 1
    body = output.index("\n", start) + 1
    nxt = re.compile(r"^\S+: .*\n=+$", re.MULTILINE).search(output, body)
    return output[start : nxt.start()] if nxt else output[start:]


def populate(tenant: Tenant) -> None:
    """Three orders by events (one of them two days old), two made directly, three exceptions."""
    with time_machine.travel(at("2026-06-01T09:00:00Z"), tick=False):
        ingest_event(
            tenant, source="shopify", order_id="#old", occurred_at=at("2026-06-01T08:00:00Z")
        )
    with time_machine.travel(at("2026-06-03T11:00:00Z"), tick=False):
        ingest_event(tenant, order_id="#1", occurred_at=at("2026-06-03T10:00:00Z"))  # at risk
        ingest_event(tenant, order_id="#2", occurred_at=at("2026-06-03T11:30:00Z"))  # fresh
        ingest_event(
            tenant, order_id="#2", event_type="pick_started", occurred_at=at("2026-06-03T11:35Z")
        )
        ingest_event(tenant, source="shopify", order_id="#1", occurred_at=at("2026-06-03T10:00Z"))
    delivered = make_order(tenant, "#3", status="delivered")
    exception_in(ExceptionStatus.OPEN, delivered, "PICK_DELAY")
    exception_in(ExceptionStatus.RESOLVED, make_order(tenant, "#4", status="shipped"), "PICK_DELAY")
    exception_in(ExceptionStatus.ACKNOWLEDGED, delivered, "ADDRESS_INVALID")


def test_stats_shows_events_orders_exceptions_and_at_risk_stages_of_a_tenant():
    tenant = TenantFactory(slug="acme", name="Acme")
    populate(tenant)

    output = run("--tenant", "acme")

    assert "acme: Acme" in output
    # Events: by source, with what arrived in the last 24 hours.
    assert row(output, "shopify", "Events") == ["shopify", "2", "1"]
    assert row(output, "wms", "Events") == ["wms", "3", "3"]
    assert row(output, "total", "Events") == ["total", "5", "4"]
    # Orders by status, in lifecycle order.
    orders = output[output.index("Orders by status") : output.index("Exceptions by")]
    assert row(orders, "paid") == ["paid", "2"]
    assert row(orders, "picking") == ["picking", "1"]
    assert row(orders, "shipped") == ["shipped", "1"]
    assert row(orders, "delivered") == ["delivered", "1"]
    assert row(orders, "total") == ["total", "5"]
    assert orders.index("paid") < orders.index("picking") < orders.index("delivered")
    # Exceptions: a reason × status matrix with totals.
    section = "Exceptions by reason and status"
    assert row(output, "reason", section) == [
        "reason",
        "open",
        "acknowledged",
        "in_progress",
        "resolved",
        "closed",
        "total",
    ]
    assert row(output, "PICK_DELAY", section) == ["PICK_DELAY", "1", "0", "0", "1", "0", "2"]
    assert row(output, "ADDRESS_INVALID", section) == [
        "ADDRESS_INVALID", "0", "1", "0", "0", "0", "1"
    ]  # fmt: skip
    assert row(output, "total", section) == ["total", "1", "1", "0", "1", "0", "3"]
    # At risk: only #1's pick (paid 10:00, warned 11:36, due 12:00); #2's started later.
    assert row(output, "pick", "At-risk stages") == ["pick", "1"]
    assert row(output, "total", "At-risk stages") == ["total", "1"]
    assert "none tried" in output[output.index("Automated actions") :]


def test_stats_counts_automated_actions_by_kind_and_outcome():
    from django.utils import timezone

    from exceptions.models import ActionRun

    tenant = TenantFactory(slug="acme")
    exception = exception_in(ExceptionStatus.OPEN, make_order(tenant, "#1"), "MISSING_SCAN")
    now = timezone.now()
    for status in ("recorded", "failed", "failed"):
        ActionRun.objects.create(
            tenant=tenant,
            exception=exception,
            kind="request_scan",
            target="wms",
            status=status,
            created_at=now,
            updated_at=now,
            finished_at=now,
        )
    OrderException.objects.filter(pk=exception.pk).update(blocked=True, blocked_reason="x")
    output = run("--tenant", "acme")
    section = "Automated actions by kind and outcome"
    assert row(output, "request_scan", section) == [
        "request_scan",
        "0",
        "0",
        "1",
        "2",
        "0",
        "0",
        "0",
    ]
    assert row(output, "open, blocked", "Automation blocked")[-1] == "1"


def test_columns_line_up():
    populate(TenantFactory(slug="acme"))
    output = run("--tenant", "acme")
    matrix = output[output.index("Exceptions by") :].split("\n\n")[0].splitlines()[1:]
    header, rule, *rows = matrix
    # Numbers are right-aligned under their headers: every row ends where the header does.
    assert {len(line) for line in (header, rule, *rows)} == {len(header)}


def test_without_tenant_every_tenant_gets_its_own_block():
    populate(TenantFactory(slug="acme"))
    TenantFactory(slug="quiet", name="Quiet")

    output = run()

    acme, quiet = block(output, "acme"), block(output, "quiet")
    assert row(acme, "total", "Events") == ["total", "5", "4"]
    assert "no events" in quiet and "no orders" in quiet
    assert "no exceptions" in quiet and "nothing at risk" in quiet
    assert "no events" not in acme


def test_unknown_tenant_is_a_clear_error():
    TenantFactory(slug="acme")
    with pytest.raises(CommandError, match=r"No tenant with slug 'acne'.*Known tenants: acme"):
        run("--tenant", "acne")


def test_no_tenants_says_so():
    assert "No tenants yet" in run()


def test_query_count_does_not_grow_with_tenants_or_rows(django_assert_max_num_queries):
    for slug in ("a", "b", "c"):
        tenant = TenantFactory(slug=slug)
        populate(tenant)
        for n in range(5):
            exception_in(ExceptionStatus.OPEN, make_order(tenant, f"#x{n}"), "PACK_DELAY")
    assert Order.objects.count() == 3 * 10

    # One for the tenants, one per built-in section, two for automated actions, two for
    # the ai app's, whatever the data.
    with django_assert_max_num_queries(9):
        output = run()
    assert output.count("PACK_DELAY") == 3


def test_higher_apps_add_sections_through_the_registry():
    """billing/ai register providers from their AppConfig.ready(); the command shows them."""
    TenantFactory(slug="acme")

    def invoices(
        *, tenants: Sequence[Tenant], now: datetime
    ) -> Mapping[int, Sequence[stats.StatsTable]]:
        return {
            t.pk: [stats.StatsTable("Invoice totals", ("period", "cents"), [("2026-05", 12345)])]
            for t in tenants
        }

    stats.register("billing.invoices", invoices, rank=stats.BILLING)
    try:
        output = run("--tenant", "acme")
    finally:
        stats.unregister("billing.invoices")

    assert row(output, "2026-05", "Invoice totals") == ["2026-05", "12345"]
    assert output.index("At-risk stages") < output.index("Invoice totals")
    assert "Invoice totals" not in run("--tenant", "acme")
