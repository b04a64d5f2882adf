"""The action chooser: the model may pick which of a playbook's actions to try first.

Registered with `exceptions.automation.choosers` in AiConfig.ready(). Every
consultation is one `ActionChoice` row, used or not, through the analyst's gate
(no model, budget, breaker, the call's causes) plus its own bar: the action must
be one of the candidates, the confidence at least AI_ACTION_MIN_CONFIDENCE and
the success probability at least AI_ACTION_MIN_SUCCESS. Below it, the rules'
choice (the playbook's order) stands.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from pydantic import BaseModel, Field

from exceptions.models import (
    ActionChoice,
    ActionRun,
    ExplanationDecision,
    FallbackCause,
    OrderException,
    PlaybookAction,
)

from . import metrics
from .calls import ask_model
from .client import model_configured
from .context import analysis_context
from .prompts import render_prompt

PROMPT = "automated_resolution"
TRACK_RECORD_DAYS = 30


class ActionReply(BaseModel):
    action: str = Field(min_length=1, max_length=32)
    confidence: float = Field(ge=0, le=1)
    success_probability: float = Field(ge=0, le=1)
    rationale: str = Field(max_length=500)


def action_choose(exception: OrderException, candidates: list[PlaybookAction]) -> ActionChoice:
    """Ask the model which candidate to try; the row says whether its pick is used."""
    kinds = [action.kind for action in candidates]
    row = ActionChoice(
        tenant_id=exception.tenant_id,
        exception=exception,
        candidates=kinds,
        created_at=timezone.now(),
        model=settings.AI_MODEL,
    )
    if not model_configured():
        return _save(row, FallbackCause.NO_MODEL)
    prompt = render_prompt(PROMPT, _context(exception, candidates))
    row.prompt_name, row.prompt_version = prompt.name, prompt.version
    row.prompt_hash = prompt.sha256
    answer = ask_model(
        tenant_id=exception.tenant_id,
        prompt=prompt,
        output=ActionReply,
        schema_name="automated_resolution",
        purpose="action_choice",
    )
    row.model = answer.model
    row.prompt_tokens, row.completion_tokens = answer.prompt_tokens, answer.completion_tokens
    row.cost_usd, row.latency_ms = answer.cost_usd, answer.latency_ms
    data = answer.data
    if data is None:
        return _save(row, answer.cause, answer.detail)
    row.reply = data.model_dump()
    row.kind = data.action
    row.confidence = data.confidence
    row.success_probability = data.success_probability
    if data.action not in kinds:
        return _save(row, FallbackCause.INVALID_REPLY, f"{data.action!r} is not a candidate")
    if data.confidence < settings.AI_ACTION_MIN_CONFIDENCE:
        detail = f"confidence {data.confidence:.2f} < {settings.AI_ACTION_MIN_CONFIDENCE}"
        return _save(row, FallbackCause.LOW_CONFIDENCE, detail)
    if data.success_probability < settings.AI_ACTION_MIN_SUCCESS:
        detail = (
            f"success probability {data.success_probability:.2f} < {settings.AI_ACTION_MIN_SUCCESS}"
        )
        return _save(row, FallbackCause.LOW_CONFIDENCE, detail)
    return _save(row, "")


def _save(row: ActionChoice, cause: str, detail: str = "") -> ActionChoice:
    row.cause = cause
    row.detail = detail[:500]
    row.decision = ExplanationDecision.KEPT_RULES if cause else ExplanationDecision.USED
    row.save()
    metrics.record_action_choice(
        decision=row.decision, cause=row.cause, cost_usd=float(row.cost_usd)
    )
    return row


def _context(exception: OrderException, candidates: list[PlaybookAction]) -> dict[str, Any]:
    context = analysis_context(exception)
    since = timezone.now() - timedelta(days=TRACK_RECORD_DAYS)
    kinds = [action.kind for action in candidates]
    track: dict[str, dict[str, int]] = {}
    for row in (
        ActionRun.objects.filter(
            tenant_id=exception.tenant_id, kind__in=kinds, created_at__gte=since
        )
        .values("kind", "status")
        .annotate(n=Count("pk"))
        .order_by("kind", "status")
    ):
        track.setdefault(row["kind"], {})[row["status"]] = row["n"]
    tried = [
        {"kind": run.kind, "status": run.status, "detail": run.detail[:200]}
        for run in ActionRun.objects.filter(exception=exception).order_by("created_at", "pk")
    ]
    return {
        **context,
        "candidates": [
            {
                "kind": action.kind,
                "target": action.target,
                "note": action.note,
                "requires_approval": action.requires_approval
                or exception.reason_code.requires_approval,
            }
            for action in candidates
        ],
        "tried_here": tried,
        "track_record": track,
    }
