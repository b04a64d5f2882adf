"""Beat's minute job: escalate what nobody acted on in time; close what stayed resolved.

`next_escalation_at` is the one deadline: set when an exception opens (its
catalogue escalation hours), moved when it is acknowledged (the resolve hours),
pushed to `snoozed_until` by a snooze, cleared when it is resolved or has reached
`EXCEPTION_MAX_ESCALATION_LEVEL` (it then stays at the top instead of paging
again every few hours). The job reads
only the partial index of active exceptions with that deadline passed, so its
cost follows the due rows, not the table. Each row is re-checked under its lock,
so two beats running at once escalate it once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from slas.models import Severity

from ..actors import Actor
from ..analysis_hooks import analysis_requested
from ..models import ACTIVE_STATUSES, ExceptionStatus, OrderException
from ..transitions import TransitionRefused, check
from .activity import activity_record, snapshot
from .lifecycle import InvalidChange, exception_close, hours, locked_exception

ESCALATION = Actor.system("escalation")
AUTO_CLOSE = Actor.system("auto-close")
SEVERITY_ORDER = list(Severity.values)
TRACKED = ["severity", "escalation_level", "next_escalation_at", "snoozed_until"]


def raised_severity(severity: str) -> str:
    """One step up, CRITICAL staying CRITICAL."""
    index = SEVERITY_ORDER.index(severity)
    return SEVERITY_ORDER[min(index + 1, len(SEVERITY_ORDER) - 1)]


def exceptions_escalate(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {"escalated": _escalate_due(now), "closed": _close_resolved(now)}


def _escalate_due(now: datetime) -> int:
    escalated = 0
    while True:
        due = list(
            OrderException.objects.filter(
                status__in=ACTIVE_STATUSES,
                next_escalation_at__isnull=False,
                next_escalation_at__lte=now,
            )
            .order_by("next_escalation_at", "pk")
            .values_list("pk", flat=True)[: settings.EXCEPTION_BEAT_CHUNK]
        )
        if not due:
            return escalated
        for pk in due:
            escalated += exception_escalate(exception_id=pk, now=now)


def exception_escalate(*, exception_id: int, now: datetime) -> int:
    """Escalate one exception if it is still due under its lock; 1 if it was."""
    with transaction.atomic():
        exception = (
            OrderException.objects.select_for_update(of=("self",))
            .select_related("reason_code", "order", "tenant")
            .filter(
                pk=exception_id,
                status__in=ACTIVE_STATUSES,
                next_escalation_at__lte=now,
            )
            .first()
        )
        if exception is None:
            return 0  # acted on, or escalated by another beat, meanwhile
        before = snapshot(exception, TRACKED)
        if exception.snoozed_until and exception.snoozed_until > now:
            # Snoozed after this deadline was set: wait for the snooze to end.
            exception.next_escalation_at = exception.snoozed_until
            exception.save(update_fields=["next_escalation_at"])
            return 0
        check("escalate", exception.status)
        if exception.escalation_level >= settings.EXCEPTION_MAX_ESCALATION_LEVEL:
            # Acknowledged at the top level and still unresolved: nothing higher to
            # page; it stays CRITICAL where everyone sees it.
            exception.next_escalation_at = None
            exception.save(update_fields=["next_escalation_at"])
            return 0
        acknowledged = exception.status != ExceptionStatus.OPEN
        waited = _waited(exception)
        why = (
            f"Acknowledged but not resolved within {_h(waited)}."
            if acknowledged
            else f"Not acknowledged within {_h(waited)}."
        )
        _raise_level(exception, before=before, actor=ESCALATION, now=now, why=why)
    return 1


def exception_escalate_now(
    *,
    exception_id: int,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
    note: str = "",
) -> OrderException:
    """An operator escalates by hand: one level up now, as beat would when it is due.

    For the case a person sees before the clock does (a VIP order, a carrier
    outage). Refused at the top level: there is nobody higher to page.
    """
    now = now or timezone.now()
    with transaction.atomic():
        exception = locked_exception(exception_id=exception_id, tenant_id=tenant_id)
        check("escalate", exception.status)
        if exception.escalation_level >= settings.EXCEPTION_MAX_ESCALATION_LEVEL:
            raise InvalidChange(
                "escalation_level",
                f"Already at the top escalation level ({exception.escalation_level}).",
            )
        before = snapshot(exception, TRACKED)
        why = note.strip() or f"Escalated by {actor.label}."
        _raise_level(exception, before=before, actor=actor, now=now, why=why)
    return exception


def _waited(exception: OrderException) -> Decimal:
    """The hours the next level waits: to resolve once acknowledged, else to acknowledge."""
    reason = exception.reason_code
    acknowledged = exception.status != ExceptionStatus.OPEN
    return reason.resolve_hours if acknowledged else reason.escalation_hours


def _raise_level(
    exception: OrderException, *, before: dict[str, Any], actor: Actor, now: datetime, why: str
) -> None:
    """One level up (and one severity step, if configured), saved with its activity row."""
    exception.escalation_level += 1
    if settings.EXCEPTION_ESCALATION_RAISES_SEVERITY:
        exception.severity = raised_severity(exception.severity)
    exception.snoozed_until = None
    final = exception.escalation_level >= settings.EXCEPTION_MAX_ESCALATION_LEVEL
    exception.next_escalation_at = None if final else now + hours(_waited(exception))
    exception.updated_at = now
    exception.save(update_fields=[*TRACKED, "updated_at"])
    if final:
        why += " Top escalation level: no further escalation."
    if exception.severity != before["severity"]:
        analysis_requested(exception.pk, why="severity")
    activity_record(
        exception,
        action="escalated",
        actor=actor,
        at=now,
        before=before,
        after=snapshot(exception, TRACKED),
        note=why,
    )


def _h(value) -> str:
    text = f"{float(value):g}"
    return f"{text} h"


def _close_resolved(now: datetime) -> int:
    """Close exceptions resolved longer ago than the reopen window."""
    cutoff = now - timedelta(hours=settings.EXCEPTION_CLOSE_AFTER_HOURS)
    closed = 0
    while True:
        ids = list(
            OrderException.objects.filter(status=ExceptionStatus.RESOLVED, resolved_at__lte=cutoff)
            .order_by("resolved_at", "pk")
            .values_list("pk", flat=True)[: settings.EXCEPTION_BEAT_CHUNK]
        )
        if not ids:
            return closed
        for pk in ids:
            try:
                exception_close(
                    exception_id=pk,
                    actor=AUTO_CLOSE,
                    now=now,
                    note=f"Resolved for {settings.EXCEPTION_CLOSE_AFTER_HOURS:g} h.",
                )
                closed += 1
            except (TransitionRefused, OrderException.DoesNotExist):
                continue  # reopened or closed by someone else meanwhile
