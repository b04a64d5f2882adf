"""Automated actions: playbooks, eligibility, approvals, signed calls and the audit.

Every outbound call goes to a real local HTTP receiver that checks the Standard
Webhooks signature with the official library (tests/action_receiver.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ai.analysis import exception_analyze
from exceptions.automation import connectors
from exceptions.automation.playbooks import playbooks_load, read_playbooks
from exceptions.automation.runner import action_run_execute
from exceptions.automation.services import (
    NothingWaiting,
    action_approve,
    action_reject,
    exception_automate,
    resolution_pass,
)
from exceptions.models import (
    ActionEndpoint,
    ActionKind,
    ActionRun,
    ExceptionActivity,
    ExceptionStatus,
    OrderException,
    PlaybookAction,
    ReasonCode,
    RunStatus,
)
from exceptions.services import lifecycle

from .action_receiver import Answer, running_receiver
from .exception_helpers import OPERATOR, make_order, raise_exception

ADDRESS = {"address1": "1 Main St", "city": "Berlin", "zip": "00000", "country_code": "DE"}


@pytest.fixture
def receiver():
    with running_receiver() as found:
        yield found


@pytest.fixture(autouse=True)
def _fast_http(settings, monkeypatch):
    settings.ACTION_HTTP_TIMEOUT_SECONDS = 0.5
    settings.ACTION_HTTP_MAX_ATTEMPTS = 2
    waits: list[float] = []
    monkeypatch.setattr(connectors, "sleep", waits.append)
    return waits


def open_exception(tenant, code: str, external_id: str = "#2001") -> OrderException:
    """An exception as the analyst leaves it (no model here: the catalogue's notes)."""
    order = make_order(
        tenant,
        external_id,
        carrier="DHL",
        tracking_number="JD0001",
        warehouse="BER-1",
        shipping_address=ADDRESS,
    )
    exception = raise_exception(order, code, evidence={"postal_code": "00000"})
    exception_analyze(exception_id=exception.pk)
    exception.refresh_from_db()
    assert exception.current_explanation_id is not None
    return exception


def endpoint(tenant, kind: str, receiver) -> ActionEndpoint:
    return ActionEndpoint.objects.create(
        tenant=tenant, kind=kind, url=receiver.url(f"/{kind}"), secret=receiver.secret
    )


def activity(exception: OrderException) -> list[str]:
    return list(
        ExceptionActivity.objects.filter(exception=exception)
        .order_by("pk")
        .values_list("action", flat=True)
    )


# --- playbooks as data -------------------------------------------------------------


def test_the_fixture_playbooks_and_automate_defaults_are_loaded(db):
    automated = set(ReasonCode.objects.filter(automate=True).values_list("code", flat=True))
    assert automated == {"ADDRESS_INVALID", "MISSING_SCAN", "CARRIER_ISSUE", "DELIVERY_DELAY"}
    first = {
        code: PlaybookAction.objects.filter(reason_code=code).order_by("position").first().kind
        for code in automated
    }
    assert first == {
        "ADDRESS_INVALID": ActionKind.REVALIDATE_ADDRESS,
        "MISSING_SCAN": ActionKind.REQUEST_SCAN,
        "CARRIER_ISSUE": ActionKind.CARRIER_TRACE,
        "DELIVERY_DELAY": ActionKind.SEND_CLIENT_NOTE,
    }
    in_file = sum(len(actions) for actions in read_playbooks().values())
    assert PlaybookAction.objects.count() == in_file


def test_loading_again_keeps_an_operators_edits_unless_asked(db):
    PlaybookAction.objects.filter(reason_code="MISSING_SCAN").update(requires_approval=True)
    assert playbooks_load(PlaybookAction, ReasonCode) == []
    assert PlaybookAction.objects.get(reason_code="MISSING_SCAN").requires_approval
    playbooks_load(PlaybookAction, ReasonCode, update=True)
    assert not PlaybookAction.objects.get(reason_code="MISSING_SCAN").requires_approval


def test_a_client_note_cannot_join_the_playbook_of_a_code_clients_do_not_see(db):
    from django.core.exceptions import ValidationError

    action = PlaybookAction(
        reason_code=ReasonCode.objects.get(code="MISSING_SCAN"),
        kind=ActionKind.SEND_CLIENT_NOTE,
        target="customer",
    )
    with pytest.raises(ValidationError, match="not client-visible"):
        action.full_clean()


# --- record-only (the default) ---------------------------------------------------


def test_without_an_endpoint_the_action_is_recorded_and_nothing_is_sent(tenant, receiver):
    exception = open_exception(tenant, "MISSING_SCAN")
    run = exception_automate(exception_id=exception.pk)
    assert run.status == RunStatus.RECORDED
    assert "would call" in run.detail and "nothing sent" in run.detail
    assert run.request["would_send"]["data"]["order"]["external_id"] == "#2001"
    assert receiver.received == []
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.OPEN
    assert exception.resolution_attempts == 1
    row = ExceptionActivity.objects.get(exception=exception, action="attempt_succeeded")
    assert "would call" in row.note
    assert row.after["action"]["kind"] == ActionKind.REQUEST_SCAN
    # The playbook's one action is done: the next pass has nothing to try.
    assert exception_automate(exception_id=exception.pk) is None
    assert ActionRun.objects.filter(exception=exception).count() == 1


# --- each kind through a signed webhook ------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("MISSING_SCAN", ActionKind.REQUEST_SCAN),
        ("CARRIER_ISSUE", ActionKind.CARRIER_TRACE),
        ("ADDRESS_INVALID", ActionKind.REVALIDATE_ADDRESS),
        ("DELIVERY_DELAY", ActionKind.SEND_CLIENT_NOTE),
        ("PAYMENT_FAILED", ActionKind.HOLD_ORDER),
    ],
)
def test_each_kind_reaches_its_receiver_signed(tenant, receiver, code, kind):
    ReasonCode.objects.filter(code=code).update(automate=True)
    exception = open_exception(tenant, code)
    endpoint(tenant, kind, receiver)
    run = exception_automate(exception_id=exception.pk)
    assert run.kind == kind
    assert run.status == RunStatus.DONE, run.detail
    [call] = receiver.received
    assert call.verified, call.problem
    assert call.path == f"/{kind}"
    assert call.headers["webhook-id"] == f"e2a-action-{run.pk}"
    assert call.body["type"] == f"e2a.action.{kind}"
    data = call.body["data"]
    assert data["order"]["tracking_number"] == "JD0001"
    assert data["exception"]["reason_code"] == code
    assert ("client_note" in data) == (kind == ActionKind.SEND_CLIENT_NOTE)
    assert ("shipping_address" in data["order"]) == (kind == ActionKind.REVALIDATE_ADDRESS)
    if kind == ActionKind.SEND_CLIENT_NOTE:
        assert data["client_note"] == exception.client_note
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.OPEN  # asked someone: stays open
    assert run.response["status"] == 200


