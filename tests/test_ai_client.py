"""The model client against a real local chat-completions server (tests/llm_server.py).

Each canned reply ends in validated data or in the ModelFailure cause callers act on;
retries, the json_schema → json_object fallback, the optional key and the overall
timeout are seen from the server's side, as a provider would see them.
"""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any, Literal

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field

from ai import client
from ai.client import ModelFailure, StructuredReply, chat_structured, model_configured

from .llm_server import Canned, LLMServer

Label = Literal[
    "PICK_DELAY", "PACK_DELAY", "SHIP_DELAY", "CARRIER_ISSUE", "DELIVERY_DELAY", "OTHER"
]


class Analysis(BaseModel):
    """Stands in for the real analysis model (ai/analysis.py): the client is generic."""

    label: Label
    confidence: float = Field(ge=0, le=1)
    ops_note: str
    client_note: str
    root_cause: str
    recommended_actions: list[str]


MESSAGES = [
    {"role": "system", "content": "You explain fulfilment exceptions to a 3PL ops lead."},
    {"role": "user", "content": "Order 1042 (Jane Doe, 12 Elm St) missed its pick SLA."},
]


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's waits between attempts, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(client, "sleep", waited.append)
    return waited


def ask(**kwargs: Any) -> StructuredReply[Analysis]:
    return chat_structured(
        messages=MESSAGES, output=Analysis, schema_name="exception_analysis", **kwargs
    )


def failure_of(**kwargs: Any) -> ModelFailure:
    with pytest.raises(ModelFailure) as caught:
        ask(**kwargs)
    return caught.value


def formats(server: LLMServer) -> list[str]:
    return [r.body["response_format"]["type"] for r in server.requests]


def test_a_good_reply_is_validated_data_with_its_usage(llm_server):
    llm_server.queue("good")

    reply = ask()

    assert reply.data.label == "PICK_DELAY"
    assert reply.data.confidence == pytest.approx(0.86)
    assert reply.data.recommended_actions[0] == "Move the order to the next priority wave"
    assert reply.raw.startswith('{"label": "PICK_DELAY"')
    assert reply.model == "openai/gpt-4o-mini-2024-07-18"
    assert (reply.prompt_tokens, reply.completion_tokens) == (412, 118)
    assert reply.cost_usd == Decimal("0.0001334")
    assert reply.attempts == 1
    assert reply.response_format == "json_schema"
    assert 0 <= reply.latency_ms < 5000


def test_the_request_asks_for_strict_json_schema(llm_server):
    llm_server.queue("good")

    ask(max_tokens=300)

    [request] = llm_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "openai/gpt-4o-mini"
    assert request.body["messages"] == MESSAGES
    assert request.body["max_tokens"] == 300
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "exception_analysis"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == sorted(Analysis.model_fields)
    assert "PICK_DELAY" in schema["properties"]["label"]["enum"]


def test_max_tokens_defaults_to_the_setting(llm_server, settings):
    settings.AI_MAX_REPLY_TOKENS = 555
    llm_server.queue("good")

    ask()

    assert llm_server.requests[0].body["max_tokens"] == 555


@pytest.mark.parametrize("name", ["fenced", "chatty"])
def test_json_is_pulled_out_of_fences_and_chatter(llm_server, name):
    llm_server.queue(name)

    reply = ask()

    assert reply.data.label == "PICK_DELAY"
    assert reply.data.client_note.startswith("Your order is taking longer")
    assert reply.raw != reply.data.model_dump_json()  # raw keeps what the model said


def test_low_confidence_is_still_data_the_gate_decides(llm_server):
    llm_server.queue("low_confidence")

    reply = ask()

    assert reply.data.confidence == pytest.approx(0.31)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("unknown_label", "label"),
        ("truncated", "cut off"),
        ("refusal", "refused"),
    ],
)
def test_bad_replies_are_invalid_replies_never_data(llm_server, name, detail):
    llm_server.queue(name)

    failure = failure_of()

    assert failure.cause == "invalid_reply"
    assert detail in failure.detail
    assert failure.prompt_tokens == 412  # billed all the same: a budget can count it
    assert len(llm_server.requests) == 1


def _completion(content: Any, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "model": "m",
        "choices": [{"finish_reason": finish_reason, "message": {"content": content}}],
    }


