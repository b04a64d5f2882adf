"""Billing screens cost the same queries for 3 rows as for 15 or 30: no N+1.

A month may bill a million orders and Finance lists every tenant's invoices, so a
query per row on any of these pages is a page that times out in production. Each
test measures one screen at a small and a large size and asserts the counts are
equal: a fixed budget could pass by accident, equality states the invariant.

Screens: the console's invoice list (as Finance, scoped to their tenants), an
invoice's change page (its order lines with their order and event links), the
invoice-line list, the tariff list; and the API's invoice list and detail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Invoice, InvoiceLine, Tariff
from billing.services import invoice_issue, invoice_refresh, tariff_new_version
from orders.models import Tenant
from orders.services.staff import staff_user_save

from .billing_helpers import orders_with
from .factories import TenantFactory

pytestmark = pytest.mark.django_db

OCTOBER = date(2026, 10, 1)
AFTER_OCTOBER = datetime(2026, 11, 2, 9, tzinfo=UTC)
TENANTS = 15

INVOICES = reverse("admin:billing_invoice_changelist")
LINES = reverse("admin:billing_invoiceline_changelist")
TARIFFS = reverse("admin:billing_tariff_changelist")


def shipped(day: int) -> list[tuple[str, datetime]]:
    """Pick, pack and label evidence on one October day: an order with three billed steps."""
    return [
        ("pick_completed", datetime(2026, 10, day, 9, tzinfo=UTC)),
        ("pack_completed", datetime(2026, 10, day, 10, tzinfo=UTC)),
        ("ship_label_printed", datetime(2026, 10, day, 11, tzinfo=UTC)),
    ]


def october_invoice(tenant: Tenant, orders: int, *, issue: bool = False) -> Invoice:
    """The tenant's October invoice over `orders` shipped orders, built by the real rules."""
    orders_with(tenant, orders, shipped(3), prefix=f"{tenant.slug}-#")
    invoice = invoice_refresh(tenant=tenant, period=OCTOBER).invoice
    if issue:  # numbered rows render their number: the list must not fetch it per row
        invoice = invoice_issue(invoice=invoice, by="test", now=AFTER_OCTOBER)
    return invoice


@pytest.fixture
def tenants() -> list[Tenant]:
    return [TenantFactory(slug=f"merchant-{n:02}") for n in range(TENANTS)]


@pytest.fixture
def finance(tenants: list[Tenant]) -> Client:
    """A Finance member of every tenant: the console and API scope by membership."""
    user = staff_user_save(
        username="finance-user", role="finance", tenant_slugs=[t.slug for t in tenants]
    ).user
    browser = Client()
    browser.force_login(user)
    return browser


def count_queries(browser: Client, path: str, expect: str = "") -> Callable[[], int]:
    """A measure of `path`: the queries one GET costs, after a warm-up GET (session,
    content types and permissions are cached by then, as on a busy server)."""

    def measure() -> int:
        browser.get(path)
        with CaptureQueriesContext(connection) as captured:
            response = browser.get(path)
        assert response.status_code == 200, response.content[:500]
        if expect:
            assert expect in response.content.decode()
        return len(captured)

    return measure


def rendered(browser: Client, path: str) -> str:
    return browser.get(path).content.decode()


# ------------------------------------------------------------------------------ console


def test_the_invoice_list_costs_the_same_for_3_and_15_tenants(finance, tenants):
    for n, tenant in enumerate(tenants[:3]):
        october_invoice(tenant, 2, issue=n % 2 == 0)
    few = count_queries(finance, INVOICES, "merchant-00")()

    for n, tenant in enumerate(tenants[3:], start=3):
        october_invoice(tenant, 2, issue=n % 2 == 0)
    many = count_queries(finance, INVOICES, "merchant-14")()

    assert few == many
    page = rendered(finance, INVOICES)
    assert "MERCHANT-02-2026-0001" in page and "100.00" in page  # number; monthly minimum


def test_an_invoice_page_costs_the_same_for_3_and_30_order_lines(finance, tenants):
    small = october_invoice(tenants[0], 3)
    large = october_invoice(tenants[1], 30)
    assert large.lines.filter(kind="order").count() == 30

    def page(invoice: Invoice) -> str:
        return reverse("admin:billing_invoice_change", args=[invoice.pk])

    few = count_queries(finance, page(small), "merchant-00-#2")()
    many = count_queries(finance, page(large), "merchant-01-#29")()

    assert few == many
    body = rendered(finance, page(large))
    assert len(re.findall(r'href="/admin/orders/order/\d+/change/"', body)) == 30  # one a line
    assert "All 30 order lines" in body


def test_the_invoice_line_list_costs_the_same_for_3_and_30_lines(finance, tenants):
    for tenant in tenants[:3]:
        october_invoice(tenant, 1)
    few = count_queries(finance, LINES, "merchant-00-#0")()

    for tenant in tenants[3:12]:
        october_invoice(tenant, 3)  # lines of several invoices and tenants on one page
    assert InvoiceLine.objects.filter(kind="order").count() == 30
    many = count_queries(finance, LINES, "merchant-11-#2")()

    assert few == many


def test_the_tariff_list_costs_the_same_for_3_and_30_versions(finance, tenants):
    def versions(of: list[Tenant]) -> Iterator[Tariff]:
        for tenant in of:
            october_invoice(tenant, 1)  # the default tariff, now history (it priced October)
            yield tariff_new_version(tariff=Tariff.objects.get(tenant=tenant))

    list(versions(tenants[:2]))
    assert Tariff.objects.count() == 4
    few = count_queries(finance, TARIFFS, "merchant-01")()

    list(versions(tenants[2:15]))
    assert Tariff.objects.count() == 30
    many = count_queries(finance, TARIFFS, "merchant-14")()

    assert few == many


# ------------------------------------------------------------------------------ API


def test_the_api_invoice_list_costs_the_same_for_3_and_15_invoices(finance, tenants):
    for n, tenant in enumerate(tenants[:3]):
        october_invoice(tenant, 1, issue=n % 2 == 0)
    few = count_queries(finance, "/api/invoices", '"merchant-00"')()

    for n, tenant in enumerate(tenants[3:], start=3):
        october_invoice(tenant, 1, issue=n % 2 == 0)
    many = count_queries(finance, "/api/invoices", '"merchant-14"')()

    assert few == many
    assert finance.get("/api/invoices").json()["count"] == TENANTS


def test_the_api_invoice_detail_costs_the_same_for_3_and_30_lines(finance, tenants):
    small = october_invoice(tenants[0], 3)
    large = october_invoice(tenants[1], 30)

    few = count_queries(finance, f"/api/invoices/{small.pk}", "merchant-00-#2")()
    many = count_queries(finance, f"/api/invoices/{large.pk}", "merchant-01-#29")()

    assert few == many
    body = finance.get(f"/api/invoices/{large.pk}").json()
    assert len(body["lines"]["results"]) == 30
