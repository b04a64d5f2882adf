"""Scoped API keys: each key may only do what its scopes say (issue 11).

The endpoint table is checked against the URLconf, so an API-key endpoint added
without an entry here (and a declared scope on its view) fails with a plain
message instead of silently escaping the scope tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from orders import selectors
from orders.authentication import ApiClient, ApiKeyAuthentication, HasScope
from orders.models import ApiKey, ApiKeyScopeChange
from orders.scopes import ALL_SCOPES, ApiKeyScope, canonical_scope_strings, parse_scopes
from orders.services.api_keys import api_key_create, api_key_set_scopes, hash_api_key

from .factories import TenantFactory, api_key_for, event_body

INGEST, READ, ACT, AI = ApiKeyScope.INGEST, ApiKeyScope.READ, ApiKeyScope.ACT, ApiKeyScope.AI
FINANCE = ApiKeyScope.FINANCE

# (method, route as the URLconf writes it) → the scope an API key needs.
SCOPE_TABLE: dict[tuple[str, str], ApiKeyScope] = {
    ("POST", "ingest/events"): INGEST,
    ("POST", "ingest/shopify"): INGEST,
    ("POST", "ingest/wms"): INGEST,
    ("POST", "ingest/carrier"): INGEST,
    ("POST", "ingest/v2/events/batch"): INGEST,
    ("GET", "api/orders/<path:external_id>"): READ,
    ("GET", "api/sla/at-risk"): READ,
    ("GET", "api/exceptions"): READ,
    ("GET", "api/exceptions/stats"): READ,
    ("GET", "api/exceptions/<int:exception_id>"): READ,
    ("PATCH", "api/exceptions/<int:exception_id>"): ACT,
    **{
        ("POST", f"api/exceptions/<int:exception_id>/{action}"): ACT
        for action in ("acknowledge", "start", "assign", "snooze", "resolve", "reopen", "close")
    },
    ("POST", "api/exceptions/<int:exception_id>/reanalyze"): AI,
    ("POST", "api/exceptions/<int:exception_id>/approve-action"): ACT,
    ("POST", "api/exceptions/<int:exception_id>/reject-action"): ACT,
    # Invoices: what a merchant is charged is for an accounting system's key, not for
    # every key that may read orders and exceptions.
    ("GET", "api/billing/leaks"): FINANCE,
    ("POST", "api/billing/receipts"): INGEST,
    ("POST", "api/billing/storage"): INGEST,
    ("GET", "api/invoices"): FINANCE,
    ("GET", "api/invoices/<int:invoice_id>"): FINANCE,
    ("GET", "api/invoices/<int:invoice_id>/export.csv"): FINANCE,
    ("GET", "api/invoices/<int:invoice_id>/print"): FINANCE,
}
HANDLED_METHODS = ("get", "post", "put", "patch", "delete")
# Key scope sets tried against every endpoint: each scope alone, and all of them.
KEY_SCOPES = [(scope,) for scope in ApiKeyScope] + [ALL_SCOPES]


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def api_key_endpoints() -> dict[tuple[str, str], type[APIView]]:
    """Every (method, route) of a DRF view that API keys authenticate, from the URLconf."""
    found = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "cls", None)
        if view_class is None or not issubclass(view_class, APIView):
            continue
        authenticators = [type(a) for a in view_class().get_authenticators()]
        if ApiKeyAuthentication not in authenticators:
            continue
        for method in HANDLED_METHODS:
            if hasattr(view_class, method):
                found[(method.upper(), route)] = view_class
    return found


def url_for(route: str) -> str:
    """A concrete URL for a route: path parameters become values no tenant has."""
    return "/" + re.sub(
        r"<(\w+):(\w+)>", lambda m: "999999" if m.group(1) == "int" else "no-such-id", route
    )


def test_every_api_key_endpoint_in_the_urlconf_is_in_the_scope_table():
    discovered = set(api_key_endpoints())
    missing = sorted(discovered - set(SCOPE_TABLE))
    assert not missing, f"add these endpoints (and their scope) to SCOPE_TABLE: {missing}"
    assert not sorted(set(SCOPE_TABLE) - discovered), "SCOPE_TABLE names gone endpoints"


def test_every_api_key_endpoint_declares_the_scope_of_the_table():
    for (method, route), view_class in api_key_endpoints().items():
        declared = getattr(view_class, "required_scopes", {}).get(method)
        assert declared == SCOPE_TABLE[(method, route)], f"{method} /{route}"


@pytest.mark.django_db
@pytest.mark.parametrize("key_scopes", KEY_SCOPES, ids=lambda s: "+".join(s))
@pytest.mark.parametrize(
    ("method", "route"), sorted(SCOPE_TABLE), ids=[f"{m} /{r}" for m, r in sorted(SCOPE_TABLE)]
)
def test_a_key_reaches_an_endpoint_only_with_its_scope(client, method, route, key_scopes):
    raw = api_key_for(TenantFactory(slug="acme"), scopes=key_scopes)
    needed = SCOPE_TABLE[(method, route)]

    response = client.generic(
        method,
        url_for(route),
        data="{}" if method != "GET" else "",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )

    body = response.json()
    if needed in key_scopes:
        # Past the door: whatever the endpoint answers (400 for the empty body,
        # 404 for the id no tenant has, 200), it is not the scope refusal.
        assert body.get("code") != "missing_scope", body
        assert response.status_code != 403, body
    else:
        assert response.status_code == 403, body
        assert body == {
            "detail": f"This API key lacks the '{needed}' scope.",
            "code": "missing_scope",
            "required_scope": str(needed),
        }


@pytest.mark.django_db
def test_a_staff_session_is_not_judged_by_scopes(admin_client):
    """Scopes are for keys; an operator's session works exceptions as before."""
    TenantFactory(slug="acme")
    response = admin_client.get("/api/exceptions", HTTP_X_TENANT_ID="acme")
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_signed_webhooks_need_no_key_and_no_scope(client):
    """They authenticate by signature: an ingest-only bearer header changes nothing."""
    tenant = TenantFactory(slug="acme")
    raw = api_key_for(tenant, scopes=[READ])
    response = client.post(
        "/webhooks/standard/acme",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 401  # unsigned, as without the header
    assert response.json()["code"] != "missing_scope"


@pytest.mark.django_db
def test_the_scope_check_costs_no_query():
    """Ingestion is the hot path: the key authentication loaded is all the check reads."""
    issued = api_key_create(tenant=TenantFactory(), scopes=[INGEST])
    key = ApiKey.objects.select_related("tenant").get(pk=issued.api_key.pk)
    request = APIRequestFactory().post("/ingest/events")
    request.user = ApiClient(tenant=key.tenant, api_key=key)
    view = type("View", (), {"required_scopes": {"POST": INGEST}, "post": object})()

    with CaptureQueriesContext(connection) as queries:
        assert HasScope().has_permission(request, view) is True
    assert len(queries) == 0


@pytest.mark.django_db
def test_a_scope_change_reaches_cached_keys_within_the_cache_time(client, settings, monkeypatch):
    """Another web process's change: this one keeps its cached key at most the cache time."""
    settings.API_KEY_CACHE_SECONDS = 10
    raw = api_key_for(TenantFactory(slug="acme"), scopes=[INGEST, READ])
    clock = [1000.0]
    monkeypatch.setattr(selectors.time, "monotonic", lambda: clock[0])

    def at_risk() -> int:
        return client.get("/api/sla/at-risk", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code

    assert at_risk() == 200  # now cached
    # As another process would: the row changes, this process's cache does not know.
    ApiKey.objects.filter(key_hash=hash_api_key(raw)).update(scopes="ingest")
    clock[0] += 5
    assert at_risk() == 200
    clock[0] += 6
    assert at_risk() == 403


@pytest.mark.django_db
def test_a_scope_change_in_this_process_applies_at_once(client, settings):
    settings.API_KEY_CACHE_SECONDS = 3600
    issued = api_key_create(tenant=TenantFactory(slug="acme"), scopes=ALL_SCOPES)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.raw}"}
    assert client.get("/api/exceptions", **auth).status_code == 200

    assert api_key_set_scopes(api_key=issued.api_key, scopes=[INGEST]) is True

    assert client.get("/api/exceptions", **auth).json()["required_scope"] == "read"
    assert api_key_set_scopes(api_key=issued.api_key, scopes=[INGEST]) is False


# The stored scopes


def test_scopes_parse_to_the_canonical_order_and_refuse_unknown_names():
    assert parse_scopes(["act", " READ", "ingest", "act"]) == (INGEST, READ, ACT)
    with pytest.raises(ValueError, match=r"'admin'.*ingest, read, act"):
        parse_scopes(["read", "admin"])
    with pytest.raises(ValueError, match="at least one"):
        parse_scopes(["", " "])


@pytest.mark.django_db
@pytest.mark.parametrize("stored", ["", "read ingest", "ingest ingest", "admin", "ingest,read"])
def test_the_database_refuses_scopes_that_are_not_a_canonical_known_set(stored):
    issued = api_key_create(tenant=TenantFactory())
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.filter(pk=issued.api_key.pk).update(scopes=stored)


def test_the_database_accepts_every_non_empty_set():
    assert len(canonical_scope_strings()) == 2 ** len(ApiKeyScope) - 1
    assert "ingest read act" in canonical_scope_strings()


# A long run (make proof): going back to orders 0007 unapplies every later migration of
# every app and applies them again, ~22 s, the slowest test make test had.
@pytest.mark.proof
@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_keys_what_they_could_do_before():
    executor = MigrationExecutor(connection)
    before = [("orders", "0007_staff_roles_and_memberships")]
    after = [("orders", "0008_api_key_scopes")]
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        tenant = apps.get_model("orders", "Tenant").objects.create(slug="old", name="Old")
        apps.get_model("orders", "ApiKey").objects.create(
            tenant=tenant, prefix="e2a_old", key_hash="0" * 64
        )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        apps = executor.loader.project_state(after).apps
        HistoricalKey = apps.get_model("orders", "ApiKey")
        assert HistoricalKey.objects.get(prefix="e2a_old").scopes == "ingest read act"
        fresh = HistoricalKey.objects.create(
            tenant_id=tenant.pk, prefix="e2a_new", key_hash="1" * 64
        )
        assert fresh.scopes == "ingest"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


# create_api_key --scopes


def _create_key(*args: str) -> str:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_create_api_key_defaults_to_ingest_only(client):
    TenantFactory(slug="acme")
    output = _create_key("acme")
    raw = next(word for word in output.split() if word.startswith("e2a_"))

    assert ApiKey.objects.get().scopes == "ingest"
    assert "scopes ingest" in output
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    posted = client.post("/ingest/events", event_body(), content_type="application/json", **auth)
    assert posted.status_code == 202
    assert client.get("/api/exceptions", **auth).status_code == 403


@pytest.mark.django_db
def test_create_api_key_with_scopes():
    TenantFactory(slug="acme")
    _create_key("acme", "--scopes", "read, ingest")
    key = ApiKey.objects.get()
    assert key.scopes == "ingest read"
    change = ApiKeyScopeChange.objects.get()
    assert (change.before, change.after, change.changed_by) == ("", "ingest read", None)


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", ["ingest,admin", ",", "write"])
def test_create_api_key_refuses_an_unknown_scope_naming_the_known_ones(scopes):
    TenantFactory(slug="acme")
    with pytest.raises(CommandError, match=r"--scopes: .*ingest, read, act"):
        _create_key("acme", "--scopes", scopes)
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_bootstrap_demo_key_has_every_scope():
    out = StringIO()
    call_command("bootstrap_demo", stdout=out)
    assert ApiKey.objects.get(tenant__slug="demo-3pl").scopes == "ingest read act ai finance"


# The admin


@pytest.mark.django_db
def test_the_admin_edits_scopes_with_checkboxes_and_audits_the_change(admin_client, admin_user):
    issued = api_key_create(tenant=TenantFactory(slug="acme"), name="WMS", scopes=ALL_SCOPES)
    url = reverse("admin:orders_apikey_change", args=[issued.api_key.pk])
    page = admin_client.get(url).content.decode()
    for scope in ApiKeyScope:
        assert re.search(rf'type="checkbox" name="scopes" value="{scope}"[^>]*checked', page)

    response = admin_client.post(
        url,
        {
            "name": "WMS sender",
            "scopes": ["ingest"],
            "scope_changes-TOTAL_FORMS": "1",
            "scope_changes-INITIAL_FORMS": "1",
            "scope_changes-MIN_NUM_FORMS": "0",
            "scope_changes-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    key = ApiKey.objects.get()
    assert (key.name, key.scopes) == ("WMS sender", "ingest")
    latest = key.scope_changes.first()
    assert (latest.before, latest.after) == ("ingest read act ai finance", "ingest")
    assert (latest.changed_by, latest.changed_by_name) == (admin_user, admin_user.username)
    # The audit is on the key's page: who, before → after.
    page = admin_client.get(url).content.decode()
    assert "ingest read act" in page and admin_user.username in page
    # And the key is refused at once outside its new scope.
    refused = Client().get("/api/exceptions", HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    assert refused.json()["required_scope"] == "read"


@pytest.mark.django_db
def test_the_admin_refuses_a_key_without_scopes(admin_client):
    tenant = TenantFactory(slug="acme")
    response = admin_client.post(
        reverse("admin:orders_apikey_add"), {"tenant": tenant.pk, "name": "x", "scopes": []}
    )
    assert response.status_code == 200  # the form again, with the error
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_the_admin_list_shows_scopes(admin_client):
    api_key_create(tenant=TenantFactory(slug="acme"), scopes=[INGEST, ACT])
    page = admin_client.get(reverse("admin:orders_apikey_changelist")).content.decode()
    assert "ingest act" in page


@pytest.mark.django_db
def test_head_and_options_need_a_scope_of_the_view_too(client):
    """Outside its scopes a key sees only 403, even for what only describes a view."""
    tenant = TenantFactory(slug="acme")
    ingest_only = {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(tenant, scopes=[INGEST])}"}
    reader = {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(tenant, scopes=[READ])}"}

    assert client.head("/api/sla/at-risk", **ingest_only).status_code == 403
    assert client.head("/api/sla/at-risk", **reader).status_code == 200
    refused = client.options("/api/exceptions/1", **ingest_only)
    assert refused.json()["required_scope"] == "read"
    assert client.options("/api/exceptions/1", **reader).status_code == 200
    assert client.options("/ingest/events", **ingest_only).status_code == 200
