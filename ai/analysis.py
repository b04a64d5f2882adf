"""The analyst: one exception in, notes from the model or an honest reason why not.

`exception_analyze` walks the gate in order, cheapest check first, and stops at
the first that says no, recording why (`FallbackCause`):

1. no model configured (`AI_PROVIDER_BASE_URL` empty or `disabled`) → no_model
2. an operator wrote the notes → operator_note (never overwritten, no call made)
3. sampling (`AI_SAMPLING_SEVERITY=important_only` and below HIGH) → sampling
4. the shared circuit breaker is open (or Redis unreachable) → breaker_open
5. the day's token or cost budget would be exceeded → budget
6. the call: timeout / invalid_reply / error, each a breaker failure
7. a label outside the catalogue → invalid_reply; confidence below
   `AI_MIN_CONFIDENCE` → low_confidence

Every path ends in one `Explanation` row (exceptions.services.explanations),
and the exception keeps notes from its first moment: the catalogue's, until a
confident, valid reply replaces them. Nothing here raises into the task: a
failure is a recorded cause, never a failed or delayed task.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone
from pydantic import BaseModel, Field

from e2a_project.outage import unavailable_dependency
from exceptions.models import (
    Explanation,
    ExplanationTrigger,
    FallbackCause,
    OrderException,
)
from exceptions.services.explanations import (
    Analysis,
    analysis_key,
    exception_explain,
    explanation_exists,
)
from slas.models import Severity

from . import metrics
from .calls import ask_model
from .client import model_configured
from .context import analysis_context
from .prompts import render_prompt

log = logging.getLogger(__name__)

PROMPT = "exception_analysis"
IMPORTANT = {Severity.HIGH, Severity.CRITICAL}


class AnalysisReply(BaseModel):
    """What the model must answer; anything else is an invalid reply."""

    label: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0, le=1)
    ops_note: str = Field(min_length=1, max_length=2000)
    client_note: str = Field(min_length=1, max_length=1000)
    root_cause: str = Field(max_length=1000)
    recommended_actions: list[str] = Field(max_length=6)


def exception_analyze(
    *, exception_id: int, trigger: str = ExplanationTrigger.AUTO, once: bool = False
) -> Explanation | None:
    """Analyse the exception as it is now; returns the Explanation recorded.

    With `once` (the task), an automatic analysis of a state already analysed, or of
    an exception that is gone, does nothing and returns None: redelivered messages
    and the sweep's duplicates cost two reads.
    """
    exception = (
        OrderException.objects.select_related("reason_code", "order", "tenant")
        .filter(pk=exception_id)
        .first()
    )
    if exception is None:
        if once:
            return None
        raise OrderException.DoesNotExist(f"no exception {exception_id}")
    key = analysis_key(exception)
    if (
        once
        and trigger == ExplanationTrigger.AUTO
        and explanation_exists(exception_id=exception_id, key=key)
    ):
        return None
    cause = _precheck(exception)
    if cause:
        return _record(exception, Analysis(key=key, trigger=trigger, cause=cause))
    try:
        return _ask_the_model(exception, key, trigger)
    except SoftTimeLimitExceeded:
        raise  # the task records it as a timeout
    except Exception as exc:
        if unavailable_dependency(exc) is not None:
            raise  # the database or Redis is down: the message is delivered again
        # A bug here (a prompt that fails to render, a surprising reply) must not fail
        # the task or hold up the queue: the catalogue's notes stay, and it says why.
        log.exception(
            "analysis broke; the catalogue's notes stay", extra={"exception_id": exception_id}
        )
        broken = Analysis(key=key, trigger=trigger, cause=FallbackCause.ERROR, detail=repr(exc))
        return _record(exception, broken)


def _ask_the_model(exception: OrderException, key: str, trigger: str) -> Explanation:
    """Steps 4–7 of the gate: budget, breaker, the call and the reply's checks."""
    context = analysis_context(exception)
    prompt = render_prompt(PROMPT, context)
    answer = ask_model(
        tenant_id=exception.tenant_id,
        prompt=prompt,
        output=AnalysisReply,
        schema_name="exception_analysis",
        purpose="analysis",
    )
    base = Analysis(
        key=key,
        trigger=trigger,
        prompt_name=prompt.name,
        prompt_version=prompt.version,
        prompt_hash=prompt.sha256,
        model=answer.model,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        cost_usd=answer.cost_usd,
        latency_ms=answer.latency_ms,
    )
    data = answer.data
    if data is None:
        return _record(exception, replace(base, cause=answer.cause, detail=answer.detail))
    answered = replace(
        base,
        reply=data.model_dump(),
        label=data.label,
        confidence=data.confidence,
        ops_note=data.ops_note.strip(),
        client_note=data.client_note.strip(),
    )
    labels = set(context["labels"])
    if data.label not in labels:
        detail = f"label {data.label!r} is not in the catalogue"
        return _record(
            exception, replace(answered, cause=FallbackCause.INVALID_REPLY, detail=detail)
        )
    if data.confidence < settings.AI_MIN_CONFIDENCE:
        detail = f"confidence {data.confidence:.2f} < {settings.AI_MIN_CONFIDENCE}"
        return _record(
            exception, replace(answered, cause=FallbackCause.LOW_CONFIDENCE, detail=detail)
        )
    return _record(exception, answered)


def _precheck(exception: OrderException) -> str:
    """The causes that need no prompt, no Redis and no budget row."""
    if not model_configured():
        return FallbackCause.NO_MODEL
    if exception.explanation_source == "operator":
        return FallbackCause.OPERATOR_NOTE
    if settings.AI_SAMPLING_SEVERITY == "important_only" and exception.severity not in IMPORTANT:
        return FallbackCause.SAMPLING
    return ""


def _record(exception: OrderException, analysis: Analysis) -> Explanation:
    row = exception_explain(exception_id=exception.pk, analysis=analysis, now=timezone.now())
    metrics.record_analysis(decision=row.decision, cause=row.cause, cost_usd=float(row.cost_usd))
    return row
