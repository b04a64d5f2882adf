"""Opening an exception, or counting a new occurrence on the one already open.

The database decides what "already open" means: at most one record per
(tenant, order, reason code) is not CLOSED (constraint
`exception_one_open_per_key`). Two workers raising the same problem at once both
try the insert inside a savepoint; the loser's insert waits for the winner's
commit, fails on the constraint, and the loser then updates the winner's row.
A RESOLVED record that sees its problem again is reopened rather than duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import Order
from slas.models import SEVERITY_RANK

from ..actors import Actor
from ..analysis_hooks import analysis_requested
from ..config import reason_code
from ..models import ExceptionStatus, ExplanationSource, OrderException, ReasonCode
from ..notes import render_note
from ..transitions import check
from .activity import activity_record, snapshot
from .lifecycle import hours, reopened

SYSTEM = Actor.system("detection")


@dataclass(slots=True)
class Finding:
    """One detected problem: what a detection rule or an SLA breach hands over."""

    reason_code: str
    evidence: dict[str, Any]
    stage: str = ""
    severity: str | None = None  # None: the catalogue's default
    late_minutes: float | None = None
    correlation_id: str = ""
    detected_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Raised:
    exception: OrderException
    outcome: str  # "opened", "recurred", "reopened"


def higher(a: str, b: str | None) -> str:
    if b is None:
        return a
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


def note_context(exception: OrderException, order: Order, reason: ReasonCode) -> dict[str, Any]:
    return {
        "exception": {
            "reason": reason.code,
            "stage": exception.stage,
            "severity": exception.severity,
            "late_minutes": exception.late_minutes,
            "occurrence_count": exception.occurrence_count,
        },
        "order": {
            "external_id": order.external_id,
            "status": order.status,
            "carrier": order.carrier,
            "tracking_number": order.tracking_number,
            "warehouse": order.warehouse,
            "service_level": order.service_level,
        },
        "evidence": exception.evidence,
        "catalogue": {
            "label": reason.label,
            "description": reason.description,
            "typical_causes": reason.typical_causes,
            "recommended_actions": reason.recommended_actions,
        },
    }


def rule_notes(exception: OrderException, order: Order, reason: ReasonCode) -> None:
    """Fill the notes from the catalogue templates, unless someone else wrote them."""
    if exception.explanation_source != ExplanationSource.RULES:
        return
    context = note_context(exception, order, reason)
    exception.ops_note = render_note(reason.ops_note_template, context)
    exception.client_note = render_note(reason.client_note_template, context)
    exception.explanation_label = reason.label


# `exception_raise(current=LOOK_UP)`: find the record that is not closed (the default).
LOOK_UP: Any = object()


def exception_raise(
    *,
    order: Order,
    finding: Finding,
    actor: Actor = SYSTEM,
    now: datetime | None = None,
    current: OrderException | None = LOOK_UP,
) -> Raised:
    """Open the exception for this finding, or record it as a new occurrence.

    A caller raising many findings at once (the scan) may look the current
    records up in one query, locked, and pass each one as `current` (None: none
    is open). The constraint still decides: an insert that loses to a concurrent
    one falls back to the record that won.
    """
    now = now or timezone.now()
    seen = finding.detected_at or now
    reason = reason_code(finding.reason_code)
    with transaction.atomic():
        if current is LOOK_UP:
            current = _current(order, reason.code)
        if current is None:
            try:
                with transaction.atomic():
                    created = _create(order, reason, finding, seen, now)
            except IntegrityError:
                current = _current(order, reason.code)
                if current is None:
                    raise
            else:
                activity_record(
                    created,
                    action="opened",
                    actor=actor,
                    at=now,
                    after=snapshot(created, ["status", "severity", "late_minutes"]),
                    note=created.ops_note,
                )
                analysis_requested(created.pk, why="opened")
                return Raised(created, "opened")
        return _recur(current, order, reason, finding, seen, actor, now)


def _current(order: Order, code: str) -> OrderException | None:
    return (
        OrderException.objects.select_for_update()
        .exclude(status=ExceptionStatus.CLOSED)
        .filter(tenant_id=order.tenant_id, order=order, reason_code_id=code)
        .first()
    )


def _create(
    order: Order, reason: ReasonCode, finding: Finding, seen: datetime, now: datetime
) -> OrderException:
    exception = OrderException(
        tenant_id=order.tenant_id,
        order=order,
        reason_code=reason,
        stage=finding.stage,
        severity=finding.severity or reason.default_severity,
        status=ExceptionStatus.OPEN,
        first_seen_at=seen,
        last_seen_at=seen,
        late_minutes=finding.late_minutes,
        correlation_id=finding.correlation_id[:128],
        evidence=finding.evidence,
        next_escalation_at=now + hours(reason.escalation_hours),
        created_at=now,
        updated_at=now,
    )
    rule_notes(exception, order, reason)
    exception.save(force_insert=True)
    return exception


TRACKED = ["status", "severity", "occurrence_count", "late_minutes", "last_seen_at", "evidence"]


def _recur(
    exception: OrderException,
    order: Order,
    reason: ReasonCode,
    finding: Finding,
    seen: datetime,
    actor: Actor,
    now: datetime,
) -> Raised:
    before = snapshot(exception, TRACKED)
    reopen = exception.status == ExceptionStatus.RESOLVED
    exception.occurrence_count += 1
    exception.last_seen_at = max(exception.last_seen_at, seen)
    exception.severity = higher(exception.severity, finding.severity or reason.default_severity)
    if finding.late_minutes is not None:
        exception.late_minutes = finding.late_minutes
    exception.evidence = {**exception.evidence, **finding.evidence}
    if reopen:
        # The same problem again after it was resolved: back to work.
        exception.status = check("reopen", exception.status)
        exception.reason_code = reason
        reopened(exception, now)
    rule_notes(exception, order, reason)
    exception.updated_at = now
    exception.save()
    activity_record(
        exception,
        action="reopened" if reopen else "recurred",
        actor=actor,
        at=now,
        before=before,
        after=snapshot(exception, TRACKED),
        from_status=before["status"],
    )
    if reopen:
        analysis_requested(exception.pk, why="reopened")
    elif exception.severity != before["severity"]:
        analysis_requested(exception.pk, why="severity")
    return Raised(exception, "reopened" if reopen else "recurred")


def exception_refresh(
    exception: OrderException,
    *,
    severity: str | None = None,
    late_minutes: float | None = None,
    evidence: dict[str, Any] | None = None,
    actor: Actor = SYSTEM,
    now: datetime | None = None,
) -> bool:
    """Update the facts of the same occurrence (a stuck stage keeps ageing); True if changed.

    Severity only rises here: an operator or escalation may have raised it further.
    The caller holds the row (it was read with select_for_update or just written).
    """
    now = now or timezone.now()
    before = snapshot(exception, ["severity", "late_minutes", "evidence"])
    new_severity = higher(exception.severity, severity)
    new_evidence = {**exception.evidence, **(evidence or {})}
    if (
        new_severity == exception.severity
        and (late_minutes is None or late_minutes == exception.late_minutes)
        and new_evidence == exception.evidence
    ):
        return False
    exception.severity = new_severity
    if late_minutes is not None:
        exception.late_minutes = late_minutes
    exception.evidence = new_evidence
    rule_notes(exception, exception.order, exception.reason_code)
    exception.updated_at = now
    exception.save(
        update_fields=[
            "severity",
            "late_minutes",
            "evidence",
            "ops_note",
            "client_note",
            "explanation_label",
            "updated_at",
        ]
    )
    activity_record(
        exception,
        action="updated",
        actor=actor,
        at=now,
        before=before,
        after=snapshot(exception, ["severity", "late_minutes", "evidence"]),
    )
    if exception.severity != before["severity"]:
        analysis_requested(exception.pk, why="severity")
    return True
