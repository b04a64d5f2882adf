"""Automated actions: the playbook per reason code, where actions are sent, and every run.

A `PlaybookAction` is catalogue data (one reason code's list of safe fixes, kept
in `fixtures/playbooks.yaml` and edited in the admin). An `ActionEndpoint` says
where a tenant wants one kind of action delivered (a signed webhook); without one
the action is only recorded. An `ActionRun` is one try of one action on one
exception, from its choice through an operator's approval to the answer of the
system it called: the audit of every attempt, next to the activity row that
counts it (`exception_record_attempt`).
"""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.db.models import Q

from orders.models import Tenant

from .catalogue import ReasonCode
from .explanation import ModelCallRecord
from .record import OrderException


class ActionKind(models.TextChoices):
    REQUEST_SCAN = "request_scan", "Request the missing scan from the WMS"
    CARRIER_TRACE = "carrier_trace", "Open a carrier trace"
    REVALIDATE_ADDRESS = "revalidate_address", "Re-validate the address"
    SEND_CLIENT_NOTE = "send_client_note", "Send the client note to the customer"
    HOLD_ORDER = "hold_order", "Hold the order for review"
    RELEASE_HOLD = "release_hold", "Release the order's hold"


class ActionTarget(models.TextChoices):
    WMS = "wms", "Warehouse (WMS)"
    CARRIER = "carrier", "Carrier"
    ADDRESS_SERVICE = "address_service", "Address validation service"
    CUSTOMER = "customer", "Customer (through the merchant's store)"


class PlaybookAction(models.Model):
    reason_code = models.ForeignKey(
        ReasonCode, on_delete=models.CASCADE, related_name="playbook", db_column="reason_code"
    )
    position = models.PositiveSmallIntegerField(
        default=1, help_text="The rules try the actions in this order."
    )
    kind = models.CharField(max_length=32, choices=ActionKind.choices)
    target = models.CharField(max_length=32, choices=ActionTarget.choices)
    requires_approval = models.BooleanField(
        default=False,
        help_text="Wait for an operator's approval before it runs (the reason code's own "
        "flag makes every action of its playbook wait).",
    )
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True, help_text="What it is for, in words.")

    class Meta:
        ordering = ["reason_code", "position", "pk"]
        verbose_name = "playbook action"
        constraints = [
            models.UniqueConstraint(fields=["reason_code", "kind"], name="playbook_kind_once"),
            models.CheckConstraint(
                condition=Q(kind__in=ActionKind.values), name="playbook_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(target__in=ActionTarget.values), name="playbook_target_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason_code_id}: {self.get_kind_display()}"

    def clean(self) -> None:
        from ..automation.playbooks import playbook_errors

        errors = playbook_errors(
            kind=self.kind, code=self.reason_code if self.reason_code_id else None
        )
        if errors:
            from django.core.exceptions import ValidationError

            raise ValidationError(errors)


def new_endpoint_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class ActionEndpoint(models.Model):
    """Where one tenant's actions of one kind are delivered, signed (Standard Webhooks)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=ActionKind.choices)
    url = models.URLField(max_length=500, help_text="Receives a signed POST per action.")
    secret = models.CharField(
        max_length=200,
        default=new_endpoint_secret,
        help_text="whsec_… (base64); the receiver verifies the webhook-signature header with it.",
    )
    enabled = models.BooleanField(
        default=True, help_text="Off: the action is only recorded ('would call …')."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "action endpoint"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind"], name="action_endpoint_once"),
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"), name="action_endpoint_secret_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.url}"


class RunStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Waiting for approval"
    READY = "ready", "Ready to run"
    RUNNING = "running", "Running"
    FIXED = "fixed", "Fixed the problem"
    DONE = "done", "Done (the record stays open)"
    RECORDED = "recorded", "Recorded only (nothing sent)"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected by an operator"
    CANCELLED = "cancelled", "Cancelled before it ran"


# In flight: at most one per exception (the claim's invariant).
ACTIVE_RUN_STATUSES = (
    RunStatus.AWAITING_APPROVAL,
    RunStatus.READY,
    RunStatus.RUNNING,
)
# Ran and did what it was for: the same action is not tried again on the record.
SUCCEEDED_RUN_STATUSES = (RunStatus.FIXED, RunStatus.DONE, RunStatus.RECORDED)
FINAL_RUN_STATUSES = (
    *SUCCEEDED_RUN_STATUSES,
    RunStatus.FAILED,
    RunStatus.REJECTED,
    RunStatus.CANCELLED,
)


class ChosenBy(models.TextChoices):
    RULES = "rules", "Rules (playbook order)"
    AI = "ai", "AI"


class ActionChoice(ModelCallRecord):
    """The model's choice of action for one exception, used or not (the analyst's gate)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    exception = models.ForeignKey(
        OrderException, on_delete=models.CASCADE, related_name="action_choices"
    )
    candidates = models.JSONField(default=list, help_text="The kinds it could choose from.")
    kind = models.CharField(max_length=32, blank=True, help_text="The kind the model chose.")
    success_probability = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision="used", cause="") | (Q(decision="kept_rules") & ~Q(cause="")),
                name="action_choice_decision_matches_cause",
            ),
            models.CheckConstraint(
                condition=Q(success_probability__isnull=True)
                | Q(success_probability__gte=0, success_probability__lte=1),
                name="action_choice_success_0_1",
            ),
        ]
        indexes = [models.Index(fields=["exception", "-created_at"], name="action_choice_exc")]

    def __str__(self) -> str:
        return f"{self.kind or '-'}: {self.get_decision_display()}"


