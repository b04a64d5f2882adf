"""Status changes and operator edits of an exception: one service per action.

Each one locks the row, asks `transitions.check` whether the action is allowed
in the current status, applies it, and writes one activity row with the fields
before and after, all in one transaction. Two operators (or an operator and
beat) acting at once are serialised by the row lock; the second sees the first's
result and is refused if its action no longer applies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import TextChoices
from django.utils import timezone

from ..actors import Actor
from ..models import ActionKind, ActionRun, ActorType, OrderException, RunStatus
from ..transitions import check
from .activity import activity_record, snapshot

MAX_SNOOZE = timedelta(days=30)


class ResolutionCode(TextChoices):
    FIXED = "FIXED", "Fixed"
    CUSTOMER_CONTACTED = "CUSTOMER_CONTACTED", "Customer contacted"
    CARRIER_CONTACTED = "CARRIER_CONTACTED", "Carrier contacted"
    RESHIPPED = "RESHIPPED", "Reshipped"
    REFUNDED = "REFUNDED", "Refunded"
    NOT_A_PROBLEM = "NOT_A_PROBLEM", "Not a problem"
    DUPLICATE = "DUPLICATE", "Duplicate"
    CONDITION_CLEARED = "CONDITION_CLEARED", "Condition cleared (automatic)"
    BREACH_WITHDRAWN = "BREACH_WITHDRAWN", "SLA breach withdrawn (automatic)"
    ORDER_CANCELLED = "ORDER_CANCELLED", "Order cancelled (automatic)"
    ACTION_FIXED = "ACTION_FIXED", "Fixed by an automated action (automatic)"
    OTHER = "OTHER", "Other"


# Codes E²A sets when it resolves by itself; a person claiming one would blur the stats.
AUTOMATIC_RESOLUTIONS = frozenset(
    {
        ResolutionCode.CONDITION_CLEARED,
        ResolutionCode.BREACH_WITHDRAWN,
        ResolutionCode.ORDER_CANCELLED,
        ResolutionCode.ACTION_FIXED,
    }
)
# What operators (admin, API, Slack) may choose from.
OPERATOR_RESOLUTIONS = [c for c in ResolutionCode.choices if c[0] not in AUTOMATIC_RESOLUTIONS]
OPERATOR_CODES = [code for code, _ in OPERATOR_RESOLUTIONS]


class InvalidChange(ValueError):
    """A change whose input is wrong (not a refused transition): the API answers 400."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def hours(value: Decimal | float) -> timedelta:
    return timedelta(hours=float(value))


def locked_exception(*, exception_id: int, tenant_id: int | None) -> OrderException:
    """The exception under its row lock, with what its notes and activity read; inside
    the caller's transaction. Scoped to `tenant_id` when given (the API's callers)."""
    # Only the exception's own row: FOR UPDATE over the join would lock its tenant
    # too, and every insert of that tenant's rows checks its foreign key with a share
    # lock on the tenant, so ingestion and other follow-ups would wait (and deadlock).
    scope = OrderException.objects.select_for_update(of=("self",)).select_related(
        "reason_code", "order", "tenant"
    )
    if tenant_id is not None:
        scope = scope.filter(tenant_id=tenant_id)
    return scope.get(pk=exception_id)


def _change(
    *,
    exception_id: int,
    tenant_id: int | None,
    action: str,
    activity: str,
    actor: Actor,
    now: datetime | None,
    fields: list[str],
    mutate: Callable[[OrderException, datetime], None],
    note: str = "",
    record: dict[str, Any] | None = None,
) -> OrderException:
    now = now or timezone.now()
    with transaction.atomic():
        exception = locked_exception(exception_id=exception_id, tenant_id=tenant_id)
        target = check(action, exception.status)
        tracked = ["status", *fields]
        before = snapshot(exception, tracked)
        from_status = exception.status
        mutate(exception, now)
        exception.status = target
        exception.updated_at = now
        exception.save(update_fields=[*tracked, "updated_at"])
        activity_record(
            exception,
            action=activity,
            actor=actor,
            at=now,
            before=before,
            after={**snapshot(exception, tracked), **(record or {})},
            from_status=from_status,
            note=note,
        )
    return exception


