"""The operator console for exceptions: cheap lists, actions through the services."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exceptions.models import ExceptionActivity, ExceptionStatus, OrderException, ReasonCode

from .exception_helpers import actions_of, make_order, raise_exception
from .factories import TenantFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:exceptions_orderexception_changelist")


def populate(n: int, start: int = 0) -> list[OrderException]:
    made = []
    for i in range(start, start + n):
        order = make_order(TenantFactory(slug=f"merchant-{i}"), f"#{1000 + i}")
        made.append(raise_exception(order, "PICK_DELAY", late_minutes=10.0 + i))
    return made


def test_the_list_costs_the_same_queries_for_many_rows(admin_client, django_assert_max_num_queries):
    populate(3)
    admin_client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as few:
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200 and "merchant-0" in response.content.decode()
    populate(15, start=3)
    with django_assert_max_num_queries(len(few)):
        assert admin_client.get(CHANGELIST).status_code == 200


def test_the_detail_page_shows_activity_and_what_is_allowed(admin_client):
    [exc] = populate(1)
    page = admin_client.get(reverse("admin:exceptions_orderexception_change", args=[exc.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "opened" in body and "acknowledge, start, resolve" in body


def test_the_detail_page_is_titled_by_the_order_number_not_a_database_id(admin_client):
    """The heading and breadcrumb said "PICK_DELAY on 1 (OPEN)": 1 was the order's row id."""
    make_order(TenantFactory(slug="filler"), "#1")  # so the order's id and number differ
    order = make_order(TenantFactory(slug="acme"), "#1001")
    exc = raise_exception(order, "PICK_DELAY", late_minutes=45.0)
    page = admin_client.get(reverse("admin:exceptions_orderexception_change", args=[exc.pk]))
    body = page.content.decode()
    title = "PICK_DELAY on acme #1001 (Open)"
    assert f"<h2>{title}</h2>" in body
    assert body.count(title) >= 3  # <title>, breadcrumb, heading
    assert f"on {order.pk} (" not in body


def test_the_order_page_lists_its_exceptions_by_name_without_a_query_each(
    admin_client, django_assert_max_num_queries
):
    order = make_order(TenantFactory(slug="acme"), "#1001")
    url = reverse("admin:orders_order_change", args=[order.pk])
    raise_exception(order, "PICK_DELAY")
    with CaptureQueriesContext(connection) as one:
        assert "PICK_DELAY on acme #1001 (Open)" in admin_client.get(url).content.decode()
    for code in ("ADDRESS_INVALID", "PAYMENT_FAILED", "CARRIER_ISSUE"):
        raise_exception(order, code)
    with django_assert_max_num_queries(len(one)):
        assert admin_client.get(url).status_code == 200


def test_acknowledge_action_acts_as_the_operator(admin_client, admin_user):
    [exc] = populate(1)
    response = admin_client.post(
        CHANGELIST, {"action": "acknowledge", "_selected_action": [exc.pk]}
    )
    assert response.status_code == 302
    exc.refresh_from_db()
    assert exc.status == ExceptionStatus.ACKNOWLEDGED
    assert exc.acknowledged_by == f"user:{admin_user.username}"
    row = ExceptionActivity.objects.get(exception=exc, action="acknowledged")
    assert (row.actor_type, row.actor_user) == ("user", admin_user)


def test_a_refused_action_is_reported_not_applied(admin_client):
    [exc] = populate(1)
    response = admin_client.post(
        CHANGELIST, {"action": "reopen", "_selected_action": [exc.pk]}, follow=True
    )
    assert "Cannot reopen an exception that is OPEN" in response.content.decode()
    assert actions_of(exc) == ["opened"]


def test_resolve_asks_for_the_resolution_first(admin_client):
    [exc] = populate(1)
    form = admin_client.post(CHANGELIST, {"action": "resolve", "_selected_action": [exc.pk]})
    assert form.status_code == 200 and "resolution_code" in form.content.decode()
    done = admin_client.post(
        CHANGELIST,
        {
            "action": "resolve",
            "_selected_action": [exc.pk],
            "apply": "1",
            "resolution": "Re-picked from overflow.",
            "resolution_code": "FIXED",
        },
    )
    assert done.status_code == 302
    exc.refresh_from_db()
    assert (exc.status, exc.resolution_text) == ("RESOLVED", "Re-picked from overflow.")


INLINES = (
    "action_runs",
    "activity",
    "explanations",
    "action_choices",
    "breach_links",
    "notifications",
)


def test_editing_notes_in_the_form_goes_through_the_service(admin_client, admin_user):
    [exc] = populate(1)
    url = reverse("admin:exceptions_orderexception_change", args=[exc.pk])
    response = admin_client.post(
        url,
        {
            "assignee": admin_user.pk,
            "ops_note": "Stock is in overflow bay 3.",
            "client_note": exc.client_note,
            **{f"{p}-TOTAL_FORMS": "0" for p in INLINES},
            **{f"{p}-INITIAL_FORMS": "0" for p in INLINES},
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    exc.refresh_from_db()
    assert exc.ops_note == "Stock is in overflow bay 3." and exc.explanation_source == "operator"
    assert exc.assignee == admin_user
    assert actions_of(exc) == ["opened", "assigned", "notes_changed"]


def test_the_catalogue_refuses_a_broken_template(admin_client):
    url = reverse("admin:exceptions_reasoncode_change", args=["PICK_DELAY"])
    code = ReasonCode.objects.get(pk="PICK_DELAY")
    data = {
        "label": code.label,
        "description": code.description,
        "active": "on",
        "default_severity": "MEDIUM",
        "escalation_hours": "4",
        "resolve_hours": "8",
        "typical_causes": "[]",
        "recommended_actions": "[]",
        "ops_note_template": "{% if order.external_id %}unclosed",
        "client_note_template": code.client_note_template,
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Line 1" in response.content.decode()
    code.refresh_from_db()
    assert "unclosed" not in code.ops_note_template
