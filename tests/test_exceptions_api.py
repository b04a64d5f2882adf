"""The exceptions API: list, detail, every lifecycle action, bad input, who may call it.

Session callers use Django's test client, which skips CSRF checks unless asked
(`Client(enforce_csrf_checks=True)`); one test asks, to show the API keeps them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from exceptions.actors import Actor
from exceptions.models import ExceptionActivity, ExceptionBreach, OrderException
from exceptions.services import lifecycle
from exceptions.services.raising import Finding, exception_raise
from orders.models import Order, Tenant
from orders.services.staff import staff_user_save
from slas.models import Breach

from .factories import TenantFactory, api_key_for
from .sla_helpers import at, send

SYSTEM = Actor.system("test")
NOW = "2026-06-03T12:00:00Z"


# ---------------------------------------------------------------------------- helpers


class Caller:
    """Speaks JSON to the API as one caller: an API key, or the session already on `client`.

    Unlike the conftest client it also PATCHes, and sends `X-Tenant-Id` when given.
    """

    def __init__(self, client: Client, *, key: str | None = None, tenant: str | None = None):
        self.client = client
        self.key = key
        self.tenant = tenant

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = dict(extra)
        if self.key:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        if self.tenant is not None:
            headers["HTTP_X_TENANT_ID"] = self.tenant
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str):
        return self.client.get(path, params or {}, **self._headers(headers))

    def post(self, path: str, body: Any = None, *, raw: str | None = None, **headers: str):
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(
            path, data=data, content_type="application/json", **self._headers(headers)
        )

    def patch(self, path: str, body: Any = None, *, raw: str | None = None, **headers: str):
        data = raw if raw is not None else json.dumps(body)
        return self.client.patch(
            path, data=data, content_type="application/json", **self._headers(headers)
        )


def operator(username: str = "alice", *, staff: bool = True):
    return get_user_model().objects.create_user(username=username, password="pw", is_staff=staff)


def raised(
    tenant: Tenant,
    external_id: str = "#1001",
    code: str = "PICK_DELAY",
    *,
    now: datetime | None = None,
    severity: str | None = None,
) -> OrderException:
    """An OPEN exception on the tenant's order (created if needed), opened at `now`."""
    order, _ = Order.objects.get_or_create(
        tenant=tenant, external_id=external_id, defaults={"source": "shopify"}
    )
    finding = Finding(
        code, {"allowed_minutes": 120}, stage="pick", severity=severity, late_minutes=30.0
    )
    return exception_raise(order=order, finding=finding, now=now).exception


def in_status(exception: OrderException, status: str) -> OrderException:
    """Walk an OPEN exception to `status` through the lifecycle services."""
    common = {"exception_id": exception.pk, "actor": SYSTEM}
    if status == "ACKNOWLEDGED":
        lifecycle.exception_acknowledge(**common)
    elif status == "IN_PROGRESS":
        lifecycle.exception_start(**common)
    elif status in ("RESOLVED", "CLOSED"):
        lifecycle.exception_resolve(resolution="fixed by test", **common)
        if status == "CLOSED":
            lifecycle.exception_close(**common)
    exception.refresh_from_db()
    assert exception.status == status
    return exception


