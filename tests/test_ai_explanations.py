"""Explanations: what an analysis does to an exception, when one is asked for, and what
leaves E²A for the model (nothing personal). The model client itself is tested
against a real local server in test_ai_client.py and test_ai_analyst.py."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from ai.context import analysis_context
from ai.prompts import render_prompt
from ai.selectors import unexplained_exception_ids
from exceptions import analysis_hooks
from exceptions.models import (
    ExceptionActivity,
    Explanation,
    ExplanationSource,
    FallbackCause,
    OrderException,
)
from exceptions.services import lifecycle
from exceptions.services.explanations import Analysis, analysis_key, exception_explain
from exceptions.services.raising import exception_refresh
from orders.scopes import ApiKeyScope

from .exception_helpers import OPERATOR, make_order, raise_exception
from .factories import TenantFactory, api_key_for

PERSONAL = {
    "first_name": "Jana",
    "last_name": "Novak",
    "email": "jana.novak@example.org",
    "phone": "+49 30 1234567",
    "address1": "Lindenstraße 12",
    "address2": "Hinterhaus, 3. OG",
}


def _order(tenant, external_id: str = "#1001"):
    address = {
        **PERSONAL,
        "name": "Jana Novak",
        "city": "Berlin",
        "zip": "10969",
        "country_code": "DE",
    }
    return make_order(
        tenant,
        external_id,
        status="picking",
        warehouse="BER-1",
        carrier="DHL",
        customer={k: PERSONAL[k] for k in ("first_name", "last_name", "email", "phone")},
        shipping_address=address,
    )


def _used(key: str, **changes) -> Analysis:
    values = {
        "key": key,
        "model": "test/model",
        "label": "PICK_DELAY",
        "confidence": 0.9,
        "ops_note": "Pick #1001 now: 3 h late at BER-1; check the pick face.",
        "client_note": "Your order is a little delayed; it ships today.",
        "reply": {"label": "PICK_DELAY"},
        "prompt_tokens": 900,
        "completion_tokens": 120,
        "cost_usd": Decimal("0.000207"),
        **changes,
    }
    return Analysis(**values)


# ------------------------------------------------------------------- what leaves E²A


@pytest.mark.django_db
def test_the_prompt_carries_the_facts_but_nothing_personal() -> None:
    tenant = TenantFactory(slug="acme")
    order = _order(tenant)
    exception = raise_exception(
        order,
        "ADDRESS_ERROR",
        evidence={"missing": ["address1"], "address1": PERSONAL["address1"], "note": "Jana"},
    )
    order.events.model.objects.create(
        tenant=tenant,
        order=order,
        source="carrier",
        event_type="delivery_failed",
        event_id="c-1",
        occurred_at=timezone.now(),
        channel="api",
        payload={
            "payload": {"reason": "Recipient Jana Novak not home, call +49 30 1234567"},
            "customer": {"email": PERSONAL["email"]},
        },
    )
    prompt = render_prompt("exception_analysis", analysis_context(exception))
    sent = "\n".join(m["content"] for m in prompt.messages)

    for value in [*PERSONAL.values(), "Jana Novak", "Novak"]:
        assert value not in sent, value
    # What an address problem is judged by stays.
    for fact in ("10969", "Berlin", "DE", "#1001", "ADDRESS_ERROR", "BER-1", "not home"):
        assert fact in sent, fact
    assert [m["role"] for m in prompt.messages] == ["system", "user"]
    assert prompt.version == 1 and len(prompt.sha256) == 64


def test_a_prompt_naming_a_missing_fact_fails_loudly() -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render_prompt("exception_analysis", {"exception": {}})


# ------------------------------------------------------------ applying the gate's call


@pytest.mark.django_db
def test_a_used_analysis_replaces_both_notes_and_says_so() -> None:
    exception = raise_exception(_order(TenantFactory(slug="acme")))
    rules_note = exception.ops_note
    row = exception_explain(
        exception_id=exception.pk, analysis=_used(analysis_key(exception)), now=timezone.now()
    )
    exception.refresh_from_db()
    assert exception.ops_note.startswith("Pick #1001 now") and exception.ops_note != rules_note
    assert exception.explanation_source == ExplanationSource.AI
    assert (exception.explanation_confidence, exception.explanation_cause) == (0.9, "")
    assert exception.current_explanation == row and row.decision == "used"
    explained = ExceptionActivity.objects.get(exception=exception, action="explained")
    assert "test/model" in explained.note


@pytest.mark.django_db
def test_kept_rules_records_why_and_leaves_the_catalogues_notes() -> None:
    exception = raise_exception(_order(TenantFactory(slug="acme")))
    before = exception.ops_note
    row = exception_explain(
        exception_id=exception.pk,
        analysis=Analysis(key=analysis_key(exception), cause=FallbackCause.LOW_CONFIDENCE),
        now=timezone.now(),
    )
    exception.refresh_from_db()
    assert (row.decision, row.cause) == ("kept_rules", "low_confidence")
    assert exception.ops_note == before and exception.explanation_source == "rules"
    assert exception.explanation_cause == "low_confidence"
    assert not ExceptionActivity.objects.filter(exception=exception, action="explained").exists()


@pytest.mark.django_db
def test_an_operators_note_is_never_overwritten() -> None:
    exception = raise_exception(_order(TenantFactory(slug="acme")))
    lifecycle.exception_update_notes(
        exception_id=exception.pk, actor=OPERATOR, ops_note="Called the DC; picking at 14:00."
    )
    row = exception_explain(
        exception_id=exception.pk, analysis=_used(analysis_key(exception)), now=timezone.now()
    )
    exception.refresh_from_db()
    assert exception.ops_note == "Called the DC; picking at 14:00."
    assert (row.decision, row.cause) == ("kept_rules", FallbackCause.OPERATOR_NOTE)


@pytest.mark.django_db
def test_one_automatic_analysis_per_state_and_back_to_rules_when_a_newer_one_fails() -> None:
    exception = raise_exception(_order(TenantFactory(slug="acme")))
    key = analysis_key(exception)
    first = exception_explain(exception_id=exception.pk, analysis=_used(key), now=timezone.now())
    again = exception_explain(exception_id=exception.pk, analysis=_used(key), now=timezone.now())
    assert again.pk == first.pk and Explanation.objects.count() == 1

    # Severity rose: the old model note may not fit any more; the failed re-analysis
    # brings back the catalogue's, rendered from the facts as they are now.
    exception.refresh_from_db()
    exception_refresh(exception, severity="CRITICAL", late_minutes=400)
    exception.refresh_from_db()
    exception_explain(
        exception_id=exception.pk,
        analysis=Analysis(key=analysis_key(exception), cause=FallbackCause.TIMEOUT),
        now=timezone.now(),
    )
    exception.refresh_from_db()
    assert exception.explanation_source == "rules" and "#1001" in exception.ops_note
    assert exception.explanation_cause == "timeout"
    assert Explanation.objects.filter(exception=exception).count() == 2


# --------------------------------------------------------------- when one is asked for


@pytest.fixture
def heard():
    calls: list[tuple[int, str]] = []
    analysis_hooks.register("test", lambda pk, why: calls.append((pk, why)))
    yield calls
    analysis_hooks.unregister("test")


@pytest.mark.django_db
def test_opening_and_a_severity_rise_ask_for_an_analysis_after_commit(
    heard, django_capture_on_commit_callbacks
) -> None:
    order = _order(TenantFactory(slug="acme"))
    with django_capture_on_commit_callbacks(execute=True):
        exception = raise_exception(order, severity="MEDIUM")
    assert heard == [(exception.pk, "opened")]

    with django_capture_on_commit_callbacks(execute=True):
        raise_exception(order, severity="MEDIUM")  # the same again: nothing new to say
    assert heard == [(exception.pk, "opened")]

    with django_capture_on_commit_callbacks(execute=True):
        raise_exception(order, severity="HIGH")
    assert heard[-1] == (exception.pk, "severity")

    with django_capture_on_commit_callbacks(execute=False) as pending:
        raise_exception(order, severity="CRITICAL")
    assert heard[-1] == (exception.pk, "severity") and len(heard) == 2  # not before commit
    assert pending


@pytest.mark.django_db
def test_the_sweep_finds_exceptions_whose_current_state_was_never_analysed() -> None:
    order = _order(TenantFactory(slug="acme"))
    exception = raise_exception(order)
    later = timezone.now() + timedelta(minutes=5)
    assert unexplained_exception_ids(changed_before=later, limit=10) == [exception.pk]
    exception_explain(
        exception_id=exception.pk, analysis=_used(analysis_key(exception)), now=timezone.now()
    )
    assert unexplained_exception_ids(changed_before=later, limit=10) == []
    OrderException.objects.filter(pk=exception.pk).update(occurrence_count=2)
    assert unexplained_exception_ids(changed_before=later, limit=10) == [exception.pk]


# ------------------------------------------------------------------------ re-analysis


@pytest.mark.django_db
def test_reanalyze_needs_the_ai_scope_and_answers_202(
    heard, client: Client, django_capture_on_commit_callbacks
) -> None:
    tenant = TenantFactory(slug="acme")
    exception = raise_exception(_order(tenant))
    path = f"/api/exceptions/{exception.pk}/reanalyze"

    act_only = api_key_for(tenant, scopes=[ApiKeyScope.READ, ApiKeyScope.ACT])
    refused = client.post(path, HTTP_AUTHORIZATION=f"Bearer {act_only}")
    assert refused.status_code == 403 and "ai" in refused.json()["detail"]

    key = api_key_for(tenant, scopes=[ApiKeyScope.AI])
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(path, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 202, answer.content
    assert answer.json() == {"status": "queued", "exception_id": exception.pk}
    assert heard == [(exception.pk, "manual")]

    other = api_key_for(TenantFactory(slug="globex"), scopes=[ApiKeyScope.AI])
    assert client.post(path, HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 404


@pytest.mark.django_db
def test_a_changed_note_is_a_reply_in_the_exceptions_slack_thread() -> None:
    from exceptions.models import Notification, TenantAlerting

    tenant = TenantFactory(slug="acme")
    TenantAlerting.objects.create(tenant=tenant, slack_channel="#ops", min_severity="LOW")
    exception = raise_exception(_order(tenant), severity="HIGH")
    assert Notification.objects.filter(exception=exception, kind="new").exists()

    exception_explain(
        exception_id=exception.pk, analysis=_used(analysis_key(exception)), now=timezone.now()
    )
    [reply] = Notification.objects.filter(exception=exception, kind="update")
    assert reply.channel == "#ops"
    assert "Notes written by test/model" in reply.text and "Pick #1001 now" in reply.text


@pytest.mark.django_db
def test_ai_reanalyze_runs_each_exception_again_and_says_what_it_decided() -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    exception = raise_exception(_order(TenantFactory(slug="acme")))
    out = StringIO()
    call_command("ai_reanalyze", "--exception", str(exception.pk), stdout=out)
    assert out.getvalue().strip() == f"#{exception.pk}: catalogue's notes kept: No model configured"
    assert Explanation.objects.get(exception=exception).trigger == "manual"

    since = StringIO()
    call_command("ai_reanalyze", "--since", "2000-01-01", "--tenant", "acme", stdout=since)
    assert f"#{exception.pk}:" in since.getvalue()
    with pytest.raises(CommandError, match="No exception #999999"):
        call_command("ai_reanalyze", "--exception", "999999")
    with pytest.raises(CommandError, match="Say which"):
        call_command("ai_reanalyze")
