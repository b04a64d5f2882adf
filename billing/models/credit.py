"""SLA credits: what a merchant gets back for an order whose warehouse stages ran late.

One row per order, kept in step with the order's breaches every time its invoice is
refreshed (`billing.credits`). The row outlives the invoice's lines, which are
rewritten on every refresh, because it carries a decision: small credits are approved
by the rules, large ones wait for a Finance user, and a person's decision stands for
as long as the amount it was taken on.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from orders.models import Order, Tenant

from .invoice import Invoice


class CreditStatus(models.TextChoices):
    PENDING = "pending", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn (breach cleared)"


AUTO_DECIDER = "rules"  # `decided_by` of a credit the thresholds approved


class SlaCredit(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="sla_credit")
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        related_name="sla_credits",
        help_text="The invoice of the order's first billed month: the credit is booked there.",
    )
    status = models.CharField(max_length=10, choices=CreditStatus.choices)
    stages = models.CharField(max_length=40, help_text="The late warehouse stages, e.g. pick pack.")
    severity = models.CharField(max_length=16, help_text="The highest of their severities.")
    breach_ids = models.TextField(help_text="The breaches that earn the credit, space-separated.")
    percent = models.PositiveSmallIntegerField(help_text="Of the order's operation fees.")
    base_cents = models.BigIntegerField(help_text="The order's operation fees, all months.")
    amount_cents = models.BigIntegerField(help_text="Credited (≥ 0; 0 once withdrawn).")
    needs_review = models.BooleanField(
        default=False,
        help_text="Approved by the thresholds but above the auto-credit one: listed for review.",
    )
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_cents = models.BigIntegerField(
        null=True, blank=True, help_text="The amount a person decided on; a new amount reopens it."
    )
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-amount_cents", "order"]
        verbose_name = "SLA credit"
        permissions = [("approve_credit", "Can approve and reject SLA credits")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CreditStatus.values), name="credit_status_known"
            ),
            models.CheckConstraint(
                condition=Q(amount_cents__gte=0) & Q(amount_cents__lte=models.F("base_cents")),
                name="credit_within_operation_fees",
            ),
            models.CheckConstraint(
                condition=Q(percent__lte=100), name="credit_percent_at_most_100"
            ),
            models.CheckConstraint(
                condition=~Q(status=CreditStatus.WITHDRAWN) | Q(amount_cents=0),
                name="credit_withdrawn_is_zero",
            ),
            models.CheckConstraint(
                condition=Q(status=CreditStatus.PENDING)
                | Q(status=CreditStatus.WITHDRAWN)
                | (~Q(decided_by="") & Q(decided_at__isnull=False)),
                name="credit_decision_has_who_and_when",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__in=["", AUTO_DECIDER]) | ~Q(decision_reason=""),
                name="credit_person_gives_reason",
            ),
        ]
        indexes = [models.Index(fields=["invoice", "status"], name="credit_invoice_status")]

    def __str__(self) -> str:
        return f"SLA credit for order {self.order_id} ({self.get_status_display()})"
