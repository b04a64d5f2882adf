"""The contract runs' fixtures, shared by tests/test_api_contract.py and the long hostile run.

A demo tenant with a fully scoped key, both webhook secrets, orders, exceptions in
every status and a draft invoice, inside pytest-django's per-test transaction;
test modules import the fixtures they use from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from billing.services import invoice_refresh
from orders.models import Tenant
from orders.services.tenants import webhook_secret_set

from .billing_helpers import order_with
from .contract import DEMO_SLUG, DemoTenant
from .exception_helpers import exception_in, make_order
from .factories import TenantFactory, api_key_for


@pytest.fixture
def _connection_kept_across_requests() -> Iterator[None]:
    """Keep the test's database connection open between the in-process requests.

    Django closes connections at the end of each request (`close_old_connections`);
    Django's test client switches that off, Schemathesis' WSGI client does not, and
    on PostgreSQL closing would end the test's transaction under the next request.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def demo_tenant_build(slug: str = DEMO_SLUG, **tenant_fields) -> DemoTenant:
    """A tenant with a key, both webhook secrets, two orders and exceptions in every status."""
    tenant = TenantFactory(slug=slug, timezone="Europe/Berlin", **tenant_fields)
    orders = [make_order(tenant, external_id) for external_id in ("#1001", "A-2/3 x")]
    exceptions = [
        exception_in(status, orders[0], code)
        for status, code in (
            ("OPEN", "PICK_DELAY"),
            ("ACKNOWLEDGED", "PACK_DELAY"),
            ("IN_PROGRESS", "SHIP_DELAY"),
            ("RESOLVED", "ADDRESS_INVALID"),
        )
    ]
    return DemoTenant(
        api_key=api_key_for(tenant),
        shopify_secret=webhook_secret_set(tenant=tenant, kind="shopify").secret,
        standard_secret=webhook_secret_set(tenant=tenant, kind="standard").secret,
        order_ids=tuple(o.external_id for o in orders),
        exception_ids=tuple(e.pk for e in exceptions),
    )


def demo_invoice_build(slug: str = DEMO_SLUG) -> int:
    """A November draft of the tenant's, so invoice cases can reach a real one."""
    tenant = Tenant.objects.get(slug=slug)
    shipped = datetime(2026, 11, 3, 10, tzinfo=UTC)
    order_with(tenant, "#inv-1", [("pick_completed", shipped), ("pack_completed", shipped)])
    return invoice_refresh(tenant=tenant, period=shipped.date()).invoice.pk


@pytest.fixture
def demo(db, _connection_kept_across_requests: None) -> DemoTenant:
    """A tenant with a key, both webhook secrets, an order and exceptions in every status."""
    return demo_tenant_build()


@pytest.fixture
def demo_invoice(demo: DemoTenant) -> int:
    """A November draft of the demo tenant's, so invoice cases can reach a real one."""
    return demo_invoice_build()


@pytest.fixture
def tenant_build(db):
    """`demo_tenant_build`, for a test that needs a second tenant (another slug)."""
    return demo_tenant_build
