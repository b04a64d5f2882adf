"""OrderException: one record per real problem on an order, and the breaches behind it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Cast, Concat

from orders.models import Order, Tenant
from slas.models import Breach, Severity, Stage

from .catalogue import ReasonCode


class ExceptionStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    ACKNOWLEDGED = "ACKNOWLEDGED", "Acknowledged"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    RESOLVED = "RESOLVED", "Resolved"
    CLOSED = "CLOSED", "Closed"


# Someone still has to act on these.
ACTIVE_STATUSES = (
    ExceptionStatus.OPEN,
    ExceptionStatus.ACKNOWLEDGED,
    ExceptionStatus.IN_PROGRESS,
)


class ExplanationSource(models.TextChoices):
    RULES = "rules", "Rules (catalogue templates)"
    AI = "ai", "AI"
    OPERATOR = "operator", "Operator"


class OrderException(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="exceptions")
    reason_code = models.ForeignKey(
        ReasonCode, on_delete=models.PROTECT, related_name="+", db_column="reason_code"
    )
    stage = models.CharField(max_length=16, choices=Stage.choices, blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    status = models.CharField(
        max_length=16, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN
    )
    # Readable form of the rule below: at most one record per key is not CLOSED.
    dedup_key = models.GeneratedField(
        expression=Concat(
            Cast("tenant_id", models.CharField()),
            models.Value(":"),
            Cast("order_id", models.CharField()),
            models.Value(":"),
            "reason_code",
        ),
        output_field=models.CharField(max_length=80),
        db_persist=True,
    )
    occurrence_count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    late_minutes = models.FloatField(
        null=True, blank=True, help_text="For SLA reasons: how late the stage is (or was)."
    )

    ops_note = models.TextField(blank=True)
    client_note = models.TextField(blank=True)
    explanation_source = models.CharField(
        max_length=16, choices=ExplanationSource.choices, default=ExplanationSource.RULES
    )
    explanation_label = models.CharField(max_length=120, blank=True)
    explanation_confidence = models.FloatField(null=True, blank=True)
    # The latest analysis (ai app) and, when the catalogue's notes were kept, why.
    current_explanation = models.ForeignKey(
        "exceptions.Explanation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    explanation_cause = models.CharField(
        max_length=32,
        blank=True,
        help_text="Why the catalogue's notes were kept at the last analysis (see Explanation).",
    )

    acknowledged_by = models.CharField(max_length=200, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        "auth.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_exceptions",
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When beat next escalates it if nobody has acted by then.",
    )
    resolved_by = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_code = models.CharField(max_length=32, blank=True)
    resolution_text = models.TextField(blank=True)
    resolution_attempts = models.PositiveSmallIntegerField(default=0)
    max_resolution_attempts = models.PositiveSmallIntegerField(default=2)
    blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=255, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="The facts that opened it.")
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        verbose_name = "exception"
        # Lifecycle actions (acknowledge, snooze, resolve, …, and sending a notification
        # again) go through the services and the audit trail; they are not plain edits.
        permissions = [("act_on_exception", "Can act on exceptions")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "order", "reason_code"],
                condition=~Q(status=ExceptionStatus.CLOSED),
                name="exception_one_open_per_key",
            ),
            models.CheckConstraint(
                condition=Q(occurrence_count__gte=1), name="exception_occurrences_positive"
            ),
            models.CheckConstraint(
                condition=Q(last_seen_at__gte=models.F("first_seen_at")),
                name="exception_seen_in_order",
            ),
            models.CheckConstraint(
                condition=Q(explanation_confidence__isnull=True)
                | Q(explanation_confidence__gte=0, explanation_confidence__lte=1),
                name="exception_confidence_0_1",
            ),
            models.CheckConstraint(
                condition=Q(resolution_attempts__lte=models.F("max_resolution_attempts")),
                name="exception_attempts_within_max",
            ),
            models.CheckConstraint(
                condition=Q(blocked=False) | ~Q(blocked_reason=""),
                name="exception_blocked_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[ExceptionStatus.RESOLVED, ExceptionStatus.CLOSED],
                    resolved_at__isnull=False,
                )
                | Q(status__in=ACTIVE_STATUSES, resolved_at__isnull=True),
                name="exception_resolved_at_matches_status",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[ExceptionStatus.ACKNOWLEDGED, ExceptionStatus.IN_PROGRESS])
                | Q(acknowledged_at__isnull=False),
                name="exception_acknowledged_at_set",
            ),
            models.CheckConstraint(
                condition=~Q(status=ExceptionStatus.CLOSED) | Q(closed_at__isnull=False),
                name="exception_closed_at_set",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "status", "-last_seen_at"], name="exception_tenant_list"
            ),
            models.Index(fields=["order"], name="exception_order"),
            # Stats by period: what was first seen, and what was created, in it. The
            # reason code rides along so the dashboard's chart of exceptions per day and
            # reason reads the index alone.
            models.Index(
                fields=["tenant", "first_seen_at", "reason_code"], name="exception_tenant_seen"
            ),
            models.Index(fields=["tenant", "created_at"], name="exception_tenant_created"),
            # Beat's escalation entry point: only records someone still has to act on.
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(status__in=ACTIVE_STATUSES, next_escalation_at__isnull=False),
                name="exception_escalation_due",
            ),
            # Beat closes resolved records after the reopen window.
            models.Index(
                fields=["resolved_at"],
                condition=Q(status=ExceptionStatus.RESOLVED),
                name="exception_resolved_open",
            ),
        ]

    def __str__(self) -> str:
        # What the console shows as the record's title and breadcrumb: the merchant's
        # order number, as operators say it, not the order's database id. Admin
        # querysets select the order and tenant, so this costs no query there.
        order = f"{self.tenant.slug} {self.order.external_id}"
        return f"{self.reason_code_id} on {order} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class ExceptionBreach(models.Model):
    """An SLA breach and the exception it opened or updated (each breach hangs on one)."""

    breach = models.OneToOneField(
        Breach, on_delete=models.CASCADE, primary_key=True, related_name="exception_link"
    )
    exception = models.ForeignKey(
        OrderException, on_delete=models.CASCADE, related_name="breach_links"
    )
    linked_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["exception"], name="exception_breach_exception")]

    def __str__(self) -> str:
        return f"breach {self.breach_id} → exception {self.exception_id}"