@pytest.mark.parametrize(
    "body",
    [
        _completion('{"label": "PICK_DELAY"}', finish_reason="content_filter"),
        _completion("I could not find anything wrong with this order."),
        _completion(""),
        _completion('["PICK_DELAY", 0.9]'),
        {"model": "m", "choices": []},
        "<html>Bad gateway</html>",
    ],
    ids=["content_filter", "prose", "empty", "array", "no_choices", "html"],
)
def test_other_unusable_replies_are_invalid(llm_server, body):
    llm_server.queue_reply(Canned(200, body=body))

    assert failure_of().cause == "invalid_reply"


def test_a_validation_failure_does_not_quote_the_reply(llm_server):
    llm_server.queue("unknown_label")

    failure = failure_of()

    assert "GREMLINS" not in failure.detail
    assert "GREMLINS" not in str(failure)


def test_429_waits_as_long_as_retry_after_then_tries_again(llm_server, sleeps):
    llm_server.queue("rate_limited", "good")

    reply = ask()

    assert reply.data.label == "PICK_DELAY"
    assert reply.attempts == 2
    assert len(llm_server.requests) == 2
    assert sleeps == [1.0]


def test_retry_after_as_an_http_date_is_honoured(llm_server, sleeps):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    llm_server.queue_reply(Canned(429, headers={"Retry-After": when}, body={"error": "slow"}))
    llm_server.queue("good")

    ask()

    assert len(sleeps) == 1
    assert 1.0 < sleeps[0] <= 3.0


def test_a_retry_after_past_the_timeout_budget_is_not_waited_for(llm_server, sleeps):
    llm_server.queue_reply(Canned(429, headers={"Retry-After": "60"}, body={"error": "slow"}))
    llm_server.queue("good")

    failure = failure_of()

    assert failure.cause == "error"
    assert "429" in failure.detail
    assert sleeps == []
    assert len(llm_server.requests) == 1


def test_500_is_retried_with_growing_jittered_backoff_up_to_max_attempts(
    llm_server, settings, sleeps
):
    settings.AI_RETRY_MAX_ATTEMPTS = 3
    llm_server.queue(*["server_error"] * 5)

    failure = failure_of()

    assert failure.cause == "error"
    assert "500" in failure.detail
    assert failure.attempts == 3
    assert len(llm_server.requests) == 3
    assert len(sleeps) == 2
    first, second = sleeps
    assert client.BACKOFF_BASE_SECONDS / 2 <= first <= client.BACKOFF_BASE_SECONDS
    assert client.BACKOFF_BASE_SECONDS <= second <= 2 * client.BACKOFF_BASE_SECONDS


def test_a_500_then_a_good_reply_is_data(llm_server):
    llm_server.queue("server_error", "good")

    reply = ask()

    assert reply.attempts == 2
    assert reply.data.label == "PICK_DELAY"


def test_400_is_never_retried(llm_server, sleeps):
    llm_server.queue("bad_request", "good")

    failure = failure_of()

    assert failure.cause == "error"
    assert "400" in failure.detail
    assert "max_tokens is too large" in failure.detail
    assert len(llm_server.requests) == 1
    assert sleeps == []


def test_a_server_without_json_schema_gets_json_object_from_then_on(llm_server):
    llm_server.queue("refuses_json_schema", "good", "good")

    first = ask()
    second = ask()

    assert formats(llm_server) == ["json_schema", "json_object", "json_object"]
    assert (first.response_format, first.attempts) == ("json_object", 2)
    assert (second.response_format, second.attempts) == ("json_object", 1)
    assert first.data.label == second.data.label == "PICK_DELAY"
    # json_object promises JSON but not its shape: the schema goes into the prompt.
    fallback_messages = llm_server.requests[1].body["messages"]
    assert fallback_messages[0]["role"] == "system"
    assert "JSON schema" in fallback_messages[0]["content"]
    assert '"PICK_DELAY"' in fallback_messages[0]["content"]
    assert fallback_messages[1:] == MESSAGES