class ActionRun(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    exception = models.ForeignKey(
        OrderException, on_delete=models.CASCADE, related_name="action_runs"
    )
    playbook_action = models.ForeignKey(
        PlaybookAction, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Copied from the playbook: the audit must read the same after the playbook changes.
    kind = models.CharField(max_length=32, choices=ActionKind.choices)
    target = models.CharField(max_length=32, choices=ActionTarget.choices)
    status = models.CharField(max_length=24, choices=RunStatus.choices)
    chosen_by = models.CharField(max_length=8, choices=ChosenBy.choices, default=ChosenBy.RULES)
    choice = models.ForeignKey(
        ActionChoice, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    needs_approval = models.BooleanField(default=False)
    decided_by = models.CharField(max_length=200, blank=True, help_text="Who approved or rejected.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(
        blank=True, help_text="The approval's note or the reason to reject."
    )
    request = models.JSONField(default=dict, blank=True, help_text="What was sent (or would be).")
    response = models.JSONField(default=dict, blank=True, help_text="What the receiver answered.")
    detail = models.TextField(blank=True, help_text="The outcome in words.")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "automated action"
        constraints = [
            # Claiming a record for an action is this row: two beats cannot both hold one.
            models.UniqueConstraint(
                fields=["exception"],
                condition=Q(status__in=ACTIVE_RUN_STATUSES),
                name="action_run_one_in_flight",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="action_run_status_known"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=FINAL_RUN_STATUSES) | Q(finished_at__isnull=False),
                name="action_run_final_has_finished_at",
            ),
            models.CheckConstraint(
                condition=~Q(status=RunStatus.REJECTED) | ~Q(decision_note=""),
                name="action_run_rejection_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=RunStatus.AWAITING_APPROVAL) | Q(needs_approval=True),
                name="action_run_waits_only_if_needed",
            ),
        ]
        indexes = [
            models.Index(fields=["exception", "-created_at"], name="action_run_exception"),
            # Approvals waiting, and runs a crashed worker left behind.
            models.Index(
                fields=["tenant", "status", "updated_at"],
                condition=Q(status__in=ACTIVE_RUN_STATUSES),
                name="action_run_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} on exception {self.exception_id}: "
            f"{self.get_status_display()}"
        )