def test_a_receiver_that_says_fixed_resolves_the_exception(tenant, receiver):
    exception = open_exception(tenant, "ADDRESS_INVALID")
    endpoint(tenant, ActionKind.REVALIDATE_ADDRESS, receiver)
    receiver.answer(Answer(body={"outcome": "fixed", "detail": "postal code corrected to 10115"}))
    run = exception_automate(exception_id=exception.pk)
    assert run.status == RunStatus.FIXED
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.RESOLVED
    assert exception.resolution_code == lifecycle.ResolutionCode.ACTION_FIXED
    assert "10115" in exception.resolution_text
    assert activity(exception)[-2:] == ["attempt_succeeded", "auto_resolved"]


def test_a_wrong_secret_fails_the_receivers_check(tenant, receiver):
    exception = open_exception(tenant, "MISSING_SCAN")
    ActionEndpoint.objects.create(
        tenant=tenant, kind=ActionKind.REQUEST_SCAN, url=receiver.url()
    )  # its own new secret, not the receiver's
    exception_automate(exception_id=exception.pk)
    assert [call.verified for call in receiver.received] == [False]


# --- failures, retries and blocking ------------------------------------------------


def test_failed_attempts_are_retried_later_then_block(tenant, receiver, _fast_http):
    exception = open_exception(tenant, "MISSING_SCAN")
    endpoint(tenant, ActionKind.REQUEST_SCAN, receiver)
    receiver.answer(*[Answer(status=503, headers={"Retry-After": "1"})] * 4)
    first = exception_automate(exception_id=exception.pk)
    assert first.status == RunStatus.FAILED
    assert "HTTP 503" in first.detail and "after 2 tries" in first.detail
    assert len(receiver.received) == 2  # the HTTP layer's retry, nothing above it
    assert _fast_http == [1.0]  # it honoured Retry-After
    exception.refresh_from_db()
    assert (exception.resolution_attempts, exception.blocked) == (1, False)
    # Not again before ACTION_RETRY_AFTER_SECONDS …
    assert exception_automate(exception_id=exception.pk) is None
    # … after it, the last attempt fails too: automation is blocked, saying why.
    later = timezone.now() + timedelta(hours=1)
    second = exception_automate(exception_id=exception.pk, now=later)
    assert second.status == RunStatus.FAILED
    exception.refresh_from_db()
    assert exception.blocked and exception.resolution_attempts == 2
    assert "HTTP 503" in exception.blocked_reason
    assert activity(exception).count("attempt_failed") == 2
    assert exception_automate(exception_id=exception.pk, now=later + timedelta(hours=1)) is None


