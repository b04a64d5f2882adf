"""One model call behind the gate every purpose shares: budget, breaker, call, charge.

The analyst (notes) and the action chooser both ask the model through
`ask_model`. It answers a `ModelAnswer`: the validated reply, or the cause why
there is none (budget, breaker_open, timeout, invalid_reply, error), with what
the call cost either way; a paid-for failure (a truncated reply) still counts
on the budget. It never raises for a model problem: the callers record the
cause and fall back to the rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

from django.conf import settings
from pydantic import BaseModel

from exceptions.models import FallbackCause

from .breaker import breaker_allow, breaker_failure, breaker_success
from .budget import budget_charge, budget_check, cost_of
from .client import ModelFailure, chat_structured
from .prompts import RenderedPrompt

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
# A rough size of the reply on top of the prompt, for the budget check before a call.
EXPECTED_REPLY_TOKENS = 400


@dataclass(frozen=True, slots=True)
class ModelAnswer(Generic[T]):
    data: T | None
    cause: str = ""
    detail: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    latency_ms: int | None = None


def ask_model(
    *, tenant_id: int, prompt: RenderedPrompt, output: type[T], schema_name: str, purpose: str
) -> ModelAnswer[T]:
    """Budget check, breaker, the call, the charge; `purpose` names the caller in logs."""
    model = settings.AI_MODEL
    expected = sum(len(m["content"]) for m in prompt.messages) // 3 + EXPECTED_REPLY_TOKENS
    budget = budget_check(tenant_id=tenant_id, expected_tokens=expected, model=model)
    if not budget.allowed:
        return ModelAnswer(None, FallbackCause.BUDGET, budget.reason, model)
    if not breaker_allow():
        return ModelAnswer(None, FallbackCause.BREAKER_OPEN, "", model)
    try:
        reply = chat_structured(messages=prompt.messages, output=output, schema_name=schema_name)
    except ModelFailure as failure:
        breaker_failure()
        log.warning("model call failed", extra={"purpose": purpose, "cause": failure.cause})
        if not (failure.prompt_tokens or failure.completion_tokens):
            return ModelAnswer(None, failure.cause, failure.detail, model)
        # A truncated or malformed reply was still paid for: it counts on the budget.
        model = failure.model or model
        charged = budget_charge(
            tenant_id=tenant_id,
            model=model,
            prompt_tokens=failure.prompt_tokens,
            completion_tokens=failure.completion_tokens,
            cost_usd=failure.cost_usd,
        )
        return ModelAnswer(
            None,
            failure.cause,
            failure.detail,
            model,
            failure.prompt_tokens,
            failure.completion_tokens,
            charged.cost_usd,
        )
    breaker_success()
    model = reply.model or model
    cost = reply.cost_usd
    if cost is None:
        cost = cost_of(model, reply.prompt_tokens, reply.completion_tokens)
    budget_charge(
        tenant_id=tenant_id,
        model=model,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost_usd=reply.cost_usd,
    )
    return ModelAnswer(
        reply.data,
        "",
        "",
        model,
        reply.prompt_tokens,
        reply.completion_tokens,
        Decimal(cost),
        reply.latency_ms,
    )
