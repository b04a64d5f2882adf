"""The worker's follow-up for the orders' new events: SLA breaches and detection rules.

Runs inside `orders.services.processing.events_process`, in the transaction that
marks the events processed and with the order rows locked, so one order's events
are never evaluated by two workers at once. Idempotent: a report already counted
for an event (its id is in the exception's evidence) is not counted again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from e2a_project.logging import correlation_scope
from orders.followups import OrderEvents
from orders.models import Order, OrderEvent

from .. import rules
from ..actors import Actor
from ..config import active_codes
from ..models import ACTIVE_STATUSES, ExceptionStatus, OrderException
from .breach_sync import exceptions_sync_breaches
from .lifecycle import ResolutionCode, exception_close, exception_resolve
from .raising import Finding, exception_raise, exception_refresh

RULES = Actor.system("rules")
# How many reporting event ids an exception remembers (for idempotency and evidence).
EVENT_IDS_KEPT = 50


def exceptions_detect(batch: Sequence[OrderEvents]) -> None:
    """Detection for a batch of locked orders and their new events, in a fixed number of
    reads whatever the batch's size; only what a rule finds costs more."""
    now = timezone.now()
    live: dict[int, tuple[Order, Sequence[OrderEvent]]] = {}
    for order, events in batch:
        if order.cancelled_at is not None:
            exceptions_close_for_cancelled(order=order, now=now)
        else:
            live[order.pk] = (order, events)
    if not live:
        return
    orders = {pk: order for pk, (order, _) in live.items()}
    # Breaches the events' SLA bookkeeping recorded in the ingest transaction.
    exceptions_sync_breaches(
        set(live),
        now,
        orders=orders,
        correlation_ids={pk: events[0].correlation_id for pk, (_, events) in live.items()},
    )
    known = active_codes()
    current: dict[int, dict[str, OrderException]] = defaultdict(dict)
    for record in (
        OrderException.objects.select_for_update(of=("self",))
        .select_related("reason_code")
        .filter(order_id__in=list(live))
        .exclude(status=ExceptionStatus.CLOSED)
        .order_by("pk")
    ):
        record.order = orders[record.order_id]
        current[record.order_id][record.reason_code_id] = record
    for pk, (order, events) in live.items():
        with correlation_scope(events[0].correlation_id):
            _detect(order, events, current[pk], known, now)


def _detect(
    order: Order,
    events: Sequence[OrderEvent],
    current: dict[str, OrderException],
    known: frozenset[str],
    now: datetime,
) -> None:
    for event in events:
        for finding in rules.report_findings(order, event, known):
            if finding.reason_code in known:
                _report(order, finding, current, now)
    _conditions(order, rules.condition_findings(order), current, known, now)


def _report(
    order: Order, finding: Finding, current: dict[str, OrderException], now: datetime
) -> None:
    event_id = finding.evidence["event_id"]
    existing = current.get(finding.reason_code)
    seen = list(existing.evidence.get("event_ids", [])) if existing else []
    if event_id in seen:
        return  # this event was already counted (a re-run of the follow-up)
    finding.evidence["event_ids"] = [*seen, event_id][-EVENT_IDS_KEPT:]
    raised = exception_raise(order=order, finding=finding, actor=RULES, now=now, current=existing)
    current[finding.reason_code] = raised.exception


def _conditions(
    order: Order,
    holding: dict[str, Finding],
    current: dict[str, OrderException],
    known: frozenset[str],
    now: datetime,
) -> None:
    for code, finding in holding.items():
        if code not in known:
            continue
        existing = current.get(code)
        # A record resolved because the condition cleared reopens when it holds again;
        # one an operator resolved while it held stays resolved (they decided).
        if existing is None or existing.resolution_code == ResolutionCode.CONDITION_CLEARED:
            current[code] = exception_raise(
                order=order, finding=finding, actor=RULES, now=now, current=existing
            ).exception
        else:
            exception_refresh(existing, evidence=finding.evidence, actor=RULES, now=now)
    for code, existing in current.items():
        owned = existing.evidence.get("rule") in rules.CONDITION_RULES
        if (
            code not in holding
            and owned
            and existing.status in ACTIVE_STATUSES
            and existing.reason_code.auto_resolve
        ):
            exception_resolve(
                exception_id=existing.pk,
                resolution="The condition that opened it no longer holds.",
                resolution_code=ResolutionCode.CONDITION_CLEARED,
                actor=RULES,
                now=now,
                activity="auto_resolved",
            )


def exceptions_close_for_cancelled(*, order: Order, now: datetime | None = None) -> int:
    """Resolve and close every exception still open on a cancelled order; returns how many."""
    now = now or timezone.now()
    closed = 0
    actor = Actor.system("order-cancelled")
    # Locked (the order's transaction): an operator acting on one meanwhile waits.
    open_ids = (
        OrderException.objects.select_for_update()
        .filter(order=order, status__in=[*ACTIVE_STATUSES, ExceptionStatus.RESOLVED])
        .order_by("pk")
        .values_list("pk", "status")
    )
    for pk, status in list(open_ids):
        if status != ExceptionStatus.RESOLVED:
            exception_resolve(
                exception_id=pk,
                resolution="The order was cancelled, so there is nothing left to fix.",
                resolution_code=ResolutionCode.ORDER_CANCELLED,
                actor=actor,
                now=now,
                activity="auto_resolved",
            )
        exception_close(exception_id=pk, actor=actor, now=now, note="Order cancelled.")
        closed += 1
    return closed
