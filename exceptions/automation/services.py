"""Choosing, claiming, approving and rejecting automated actions, and beat's pass.

The flow of one record: beat's resolution pass finds it eligible and queues
`exceptions.automate`; that asks for the candidates and (outside any
transaction) the model's choice, then claims the record under its row lock,
checking everything again, and writes the `ActionRun`: waiting for approval, or
ready, in which case the same task runs it (`runner.action_run_execute`). Two
passes at once, or a redelivered task, find the record claimed (the lock, and
the database's one-run-in-flight constraint) and do nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..actors import Actor
from ..dispatch import enqueue_action_run, enqueue_automate
from ..models import (
    ACTIVE_STATUSES,
    ActionChoice,
    ActionRun,
    ChosenBy,
    OrderException,
    PlaybookAction,
    RunStatus,
)
from ..services.activity import activity_record
from ..services.lifecycle import InvalidChange
from ..transitions import check
from . import metrics
from .audit import AUTOMATION, run_summary
from .choosers import choose
from .runner import action_run_execute
from .selectors import (
    approvals_waiting,
    eligible_exception_ids,
    is_eligible,
    playbook_candidates,
    stale_runs,
)

log = logging.getLogger(__name__)


class NothingWaiting(Exception):
    """No action of this exception waits for approval (the API answers 409)."""


def exception_automate(*, exception_id: int, now: datetime | None = None) -> ActionRun | None:
    """Choose and claim the record's next action; run it at once unless it needs approval.

    Returns the run written, or None when the record is not (or no longer) eligible
    or its playbook has nothing left to try.
    """
    now = now or timezone.now()
    if not is_eligible(exception_id, now):
        return None
    exception = OrderException.objects.select_related("reason_code", "order", "tenant").get(
        pk=exception_id
    )
    candidates = playbook_candidates(exception)
    if not candidates:
        return None
    chosen, choice = _chosen(candidates, choose(exception, candidates))
    run = _claim(exception_id=exception_id, action=chosen, choice=choice, now=now)
    if run is not None and run.status == RunStatus.READY:
        run = action_run_execute(run_id=run.pk)
    return run


def _chosen(
    candidates: list[PlaybookAction], choice: ActionChoice | None
) -> tuple[PlaybookAction, ActionChoice | None]:
    """The model's pick when its gate let it through, else the playbook's first."""
    if choice is not None and choice.decision == "used":
        for action in candidates:
            if action.kind == choice.kind:
                return action, choice
    return candidates[0], choice


def _claim(
    *, exception_id: int, action: PlaybookAction, choice: ActionChoice | None, now: datetime
) -> ActionRun | None:
    with transaction.atomic():
        exception = (
            OrderException.objects.select_for_update(of=("self",))
            .select_related("reason_code", "order", "tenant")
            .get(pk=exception_id)
        )
        # Everything again under the lock: another pass may have acted meanwhile.
        if not is_eligible(exception_id, now):
            return None
        if action.kind not in {a.kind for a in playbook_candidates(exception)}:
            return None
        check("propose_action", exception.status)
        needs_approval = action.requires_approval or exception.reason_code.requires_approval
        used_model = choice is not None and choice.decision == "used" and choice.kind == action.kind
        try:
            with transaction.atomic():
                run = ActionRun.objects.create(
                    tenant_id=exception.tenant_id,
                    exception=exception,
                    playbook_action=action,
                    kind=action.kind,
                    target=action.target,
                    status=RunStatus.AWAITING_APPROVAL if needs_approval else RunStatus.READY,
                    chosen_by=ChosenBy.AI if used_model else ChosenBy.RULES,
                    choice=choice,
                    needs_approval=needs_approval,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            return None  # claimed by another worker between the check and the insert
        if needs_approval:
            activity_record(
                exception,
                action="action_proposed",
                actor=AUTOMATION,
                at=now,
                after={"action": run_summary(run)},
                note=f"{run.get_kind_display()} waits for an operator's approval.",
            )
    return run


@dataclass(frozen=True, slots=True)
class Decision:
    exception_id: int
    actor: Actor
    tenant_id: int | None
    run_id: int | None
    note: str
    now: datetime


def _decide(decision: Decision, verb: str, activity: str, apply: Any) -> ActionRun:
    with transaction.atomic():
        scope = OrderException.objects.select_for_update(of=("self",)).select_related(
            "reason_code", "order", "tenant"
        )
        if decision.tenant_id is not None:
            scope = scope.filter(tenant_id=decision.tenant_id)
        exception = scope.get(pk=decision.exception_id)
        check(f"{verb}_action", exception.status)
        waiting = approvals_waiting().select_for_update().filter(exception=exception)
        if decision.run_id is not None:
            waiting = waiting.filter(pk=decision.run_id)
        run = waiting.first()
        if run is None:
            raise NothingWaiting(
                f"No action of exception {exception.pk} waits for approval"
                + (f" with id {decision.run_id}." if decision.run_id is not None else ".")
            )
        run.decided_by = decision.actor.label
        run.decided_at = decision.now
        run.decision_note = decision.note
        run.updated_at = decision.now
        apply(run)
        run.save()
        activity_record(
            exception,
            action=activity,
            actor=decision.actor,
            at=decision.now,
            after={"action": run_summary(run)},
            note=decision.note or f"{run.get_kind_display()}: {activity.replace('_', ' ')}.",
        )
    return run


def action_approve(
    *,
    exception_id: int,
    actor: Actor,
    tenant_id: int | None = None,
    run_id: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> ActionRun:
    """An operator lets the waiting action run; it is queued once the approval commits."""

    def apply(run: ActionRun) -> None:
        run.status = RunStatus.READY

    run = _decide(
        Decision(exception_id, actor, tenant_id, run_id, note.strip(), now or timezone.now()),
        "approve",
        "action_approved",
        apply,
    )
    transaction.on_commit(lambda: enqueue_action_run(run.pk))
    return run


def action_reject(
    *,
    exception_id: int,
    actor: Actor,
    reason: str,
    tenant_id: int | None = None,
    run_id: int | None = None,
    now: datetime | None = None,
) -> ActionRun:
    """An operator says no, with a reason; the action is not proposed again for this record."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidChange("reason", "Say why the action is rejected.")
    now = now or timezone.now()

    def apply(run: ActionRun) -> None:
        run.status = RunStatus.REJECTED
        run.finished_at = now
        transaction.on_commit(lambda: metrics.count_run(run.kind, RunStatus.REJECTED))

    return _decide(
        Decision(exception_id, actor, tenant_id, run_id, reason, now),
        "reject",
        "action_rejected",
        apply,
    )


