"""The analyst end to end against a real local chat-completions server (tests/llm_server.py):
the gate's every cause, the budget and breaker on the way, the task's idempotency, and
that nothing personal reaches the model server or a log line."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

import pytest

from ai import breaker
from ai.analysis import exception_analyze
from ai.models import AiDailySpend
from ai.tasks import analyze_exception
from exceptions.models import Explanation, ExplanationSource, OrderException
from exceptions.services import lifecycle

from .exception_helpers import OPERATOR, make_order, raise_exception
from .factories import TenantFactory

PERSONAL = ["Jana", "Novak", "jana.novak@example.org", "+49 30 1234567", "Lindenstraße 12"]


@pytest.fixture(autouse=True)
def own_breaker(settings):
    """Each test its own breaker: a fresh key prefix in Redis, a fresh in-process one."""
    settings.REDIS_KEY_PREFIX = f"test-analyst-{uuid.uuid4().hex[:8]}:"
    settings.AI_BREAKER_FAILURES = 2
    breaker.reset_state()
    yield
    breaker.reset_state()


def _exception(severity: str = "HIGH") -> OrderException:
    tenant = TenantFactory(slug="acme")
    order = make_order(
        tenant,
        "#1042",
        warehouse="BER-1",
        customer={"first_name": "Jana", "last_name": "Novak", "email": PERSONAL[2]},
        shipping_address={
            "first_name": "Jana",
            "last_name": "Novak",
            "phone": PERSONAL[3],
            "address1": PERSONAL[4],
            "city": "Berlin",
            "zip": "10969",
            "country_code": "DE",
        },
    )
    return raise_exception(order, "PICK_DELAY", severity=severity, late_minutes=185)


def _sent(llm_server) -> str:
    return "\n".join(str(r.body) for r in llm_server.requests)


@pytest.mark.django_db
def test_a_confident_reply_writes_both_notes_and_charges_the_budget(llm_server, caplog) -> None:
    exception = _exception()
    llm_server.queue("good")
    with caplog.at_level(logging.DEBUG):
        row = exception_analyze(exception_id=exception.pk)

    exception.refresh_from_db()
    assert (row.decision, row.cause, row.label) == ("used", "", "PICK_DELAY")
    assert exception.explanation_source == ExplanationSource.AI
    assert exception.ops_note.startswith("Order #1042 was released")
    assert (row.prompt_tokens, row.completion_tokens) == (412, 118)
    row.refresh_from_db()
    assert row.cost_usd == Decimal("0.0001334")  # the provider's own figure
    assert row.prompt_name == "exception_analysis" and row.prompt_version == 1
    spent = AiDailySpend.objects.get(tenant=exception.tenant)
    assert (spent.tokens_in, spent.tokens_out, spent.calls) == (412, 118, 1)
    # Nothing personal left E²A or reached a log line; the facts to judge by did.
    sent = _sent(llm_server)
    logged = caplog.text
    for value in PERSONAL:
        assert value not in sent and value not in logged, value
    assert "10969" in sent and "#1042" in sent and "185" in sent


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        ("low_confidence", "low_confidence"),
        ("unknown_label", "invalid_reply"),
        ("truncated", "invalid_reply"),
        ("refusal", "invalid_reply"),
    ],
)
def test_a_reply_the_gate_refuses_keeps_the_catalogues_notes(llm_server, reply, cause) -> None:
    exception = _exception()
    rules_note = exception.ops_note
    llm_server.queue(reply)
    row = exception_analyze(exception_id=exception.pk)
    exception.refresh_from_db()
    assert (row.decision, row.cause) == ("kept_rules", cause)
    assert exception.ops_note == rules_note and exception.explanation_cause == cause


@pytest.mark.django_db
def test_no_model_sampling_and_an_operators_note_make_no_call(llm_server, settings) -> None:
    exception = _exception(severity="MEDIUM")
    settings.AI_SAMPLING_SEVERITY = "important_only"
    assert exception_analyze(exception_id=exception.pk).cause == "sampling"

    settings.AI_SAMPLING_SEVERITY = "all"
    lifecycle.exception_update_notes(exception_id=exception.pk, actor=OPERATOR, ops_note="Mine.")
    rerun = exception_analyze(exception_id=exception.pk, trigger="manual")
    assert rerun.cause == "operator_note"

    settings.AI_PROVIDER_BASE_URL = "disabled"
    assert exception_analyze(exception_id=_other_exception().pk).cause == "no_model"
    assert llm_server.requests == []


def _other_exception() -> OrderException:
    order = make_order(TenantFactory(slug="globex"), "#7")
    return raise_exception(order, "PACK_DELAY")


@pytest.mark.django_db
def test_failures_open_the_breaker_and_then_no_call_is_made(llm_server, settings) -> None:
    settings.AI_RETRY_MAX_ATTEMPTS = 1
    exception = _exception()
    llm_server.queue("server_error", "server_error")
    again = {"exception_id": exception.pk, "trigger": "manual"}  # each run its own row
    assert exception_analyze(**again).cause == "error"
    assert exception_analyze(**again).cause == "error"
    assert breaker.breaker_state() == "open"
    calls = len(llm_server.requests)
    third = exception_analyze(**again)
    assert third.cause == "breaker_open", third.detail
    assert len(llm_server.requests) == calls


@pytest.mark.django_db
def test_a_spent_budget_stops_calls(llm_server, settings) -> None:
    settings.AI_MAX_DAILY_TOKENS = 100  # less than one prompt
    row = exception_analyze(exception_id=_exception().pk)
    assert row.cause == "budget" and llm_server.requests == []


@pytest.mark.django_db
def test_the_task_analyses_each_state_once_and_a_manual_run_again(llm_server) -> None:
    exception = _exception()
    llm_server.queue("good", "good")
    assert analyze_exception(exception.pk) == "used"
    assert analyze_exception(exception.pk) == "done before"
    assert analyze_exception(exception.pk, "manual") == "used"
    assert len(llm_server.requests) == 2
    assert Explanation.objects.filter(exception=exception).count() == 2
    # The re-analysis agreed word for word: one "explained" activity, not two.
    assert exception.activity.filter(action="explained").count() == 1


@pytest.mark.django_db(transaction=True)
def test_opening_an_exception_is_analysed_by_the_worker_path(llm_server) -> None:
    """Raised in a transaction, analysed after its commit through the hook and the task
    (eager here, as in tests), and the notes are the model's by the time it returns."""
    llm_server.queue("good")
    exception = _exception()
    exception.refresh_from_db()
    assert exception.explanation_source == ExplanationSource.AI
    assert exception.current_explanation is not None
    assert len(llm_server.requests) == 1


