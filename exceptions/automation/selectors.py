"""Reads of automation: which records may be acted on, and which actions are left for one."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from ..models import (
    ACTIVE_RUN_STATUSES,
    SUCCEEDED_RUN_STATUSES,
    ActionKind,
    ActionRun,
    ExceptionStatus,
    OrderException,
    PlaybookAction,
    RunStatus,
)

# Done (or refused by a person) on a record: that action is not tried there again.
FINISHED_FOR_GOOD = (*SUCCEEDED_RUN_STATUSES, RunStatus.REJECTED)


def eligible(now: datetime) -> Q:
    """The records automation may act on now.

    OPEN (an operator's acknowledgement or assignment takes it over), not snoozed,
    not blocked, attempts left, its code's `automate` on, explained (the notes a
    client may be sent are the final ones), nothing in flight, no failed attempt
    within ACTION_RETRY_AFTER_SECONDS, and something left in its playbook (so a
    record whose actions are all done is not queued again on every pass).
    """
    in_flight = ActionRun.objects.filter(exception=OuterRef("pk"), status__in=ACTIVE_RUN_STATUSES)
    failed_lately = ActionRun.objects.filter(
        exception=OuterRef("pk"),
        status=RunStatus.FAILED,
        finished_at__gt=now - timedelta(seconds=settings.ACTION_RETRY_AFTER_SECONDS),
    )
    finished_kinds = ActionRun.objects.filter(
        exception=OuterRef(OuterRef("pk")), status__in=FINISHED_FOR_GOOD
    ).values("kind")
    something_left = (
        PlaybookAction.objects.filter(reason_code=OuterRef("reason_code"), active=True)
        .exclude(kind__in=finished_kinds)
        .exclude(kind=ActionKind.SEND_CLIENT_NOTE, reason_code__client_visible=False)
    )
    return (
        Q(
            status=ExceptionStatus.OPEN,
            blocked=False,
            acknowledged_at__isnull=True,
            assignee__isnull=True,
            reason_code__automate=True,
            current_explanation__isnull=False,
            resolution_attempts__lt=F("max_resolution_attempts"),
        )
        & (Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
        & ~Exists(in_flight)
        & ~Exists(failed_lately)
        & Exists(something_left)
    )


def eligible_exception_ids(*, now: datetime, limit: int) -> list[int]:
    """Oldest first, so a backlog is worked through in order."""
    return list(
        OrderException.objects.filter(eligible(now))
        .order_by("first_seen_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def is_eligible(exception_id: int, now: datetime) -> bool:
    return OrderException.objects.filter(eligible(now), pk=exception_id).exists()


def playbook_candidates(exception: OrderException) -> list[PlaybookAction]:
    """The code's active playbook actions not yet done or rejected on this record, in order.

    A failed action stays a candidate (it is tried again, within the attempts left);
    a client note is never a candidate for a code the merchant may not see.
    """
    from .playbooks import ensure_playbooks

    ensure_playbooks()
    finished = set(
        ActionRun.objects.filter(exception=exception, status__in=FINISHED_FOR_GOOD).values_list(
            "kind", flat=True
        )
    )
    actions = PlaybookAction.objects.filter(
        reason_code_id=exception.reason_code_id, active=True
    ).order_by("position", "pk")
    return [
        action
        for action in actions
        if action.kind not in finished
        and not (
            action.kind == ActionKind.SEND_CLIENT_NOTE and not exception.reason_code.client_visible
        )
    ]


def approvals_waiting(*, tenant_id: int | None = None) -> QuerySet[ActionRun]:
    runs = ActionRun.objects.filter(status=RunStatus.AWAITING_APPROVAL)
    return runs.filter(tenant_id=tenant_id) if tenant_id is not None else runs


def stale_runs(*, now: datetime, limit: int) -> list[int]:
    """Runs left ready or running past the lease: their worker died or their publish was lost."""
    before = now - timedelta(seconds=settings.ACTION_RUN_LEASE_SECONDS)
    return list(
        ActionRun.objects.filter(
            status__in=[RunStatus.READY, RunStatus.RUNNING], updated_at__lt=before
        )
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