def resolution_pass(*, now: datetime | None = None) -> dict[str, int]:
    """Beat's pass: drop approvals nobody needs any more, re-queue runs a dead worker left,
    queue every eligible record, and refresh the gauges."""
    now = now or timezone.now()
    limit = settings.ACTION_PASS_LIMIT
    cancelled = (
        approvals_waiting()
        .exclude(exception__status__in=ACTIVE_STATUSES)
        .update(
            status=RunStatus.CANCELLED,
            finished_at=now,
            updated_at=now,
            detail="The exception was no longer open when the pass looked.",
        )
    )
    stale = stale_runs(now=now, limit=limit)
    for run_id in stale:
        enqueue_action_run(run_id)
    eligible = eligible_exception_ids(now=now, limit=limit)
    for exception_id in eligible:
        enqueue_automate(exception_id)
    metrics.APPROVALS_WAITING.set(approvals_waiting().count())
    metrics.BLOCKED.set(
        OrderException.objects.filter(blocked=True, status__in=ACTIVE_STATUSES).count()
    )
    if cancelled or stale or eligible:
        log.info(
            "resolution pass",
            extra={"queued": len(eligible), "recovered": len(stale), "cancelled": cancelled},
        )
    return {"queued": len(eligible), "recovered": len(stale), "cancelled": cancelled}