def test_a_hanging_receiver_times_out_and_the_attempt_is_recorded_failed(
    tenant, receiver, settings
):
    settings.ACTION_HTTP_MAX_ATTEMPTS = 1
    exception = open_exception(tenant, "CARRIER_ISSUE")
    endpoint(tenant, ActionKind.CARRIER_TRACE, receiver)
    receiver.answer(Answer(delay=3))
    run = exception_automate(exception_id=exception.pk)
    assert run.status == RunStatus.FAILED
    assert "no answer within 0.5 s" in run.detail
    row = ExceptionActivity.objects.get(exception=exception, action="attempt_failed")
    assert row.after["action"]["outcome"] == "failed"
    assert row.after["resolution_attempts"] == 1


def test_a_4xx_is_not_retried(tenant, receiver):
    exception = open_exception(tenant, "MISSING_SCAN")
    endpoint(tenant, ActionKind.REQUEST_SCAN, receiver)
    receiver.answer(Answer(status=422, body={"error": "unknown order"}))
    run = exception_automate(exception_id=exception.pk)
    assert run.status == RunStatus.FAILED and len(receiver.received) == 1
    assert "unknown order" in run.response["body"]


# --- who automation leaves alone -----------------------------------------------------


@pytest.mark.parametrize("step", ["acknowledge", "assign", "snooze", "automate_off"])
def test_an_operator_taking_over_or_the_code_turned_off_stops_automation(
    tenant, receiver, admin_user, step
):
    exception = open_exception(tenant, "MISSING_SCAN")
    if step == "acknowledge":
        lifecycle.exception_acknowledge(exception_id=exception.pk, actor=OPERATOR)
    elif step == "assign":
        lifecycle.exception_assign(
            exception_id=exception.pk, assignee_id=admin_user.pk, actor=OPERATOR
        )
    elif step == "snooze":
        lifecycle.exception_snooze(
            exception_id=exception.pk,
            until=timezone.now() + timedelta(hours=2),
            actor=OPERATOR,
        )
    else:
        ReasonCode.objects.filter(code="MISSING_SCAN").update(automate=False)
    assert exception_automate(exception_id=exception.pk) is None
    assert resolution_pass()["queued"] == 0
    assert not ActionRun.objects.exists()


def test_a_code_off_by_default_is_not_automated(tenant):
    exception = open_exception(tenant, "PICK_DELAY")
    assert resolution_pass()["queued"] == 0
    assert exception_automate(exception_id=exception.pk) is None


def test_the_client_note_is_never_sent_for_a_code_clients_do_not_see(tenant, receiver):
    exception = open_exception(tenant, "MISSING_SCAN")
    endpoint(tenant, ActionKind.SEND_CLIENT_NOTE, receiver)
    # Put there behind the admin's back (the admin refuses it): still never a candidate …
    PlaybookAction.objects.filter(reason_code="MISSING_SCAN").update(active=False)
    PlaybookAction.objects.create(
        reason_code_id="MISSING_SCAN", kind=ActionKind.SEND_CLIENT_NOTE, target="customer"
    )
    assert exception_automate(exception_id=exception.pk) is None
    # … and a run that somehow exists is refused by the runner before anything is sent.
    now = timezone.now()
    run = ActionRun.objects.create(
        tenant=tenant,
        exception=exception,
        kind=ActionKind.SEND_CLIENT_NOTE,
        target="customer",
        status=RunStatus.READY,
        created_at=now,
        updated_at=now,
    )
    run = action_run_execute(run_id=run.pk)
    assert run.status == RunStatus.CANCELLED
    assert "never sent" in run.detail
    assert receiver.received == []


