"""Adjustments to issued invoices, and the credit notes of voided ones.

An issued invoice is never edited. What the nightly validation finds different
when it recomputes an issued invoice from the evidence as it stands (a pack fee
whose event arrived late, a credit earned after issue), and a late fee for an
invoice unpaid past its grace period, become adjustments: proposed, with a
rationale in plain words and the evidence; approved or rejected by Finance (late
fees by the rules); and, once approved, booked as a line on the tenant's next
draft, which then carries the money.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .invoice import Invoice


class AdjustmentKind(models.TextChoices):
    CORRECTION = "correction", "Correction"
    CREDIT = "credit", "SLA credit"
    LATE_FEE = "late_fee", "Late fee"


class AdjustmentStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn (no longer found)"


class InvoiceAdjustment(models.Model):
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        related_name="adjustments",
        help_text="The issued invoice it corrects (or whose payment is late).",
    )
    key = models.CharField(
        max_length=80,
        help_text="What it is about (order:1042, credit:1042, month, late_fee), so that a "
        "rerun of the validation updates its proposal instead of adding another.",
    )
    revision = models.PositiveSmallIntegerField(
        default=1,
        help_text="A difference that moves after a decision gets a new revision for the rest.",
    )
    kind = models.CharField(max_length=12, choices=AdjustmentKind.choices)
    amount_cents = models.BigIntegerField(help_text="Owed by the merchant (> 0) or to it (< 0).")
    rationale = models.TextField()
    friendly_rationale = models.TextField(
        blank=True,
        help_text="The rationale reworded for the merchant (billing.rationale_hooks); its "
        "figures are the computation's.",
    )
    friendly_by = models.CharField(max_length=80, blank=True, help_text="Who reworded it.")
    evidence = models.JSONField(
        default=dict, blank=True, help_text="Order and event ids behind the amount."
    )
    status = models.CharField(max_length=10, choices=AdjustmentStatus.choices)
    proposed_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    booked_on = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="booked_adjustments",
        help_text="The draft that carries it; set when that draft is issued.",
    )

    class Meta:
        ordering = ["invoice", "key"]
        permissions = [("decide_adjustment", "Can approve and reject invoice adjustments")]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "key", "revision"], name="adjustment_key_revision_unique"
            ),
            models.UniqueConstraint(
                fields=["invoice", "key"],
                condition=Q(status="proposed"),
                name="adjustment_one_proposal_per_key",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=AdjustmentKind.values), name="adjustment_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=AdjustmentStatus.values), name="adjustment_status_known"
            ),
            models.CheckConstraint(condition=~Q(amount_cents=0), name="adjustment_not_zero"),
            models.CheckConstraint(
                condition=~Q(status__in=[AdjustmentStatus.APPROVED, AdjustmentStatus.REJECTED])
                | (~Q(decided_by="") & Q(decided_at__isnull=False)),
                name="adjustment_decision_has_who_and_when",
            ),
            models.CheckConstraint(
                condition=Q(booked_on__isnull=True) | Q(status=AdjustmentStatus.APPROVED),
                name="adjustment_booked_only_when_approved",
            ),
        ]
        indexes = [models.Index(fields=["status", "invoice"], name="adjustment_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.invoice}: {self.rationale[:60]}"


class CreditNote(models.Model):
    """The document that cancels an issued invoice when it is voided; it cites the
    invoice by number and carries its total back."""

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="credit_note")
    number = models.CharField(max_length=90, unique=True, help_text="The invoice's number + -CN.")
    amount_cents = models.BigIntegerField(help_text="Minus the voided invoice's total.")
    reason = models.TextField()
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return self.number