def errors_of(response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == "invalid"
    return body["errors"]


@pytest.fixture
def clock():
    with time_machine.travel(at(NOW), tick=False) as traveller:
        yield traveller


@pytest.fixture
def caller(client, api_key) -> Caller:
    return Caller(client, key=api_key)


@pytest.fixture
def alice(tenant):
    """An Operator of acme (the role that may act), as the console's staff are."""
    user = operator("alice")
    staff_user_save(username="alice", role="operator", tenant_slugs=[tenant.slug])
    return user


def url(exception: OrderException | int, action: str = "") -> str:
    pk = exception if isinstance(exception, int) else exception.pk
    return f"/api/exceptions/{pk}" + (f"/{action}" if action else "")


# ------------------------------------------------------------------------------ list


@pytest.mark.django_db
def test_list_is_newest_first_and_renders_what_an_operator_needs(caller, tenant, alice, clock):
    old = raised(tenant, "#1", now=at("2026-06-03T08:00:00Z"))
    new = raised(tenant, "#2", "PACK_DELAY", now=at("2026-06-03T11:00:00Z"))
    lifecycle.exception_assign(exception_id=new.pk, assignee_id=alice.pk, actor=SYSTEM)

    response = caller.get("/api/exceptions")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next"] is None
    assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
    row = body["results"][0]
    assert row["order_id"] == "#2" and row["reason_code"] == "PACK_DELAY"
    assert row["label"] and row["status"] == "OPEN" and row["assignee"] == "alice"
    assert row["dedup_key"] == f"{tenant.pk}:{new.order_id}:PACK_DELAY"
    assert row["first_seen_at"] == "2026-06-03T11:00:00Z"
    assert row["allowed_actions"][:3] == ["acknowledge", "start", "resolve"]
    assert body["results"][1]["assignee"] is None


@pytest.mark.django_db
def test_list_filters_combine(caller, tenant, alice, clock):
    picks = raised(tenant, "#1", now=at("2026-06-03T08:00:00Z"), severity="HIGH")
    packs = raised(tenant, "#1", "PACK_DELAY", now=at("2026-06-03T11:30:00Z"))
    other_order = raised(tenant, "#2", now=at("2026-06-03T11:50:00Z"), severity="CRITICAL")
    in_status(packs, "RESOLVED")
    lifecycle.exception_assign(exception_id=picks.pk, assignee_id=alice.pk, actor=SYSTEM)

    def ids(**params: str) -> list[int]:
        response = caller.get("/api/exceptions", params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids(status="RESOLVED") == [packs.pk]
    assert ids(status="open,resolved") == [other_order.pk, packs.pk, picks.pk]
    assert ids(severity="HIGH,CRITICAL") == [other_order.pk, picks.pk]
    assert ids(reason_code="PACK_DELAY") == [packs.pk]
    assert ids(order_id="#1") == [packs.pk, picks.pk]
    assert ids(order_id="#404") == []
    assert ids(assignee="alice") == [picks.pk]
    assert ids(assignee="none") == [other_order.pk, packs.pk]
    assert ids(older_than="1h") == [picks.pk]  # first seen before 11:00
    assert ids(older_than="PT20M") == [packs.pk, picks.pk]
    assert ids(older_than="1d") == []
    assert ids(order_id="#1", status="OPEN", assignee="alice", older_than="2h") == [picks.pk]


@pytest.mark.django_db
def test_list_orders_by_severity_rank_and_pages(caller, tenant, clock):
    low = raised(tenant, "#1", now=at("2026-06-03T11:00:00Z"), severity="LOW")
    critical = raised(tenant, "#2", now=at("2026-06-03T09:00:00Z"), severity="CRITICAL")
    medium = raised(tenant, "#3", now=at("2026-06-03T10:00:00Z"), severity="MEDIUM")

    def ids(**params: Any) -> list[int]:
        return [row["id"] for row in caller.get("/api/exceptions", params).json()["results"]]

    assert ids(ordering="-severity") == [critical.pk, medium.pk, low.pk]
    assert ids(ordering="severity") == [low.pk, medium.pk, critical.pk]
    assert ids(ordering="first_seen_at") == [critical.pk, medium.pk, low.pk]
    first = caller.get("/api/exceptions", {"limit": 2}).json()
    assert [r["id"] for r in first["results"]] == [low.pk, medium.pk] and first["count"] == 3
    second = caller.get(first["next"].split("testserver")[1]).json()
    assert [r["id"] for r in second["results"]] == [critical.pk] and second["next"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "OPEN,LOST"}, "status"),
        ({"severity": "URGENT"}, "severity"),
        ({"reason_code": "NOT_A_CODE"}, "reason_code"),
        ({"assignee": "nobody"}, "assignee"),
        ({"assignee": "me"}, "assignee"),  # an API key is not an operator
        ({"older_than": "soon"}, "older_than"),
        ({"older_than": "30"}, "older_than"),  # no unit
        ({"older_than": "0m"}, "older_than"),
        ({"older_than": "9999999d"}, "older_than"),
        ({"older_than": "P99999999999D"}, "older_than"),
        ({"ordering": "tenant"}, "ordering"),
    ],
)
def test_list_refuses_bad_filters_naming_the_parameter(caller, params, field):
    errors = errors_of(caller.get("/api/exceptions", params))
    assert list(errors) == [field]