# --- approvals -----------------------------------------------------------------------


def _waiting(tenant, receiver) -> tuple[OrderException, ActionRun]:
    """ADDRESS_INVALID: the re-validation runs, then the hold waits for approval."""
    exception = open_exception(tenant, "ADDRESS_INVALID")
    endpoint(tenant, ActionKind.REVALIDATE_ADDRESS, receiver)
    endpoint(tenant, ActionKind.HOLD_ORDER, receiver)
    assert exception_automate(exception_id=exception.pk).status == RunStatus.DONE
    run = exception_automate(exception_id=exception.pk)
    assert run.status == RunStatus.AWAITING_APPROVAL
    assert run.kind == ActionKind.HOLD_ORDER
    assert len(receiver.received) == 1  # nothing sent for the waiting one
    return exception, run


def test_an_action_marked_so_waits_for_approval_then_runs(tenant, receiver):
    exception, run = _waiting(tenant, receiver)
    assert "action_proposed" in activity(exception)
    assert resolution_pass()["queued"] == 0  # one in flight per record
    approved = action_approve(exception_id=exception.pk, actor=OPERATOR, note="Address checked")
    assert approved.status == RunStatus.READY
    done = action_run_execute(run_id=run.pk)
    assert done.status == RunStatus.DONE
    assert done.decided_by == OPERATOR.label
    assert [c.body["data"]["kind"] for c in receiver.received] == [
        ActionKind.REVALIDATE_ADDRESS,
        ActionKind.HOLD_ORDER,
    ]
    assert activity(exception)[-2:] == ["action_approved", "attempt_succeeded"]


def test_a_code_that_requires_approval_makes_every_action_wait(tenant, receiver):
    ReasonCode.objects.filter(code="MISSING_SCAN").update(requires_approval=True)
    exception = open_exception(tenant, "MISSING_SCAN")
    run = exception_automate(exception_id=exception.pk)
    assert run.status == RunStatus.AWAITING_APPROVAL and run.needs_approval


def test_a_rejected_action_is_not_proposed_again(tenant, receiver):
    exception, _ = _waiting(tenant, receiver)
    with pytest.raises(lifecycle.InvalidChange):
        action_reject(exception_id=exception.pk, actor=OPERATOR, reason="  ")
    rejected = action_reject(exception_id=exception.pk, actor=OPERATOR, reason="Customer called")
    assert rejected.status == RunStatus.REJECTED and rejected.decision_note == "Customer called"
    assert activity(exception)[-1] == "action_rejected"
    assert exception_automate(exception_id=exception.pk) is None
    with pytest.raises(NothingWaiting):
        action_approve(exception_id=exception.pk, actor=OPERATOR)