def _acknowledge(exception: OrderException, actor: Actor, now: datetime) -> None:
    if exception.acknowledged_at is None:
        exception.acknowledged_at = now
        exception.acknowledged_by = actor.label
    # From now on the clock that matters is "resolved in time".
    exception.next_escalation_at = now + hours(exception.reason_code.resolve_hours)


_ACK_FIELDS = ["acknowledged_at", "acknowledged_by", "next_escalation_at"]


def exception_acknowledge(
    *,
    exception_id: int,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
    note: str = "",
) -> OrderException:
    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="acknowledge",
        activity="acknowledged",
        actor=actor,
        now=now,
        note=note,
        fields=_ACK_FIELDS,
        mutate=lambda e, at: _acknowledge(e, actor, at),
    )


def exception_start(
    *,
    exception_id: int,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
    note: str = "",
) -> OrderException:
    """IN_PROGRESS: someone is working on it (acknowledging it if nobody had)."""
    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="start",
        activity="started",
        actor=actor,
        now=now,
        note=note,
        fields=_ACK_FIELDS,
        mutate=lambda e, at: _acknowledge(e, actor, at),
    )


def exception_assign(
    *,
    exception_id: int,
    assignee_id: int | None,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
) -> OrderException:
    """Give it to an operator (an active staff user), or take it back with None."""
    assignee = None
    if assignee_id is not None:
        assignee = (
            get_user_model().objects.filter(pk=assignee_id, is_active=True, is_staff=True).first()
        )
        if assignee is None:
            raise InvalidChange("assignee", f"No active operator with id {assignee_id}.")

    def mutate(exception: OrderException, at: datetime) -> None:
        exception.assignee = assignee

    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="assign",
        activity="assigned",
        actor=actor,
        now=now,
        fields=["assignee"],
        mutate=mutate,
    )


def exception_snooze(
    *,
    exception_id: int,
    until: datetime,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
    note: str = "",
) -> OrderException:
    """No escalation before `until`; after it, escalation resumes if still due."""
    now = now or timezone.now()
    if until <= now:
        raise InvalidChange("until", "Snooze until a time in the future.")
    if until - now > MAX_SNOOZE:
        raise InvalidChange("until", f"Snooze at most {MAX_SNOOZE.days} days.")

    def mutate(exception: OrderException, at: datetime) -> None:
        exception.snoozed_until = until
        due = exception.next_escalation_at
        exception.next_escalation_at = until if due is None or due < until else due

    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="snooze",
        activity="snoozed",
        actor=actor,
        now=now,
        note=note,
        fields=["snoozed_until", "next_escalation_at"],
        mutate=mutate,
    )


_RESOLVE_FIELDS = [
    "resolved_at",
    "resolved_by",
    "resolution_code",
    "resolution_text",
    "next_escalation_at",
    "snoozed_until",
]


def exception_resolve(
    *,
    exception_id: int,
    resolution: str,
    actor: Actor,
    resolution_code: str = ResolutionCode.FIXED,
    tenant_id: int | None = None,
    now: datetime | None = None,
    activity: str = "resolved",
) -> OrderException:
    resolution = (resolution or "").strip()
    if not resolution:
        raise InvalidChange("resolution", "Say how it was resolved.")
    allowed = ResolutionCode.values if actor.type == ActorType.SYSTEM else OPERATOR_CODES
    if resolution_code not in allowed:
        raise InvalidChange(
            "resolution_code",
            f"Not a resolution code you can use; one of {', '.join(allowed)}.",
        )

    def mutate(exception: OrderException, at: datetime) -> None:
        exception.resolved_at = at
        exception.resolved_by = actor.label
        exception.resolution_code = resolution_code
        exception.resolution_text = resolution
        exception.next_escalation_at = None
        exception.snoozed_until = None

    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="resolve",
        activity=activity,
        actor=actor,
        now=now,
        fields=_RESOLVE_FIELDS,
        mutate=mutate,
        note=resolution,
    )


def exception_reopen(
    *,
    exception_id: int,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
    note: str = "",
) -> OrderException:
    """Back to OPEN (the problem is back); the resolution stays in the activity's `before`."""
    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="reopen",
        activity="reopened",
        actor=actor,
        now=now,
        note=note,
        mutate=reopened,
        fields=REOPEN_FIELDS,
    )