@pytest.mark.django_db
def test_list_costs_the_same_few_queries_for_any_page_size(
    caller, tenant, alice, clock, django_assert_max_num_queries
):
    def fill(n: int) -> None:
        for i in range(n):
            e = raised(tenant, f"#n{OrderException.objects.count()}-{i}")
            lifecycle.exception_assign(exception_id=e.pk, assignee_id=alice.pk, actor=SYSTEM)

    fill(2)
    caller.get("/api/exceptions")  # the key's last_used_at write happens once a minute
    with CaptureQueriesContext(connection) as two:
        assert len(caller.get("/api/exceptions").json()["results"]) == 2
    fill(10)
    with django_assert_max_num_queries(len(two)):
        assert len(caller.get("/api/exceptions").json()["results"]) == 12
    # Key lookup, count, page (orders, reasons, assignees joined).
    assert len(two) <= 3


# ---------------------------------------------------------------------------- detail


@pytest.mark.django_db
def test_detail_shows_the_orders_timeline_sla_evidence_breaches_and_activity(api, caller, tenant):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pick_completed", "2026-06-03T12:30:00Z")  # 30 minutes late
    breach = Breach.objects.get(order__external_id="#1001", reason_code="PICK_DELAY")
    with time_machine.travel(at("2026-06-03T12:31:00Z"), tick=False):
        # Detection may already have opened it from the breach; if not, open it here.
        exception = OrderException.objects.filter(
            tenant=tenant, reason_code_id="PICK_DELAY"
        ).first() or raised(tenant)
        ExceptionBreach.objects.get_or_create(
            breach=breach, defaults={"exception": exception, "linked_at": at(NOW)}
        )
    with time_machine.travel(at("2026-06-03T12:40:00Z"), tick=False):
        caller.post(url(exception, "acknowledge"), {"note": "on it"})
    with time_machine.travel(at("2026-06-03T13:00:00Z"), tick=False):
        response = caller.get(url(exception))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == exception.pk and body["status"] == "ACKNOWLEDGED"
    assert body["order"]["order_id"] == "#1001"
    assert [e["event_type"] for e in body["order"]["timeline"]] == ["order_paid", "pick_completed"]
    pick = body["order"]["stages"][0]
    assert (pick["stage"], pick["state"], pick["late_minutes"]) == ("pick", "met_late", 30)
    [linked] = body["breaches"]
    assert linked["reason_code"] == "PICK_DELAY" and linked["late_minutes"] == 30
    actions = [(a["action"], a["actor_type"]) for a in body["activity"]]
    assert actions[0][0] == "opened" and actions[-1] == ("acknowledged", "api_key")
    ack = body["activity"][-1]
    assert ack["note"] == "on it" and ack["from_status"] == "OPEN"
    assert ack["to_status"] == "ACKNOWLEDGED" and ack["actor_label"].startswith("api-key:")
    assert ack["created_at"] == "2026-06-03T12:40:00Z"
    assert body["activity_truncated"] is False