def test_the_fallback_is_remembered_per_server(llm_server, settings):
    llm_server.queue("refuses_json_schema", "good")
    ask()
    other = LLMServer().start()
    try:
        other.queue("good")
        settings.AI_PROVIDER_BASE_URL = other.url + "/"
        assert ask().response_format == "json_schema"
    finally:
        other.stop()


def test_no_authorization_header_without_a_key(llm_server):
    llm_server.queue("good")

    ask()

    assert "authorization" not in llm_server.requests[0].headers


def test_the_key_is_sent_as_a_bearer_token(llm_server, settings):
    settings.AI_API_KEY = "sk-or-test-123"
    llm_server.queue("good")

    ask()

    assert llm_server.requests[0].headers["authorization"] == "Bearer sk-or-test-123"


def test_a_hanging_server_ends_as_timeout_within_the_budget(llm_server, settings):
    settings.AI_TIMEOUT_SECONDS = 1.0
    llm_server.queue("hang")

    started = time.monotonic()
    failure = failure_of()
    elapsed = time.monotonic() - started

    assert failure.cause == "timeout"
    assert 0.9 <= elapsed < 2.0
    assert len(llm_server.requests) == 1  # a timeout spent the budget: nothing to retry in


def test_connection_refused_is_retried_then_an_error(settings, sleeps):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.AI_PROVIDER_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.AI_TIMEOUT_SECONDS = 5.0
    settings.AI_RETRY_MAX_ATTEMPTS = 2

    failure = failure_of()

    assert failure.cause == "error"
    assert "ConnectError" in failure.detail
    assert failure.attempts == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("base_url", "configured"),
    [("", False), ("disabled", False), ("  ", False), ("http://127.0.0.1:11434/v1", True)],
)
def test_model_configured(settings, base_url, configured):
    settings.AI_PROVIDER_BASE_URL = base_url

    assert model_configured() is configured


def test_no_model_configured_is_an_error_without_a_request(settings):
    settings.AI_PROVIDER_BASE_URL = "disabled"

    assert failure_of().cause == "error"


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_calls_are_counted_with_their_tokens(llm_server):
    before_ok = _sample("e2a_ai_requests_total", outcome="ok")
    before_invalid = _sample("e2a_ai_requests_total", outcome="invalid_reply")
    before_in = _sample("e2a_ai_tokens_total", direction="in")
    before_out = _sample("e2a_ai_tokens_total", direction="out")
    before_latency = _sample("e2a_ai_request_latency_seconds_count", outcome="ok")
    llm_server.queue("good", "truncated")

    ask()
    failure_of()

    assert _sample("e2a_ai_requests_total", outcome="ok") == before_ok + 1
    assert _sample("e2a_ai_requests_total", outcome="invalid_reply") == before_invalid + 1
    assert _sample("e2a_ai_tokens_total", direction="in") == before_in + 412 + 412
    assert _sample("e2a_ai_tokens_total", direction="out") == before_out + 118 + 64
    assert _sample("e2a_ai_request_latency_seconds_count", outcome="ok") == before_latency + 1


def test_nothing_of_the_prompt_or_reply_is_logged(llm_server, caplog):
    llm_server.queue("good", "unknown_label", "bad_request")
    caplog.set_level(logging.DEBUG)

    ask()
    failure_of()
    failure_of()

    logged = " ".join(
        f"{record.getMessage()} {record.__dict__}"
        for record in caplog.records
        if record.name.startswith("ai")
    )
    assert "model call ok" in logged
    assert "model call failed" in logged
    for secret in ("Jane Doe", "Elm St", "zone B", "Your order", "GREMLINS"):
        assert secret not in logged


def test_retry_after_parsing():
    assert client.retry_after_seconds(None) is None
    assert client.retry_after_seconds("2") == 2.0
    assert client.retry_after_seconds("-5") == 0.0
    assert client.retry_after_seconds("soon") is None
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=1), usegmt=True)
    assert client.retry_after_seconds(past) == 0.0


def test_extract_json_object():
    assert client.extract_json_object('{"a": 1}') == {"a": 1}
    assert client.extract_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    assert client.extract_json_object('<think>{"no": 0}</think>Here: {"a": 1}.') == {"a": 1}
    assert client.extract_json_object('Sure! {not json} then {"a": {"b": 2}} ok') == {"a": {"b": 2}}
    assert client.extract_json_object("no object here") is None
