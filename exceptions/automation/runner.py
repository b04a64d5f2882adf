"""Running one action: check it may still run, call the other system, record the answer.

Three steps, the middle one outside any transaction (an outbound call never
holds a row lock or a connection's transaction open):

1. Start: READY → RUNNING (compare-and-swap; a run already RUNNING is a redelivery
   after a worker died and is run again with the same webhook-id).
2. Call the tenant's endpoint for the kind, or record what would be sent.
3. Finish, in one transaction, once: RUNNING → the outcome, the attempt counted on
   the exception (`exception_record_attempt`: an activity row with the request and
   the answer; blocked after the last failed attempt), and when the receiver says
   the problem is fixed, the exception resolved with ACTION_FIXED.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import (
    ACTIVE_STATUSES,
    ActionEndpoint,
    ActionKind,
    ActionRun,
    OrderException,
    RunStatus,
)
from ..services.lifecycle import (
    InvalidChange,
    ResolutionCode,
    exception_record_attempt,
    exception_resolve,
)
from ..transitions import TransitionRefused
from . import metrics
from .audit import AUTOMATION, run_summary
from .connectors import Connector, Delivery, Outcome, RecordOnly, SignedWebhook

log = logging.getLogger(__name__)


def action_run_execute(*, run_id: int, now: datetime | None = None) -> ActionRun:
    """Run a ready (or interrupted) action once; a run already finished is returned as is."""
    now = now or timezone.now()
    run = ActionRun.objects.select_related("exception", "exception__reason_code").get(pk=run_id)
    if run.status == RunStatus.READY:
        started = ActionRun.objects.filter(pk=run_id, status=RunStatus.READY).update(
            status=RunStatus.RUNNING, started_at=now, updated_at=now
        )
        if not started:
            return ActionRun.objects.get(pk=run_id)
        run.status = RunStatus.RUNNING
    elif run.status != RunStatus.RUNNING:
        return run
    exception = OrderException.objects.select_related("reason_code", "order", "tenant").get(
        pk=run.exception_id
    )
    refusal = _refusal(run, exception)
    if refusal:
        return _finish(run, Outcome(RunStatus.CANCELLED, refusal), count_attempt=False)
    outcome = _connector(run).deliver(
        Delivery(
            message_id=f"e2a-action-{run.pk}",
            event_type=f"e2a.action.{run.kind}",
            data=action_payload(run, exception),
        )
    )
    return _finish(run, outcome, count_attempt=True)


def _refusal(run: ActionRun, exception: OrderException) -> str:
    """Why the run must not go ahead now (empty: it may)."""
    if exception.status not in ACTIVE_STATUSES:
        return f"The exception is {exception.status}; nothing was sent."
    if exception.blocked:
        return f"Automation is blocked: {exception.blocked_reason}"
    if not run.needs_approval and (exception.acknowledged_at or exception.assignee_id):
        return "An operator took the exception over; nothing was sent."
    if run.kind == ActionKind.SEND_CLIENT_NOTE:
        if not exception.reason_code.client_visible:
            code = exception.reason_code_id
            return f"{code} is not client-visible: the client note is never sent."
        if not exception.client_note.strip():
            return "The exception has no client note to send."
    return ""


def _connector(run: ActionRun) -> Connector:
    endpoint = ActionEndpoint.objects.filter(tenant_id=run.tenant_id, kind=run.kind).first()
    if endpoint is None:
        return RecordOnly("no endpoint configured for this tenant and kind")
    if not endpoint.enabled:
        return RecordOnly("its endpoint is switched off")
    return SignedWebhook(url=endpoint.url, secret=endpoint.secret)


def action_payload(run: ActionRun, exception: OrderException) -> dict[str, Any]:
    """What the receiver needs to act: the order's identifiers and only the data the kind
    calls for (the address for re-validation, the note for the customer)."""
    order = exception.order
    data: dict[str, Any] = {
        "action_id": run.pk,
        "kind": run.kind,
        "target": run.target,
        "tenant": exception.tenant.slug,
        "exception": {
            "id": exception.pk,
            "reason_code": exception.reason_code_id,
            "severity": exception.severity,
            "stage": exception.stage,
            "ops_note": exception.ops_note,
        },
        "order": {
            "external_id": order.external_id,
            "carrier": order.carrier,
            "tracking_number": order.tracking_number,
            "warehouse": order.warehouse,
            "service_level": order.service_level,
        },
    }
    if run.kind == ActionKind.REVALIDATE_ADDRESS:
        data["order"]["shipping_address"] = order.shipping_address
    if run.kind == ActionKind.SEND_CLIENT_NOTE:
        data["client_note"] = exception.client_note
    return data


def _finish(run: ActionRun, outcome: Outcome, *, count_attempt: bool) -> ActionRun:
    """RUNNING → the outcome, with the attempt and any resolution, in one transaction, once."""
    now = timezone.now()
    with transaction.atomic():
        locked = ActionRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.RUNNING:
            return locked  # another worker finished it
        locked.status = outcome.status
        locked.detail = outcome.detail
        locked.request = outcome.request
        locked.response = outcome.response
        locked.finished_at = locked.updated_at = now
        if count_attempt:
            locked.detail = _counted(locked, outcome, now)
        locked.save()
        transaction.on_commit(lambda: metrics.count_run(locked.kind, locked.status))
    log.info(
        "action run finished",
        extra={"run_id": locked.pk, "kind": locked.kind, "outcome": locked.status},
    )
    return locked


def _counted(run: ActionRun, outcome: Outcome, now: datetime) -> str:
    """Count the attempt on the exception (and resolve it if fixed); the run's detail back."""
    label = run.get_kind_display()
    detail = f"{label}: {outcome.detail}"
    try:
        exception_record_attempt(
            exception_id=run.exception_id,
            succeeded=outcome.status != RunStatus.FAILED,
            detail=detail,
            actor=AUTOMATION,
            now=now,
            action={
                **run_summary(run),
                "outcome": outcome.status,
                "request": outcome.request,
                "response": outcome.response,
            },
        )
        if outcome.status == RunStatus.FIXED:
            exception_resolve(
                exception_id=run.exception_id,
                resolution=detail,
                resolution_code=ResolutionCode.ACTION_FIXED,
                actor=AUTOMATION,
                now=now,
                activity="auto_resolved",
            )
    except (TransitionRefused, InvalidChange) as exc:
        # An operator resolved it (or automation was blocked) while the call ran: the
        # run keeps what happened; the exception is left as the operator made it.
        return f"{outcome.detail} (not counted on the exception: {exc})"
    return outcome.detail