REOPEN_FIELDS = [
    "resolved_at",
    "resolved_by",
    "resolution_code",
    "resolution_text",
    "acknowledged_at",
    "acknowledged_by",
    "next_escalation_at",
]


def reopened(exception: OrderException, at: datetime) -> None:
    """Clear the resolution and acknowledgement of a record going back to OPEN (not saved);
    the escalation clock starts again. Used by exception_reopen and by a recurrence."""
    exception.resolved_at = exception.acknowledged_at = None
    exception.resolved_by = exception.resolution_code = exception.resolution_text = ""
    exception.acknowledged_by = ""
    exception.next_escalation_at = at + hours(exception.reason_code.escalation_hours)


def exception_close(
    *,
    exception_id: int,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
    note: str = "",
) -> OrderException:
    def mutate(exception: OrderException, at: datetime) -> None:
        exception.closed_at = at

    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="close",
        activity="closed",
        actor=actor,
        now=now,
        note=note,
        fields=["closed_at"],
        mutate=mutate,
    )


def exception_update_notes(
    *,
    exception_id: int,
    actor: Actor,
    ops_note: str | None = None,
    client_note: str | None = None,
    tenant_id: int | None = None,
    now: datetime | None = None,
) -> OrderException:
    """An operator's own notes replace the rule-based (or AI) ones.

    From then on no analysis replaces them (`services.explanations`). The client
    note can be changed until it has been sent to the customer: after that an edit
    would make the record disagree with what the customer read.
    """
    if ops_note is None and client_note is None:
        raise InvalidChange("ops_note", "Give ops_note and/or client_note.")

    def mutate(exception: OrderException, at: datetime) -> None:
        if client_note is not None and client_note != exception.client_note:
            sent = client_note_sent_at(exception.pk)
            if sent is not None:
                raise InvalidChange(
                    "client_note",
                    f"The client note was sent to the customer at {sent:%Y-%m-%d %H:%M} UTC; "
                    "it can no longer be changed.",
                )
        if ops_note is not None:
            exception.ops_note = ops_note
        if client_note is not None:
            exception.client_note = client_note
        exception.explanation_source = "operator"
        exception.explanation_label = "Written by an operator"
        exception.explanation_confidence = None

    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="edit_notes",
        activity="notes_changed",
        actor=actor,
        now=now,
        mutate=mutate,
        fields=[
            "ops_note",
            "client_note",
            "explanation_source",
            "explanation_label",
            "explanation_confidence",
        ],
    )


def client_note_sent_at(exception_id: int) -> datetime | None:
    """When an automated action delivered the client note to the customer, if it did."""
    return (
        ActionRun.objects.filter(
            exception_id=exception_id,
            kind=ActionKind.SEND_CLIENT_NOTE,
            status__in=[RunStatus.DONE, RunStatus.FIXED],
        )
        .order_by("finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )


def exception_record_attempt(
    *,
    exception_id: int,
    succeeded: bool,
    detail: str,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
    action: dict[str, Any] | None = None,
) -> OrderException:
    """Count one automated resolution attempt; after the last failed one, block automation.

    A blocked exception is left to a person: automated resolution must not try
    again (the flag and its reason say why), though operators can still act on it.
    `action` (the run's kind, request and answer) goes into the activity row, so the
    audit trail shows what was tried and what came back.
    """
    detail = (detail or "").strip()
    if not detail:
        raise InvalidChange("detail", "Say what was tried and what happened.")

    def mutate(exception: OrderException, at: datetime) -> None:
        if exception.blocked:
            raise InvalidChange("blocked", f"Automation is blocked: {exception.blocked_reason}")
        if exception.resolution_attempts >= exception.max_resolution_attempts:
            raise InvalidChange("resolution_attempts", "No automated attempts left.")
        exception.resolution_attempts += 1
        if not succeeded and exception.resolution_attempts >= exception.max_resolution_attempts:
            exception.blocked = True
            exception.blocked_reason = (
                f"{exception.resolution_attempts} automated attempts failed; last: {detail}"
            )[:255]

    return _change(
        exception_id=exception_id,
        tenant_id=tenant_id,
        action="record_attempt",
        activity="attempt_succeeded" if succeeded else "attempt_failed",
        actor=actor,
        now=now,
        note=detail,
        fields=["resolution_attempts", "blocked", "blocked_reason"],
        mutate=mutate,
        record={"action": action} if action else None,
    )