@pytest.mark.django_db
def test_unknown_or_another_tenants_exception_is_not_found(caller, client, tenant):
    theirs = raised(TenantFactory(slug="other"))
    mine = raised(tenant)
    for path in (url(theirs), url(mine.pk + theirs.pk + 100)):
        response = caller.get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        assert caller.post(f"{path}/acknowledge").status_code == 404
        assert caller.patch(path, {"ops_note": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "OPEN" and theirs.ops_note != "x"
    assert not ExceptionActivity.objects.filter(exception=theirs).exclude(action="opened")


@pytest.mark.django_db
def test_another_tenants_key_sees_none_of_this_tenants_exceptions(client, tenant, caller):
    mine = raised(tenant)
    other = Caller(client, key=api_key_for(TenantFactory(slug="other")))
    assert other.get("/api/exceptions").json()["count"] == 0
    assert other.get("/api/exceptions", {"order_id": "#1001"}).json()["results"] == []
    assert other.post(url(mine, "resolve"), {"resolution": "not mine"}).status_code == 404
    assert other.get("/api/exceptions/stats").json()["total"] == 0
    assert caller.get("/api/exceptions").json()["count"] == 1


# ---------------------------------------------------------------------- transitions

# Every API action: the statuses it is allowed from, and the status it leaves.
# (assign, snooze and notes keep the status.)
ALLOWED = {
    "acknowledge": ({"OPEN"}, "ACKNOWLEDGED"),
    "start": ({"OPEN", "ACKNOWLEDGED"}, "IN_PROGRESS"),
    "assign": ({"OPEN", "ACKNOWLEDGED", "IN_PROGRESS"}, None),
    "snooze": ({"OPEN", "ACKNOWLEDGED", "IN_PROGRESS"}, None),
    "resolve": ({"OPEN", "ACKNOWLEDGED", "IN_PROGRESS"}, "RESOLVED"),
    "reopen": ({"RESOLVED"}, "OPEN"),
    "close": ({"RESOLVED"}, "CLOSED"),
    "notes": ({"OPEN", "ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED"}, None),
}
BODIES = {
    "assign": {"assignee": "alice"},
    "snooze": {"minutes": 60},
    "resolve": {"resolution": "Re-picked from the second bin."},
    "notes": {"ops_note": "Bin 4 empty."},
}
STATUSES = ["OPEN", "ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED", "CLOSED"]
# What a refusal names as allowed instead, by status.
ALLOWED_IN = {
    "OPEN": ["acknowledge", "start", "resolve", "assign", "snooze"],
    "ACKNOWLEDGED": ["start", "resolve", "assign", "snooze"],
    "IN_PROGRESS": ["resolve", "assign", "snooze"],
    "RESOLVED": ["reopen", "close"],
    "CLOSED": [],
}


def call(caller: Caller, exception: OrderException, action: str):
    if action == "notes":
        return caller.patch(url(exception), BODIES["notes"])
    return caller.post(url(exception, action), BODIES.get(action))


@pytest.mark.django_db
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(ALLOWED))
def test_every_action_in_every_status(caller, tenant, alice, clock, action, status):
    exception = in_status(raised(tenant), status)
    activity_before = exception.activity.count()
    response = call(caller, exception, action)
    body = response.json()
    allowed_from, target = ALLOWED[action]

    if status in allowed_from:
        assert response.status_code == 200, body
        assert body["status"] == (target or status)
        assert exception.activity.count() == activity_before + 1
        exception.refresh_from_db()
        assert exception.status == (target or status)
        return
    assert response.status_code == 409, body
    assert body["code"] == "transition_refused" and body["status"] == status
    named = [a for a in body["allowed_actions"] if a in {*ALLOWED, "edit_notes"}]
    assert [a for a in named if a != "edit_notes"] == ALLOWED_IN[status]
    assert ("edit_notes" in named) == (status != "CLOSED")
    assert "allowed:" in body["detail"]
    assert exception.activity.count() == activity_before
    exception.refresh_from_db()
    assert exception.status == status


@pytest.mark.django_db
def test_the_full_lifecycle_through_the_api_is_recorded_with_its_actor(caller, tenant, alice):
    exception = raised(tenant, now=at("2026-06-03T10:00:00Z"))
    steps = [
        ("2026-06-03T10:05:00Z", "acknowledge", {"note": "looking"}),
        ("2026-06-03T10:06:00Z", "assign", {"assignee": alice.pk}),
        ("2026-06-03T10:07:00Z", "snooze", {"until": "2026-06-03T12:00:00Z"}),
        ("2026-06-03T10:08:00Z", "start", None),
        ("2026-06-03T10:30:00Z", "resolve", {"resolution": "Picked.", "resolution_code": "FIXED"}),
        ("2026-06-03T10:40:00Z", "reopen", {"note": "still late"}),
        ("2026-06-03T10:50:00Z", "resolve", {"resolution": "Really picked."}),
        ("2026-06-03T11:00:00Z", "close", None),
    ]
    for when, action, body in steps:
        with time_machine.travel(at(when), tick=False):
            response = caller.post(url(exception, action), body)
            assert response.status_code == 200, (action, response.json())

    exception.refresh_from_db()
    assert exception.status == "CLOSED" and exception.assignee == alice
    assert exception.resolution_text == "Really picked." and exception.resolution_code == "FIXED"
    assert exception.closed_at == at("2026-06-03T11:00:00Z")
    rows = list(exception.activity.values_list("action", "actor_type", "note"))
    assert [r[0] for r in rows] == [
        "opened",
        "acknowledged",
        "assigned",
        "snoozed",
        "started",
        "resolved",
        "reopened",
        "resolved",
        "closed",
    ]
    assert all(kind == "api_key" for _, kind, _ in rows[1:])
    assert rows[1][2] == "looking" and rows[6][2] == "still late"


@pytest.mark.django_db
def test_assign_by_username_id_or_null(caller, tenant, alice):
    exception = raised(tenant)
    assert (
        caller.post(url(exception, "assign"), {"assignee": "alice"}).json()["assignee"] == "alice"
    )
    assert caller.post(url(exception, "assign"), {"assignee": None}).json()["assignee"] is None
    assert (
        caller.post(url(exception, "assign"), {"assignee": alice.pk}).json()["assignee"] == "alice"
    )


@pytest.mark.django_db
def test_an_assignee_holding_a_nul_is_a_400(caller, tenant):
    """Found by Schemathesis on PostgreSQL: the lookup of such a username was a 500."""
    response = caller.post(url(raised(tenant), "assign"), {"assignee": "al\u0000ice"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"assignee": ["Null characters are not allowed."]}


@pytest.mark.django_db
def test_snooze_by_minutes_counts_from_now(caller, tenant, clock):
    exception = raised(tenant)
    body = caller.post(url(exception, "snooze"), {"minutes": 90, "note": "lunch"}).json()
    assert body["snoozed_until"] == "2026-06-03T13:30:00Z"
    assert body["next_escalation_at"] >= "2026-06-03T13:30:00Z"


@pytest.mark.django_db
def test_patch_replaces_the_notes_and_marks_them_the_operators(caller, tenant):
    exception = raised(tenant)
    response = caller.patch(url(exception), {"client_note": "Shipping tomorrow."})
    assert response.status_code == 200
    body = response.json()
    assert body["client_note"] == "Shipping tomorrow." and body["ops_note"] == exception.ops_note
    assert body["explanation_source"] == "operator"


# ------------------------------------------------------------------------ bad input


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("assign", {"assignee": "nobody"}, "assignee"),
        ("assign", {"assignee": 987654}, "assignee"),
        ("assign", {"assignee": "bob"}, "assignee"),  # not staff: not an operator
        ("assign", {"assignee": True}, "assignee"),
        ("assign", {}, "assignee"),
        ("snooze", {}, "until"),
        ("snooze", {"until": "2026-06-03T11:00:00Z"}, "until"),  # in the past
        ("snooze", {"until": "2026-08-03T11:00:00Z"}, "until"),  # beyond 30 days
        ("snooze", {"until": "tomorrow"}, "until"),
        ("snooze", {"minutes": 0}, "minutes"),
        ("snooze", {"minutes": 43201}, "minutes"),
        ("snooze", {"minutes": "lots"}, "minutes"),
        ("snooze", {"minutes": 5, "until": "2026-06-03T13:00:00Z"}, "minutes"),
        ("resolve", {}, "resolution"),
        ("resolve", {"resolution": "   "}, "resolution"),
        ("resolve", {"resolution": "ok", "resolution_code": "MAGIC"}, "resolution_code"),
        (
            "resolve",
            {"resolution": "ok", "resolution_code": "CONDITION_CLEARED"},
            "resolution_code",
        ),
        ("acknowledge", {"note": "x" * 2001}, "note"),
        ("notes", {}, "ops_note"),
        ("notes", {"ops_note": 12}, "ops_note"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field_and_change_nothing(
    caller, tenant, clock, action, body, field
):
    operator("bob", staff=False)
    exception = raised(tenant)
    if action == "notes":
        response = caller.patch(url(exception), body)
    else:
        response = caller.post(url(exception, action), body)
    assert field in errors_of(response)
    assert exception.activity.count() == 1  # only "opened"


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
def test_malformed_or_non_object_json_is_a_400(caller, tenant, raw):
    exception = raised(tenant)
    response = caller.post(url(exception, "resolve"), raw=raw)
    assert response.status_code == 400
    assert response.json()["code"] in ("parse_error", "invalid")
    assert caller.patch(url(exception), raw=raw).status_code == 400
    exception.refresh_from_db()
    assert exception.status == "OPEN"


# -------------------------------------------------------------------- who may call


@pytest.mark.django_db
def test_no_credentials_is_401(client, tenant):
    assert Caller(client).get("/api/exceptions").status_code == 401
    assert Caller(client).post(url(raised(tenant), "acknowledge")).status_code == 401


@pytest.mark.django_db
def test_a_key_naming_another_tenant_is_refused(caller, tenant):
    TenantFactory(slug="other")
    assert caller.get("/api/exceptions", HTTP_X_TENANT_ID="acme").status_code == 200
    assert caller.get("/api/exceptions", HTTP_X_TENANT_ID=str(tenant.pk)).status_code == 200
    response = caller.get("/api/exceptions", HTTP_X_TENANT_ID="other")
    assert response.status_code == 403 and response.json()["code"] == "tenant_mismatch"


@pytest.mark.django_db
def test_staff_session_works_for_the_tenant_it_names(client, tenant, alice, clock):
    mine = raised(tenant)
    theirs = raised(TenantFactory(slug="other"))
    client.force_login(alice)
    by_slug = Caller(client, tenant="acme")
    assert [r["id"] for r in by_slug.get("/api/exceptions").json()["results"]] == [mine.pk]
    assert Caller(client, tenant=str(tenant.pk)).get(url(mine)).status_code == 200
    assert by_slug.get(url(theirs)).status_code == 404

    response = by_slug.post(url(mine, "assign"), {"assignee": "alice"})
    assert response.status_code == 200 and response.json()["assignee"] == "alice"
    mine_for_me = by_slug.get("/api/exceptions", {"assignee": "me"}).json()["results"]
    assert [r["id"] for r in mine_for_me] == [mine.pk]
    acked = by_slug.post(url(mine, "acknowledge"))
    assert acked.json()["acknowledged_by"] == "user:alice"
    row = mine.activity.get(action="acknowledged")
    assert (row.actor_type, row.actor_user) == ("user", alice)


@pytest.mark.django_db
def test_staff_session_must_name_a_known_tenant(client, alice, admin_user):
    client.force_login(alice)
    missing = Caller(client).get("/api/exceptions")
    assert "X-Tenant-Id" in errors_of(missing)
    # A member of acme only: an unknown tenant is as closed as another one.
    assert Caller(client, tenant="nope").get("/api/exceptions").status_code == 403
    client.force_login(admin_user)  # a superuser works for every tenant, so may hear 404
    unknown = Caller(client, tenant="nope").get("/api/exceptions")
    assert unknown.status_code == 404
    assert Caller(client, tenant="99999").get("/api/exceptions").status_code == 404


@pytest.mark.django_db
def test_a_non_staff_session_is_forbidden(client, tenant):
    client.force_login(operator("bob", staff=False))
    response = Caller(client, tenant="acme").get("/api/exceptions")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_session_writes_need_the_csrf_token(tenant, alice):
    exception = raised(tenant)
    browser = Client(enforce_csrf_checks=True)
    browser.get("/admin/login/")  # sets the csrftoken cookie, as the console's pages do
    browser.force_login(alice)
    caller = Caller(browser, tenant="acme")
    assert caller.get(url(exception)).status_code == 200  # reads need no token
    refused = caller.post(url(exception, "acknowledge"))
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]

    token = browser.cookies["csrftoken"].value
    accepted = caller.post(url(exception, "acknowledge"), HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200


# --------------------------------------------------------------------------- schema


def test_the_openapi_schema_documents_the_exceptions_api(client):
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/json").content)
    paths = schema["paths"]
    assert {"get"} <= set(paths["/api/exceptions"]) and "patch" in paths[
        "/api/exceptions/{exception_id}"
    ]
    for action in ("acknowledge", "start", "assign", "snooze", "resolve", "reopen", "close"):
        operation = paths[f"/api/exceptions/{{exception_id}}/{action}"]["post"]
        assert "409" in operation["responses"]
    names = {p["name"] for p in paths["/api/exceptions"]["get"]["parameters"]}
    assert {"status", "severity", "reason_code", "order_id", "assignee", "older_than"} <= names
    assert "/api/exceptions/stats" in paths
