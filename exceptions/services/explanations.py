"""Recording an analysis of an exception and applying the gate's decision to it.

The `ai` app decides (model or rules, and why) and calls these; the exception
and its trail are this app's. Under the exception's row lock:

- a used analysis replaces both notes, unless an operator wrote them meanwhile
  (an operator's note is never overwritten: the analysis is kept, not applied);
- a kept-rules analysis leaves the catalogue's notes (re-rendered from the
  current facts if an earlier model note was showing) and records why.

A note that changes is an `explained` activity, which posts to the exception's
Slack thread like any other change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from ..actors import Actor
from ..models import (
    Explanation,
    ExplanationDecision,
    ExplanationSource,
    ExplanationTrigger,
    FallbackCause,
    OrderException,
)
from .activity import activity_record, snapshot
from .raising import rule_notes

ANALYST = Actor.system("ai-analyst")
TRACKED = ["explanation_source", "explanation_label", "explanation_confidence", "ops_note"]


@dataclass(frozen=True, slots=True)
class Analysis:
    """What one analysis produced, for the record; `notes` only when used."""

    key: str
    trigger: str = ExplanationTrigger.AUTO
    cause: str = ""  # blank: the model's notes are to be used
    prompt_name: str = ""
    prompt_version: int | None = None
    prompt_hash: str = ""
    model: str = ""
    reply: dict[str, Any] | None = None
    label: str = ""
    confidence: float | None = None
    ops_note: str = ""
    client_note: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int | None = None
    detail: str = ""


def analysis_key(exception: OrderException) -> str:
    """What makes an analysis current: the same record, severity and occurrence."""
    return f"{exception.pk}:{exception.severity}:{exception.occurrence_count}"


def explanation_exists(*, exception_id: int, key: str) -> bool:
    return Explanation.objects.filter(
        exception_id=exception_id, key=key, trigger=ExplanationTrigger.AUTO
    ).exists()


def exception_explain(*, exception_id: int, analysis: Analysis, now: datetime) -> Explanation:
    """Store the analysis and apply it to the exception; returns the stored row.

    An automatic analysis of a key already analysed is not stored twice (the
    constraint decides under concurrency): the existing row is returned as is.
    """
    with transaction.atomic():
        exception = (
            OrderException.objects.select_for_update(of=("self",))
            .select_related("reason_code", "order", "tenant")
            .get(pk=exception_id)
        )
        cause = analysis.cause
        if not cause and exception.explanation_source == ExplanationSource.OPERATOR:
            cause = FallbackCause.OPERATOR_NOTE
        try:
            with transaction.atomic():
                row = Explanation.objects.create(
                    tenant_id=exception.tenant_id,
                    exception=exception,
                    key=analysis.key,
                    trigger=analysis.trigger,
                    prompt_name=analysis.prompt_name,
                    prompt_version=analysis.prompt_version,
                    prompt_hash=analysis.prompt_hash,
                    model=analysis.model,
                    reply=analysis.reply or {},
                    label=analysis.label,
                    confidence=analysis.confidence,
                    prompt_tokens=analysis.prompt_tokens,
                    completion_tokens=analysis.completion_tokens,
                    cost_usd=analysis.cost_usd,
                    latency_ms=analysis.latency_ms,
                    decision=ExplanationDecision.KEPT_RULES if cause else ExplanationDecision.USED,
                    cause=cause,
                    detail=analysis.detail[:500],
                    created_at=now,
                )
        except IntegrityError:
            return Explanation.objects.get(
                exception_id=exception_id, key=analysis.key, trigger=ExplanationTrigger.AUTO
            )
        _apply(exception, row, analysis, now)
        return row


def _apply(exception: OrderException, row: Explanation, analysis: Analysis, now: datetime) -> None:
    before = snapshot(exception, TRACKED)
    fields = ["current_explanation", "explanation_cause", "updated_at"]
    exception.current_explanation = row
    exception.explanation_cause = row.cause
    exception.updated_at = now
    unchanged = exception.explanation_source == ExplanationSource.AI and (
        exception.ops_note,
        exception.client_note,
    ) == (analysis.ops_note, analysis.client_note)
    if row.decision == ExplanationDecision.USED and unchanged:
        # The same notes again (a re-analysis that agrees): nothing to announce.
        exception.explanation_label = analysis.label
        exception.explanation_confidence = analysis.confidence
        exception.save(update_fields=[*fields, "explanation_label", "explanation_confidence"])
        return
    if row.decision == ExplanationDecision.USED:
        exception.ops_note = analysis.ops_note
        exception.client_note = analysis.client_note
        exception.explanation_source = ExplanationSource.AI
        exception.explanation_label = analysis.label
        exception.explanation_confidence = analysis.confidence
        note = f"Notes written by {row.model} (confidence {analysis.confidence:.2f})."
    elif exception.explanation_source == ExplanationSource.AI:
        # A newer analysis failed: the older model note may no longer fit the facts,
        # the catalogue's, rendered from them now, does.
        exception.explanation_source = ExplanationSource.RULES
        exception.explanation_confidence = None
        rule_notes(exception, exception.order, exception.reason_code)
        note = f"Back to the catalogue's notes: {row.get_cause_display()}."
    else:
        exception.save(update_fields=fields)
        return  # the notes shown stay as they are
    fields += [
        "ops_note",
        "client_note",
        "explanation_source",
        "explanation_label",
        "explanation_confidence",
    ]
    exception.save(update_fields=fields)
    activity_record(
        exception,
        action="explained",
        actor=ANALYST,
        at=now,
        before=before,
        after=snapshot(exception, TRACKED),
        note=note,
    )
