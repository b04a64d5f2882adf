"""The OpenAPI schema tells the truth: Schemathesis against /api/schema/, in process.

Every operation gets at least 100 generated cases (Hypothesis' fuzzing phase,
positive and negative data) plus Schemathesis' coverage phase, checked with
exactly the five checks the contract names, with a key that has every scope.
A second, shorter run calls with an ingest-only key (a sender's): outside
ingestion it must see only the 403 that names the missing scope.
`positive_data_acceptance` is left out: the API rightly refuses some
schema-valid bodies (an `occurred_at` in the future, a tenant claim that is not
the key's). Hypothesis is derandomized and
keeps no example database, so CI runs the same cases every time.

Each operation is its own test (`test_api_contract[POST /ingest/events]`) with
its own demo tenant inside pytest-django's per-test transaction, so it works
the same on SQLite and PostgreSQL and leaves nothing behind. `make schema-check`
runs this file alone.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.services import invoice_refresh
from e2a_project.wsgi import application
from orders.models import Tenant
from orders.scopes import ApiKeyScope
from orders.services.tenants import webhook_secret_set

from .billing_helpers import order_with
from .contract import DEMO_SLUG, DemoTenant, steer
from .exception_helpers import exception_in, make_order
from .factories import TenantFactory, api_key_for

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


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


@pytest.fixture
def demo(db, _connection_kept_across_requests: None) -> DemoTenant:
    """A tenant with a key, both webhook secrets, an order and exceptions in every status."""
    tenant = TenantFactory(slug=DEMO_SLUG, timezone="Europe/Berlin")
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


@pytest.fixture
def demo_invoice(demo: DemoTenant) -> int:
    """A November draft of the demo tenant's, so invoice cases can reach a real one."""
    tenant = Tenant.objects.get(slug=DEMO_SLUG)
    shipped = datetime(2026, 11, 3, 10, tzinfo=UTC)
    order_with(tenant, "#inv-1", [("pick_completed", shipped), ("pack_completed", shipped)])
    return invoice_refresh(tenant=tenant, period=shipped.date()).invoice.pk


def steer_invoice(case: schemathesis.Case, invoice_id: int) -> None:
    """Name the demo invoice in about half the cases with an `invoice_id` (the same ones
    every run: a CRC of the generated value); `steer` knows the other records."""
    params = case.path_parameters or {}
    if "invoice_id" in params and zlib.crc32(repr(params["invoice_id"]).encode()) % 2 == 0:
        params["invoice_id"] = invoice_id


@schema.parametrize()
@settings(
    # 50 per operation here, within `make test`'s ten minutes; the long hostile-input
    # run (issue 18's `make proof`) is where thousands per operation belong.
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    # One demo tenant per operation serves all of its examples; generated bodies
    # are large and many are filtered, which is what the run is for.
    suppress_health_check=list(HealthCheck),
)
def test_api_contract(case: schemathesis.Case, demo: DemoTenant, demo_invoice: int) -> None:
    steer_invoice(case, demo_invoice)
    case.call_and_validate(checks=CHECKS, **steer(case, demo))


@pytest.fixture
def ingest_only(demo: DemoTenant) -> DemoTenant:
    """The demo tenant, called with a key that may only ingest (a sender's key)."""
    tenant = Tenant.objects.get(slug=DEMO_SLUG)
    return replace(demo, api_key=api_key_for(tenant, scopes=[ApiKeyScope.INGEST]))


INGESTION = ("/ingest/", "/webhooks/")


def _ingestion(case: schemathesis.Case) -> bool:
    """What a sender's key is for: the event and webhook paths, and every operation
    needing the `ingest` scope wherever it lives (the WMS's storage and receipts)."""
    scope = case.operation.definition.raw.get("x-required-scope")
    return case.path.startswith(INGESTION) or scope == ApiKeyScope.INGEST.value


def _served(url: str) -> bool:
    """Whether the URLconf routes this URL to a view (else the router's 404 answers first)."""
    try:
        resolve(unquote(urlsplit(url).path))
    except Resolver404:
        return False
    return True


@schema.parametrize()
@settings(
    # The full run above covers every answer; this one shows the scope boundary,
    # so fewer examples keep `make schema-check` quick.
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_contract_with_an_ingest_only_key(
    case: schemathesis.Case, ingest_only: DemoTenant
) -> None:
    """A sender's key: ingestion as above; outside it, only the 403 naming the scope.

    Outside ingestion nothing succeeds, and every request that carries the key
    and reaches an operation (its method, a path the router serves) gets 403
    `missing_scope` naming the operation's `x-required-scope`. What is refused
    before any view runs (the router's 404, a case that drops the key: 401, a
    method the operation lacks: 405) is judged by the schema checks alone.
    """
    response = case.call_and_validate(checks=CHECKS, **steer(case, ingest_only))
    if _ingestion(case):
        return
    assert not 200 <= response.status_code < 300, response.text
    reaches_operation = (
        case.method.upper() == case.operation.method.upper()
        and response.request.headers.get("Authorization") == f"Bearer {ingest_only.api_key}"
        and _served(response.request.url)
    )
    if reaches_operation:
        needed = case.operation.definition.raw["x-required-scope"]
        assert response.status_code == 403, response.text
        body = response.json()
        assert (body["code"], body["required_scope"]) == ("missing_scope", needed)
