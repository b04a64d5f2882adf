"""The exception record's lifecycle: the transition table, dedup, reopen and the audit trail."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from exceptions.models import ExceptionActivity, ExceptionStatus, OrderException
from exceptions.services.lifecycle import InvalidChange, exception_resolve
from exceptions.transitions import ACTIONS, TransitionRefused, allowed_actions

from .exception_helpers import (
    OPERATOR,
    actions_of,
    apply,
    exception_in,
    make_order,
    raise_exception,
)
from .factories import TenantFactory

S = ExceptionStatus
pytestmark = pytest.mark.django_db

# What the product promises, written out independently of exceptions.transitions.
EXPECTED_STATUS_CHANGES = {
    S.OPEN: {"acknowledge": S.ACKNOWLEDGED, "start": S.IN_PROGRESS, "resolve": S.RESOLVED},
    S.ACKNOWLEDGED: {"start": S.IN_PROGRESS, "resolve": S.RESOLVED},
    S.IN_PROGRESS: {"resolve": S.RESOLVED},
    S.RESOLVED: {"reopen": S.OPEN, "close": S.CLOSED},
    S.CLOSED: {},
}
STATUS_ACTIONS = ["acknowledge", "start", "resolve", "reopen", "close"]


@pytest.fixture
def order():
    return make_order(TenantFactory(slug="acme"))


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", STATUS_ACTIONS)
def test_every_status_change_is_allowed_or_refused_as_the_table_says(order, status, action):
    exc = exception_in(status, order)
    expected = EXPECTED_STATUS_CHANGES[status].get(action)
    before = ExceptionActivity.objects.filter(exception=exc).count()

    if expected is None:
        with pytest.raises(TransitionRefused) as refused:
            apply(action, exc)
        assert refused.value.allowed == allowed_actions(status)
        assert status in str(refused.value)
        exc.refresh_from_db()
        assert exc.status == status  # nothing changed
        assert ExceptionActivity.objects.filter(exception=exc).count() == before
    else:
        changed = apply(action, exc)
        assert changed.status == expected
        row = ExceptionActivity.objects.filter(exception=exc).latest("pk")
        assert (row.from_status, row.to_status) == (status, expected)
        assert row.before["status"] == status and row.after["status"] == expected
        assert row.actor_label == OPERATOR.label


@pytest.mark.parametrize("status", list(S))
def test_edits_are_allowed_only_while_someone_can_still_act(order, status):
    exc = exception_in(status, order)
    operator = User.objects.create_user("olga", is_staff=True)
    for action in ("assign", "snooze"):
        if status in (S.OPEN, S.ACKNOWLEDGED, S.IN_PROGRESS):
            apply(action, exc, assignee_id=operator.pk)
        else:
            with pytest.raises(TransitionRefused):
                apply(action, exc, assignee_id=operator.pk)
    assert ("edit_notes" in allowed_actions(status)) == (status != S.CLOSED)


def test_the_table_has_no_action_that_leads_out_of_closed():
    assert allowed_actions(S.CLOSED) == []
    assert all(S.CLOSED not in a.allowed_from for a in ACTIONS.values())


def test_a_full_lifecycle_leaves_an_honest_history(order):
    exc = raise_exception(order, late_minutes=35.0)
    operator = User.objects.create_user("olga", is_staff=True)
    apply("acknowledge", exc)
    apply("assign", exc, assignee_id=operator.pk)
    apply("start", exc)
    apply("edit_notes", exc)
    resolved = apply("resolve", exc)

    assert resolved.resolved_by == OPERATOR.label
    assert resolved.resolution_text == "Re-picked from overflow."
    assert resolved.next_escalation_at is None
    assert resolved.assignee == operator
    assert resolved.explanation_source == "operator"
    assert actions_of(exc) == [
        "opened",
        "acknowledged",
        "assigned",
        "started",
        "notes_changed",
        "resolved",
    ]
    assign = ExceptionActivity.objects.get(exception=exc, action="assigned")
    assert (assign.before["assignee"], assign.after["assignee"]) == (None, operator.pk)


def test_reopen_clears_the_resolution_but_the_activity_keeps_it(order):
    exc = exception_in(S.RESOLVED, order)
    reopened = apply("reopen", exc)
    assert (reopened.resolved_at, reopened.resolution_text, reopened.acknowledged_at) == (
        None,
        "",
        None,
    )
    assert reopened.next_escalation_at is not None
    row = ExceptionActivity.objects.filter(exception=exc, action="reopened").get()
    assert row.before["resolution_text"] == "Re-picked from overflow."


def test_the_same_problem_again_is_one_record_with_more_occurrences(order):
    first = raise_exception(order, severity="LOW")
    again = raise_exception(order, severity="HIGH", late_minutes=50.0)
    assert again.pk == first.pk
    assert again.occurrence_count == 2
    assert again.severity == "HIGH"
    assert again.late_minutes == 50.0
    assert OrderException.objects.count() == 1
    assert again.dedup_key == f"{order.tenant_id}:{order.pk}:PICK_DELAY"


def test_a_lower_severity_occurrence_never_lowers_the_severity(order):
    raise_exception(order, severity="HIGH")
    assert raise_exception(order, severity="LOW").severity == "HIGH"


def test_a_problem_that_recurs_after_resolution_reopens_the_record(order):
    exc = exception_in(S.RESOLVED, order)
    again = raise_exception(order)
    assert again.pk == exc.pk and again.status == S.OPEN
    assert again.resolved_at is None
    assert actions_of(exc)[-1] == "reopened"


def test_after_close_the_next_occurrence_is_a_new_record(order):
    closed = exception_in(S.CLOSED, order)
    fresh = raise_exception(order)
    assert fresh.pk != closed.pk
    assert fresh.status == S.OPEN and fresh.occurrence_count == 1


def test_other_reasons_and_orders_are_separate_records(order):
    other = make_order(order.tenant, "#1002")
    ids = {
        raise_exception(order, "PICK_DELAY").pk,
        raise_exception(order, "PACK_DELAY").pk,
        raise_exception(other, "PICK_DELAY").pk,
    }
    assert len(ids) == 3


def test_the_database_refuses_a_second_open_record_for_the_same_key(order):
    exc = raise_exception(order)
    twin = OrderException.objects.get(pk=exc.pk)
    twin.pk = None
    twin.occurrence_count = 1
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)


def test_bad_input_is_refused_without_a_change(order):
    exc = raise_exception(order)
    with pytest.raises(InvalidChange) as empty:
        exception_resolve(exception_id=exc.pk, resolution="  ", actor=OPERATOR)
    assert empty.value.field == "resolution"
    with pytest.raises(InvalidChange) as code:
        exception_resolve(
            exception_id=exc.pk, resolution="x", resolution_code="MAGIC", actor=OPERATOR
        )
    assert code.value.field == "resolution_code"
    with pytest.raises(InvalidChange):
        apply("assign", exc, assignee_id=987654)
    exc.refresh_from_db()
    assert exc.status == S.OPEN and actions_of(exc) == ["opened"]


def test_rule_based_notes_come_from_the_catalogue_templates(order):
    exc = raise_exception(
        order,
        evidence={"allowed_minutes": 120, "explanation": "120 min, 24×7"},
        late_minutes=42.4,
    )
    assert exc.explanation_source == "rules"
    assert exc.explanation_label == "Pick delay"
    assert "#1001" in exc.ops_note and "42 min past its pick deadline" in exc.ops_note
    assert "allowed 120 min" in exc.ops_note
    assert "#1001" in exc.client_note


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_opening_the_same_exception_at_once_give_one_record():
    from exceptions.services.raising import Finding, exception_raise

    from .concurrency import at_once

    order = make_order(TenantFactory(slug="acme"))
    raised = at_once(
        lambda: exception_raise(order=order, finding=Finding("CARRIER_ISSUE", {"n": 1})),
        threads=4,
    )
    outcomes = [r.outcome for r in raised]
    assert sorted(outcomes) == ["opened", "recurred", "recurred", "recurred"]
    [exc] = OrderException.objects.all()
    assert exc.occurrence_count == 4
    assert actions_of(exc).count("opened") == 1


def test_load_reason_codes_restores_and_optionally_overwrites_the_catalogue():
    from io import StringIO

    from django.core.management import call_command

    from exceptions.models import ReasonCode

    ReasonCode.objects.filter(code="OTHER").delete()
    ReasonCode.objects.filter(code="PICK_DELAY").update(label="Edited by ops")
    out = StringIO()
    call_command("load_reason_codes", stdout=out)
    assert "added from reason_codes.yaml: OTHER" in out.getvalue()
    assert ReasonCode.objects.get(code="PICK_DELAY").label == "Edited by ops"
    call_command("load_reason_codes", "--update", stdout=StringIO())
    assert ReasonCode.objects.get(code="PICK_DELAY").label == "Pick delay"
    assert ReasonCode.objects.count() == 15


def test_changes_are_counted_in_metrics_once_committed(client, django_capture_on_commit_callbacks):
    from prometheus_client import REGISTRY

    def value(action: str) -> float:
        labels = {"action": action, "reason": "PICK_DELAY", "actor": "system"}
        return REGISTRY.get_sample_value("e2a_exception_activity_total", labels) or 0.0

    order = make_order(TenantFactory(slug="acme"))
    before = value("opened"), value("acknowledged")
    with django_capture_on_commit_callbacks(execute=True):
        exc = raise_exception(order)
        apply("acknowledge", exc)
    assert (value("opened"), value("acknowledged")) == (before[0] + 1, before[1] + 1)
    assert "e2a_exception_activity_total" in client.get("/metrics").content.decode()


def test_failed_automated_attempts_block_automation_after_the_maximum(order):
    from exceptions.services.lifecycle import exception_record_attempt

    exc = raise_exception(order)
    assert exc.max_resolution_attempts == 2
    exception_record_attempt(
        exception_id=exc.pk, succeeded=False, detail="Re-sent pick list: no scan", actor=OPERATOR
    )
    done = exception_record_attempt(
        exception_id=exc.pk, succeeded=False, detail="Re-prioritised wave: no scan", actor=OPERATOR
    )
    assert (done.resolution_attempts, done.blocked) == (2, True)
    assert done.blocked_reason == "2 automated attempts failed; last: Re-prioritised wave: no scan"
    with pytest.raises(InvalidChange) as third:
        exception_record_attempt(exception_id=exc.pk, succeeded=True, detail="x", actor=OPERATOR)
    assert third.value.field == "blocked"
    assert actions_of(exc) == ["opened", "attempt_failed", "attempt_failed"]
    # A person can still resolve it.
    assert apply("resolve", exc).status == S.RESOLVED


def test_a_successful_attempt_is_counted_without_blocking(order):
    from exceptions.services.lifecycle import exception_record_attempt

    exc = raise_exception(order)
    done = exception_record_attempt(
        exception_id=exc.pk, succeeded=True, detail="Carrier pickup rebooked", actor=OPERATOR
    )
    assert (done.resolution_attempts, done.blocked) == (1, False)


def test_automatic_resolution_codes_are_e2a_s_alone(order):
    from exceptions.actors import Actor

    exc = raise_exception(order)
    person = Actor.for_user(User.objects.create_user("olga", is_staff=True))
    with pytest.raises(InvalidChange) as refused:
        exception_resolve(
            exception_id=exc.pk, resolution="x", resolution_code="BREACH_WITHDRAWN", actor=person
        )
    assert refused.value.field == "resolution_code"
    done = exception_resolve(
        exception_id=exc.pk,
        resolution="withdrawn",
        resolution_code="BREACH_WITHDRAWN",
        actor=Actor.system("sla"),
    )
    assert done.resolution_code == "BREACH_WITHDRAWN"
