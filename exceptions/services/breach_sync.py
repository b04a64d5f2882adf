"""SLA breaches → exceptions: every breach hangs on the exception it opened or updated.

The scan and sla_recompute call this (through `slas.breach_listeners`) in the
transaction that wrote the breaches; for breaches a late event recorded, the
worker's follow-up for that event calls it (services.detection). It reconciles
the orders' breaches with their exceptions, so running it twice changes nothing:

* a breach with no exception yet opens one (or counts an occurrence on the one
  open for the same order and reason, or reopens a resolved one);
* a breach that changed (a stuck stage ageing, a late stage's final lateness)
  updates its exception's severity, lateness and evidence;
* when every breach behind an exception is cleared, the problem is gone: a delay
  breach withdrawn (the stage was done in time after all) resolves it as
  BREACH_WITHDRAWN; a missing scan that arrived resolves it as CONDITION_CLEARED
  if the catalogue says that code auto-resolves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from e2a_project.logging import current_correlation_id
from orders.models import Order
from slas.models import Breach, BreachReason

from ..actors import Actor
from ..models import ExceptionBreach, OrderException
from .lifecycle import ResolutionCode, exception_resolve
from .raising import Finding, exception_raise, exception_refresh

SLA = Actor.system("sla")


def breach_evidence(breach: Breach) -> dict[str, Any]:
    clock = breach.clock
    return {
        "source": "sla",
        "breach_id": breach.pk,
        "stage": breach.stage,
        "allowed_minutes": breach.allowed_minutes,
        "actual_minutes": breach.actual_minutes,
        "late_minutes": breach.late_minutes,
        "started_at": clock.started_at.isoformat(),
        "due_at": clock.due_at.isoformat(),
        # Set when the stage was done, late: the notes then say "was picked late",
        # not "has not been picked".
        "met_at": clock.met_at.isoformat() if clock.met_at else None,
        "explanation": clock.explanation,
        "detected_by": breach.detected_by,
        "final": breach.final,
    }


def exceptions_sync_breaches(
    order_ids: set[int],
    at: datetime,
    *,
    orders: Mapping[int, Order] | None = None,
    correlation_ids: Mapping[int, str] | None = None,
) -> None:
    """Reconcile these orders' breaches with their exceptions (see the module docstring).

    The worker passes the `orders` it holds locked (so they are not read again through
    a join) and each order's `correlation_ids` (the request that sent its events), as
    one call covers every order of its batch.
    """
    scope = Breach.objects.filter(order_id__in=order_ids).order_by("order_id", "pk")
    if orders is None:
        breaches = list(scope.select_related("order", "clock"))
    else:
        breaches = list(scope.select_related("clock"))
        for breach in breaches:
            breach.order = orders[breach.order_id]
    if not breaches:
        return
    correlation_ids = correlation_ids or {}
    links = {
        link.breach_id: link.exception_id
        for link in ExceptionBreach.objects.filter(breach__in=[b.pk for b in breaches])
    }
    touched: dict[int, list[Breach]] = defaultdict(list)
    new = []
    for breach in breaches:
        exception_id = links.get(breach.pk)
        if exception_id is None:
            if breach.cleared_at is None:
                new.append(breach)
            continue
        touched[exception_id].append(breach)
    if new:
        current = _current_records(new)
        for breach in new:
            key = (breach.order_id, breach.reason_code)
            correlation_id = correlation_ids.get(breach.order_id) or current_correlation_id()
            current[key] = _open(breach, at, current.get(key), correlation_id or "")
    if touched:
        _follow(touched, at)


def _current_records(breaches: list[Breach]) -> dict[tuple[int, str], OrderException]:
    """The records not closed for these breaches' (order, reason), locked, in one query."""
    found = (
        OrderException.objects.select_for_update()
        .exclude(status="CLOSED")
        .filter(
            order_id__in={b.order_id for b in breaches},
            reason_code__in={b.reason_code for b in breaches},
        )
        .order_by("pk")
    )
    return {(e.order_id, e.reason_code_id): e for e in found}


def _open(
    breach: Breach, at: datetime, current: OrderException | None, correlation_id: str
) -> OrderException:
    raised = exception_raise(
        current=current,
        order=breach.order,
        finding=Finding(
            reason_code=breach.reason_code,
            evidence=breach_evidence(breach),
            stage=breach.stage,
            severity=breach.severity,
            late_minutes=breach.late_minutes,
            correlation_id=correlation_id,
            detected_at=breach.detected_at,
        ),
        actor=SLA,
        now=at,
    )
    ExceptionBreach.objects.create(breach=breach, exception=raised.exception, linked_at=at)
    return raised.exception


def _follow(touched: dict[int, list[Breach]], at: datetime) -> None:
    exceptions = OrderException.objects.select_for_update(of=("self",)).select_related(
        "reason_code", "order", "tenant"
    )
    for exception in exceptions.filter(pk__in=sorted(touched)).order_by("pk"):
        if not exception.is_active and exception.status != "RESOLVED":
            continue  # closed: history now
        active = [b for b in touched[exception.pk] if b.cleared_at is None]
        if active:
            newest = max(active, key=lambda b: (b.updated_at, b.pk))
            exception_refresh(
                exception,
                severity=newest.severity,
                late_minutes=newest.late_minutes,
                evidence=breach_evidence(newest),
                actor=SLA,
                now=at,
            )
        elif exception.is_active:
            # Every breach behind it is here: they all belong to its order, and all
            # of the order's breaches were read above.
            _resolve_cleared(exception, at)


def _resolve_cleared(exception: OrderException, at: datetime) -> None:
    if exception.reason_code_id == BreachReason.MISSING_SCAN:
        if not exception.reason_code.auto_resolve:
            return
        code = ResolutionCode.CONDITION_CLEARED
        text = "The missing scan arrived."
    else:
        code = ResolutionCode.BREACH_WITHDRAWN
        text = "The stage was completed in time after all; the SLA breach was withdrawn."
    exception_resolve(
        exception_id=exception.pk,
        resolution=text,
        resolution_code=code,
        actor=SLA,
        now=at,
        activity="auto_resolved",
    )
