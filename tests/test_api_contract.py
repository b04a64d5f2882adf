"""The OpenAPI schema tells the truth: Schemathesis against /api/schema/, in process.

Every operation gets Schemathesis' coverage phase plus 30 Hypothesis examples
(positive and negative data; the long run in `make proof` has thousands), checked with
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

from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from e2a_project.wsgi import application
from orders.models import Tenant
from orders.scopes import ApiKeyScope

from .contract import CHECKS, DEMO_SLUG, INGESTION, DemoTenant, served, steer, steer_invoice
from .factories import api_key_for

# The `demo` and `demo_invoice` fixtures, shared with the long hostile-input run.
pytest_plugins = ["tests.contract_fixtures"]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.parametrize()
@settings(
    # 30 per operation here (about 70 s in all), within `make test`'s ten minutes; the
    # long hostile-input run (issue 18's `make proof`) is where thousands per operation
    # belong.
    max_examples=30,
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


def _ingestion(case: schemathesis.Case) -> bool:
    """What a sender's key is for: the event and webhook paths, and every operation
    needing the `ingest` scope wherever it lives (the WMS's storage and receipts)."""
    scope = case.operation.definition.raw.get("x-required-scope")
    return case.path.startswith(INGESTION) or scope == ApiKeyScope.INGEST.value


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
        and served(response.request.url)
    )
    if reaches_operation:
        needed = case.operation.definition.raw["x-required-scope"]
        assert response.status_code == 403, response.text
        body = response.json()
        assert (body["code"], body["required_scope"]) == ("missing_scope", needed)
