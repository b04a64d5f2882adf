"""The model's choice among a playbook's actions, against a real local chat-completions
server: used only above both bars (confidence 0.7, success 0.6), otherwise the rules'
choice stands and the row says why."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from ai.models import AiDailySpend
from exceptions.automation.services import exception_automate
from exceptions.models import (
    ActionChoice,
    ActionKind,
    ChosenBy,
    FallbackCause,
    OrderException,
    RunStatus,
)
from exceptions.services.explanations import Analysis, analysis_key, exception_explain

from .exception_helpers import make_order, raise_exception
from .llm_server import Canned

pytestmark = pytest.mark.django_db


def late_delivery(tenant) -> OrderException:
    """DELIVERY_DELAY: the playbook offers the client note first, then a carrier trace.
    Explained by the rules (the model is kept for the choice)."""
    order = make_order(
        tenant,
        "#4242",
        carrier="UPS",
        tracking_number="1Z4242",
        shipping_address={"address1": "9 Secret Lane", "city": "Leeds", "zip": "LS1 4AP"},
        customer={"email": "pat@example.org"},
    )
    exception = raise_exception(order, "DELIVERY_DELAY", evidence={"promised_at": "x"})
    exception_explain(
        exception_id=exception.pk,
        analysis=Analysis(key=analysis_key(exception), cause=FallbackCause.NO_MODEL),
        now=timezone.now(),
    )
    return exception


def choice_reply(**answer) -> Canned:
    content = {
        "action": "carrier_trace",
        "confidence": 0.82,
        "success_probability": 0.7,
        "rationale": "Tracking stopped at the depot.",
        **answer,
    }
    return Canned(
        body={
            "model": "openai/gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": json.dumps(content)},
                }
            ],
            "usage": {"prompt_tokens": 500, "completion_tokens": 40},
        }
    )


def test_a_confident_choice_is_used_and_recorded(tenant, llm_server):
    exception = late_delivery(tenant)
    llm_server.queue("action_choice")
    run = exception_automate(exception_id=exception.pk)
    assert (run.kind, run.chosen_by) == (ActionKind.CARRIER_TRACE, ChosenBy.AI)
    assert run.status == RunStatus.RECORDED  # no endpoint: only recorded
    choice = run.choice
    assert (choice.decision, choice.cause, choice.kind) == ("used", "", ActionKind.CARRIER_TRACE)
    assert choice.candidates == [ActionKind.SEND_CLIENT_NOTE, ActionKind.CARRIER_TRACE]
    assert (choice.confidence, choice.success_probability) == (0.82, 0.7)
    assert choice.prompt_name == "automated_resolution" and choice.prompt_version == 1
    assert str(choice.cost_usd) == "0.00011640"
    assert AiDailySpend.objects.get(tenant=tenant).tokens_in == 520
    [request] = llm_server.requests
    sent = json.dumps(request.body)
    assert "send_client_note" in sent and "carrier_trace" in sent and "#4242" in sent
    for personal in ("9 Secret Lane", "pat@example.org"):
        assert personal not in sent
    # The next action is the one left: one candidate, no model call.
    second = exception_automate(exception_id=exception.pk)
    assert (second.kind, second.chosen_by) == (ActionKind.SEND_CLIENT_NOTE, ChosenBy.RULES)
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "cause", "detail"),
    [
        ({"success_probability": 0.4}, FallbackCause.LOW_CONFIDENCE, "success probability 0.40"),
        ({"confidence": 0.6}, FallbackCause.LOW_CONFIDENCE, "confidence 0.60 < 0.7"),
        ({"action": "reship"}, FallbackCause.INVALID_REPLY, "'reship' is not a candidate"),
    ],
)
def test_below_the_bar_the_rules_choose(tenant, llm_server, answer, cause, detail):
    exception = late_delivery(tenant)
    llm_server.queue_reply(choice_reply(**answer))
    run = exception_automate(exception_id=exception.pk)
    assert (run.kind, run.chosen_by) == (ActionKind.SEND_CLIENT_NOTE, ChosenBy.RULES)
    choice = ActionChoice.objects.get(exception=exception)
    assert (choice.decision, choice.cause) == ("kept_rules", cause)
    assert detail in choice.detail
    assert run.choice == choice


def test_a_failing_model_leaves_the_rules_choice(tenant, llm_server):
    exception = late_delivery(tenant)
    llm_server.queue("server_error", "server_error")
    run = exception_automate(exception_id=exception.pk)
    assert (run.kind, run.chosen_by) == (ActionKind.SEND_CLIENT_NOTE, ChosenBy.RULES)
    assert run.choice.cause == FallbackCause.ERROR


def test_without_a_model_the_choice_row_says_so(tenant, settings):
    settings.AI_PROVIDER_BASE_URL = ""
    exception = late_delivery(tenant)
    run = exception_automate(exception_id=exception.pk)
    assert run.chosen_by == ChosenBy.RULES
    assert run.choice.cause == FallbackCause.NO_MODEL
