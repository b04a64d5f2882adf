"""The triage list an operator works from, its bulk actions and the exception page."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exceptions.models import (
    ActionKind,
    ActionRun,
    ExceptionActivity,
    ExceptionStatus,
    Explanation,
    ExplanationTrigger,
    OrderException,
    RunStatus,
)
from exceptions.services.explanations import Analysis, exception_explain
from exceptions.services.lifecycle import InvalidChange, exception_update_notes
from orders.roles import OPERATOR, VIEWER
from orders.services.staff import staff_user_save
from slas.models import BusinessCalendar, WorkingHours

from .exception_helpers import OPERATOR as SYSTEM_OPERATOR
from .exception_helpers import exception_in, make_order, raise_exception
from .factories import TenantFactory
from .sla_helpers import at, send

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:exceptions_orderexception_changelist")


def change_url(exception: OrderException) -> str:
    return reverse("admin:exceptions_orderexception_change", args=[exception.pk])


def logged_in(role: str, *slugs: str, username: str = "olga") -> tuple[Client, object]:
    user = staff_user_save(username=username, role=role, tenant_slugs=list(slugs)).user
    client = Client()
    client.force_login(user)
    return client, user


def listed(client: Client, **params: str) -> list[int]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200, response.content[:500]
    return [row.pk for row in response.context["cl"].result_list]


def opened(tenant, number: int, code: str = "PICK_DELAY", **finding) -> OrderException:
    finding.setdefault("evidence", {"allowed_minutes": 120})
    return raise_exception(make_order(tenant, f"#{number}"), code, **finding)


@pytest.fixture
def acme():
    return TenantFactory(slug="acme", timezone="Europe/Berlin")


# --- the list ---------------------------------------------------------------------------


def test_the_most_urgent_row_comes_first_severity_then_lateness_then_age(acme):
    client, _ = logged_in(OPERATOR, "acme")
    now = timezone.now()
    old_high = opened(
        acme, 1, severity="HIGH", late_minutes=30, detected_at=now - timedelta(hours=5)
    )
    very_late_high = opened(acme, 2, severity="HIGH", late_minutes=300)
    critical = opened(acme, 3, severity="CRITICAL", late_minutes=5)
    young_high = opened(
        acme, 4, severity="HIGH", late_minutes=30, detected_at=now - timedelta(hours=1)
    )
    unmeasured_high = opened(acme, 5, "ADDRESS_INVALID", severity="HIGH", evidence={})
    low = opened(acme, 6, severity="LOW", late_minutes=900)
    assert listed(client) == [
        critical.pk,
        very_late_high.pk,
        old_high.pk,  # as late as the next, but waiting longer
        young_high.pk,
        unmeasured_high.pk,  # no lateness to weigh: after those that have one
        low.pk,
    ]


def test_the_list_shows_what_needs_action_unless_asked_for_more(acme):
    client, _ = logged_in(OPERATOR, "acme")
    open_ = exception_in(ExceptionStatus.OPEN, make_order(acme, "#1"))
    acked = exception_in(ExceptionStatus.ACKNOWLEDGED, make_order(acme, "#2"))
    resolved = exception_in(ExceptionStatus.RESOLVED, make_order(acme, "#3"))
    closed = exception_in(ExceptionStatus.CLOSED, make_order(acme, "#4"))
    assert set(listed(client)) == {open_.pk, acked.pk}
    assert set(listed(client, status="RESOLVED")) == {resolved.pk}
    assert set(listed(client, status="all")) == {open_.pk, acked.pk, resolved.pk, closed.pk}
    assert listed(client, status="nonsense") == []
    body = client.get(CHANGELIST).content.decode()
    assert "Needs action (open, acknowledged, in progress)" in body


def test_the_cells_say_severity_age_lateness_against_allowance_and_who_wrote_the_notes(acme):
    client, _ = logged_in(OPERATOR, "acme")
    with time_machine.travel(at("2026-06-03T08:00:00Z"), tick=False):
        opened(
            acme,
            1,
            severity="HIGH",
            stage="pick",
            late_minutes=80,
            evidence={"allowed_minutes": 120},
        )
    with time_machine.travel(at("2026-06-03T11:12:00Z"), tick=False):
        body = client.get(CHANGELIST).content.decode()
    assert 'class="e2a-badge e2a-sev-high">High</span>' in body
    assert "3 h 12 min" in body  # age
    assert "1 h 20 min" in body and "+67 %" in body  # 80 of 120 allowed minutes
    assert 'e2a-src-rules">rules</span>' in body
    assert '>PICK_DELAY</span> <span class="e2a-quiet">· pick</span>' in body


def test_filters_by_severity_reason_stage_age_assignee_snooze_and_source(acme):
    client, user = logged_in(OPERATOR, "acme")
    now = timezone.now()
    fresh = opened(acme, 1, severity="HIGH", stage="pick", detected_at=now - timedelta(minutes=20))
    day_old = opened(
        acme, 2, "ADDRESS_INVALID", severity="LOW", detected_at=now - timedelta(hours=30)
    )
    three_h = opened(acme, 3, "PACK_DELAY", stage="pack", detected_at=now - timedelta(hours=3))
    exception_in(ExceptionStatus.OPEN, make_order(acme, "#9"))  # PICK_DELAY, no stage
    OrderException.objects.filter(pk=three_h.pk).update(assignee=user)
    OrderException.objects.filter(pk=day_old.pk).update(snoozed_until=now + timedelta(hours=2))
    OrderException.objects.filter(pk=fresh.pk).update(explanation_source="ai")

    assert listed(client, severity__exact="HIGH") == [fresh.pk]
    assert listed(client, reason_code__code__exact="ADDRESS_INVALID") == [day_old.pk]
    assert listed(client, stage__exact="pack") == [three_h.pk]
    assert fresh.pk in listed(client, age="lt1h") and day_old.pk not in listed(client, age="lt1h")
    assert listed(client, age="1to4h") == [three_h.pk]
    assert listed(client, age="gt24h") == [day_old.pk]
    assert listed(client, assigned="me") == [three_h.pk]
    assert three_h.pk not in listed(client, assigned="nobody")
    assert listed(client, snoozed="yes") == [day_old.pk]
    assert day_old.pk not in listed(client, snoozed="no")
    assert listed(client, explanation_source__exact="ai") == [fresh.pk]
    OrderException.objects.filter(pk=fresh.pk).update(escalation_level=2)
    assert listed(client, escalation="2") == [fresh.pk]
    assert fresh.pk not in listed(client, escalation="0")


def test_search_finds_by_order_number_tracking_number_and_customer_email(acme):
    client, _ = logged_in(OPERATOR, "acme")
    order = make_order(
        acme, "#5501", tracking_number="1Z999AA10123456784", customer={"email": "Ann@Example.com"}
    )
    target = raise_exception(order, "PICK_DELAY")
    opened(acme, 2)
    for term in ("5501", "1Z999AA10123456784", "ann@example.com"):
        assert listed(client, q=term) == [target.pk], term


def test_the_tenant_filter_is_offered_only_to_someone_with_several_tenants(acme):
    opened(TenantFactory(slug="globex"), 2)
    opened(acme, 1)
    one, _ = logged_in(OPERATOR, "acme")
    several, _ = logged_in(OPERATOR, "acme", "globex", username="pat")
    assert "By tenant" not in one.get(CHANGELIST).content.decode()
    assert "By tenant" in several.get(CHANGELIST).content.decode()
    assert len(listed(several)) == 2
    globex_id = str(OrderException.objects.get(tenant__slug="globex").tenant_id)
    assert len(listed(several, tenant__id__exact=globex_id)) == 1
    assert listed(one, tenant__id__exact=globex_id) == []  # not theirs: nothing, not an error


def test_the_list_costs_the_same_queries_for_3_and_30_rows(acme, django_assert_max_num_queries):
    client, user = logged_in(OPERATOR, "acme")
    for i in range(3):
        opened(acme, i, severity="HIGH", late_minutes=10 + i)
    client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as few:
        assert client.get(CHANGELIST).status_code == 200
    for i in range(3, 30):
        exc = opened(acme, i, severity="MEDIUM", late_minutes=i)
        OrderException.objects.filter(pk=exc.pk).update(assignee=user, explanation_source="ai")
    with django_assert_max_num_queries(len(few)):
        response = client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 30


def test_a_viewer_sees_the_list_without_any_action(acme):
    opened(acme, 1)
    client, _ = logged_in(VIEWER, "acme")
    body = client.get(CHANGELIST).content.decode()
    assert "#1</a>" in body
    assert 'name="action"' not in body and "action-checkbox" not in body


# --- bulk actions -----------------------------------------------------------------------


def act(client: Client, action: str, *exceptions: OrderException):
    response = client.post(
        CHANGELIST, {"action": action, "_selected_action": [e.pk for e in exceptions]}
    )
    assert response.status_code == 302, response.content[:500]
    return response


def test_assign_to_me_assigns_each_selected_one_with_an_activity_row(acme):
    client, user = logged_in(OPERATOR, "acme")
    first, second = opened(acme, 1), opened(acme, 2)
    act(client, "assign_to_me", first, second)
    assert set(OrderException.objects.values_list("assignee", flat=True)) == {user.pk}
    rows = ExceptionActivity.objects.filter(action="assigned", actor_user=user)
    assert rows.count() == 2


def test_snooze_4h_snoozes_until_four_hours_from_now(acme):
    client, _ = logged_in(OPERATOR, "acme")
    exc = opened(acme, 1)
    with time_machine.travel(at("2026-06-03T10:00:00Z"), tick=False):
        act(client, "snooze_4h", exc)
    exc.refresh_from_db()
    assert exc.snoozed_until == at("2026-06-03T14:00:00Z")
    assert exc.next_escalation_at >= exc.snoozed_until


def _office_hours(tenant) -> None:
    """Berlin, Monday to Friday 08:00–17:00."""
    calendar = BusinessCalendar.objects.create(
        tenant=tenant, name="Main DC", timezone="Europe/Berlin"
    )
    for weekday in range(5):
        WorkingHours.objects.create(
            calendar=calendar, weekday=weekday, opens_at=dt.time(8), closes_at=dt.time(17)
        )


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        # Friday 16:00 in Berlin (open): the next opening is Monday 08:00, not now.
        ("2026-06-05T14:00:00Z", "2026-06-08T06:00:00Z"),
        # Tuesday 20:00 in Berlin (closed): Wednesday 08:00.
        ("2026-06-02T18:00:00Z", "2026-06-03T06:00:00Z"),
    ],
)
def test_snooze_until_the_site_opens_follows_the_tenants_calendar(acme, now, opens):
    _office_hours(acme)
    client, _ = logged_in(OPERATOR, "acme")
    exc = opened(acme, 1)
    with time_machine.travel(at(now), tick=False):
        act(client, "snooze_until_opening", exc)
    exc.refresh_from_db()
    assert exc.snoozed_until == at(opens)
    note = ExceptionActivity.objects.get(exception=exc, action="snoozed").note
    assert "08:00" in note and "CEST" in note


def test_snooze_until_opening_on_a_round_the_clock_site_means_tomorrow_local_midnight(acme):
    client, _ = logged_in(OPERATOR, "acme")
    exc = opened(acme, 1)
    with time_machine.travel(at("2026-06-03T10:00:00Z"), tick=False):
        act(client, "snooze_until_opening", exc)
    exc.refresh_from_db()
    assert exc.snoozed_until == at("2026-06-03T22:00:00Z")  # 00:00 on the 4th in Berlin


def test_escalate_raises_the_level_now_as_the_operator_and_stops_at_the_top(acme, settings):
    settings.EXCEPTION_MAX_ESCALATION_LEVEL = 2
    client, user = logged_in(OPERATOR, "acme")
    exc = opened(acme, 1, severity="MEDIUM")
    act(client, "escalate", exc)
    exc.refresh_from_db()
    assert (exc.escalation_level, exc.severity) == (1, "HIGH")
    row = ExceptionActivity.objects.get(exception=exc, action="escalated")
    assert row.actor_user == user and "Escalated by" in row.note
    act(client, "escalate", exc)
    response = act(client, "escalate", exc)
    exc.refresh_from_db()
    assert exc.escalation_level == 2 and exc.next_escalation_at is None
    messages = [str(m) for m in client.get(response.url).context["messages"]]
    assert any("Already at the top escalation level" in m for m in messages)


def test_escalating_a_resolved_one_is_refused_and_said(acme):
    client, _ = logged_in(OPERATOR, "acme")
    exc = exception_in(ExceptionStatus.RESOLVED, make_order(acme, "#1"))
    response = client.post(
        f"{CHANGELIST}?status=all", {"action": "escalate", "_selected_action": [exc.pk]}
    )
    messages = [str(m) for m in client.get(response.url).context["messages"]]
    assert any("Cannot escalate" in m for m in messages)
    exc.refresh_from_db()
    assert exc.escalation_level == 0


def test_rerun_analysis_analyses_each_selected_again(acme, django_capture_on_commit_callbacks):
    """The real path: the task queued on commit (run in-process here) records one asked-for
    analysis per exception (the rules' notes, no model being configured)."""
    client, _ = logged_in(OPERATOR, "acme")
    first, second = opened(acme, 1), opened(acme, 2)
    with django_capture_on_commit_callbacks(execute=True):
        act(client, "reanalyze", first, second)
    asked = Explanation.objects.filter(trigger=ExplanationTrigger.MANUAL)
    assert sorted(asked.values_list("exception_id", flat=True)) == sorted([first.pk, second.pk])


def test_another_tenants_rows_cannot_be_acted_on_through_a_forged_selection(acme):
    globex = TenantFactory(slug="globex")
    theirs = opened(globex, 1)
    client, _ = logged_in(OPERATOR, "acme")
    client.post(CHANGELIST, {"action": "assign_to_me", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.assignee_id is None


# --- the exception page -----------------------------------------------------------------


def test_the_page_shows_the_timeline_the_clocks_explained_and_the_notes_source(api, tenant):
    client, _ = logged_in(OPERATOR, tenant.slug)
    send(api, "order_paid", "2026-06-03T08:00:00Z")
    with time_machine.travel(at("2026-06-03T12:00:00Z"), tick=False):
        send(api, "pick_completed", "2026-06-03T11:30:00Z", received="2026-06-03T12:00:00Z")
    exc = OrderException.objects.get(reason_code="PICK_DELAY")
    with time_machine.travel(at("2026-06-03T12:05:00Z"), tick=False):
        body = client.get(change_url(exc)).content.decode()
    assert "Order timeline" in body and "order_paid" in body and "pick_completed" in body
    assert "Stage clocks" in body and "met late" in body
    assert "why this deadline" in body
    pick = exc.order.stage_clocks.get(stage="pick")
    assert pick.explanation and pick.explanation[:40] in body
    assert "The catalogue&#x27;s templates" in body or "The catalogue's templates" in body


def test_the_notes_source_names_the_model_confidence_and_prompt_version(acme):
    client, _ = logged_in(OPERATOR, "acme")
    exc = opened(acme, 1)
    exception_explain(
        exception_id=exc.pk,
        analysis=Analysis(
            key="k1",
            model="test/model",
            label="PICK_DELAY",
            confidence=0.91,
            ops_note="Pick it now.",
            client_note="It ships today.",
            prompt_name="exception_notes",
            prompt_version=3,
            prompt_hash="abc",
        ),
        now=timezone.now(),
    )
    body = client.get(change_url(exc)).content.decode()
    assert "The model test/model, confidence 0.91, prompt exception_notes v3" in body


def test_an_edited_client_note_is_recorded_and_never_overwritten_by_a_later_analysis(acme):
    client, user = logged_in(OPERATOR, "acme")
    exc = opened(acme, 1)
    page = client.get(change_url(exc))
    form = page.context["adminform"].form
    data = {
        **{k: v for k, v in form.initial.items() if k in ("ops_note",)},
        "assignee": "",
        "client_note": "We found your parcel; it leaves tonight.",
        # Inline formsets' management forms, as the page posts them.
        **_management_forms(page),
    }
    response = client.post(change_url(exc), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    exc.refresh_from_db()
    assert exc.client_note == "We found your parcel; it leaves tonight."
    assert exc.explanation_source == "operator"
    edit = ExceptionActivity.objects.get(exception=exc, action="notes_changed")
    assert edit.actor_user == user
    assert edit.after["client_note"] == exc.client_note
    with TestCase.captureOnCommitCallbacks(execute=True):
        exception_explain(
            exception_id=exc.pk,
            analysis=Analysis(key="later", model="m", confidence=0.99, client_note="Model text."),
            now=timezone.now(),
        )
    exc.refresh_from_db()
    assert exc.client_note == "We found your parcel; it leaves tonight."


def _management_forms(page) -> dict[str, str]:
    data = {}
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name, field in management.fields.items():
            data[f"{management.prefix}-{name}"] = management.initial.get(name, field.initial) or 0
    return data


def test_a_client_note_sent_to_the_customer_can_no_longer_be_edited(acme):
    client, _ = logged_in(OPERATOR, "acme")
    exc = opened(acme, 1)
    now = timezone.now()
    ActionRun.objects.create(
        tenant=acme,
        exception=exc,
        kind=ActionKind.SEND_CLIENT_NOTE,
        target="customer",
        status=RunStatus.DONE,
        created_at=now,
        updated_at=now,
        finished_at=now,
    )
    page = client.get(change_url(exc))
    assert "client_note" not in page.context["adminform"].form.fields
    assert "Sent to the customer" in page.content.decode()
    with pytest.raises(InvalidChange, match="sent to the customer"):
        exception_update_notes(exception_id=exc.pk, client_note="Changed.", actor=SYSTEM_OPERATOR)
    # The ops note stays the operator's to change.
    exception_update_notes(
        exception_id=exc.pk, ops_note="Called the carrier.", actor=SYSTEM_OPERATOR
    )


def test_the_page_costs_the_same_queries_with_many_events(
    api, tenant, django_assert_max_num_queries
):
    client, _ = logged_in(OPERATOR, tenant.slug)
    send(api, "order_paid", "2026-06-03T08:00:00Z")
    send(api, "pick_completed", "2026-06-03T11:30:00Z")
    exc = OrderException.objects.get(reason_code="PICK_DELAY")
    client.get(change_url(exc))
    with CaptureQueriesContext(connection) as few:
        assert client.get(change_url(exc)).status_code == 200
    baseline = len(few)  # now: the connection's query log is a bounded deque
    for i in range(12):
        send(api, "pick_started", f"2026-06-03T11:{31 + i}:00Z", event_id=f"note-{i}")
    with django_assert_max_num_queries(baseline):
        assert client.get(change_url(exc)).status_code == 200
