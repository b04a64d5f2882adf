"""The OpenAPI schema tells the truth: Schemathesis against /api/schema/, in process.

Every operation gets at least 100 generated cases (Hypothesis' fuzzing phase,
positive and negative data) plus Schemathesis' coverage phase, checked with
exactly the five checks the contract names. `positive_data_acceptance` is left
out: the API rightly refuses some schema-valid bodies (an `occurred_at` in the
future, a tenant claim that is not the key's). Hypothesis is derandomized and
keeps no example database, so CI runs the same cases every time.

Each operation is its own test (`test_api_contract[POST /ingest/events]`) with
its own demo tenant inside pytest-django's per-test transaction, so it works
the same on SQLite and PostgreSQL and leaves nothing behind. `make schema-check`
runs this file alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from e2a_project.wsgi import application
from orders.services.tenants import webhook_secret_set

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


@schema.parametrize()
@settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    # One demo tenant per operation serves all of its examples; generated bodies
    # are large and many are filtered, which is what the run is for.
    suppress_health_check=list(HealthCheck),
)
def test_api_contract(case: schemathesis.Case, demo: DemoTenant) -> None:
    case.call_and_validate(checks=CHECKS, **steer(case, demo))