@pytest.mark.django_db
def test_the_stats_report_shows_where_notes_came_from_and_todays_spend(llm_server) -> None:
    from io import StringIO

    from django.core.management import call_command

    exception = _exception()
    llm_server.queue("good", "low_confidence")
    exception_analyze(exception_id=exception.pk)
    exception_analyze(exception_id=exception.pk, trigger="manual")
    out = StringIO()
    call_command("stats", tenant="acme", stdout=out)
    text = out.getvalue()
    assert "Notes: analyses by outcome" in text
    # Each table row: its label, then its figure last.
    lines = {
        line.strip().rsplit(" ", 1)[0].strip(): line.split()[-1]
        for line in text.splitlines()
        if line.startswith("  ") and " " in line.strip()
    }
    assert lines.get("model's notes used") == "1"
    assert lines.get("catalogue kept: Model not confident enough") == "1"
    assert lines.get("calls") == "2" and lines.get("tokens in") == "824"


@pytest.mark.django_db
def test_a_truncated_reply_is_still_paid_for_and_counted(llm_server) -> None:
    exception = _exception()
    llm_server.queue("truncated")
    row = exception_analyze(exception_id=exception.pk)
    assert row.cause == "invalid_reply" and row.prompt_tokens > 0
    spent = AiDailySpend.objects.get(tenant=exception.tenant)
    assert (spent.tokens_in, spent.calls) == (row.prompt_tokens, 1)


@pytest.mark.django_db
def test_a_bug_in_the_analysis_is_a_recorded_error_not_a_failed_task(llm_server, monkeypatch):
    from ai import analysis

    def broken(_exception):
        raise KeyError("a fact the prompt wants")

    monkeypatch.setattr(analysis, "analysis_context", broken)
    exception = _exception()
    assert analyze_exception(exception.pk) == "error"
    row = Explanation.objects.get(exception=exception)
    assert row.decision == "kept_rules" and "KeyError" in row.detail
    assert llm_server.requests == []