def test_an_approval_nobody_needs_any_more_is_cancelled_by_the_pass(tenant, receiver):
    exception, run = _waiting(tenant, receiver)
    lifecycle.exception_resolve(
        exception_id=exception.pk, resolution="Fixed by hand", actor=OPERATOR
    )
    assert resolution_pass()["cancelled"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


# --- beat ------------------------------------------------------------------------------


def test_the_pass_queues_eligible_records_and_runs_them(tenant, receiver):
    first = open_exception(tenant, "MISSING_SCAN", "#3001")
    second = open_exception(tenant, "CARRIER_ISSUE", "#3002")
    endpoint(tenant, ActionKind.REQUEST_SCAN, receiver)
    endpoint(tenant, ActionKind.CARRIER_TRACE, receiver)
    result = resolution_pass()  # tasks run eagerly here
    assert result["queued"] == 2
    kinds = sorted(call.body["data"]["kind"] for call in receiver.received)
    assert kinds == [ActionKind.CARRIER_TRACE, ActionKind.REQUEST_SCAN]
    assert {r.exception_id for r in ActionRun.objects.all()} == {first.pk, second.pk}


def test_a_run_a_dead_worker_left_running_is_finished_once(tenant, receiver):
    exception = open_exception(tenant, "MISSING_SCAN")
    endpoint(tenant, ActionKind.REQUEST_SCAN, receiver)
    long_ago = timezone.now() - timedelta(hours=1)
    run = ActionRun.objects.create(
        tenant=tenant,
        exception=exception,
        kind=ActionKind.REQUEST_SCAN,
        target="wms",
        status=RunStatus.RUNNING,
        created_at=long_ago,
        started_at=long_ago,
        updated_at=long_ago,
    )
    assert resolution_pass()["recovered"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert [c.headers["webhook-id"] for c in receiver.received] == [f"e2a-action-{run.pk}"]
    # Delivered again (the task redelivered): the finished run is left alone.
    assert action_run_execute(run_id=run.pk).status == RunStatus.DONE
    assert len(receiver.received) == 1
    assert activity(exception).count("attempt_succeeded") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_act_once(tenant, receiver):
    from exceptions.automation.playbooks import ensure_playbooks

    from .concurrency import at_once

    exception = open_exception(tenant, "MISSING_SCAN")
    endpoint(tenant, ActionKind.REQUEST_SCAN, receiver)
    ensure_playbooks()  # after another test's flush, not four threads restoring it at once
    results = at_once(lambda: exception_automate(exception_id=exception.pk), threads=4)
    assert sum(1 for r in results if r is not None) == 1
    assert ActionRun.objects.filter(exception=exception).count() == 1
    assert len(receiver.received) == 1
    assert activity(exception).count("attempt_succeeded") == 1
    exception.refresh_from_db()
    assert exception.resolution_attempts == 1


# --- the API ---------------------------------------------------------------------------


def _post(client, key: str, exception_id: int, what: str, body: dict | None = None):
    return client.post(
        f"/api/exceptions/{exception_id}/{what}",
        body or {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_the_api_approves_the_waiting_action_and_it_runs(
    tenant, receiver, client, django_capture_on_commit_callbacks
):
    from .factories import api_key_for

    exception, run = _waiting(tenant, receiver)
    key = api_key_for(tenant)
    wrong = _post(client, key, exception.pk, "approve-action", {"action_id": run.pk + 100})
    assert wrong.status_code == 409 and wrong.json()["code"] == "no_waiting_action"
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post(client, key, exception.pk, "approve-action", {"action_id": run.pk})
    assert answer.status_code == 200, answer.content
    # The approval commits, then the run is queued (eagerly here) and reaches the WMS.
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert run.decided_by.startswith("api-key:")
    assert receiver.received[-1].body["data"]["kind"] == ActionKind.HOLD_ORDER
    again = _post(client, key, exception.pk, "approve-action")
    assert again.status_code == 409
    detail = client.get(
        f"/api/exceptions/{exception.pk}", HTTP_AUTHORIZATION=f"Bearer {key}"
    ).json()
    assert [a["kind"] for a in detail["actions"]] == [
        ActionKind.HOLD_ORDER,
        ActionKind.REVALIDATE_ADDRESS,
    ]


def test_the_api_rejects_with_a_reason_and_refuses_the_rest(tenant, receiver, client):
    from orders.scopes import ApiKeyScope

    from .factories import TenantFactory, api_key_for

    exception, run = _waiting(tenant, receiver)
    key = api_key_for(tenant)
    no_reason = _post(client, key, exception.pk, "reject-action", {"reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    reader = api_key_for(tenant, scopes=[ApiKeyScope.READ])
    assert _post(client, reader, exception.pk, "reject-action", {"reason": "x"}).status_code == 403
    stranger = api_key_for(TenantFactory())
    refused = _post(client, stranger, exception.pk, "reject-action", {"reason": "x"})
    assert refused.status_code == 404
    answer = _post(client, key, exception.pk, "reject-action", {"reason": "Customer called us"})
    assert answer.status_code == 200
    assert answer.json()["status"] == RunStatus.REJECTED
    assert answer.json()["decision_note"] == "Customer called us"
    run.refresh_from_db()
    assert run.status == RunStatus.REJECTED
    assert len(receiver.received) == 1


# --- the console -------------------------------------------------------------------------


def _operator_client(tenant, role: str = "operator"):
    from django.test import Client

    from orders.services.staff import staff_user_save

    user = staff_user_save(username=f"{role}-1", role=role, tenant_slugs=[tenant.slug]).user
    client = Client()
    client.force_login(user)
    return client


def test_an_operator_approves_in_the_console_and_the_action_runs(
    tenant, receiver, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    exception, run = _waiting(tenant, receiver)
    client = _operator_client(tenant)
    changelist = reverse("admin:exceptions_actionrun_changelist")
    listed = client.get(changelist, {"status__exact": RunStatus.AWAITING_APPROVAL})
    assert listed.status_code == 200
    assert "Waiting for approval" in listed.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(changelist, {"action": "approve_selected", "_selected_action": [run.pk]})
    assert done.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.decided_by == "user:operator-1"
    page = client.get(reverse("admin:exceptions_orderexception_change", args=[exception.pk]))
    text = page.content.decode()
    assert "Automated actions" in text and "Hold the order for review" in text


def test_rejecting_in_the_console_asks_for_the_reason_first(tenant, receiver):
    from django.urls import reverse

    exception, run = _waiting(tenant, receiver)
    client = _operator_client(tenant)
    changelist = reverse("admin:exceptions_orderexception_changelist")
    form = client.post(changelist, {"action": "reject_action", "_selected_action": [exception.pk]})
    assert form.status_code == 200 and "Hold the order for review" in form.content.decode()
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    done = client.post(
        changelist,
        {
            "action": "reject_action",
            "_selected_action": [exception.pk],
            "apply": "1",
            "reason": "The customer confirmed the address by phone.",
        },
    )
    assert done.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.REJECTED
    assert run.decision_note == "The customer confirmed the address by phone."


def test_a_viewer_cannot_approve(tenant, receiver):
    from django.urls import reverse

    _, run = _waiting(tenant, receiver)
    client = _operator_client(tenant, "viewer")
    changelist = reverse("admin:exceptions_actionrun_changelist")
    client.post(changelist, {"action": "approve_selected", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL


def test_metrics_count_actions_and_show_approvals_waiting_and_blocked(
    tenant, receiver, client, django_capture_on_commit_callbacks
):
    import re

    def sample(text: str, name: str) -> float:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    before = client.get("/metrics").content.decode()
    recorded = 'e2a_actions_total{kind="revalidate_address",outcome="done"}'
    with django_capture_on_commit_callbacks(execute=True):
        _waiting(tenant, receiver)
    blocked = open_exception(tenant, "MISSING_SCAN", "#9001")
    OrderException.objects.filter(pk=blocked.pk).update(blocked=True, blocked_reason="2 failed")
    resolution_pass()
    text = client.get("/metrics").content.decode()
    assert sample(text, recorded) == sample(before, recorded) + 1
    assert sample(text, "e2a_action_approvals_waiting") == 1
    assert sample(text, "e2a_exceptions_blocked") == 1


def test_a_hold_and_its_approved_release_reach_the_wms_signed(tenant, receiver):
    """PAYMENT_FAILED's playbook: hold the order, then release it once a person approves."""
    ReasonCode.objects.filter(code="PAYMENT_FAILED").update(automate=True)
    exception = open_exception(tenant, "PAYMENT_FAILED")
    endpoint(tenant, ActionKind.HOLD_ORDER, receiver)
    endpoint(tenant, ActionKind.RELEASE_HOLD, receiver)
    assert exception_automate(exception_id=exception.pk).kind == ActionKind.HOLD_ORDER
    release = exception_automate(exception_id=exception.pk)
    assert (release.kind, release.status) == (ActionKind.RELEASE_HOLD, RunStatus.AWAITING_APPROVAL)
    action_approve(exception_id=exception.pk, actor=OPERATOR, note="Payment confirmed")
    assert action_run_execute(run_id=release.pk).status == RunStatus.DONE
    assert [(c.path, c.verified) for c in receiver.received] == [
        ("/hold_order", True),
        ("/release_hold", True),
    ]
