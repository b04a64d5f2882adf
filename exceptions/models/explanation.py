"""Explanation: one analysis of an exception, used or not, with why.

Owned by `exceptions` (the exception points at its current one, and the console
shows them with it); written by the `ai` app, which asks the model and applies
the gate. Every attempt is a row, including those that never reached a model
(no model configured, sampling, breaker open, budget spent), so the console and
the stats can say for each note where it came from and why.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from orders.models import Tenant

from .record import OrderException


class ExplanationDecision(models.TextChoices):
    USED = "used", "Used (the model's notes)"
    KEPT_RULES = "kept_rules", "Kept the catalogue's notes"


class FallbackCause(models.TextChoices):
    """Why the catalogue's notes were kept (blank when the model's were used)."""

    NO_MODEL = "no_model", "No model configured"
    SAMPLING = "sampling", "Not sampled (severity below the sampling threshold)"
    BREAKER_OPEN = "breaker_open", "Model paused after repeated failures (circuit breaker)"
    BUDGET = "budget", "Daily AI budget spent"
    TIMEOUT = "timeout", "Model timed out"
    INVALID_REPLY = "invalid_reply", "Model reply invalid (truncated, refused or malformed)"
    LOW_CONFIDENCE = "low_confidence", "Model not confident enough"
    ERROR = "error", "Model call failed"
    OPERATOR_NOTE = "operator_note", "An operator wrote the notes; they are never overwritten"


class ExplanationTrigger(models.TextChoices):
    AUTO = "auto", "Automatic"
    MANUAL = "manual", "Asked for"


class ModelCallRecord(models.Model):
    """What every record of a model call keeps: the prompt, the reply, its cost and the
    gate's decision. Explanations (notes) and action choices share it."""

    prompt_name = models.CharField(max_length=64, blank=True)
    prompt_version = models.PositiveSmallIntegerField(null=True, blank=True)
    prompt_hash = models.CharField(max_length=64, blank=True, help_text="sha256 of the prompt file")
    model = models.CharField(max_length=200, blank=True)
    reply = models.JSONField(default=dict, blank=True, help_text="The parsed reply, if any.")
    confidence = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    decision = models.CharField(max_length=16, choices=ExplanationDecision.choices)
    cause = models.CharField(max_length=32, choices=FallbackCause.choices, blank=True)
    detail = models.CharField(max_length=500, blank=True, help_text="What failed, briefly.")
    created_at = models.DateTimeField()

    class Meta:
        abstract = True


class Explanation(ModelCallRecord):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    exception = models.ForeignKey(
        OrderException, on_delete=models.CASCADE, related_name="explanations"
    )
    # What was analysed: the same exception at the same severity and occurrence is
    # analysed once automatically; a re-analysis asked for adds a row.
    key = models.CharField(max_length=64, help_text="exception id : severity : occurrences")
    trigger = models.CharField(
        max_length=16, choices=ExplanationTrigger.choices, default=ExplanationTrigger.AUTO
    )
    label = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["exception", "key"],
                condition=Q(trigger=ExplanationTrigger.AUTO),
                name="explanation_auto_once_per_key",
            ),
            # Used exactly when there is no fallback cause.
            models.CheckConstraint(
                condition=Q(decision=ExplanationDecision.USED, cause="")
                | (Q(decision=ExplanationDecision.KEPT_RULES) & ~Q(cause="")),
                name="explanation_decision_matches_cause",
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                name="explanation_confidence_0_1",
            ),
            models.CheckConstraint(condition=Q(cost_usd__gte=0), name="explanation_cost_positive"),
        ]
        indexes = [
            models.Index(fields=["exception", "-created_at"], name="explanation_exception"),
            models.Index(fields=["tenant", "created_at"], name="explanation_tenant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.cause or self.model})"
