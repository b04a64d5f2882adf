"""events_process / events_sweep_unprocessed: the worker side of ingestion."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from e2a_project.logging import correlation_scope
from e2a_project.outage import unavailable_dependency

from .. import followups, metrics
from ..dispatch import enqueue_event_followups
from ..models import FollowUpFailure, Order, OrderEvent
from ..selectors import locked_orders
from .followup_failures import followup_failure_record

log = logging.getLogger(__name__)

SWEEP_LIMIT = 5000


def events_process(*, event_ids: Sequence[int]) -> int:
    """Run the follow-ups of these events once each; returns how many were processed.

    All their orders in one transaction: lock the orders, re-read which of the events
    are still unprocessed (another worker may have done them), run the registered
    follow-up handlers on the whole batch, then mark the events processed. A crash
    before commit leaves them unprocessed for the next delivery or the sweep.

    A handler that raises (or a deadlock with another transaction) rolls the batch
    back, and its orders are run again one per transaction: the other orders
    coalesced into the same message go on, and the failing order's failure is
    recorded (`followup_failure_record`) so the sweep retries it later and finally
    parks it. An unreachable database or Redis is not the order's fault: that error
    propagates and the message is redelivered, with no attempt counted.

    A message that waited longer than FOLLOWUP_CATCH_UP_AFTER_MS (the worker is
    behind) tops its batch up to FOLLOWUP_CATCH_UP_EVENTS with other orders' waiting
    events (`_take_backlog`): their own messages then find them done, at the cost of
    one read each.
    """
    waiting = list(
        OrderEvent.objects.filter(pk__in=event_ids, processed_at__isnull=True).values_list(
            "order_id", "received_at"
        )
    )
    order_ids = sorted({order_id for order_id, _ in waiting})
    backlog = 0
    if waiting and settings.FOLLOWUP_CATCH_UP_EVENTS > 0:
        behind = timezone.now() - min(received for _, received in waiting)
        if behind > timedelta(milliseconds=settings.FOLLOWUP_CATCH_UP_AFTER_MS):
            backlog = max(0, settings.FOLLOWUP_CATCH_UP_EVENTS - len(waiting))  # top up
    if len(order_ids) > 1 or backlog:
        try:
            return _process_orders(order_ids, event_ids, backlog=backlog)
        except (_HandlerFailed, OperationalError) as failure:
            cause = failure.__cause__ if isinstance(failure, _HandlerFailed) else failure
            if unavailable_dependency(cause) is not None:
                raise cause from None
            log.warning(
                "batch follow-up rolled back; running its orders one at a time",
                extra={"orders": len(order_ids), "error": f"{type(cause).__name__}: {cause}"},
            )
    processed = 0
    for order_id in order_ids:
        try:
            processed += _process_orders([order_id], event_ids)
        except _HandlerFailed as failure:
            if unavailable_dependency(failure.__cause__) is not None:
                raise failure.__cause__ from None
            followup_failure_record(
                order_id=order_id,
                event_ids=failure.event_ids,
                handler=failure.handler,
                error=failure.__cause__,
            )
    return processed


class _HandlerFailed(Exception):
    """A follow-up handler raised; carries which events its transaction rolled back."""

    def __init__(self, handler: str, event_ids: list[int]) -> None:
        super().__init__(handler)
        self.handler = handler
        self.event_ids = event_ids


def _process_orders(order_ids: Sequence[int], event_ids: Sequence[int], *, backlog: int = 0) -> int:
    with transaction.atomic():
        orders = locked_orders(order_ids)
        wanted = Q(pk__in=event_ids, order_id__in=order_ids)
        taken = _take_backlog(backlog, order_ids) if backlog > 0 else []
        if taken:
            # Every waiting event of a taken order is this transaction's to run now.
            wanted |= Q(order_id__in=[order.pk for order in taken]) & ~_failed_before()
            orders = sorted([*orders, *taken], key=lambda o: (o.tenant_id, o.external_id))
        events = list(
            OrderEvent.objects.filter(wanted, processed_at__isnull=True)
            # Read with the events, so the common case (nothing failed before)
            # costs no separate DELETE after the handlers ran.
            .annotate(failed_before=_failed_before())
            .order_by("occurred_at", "pk")
        )
        if not events:
            return 0
        by_order: dict[int, list[OrderEvent]] = defaultdict(list)
        for event in events:
            by_order[event.order_id].append(event)
        batch = [(order, by_order[order.pk]) for order in orders if order.pk in by_order]
        # One message may carry several requests' events: log under the id of the
        # request that sent the first of them (handlers narrow it per order).
        with correlation_scope(events[0].correlation_id):
            for name, handler in followups.handlers():
                try:
                    handler(batch)
                except Exception as exc:
                    log.exception("follow-up handler failed", extra={"handler": name})
                    raise _HandlerFailed(name, [e.pk for e in events]) from exc
            pks = [e.pk for e in events]
            done = OrderEvent.objects.filter(pk__in=pks, processed_at__isnull=True).update(
                processed_at=timezone.now()
            )
            retried = [e.pk for e in events if e.failed_before]
            if retried:  # a retry that succeeded: those events are no longer failing
                FollowUpFailure.objects.filter(event_id__in=retried).delete()
            log.info(
                "events processed",
                extra={"order_ids": [order.pk for order, _ in batch], "count": done},
            )
            return done


def _failed_before() -> Exists:
    """Whether an event's follow-up failed before (it has a FollowUpFailure row)."""
    return Exists(FollowUpFailure.objects.filter(event=OuterRef("pk")))


def _take_backlog(limit: int, own_orders: Sequence[int]) -> list[Order]:
    """The orders of up to `limit` other waiting events, newest first, that no other
    transaction holds, locked (SKIP LOCKED: this never waits, so it cannot deadlock).

    Newest first: the oldest waiting events are the next messages in the queue, which
    another worker is about to run; taking them would only make it wait for this
    transaction. Events whose follow-up failed before are left to the sweep's back-off.
    """
    candidates = (
        OrderEvent.objects.filter(processed_at__isnull=True)
        .exclude(order_id__in=list(own_orders))
        .exclude(_failed_before())
        .order_by("-received_at")
        .values_list("order_id", flat=True)[:limit]
    )
    return locked_orders(set(candidates), skip_held=True)


def events_sweep_unprocessed(*, older_than: timedelta | None = None) -> int:
    """Re-queue events whose follow-up never ran (lost publish, crashed worker).

    Reads only the partial index of unprocessed events, so its cost follows the
    backlog, not the table. Events whose follow-up failed wait out their pause
    (skipped here, so they cannot crowd the oldest-first limit); parked ones
    are settled and not in the index at all.
    """
    age = (
        older_than
        if older_than is not None
        else timedelta(seconds=settings.INGEST_SWEEP_AFTER_SECONDS)
    )
    cutoff = timezone.now() - age
    now = timezone.now()
    backing_off = FollowUpFailure.objects.filter(event=OuterRef("pk"), next_attempt_at__gt=now)
    ids = list(
        OrderEvent.objects.filter(processed_at__isnull=True, received_at__lte=cutoff)
        .exclude(Exists(backing_off))
        .order_by("received_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    if not ids:
        return 0
    published = enqueue_event_followups(ids)
    metrics.FOLLOWUPS_SWEPT.inc(published)
    log.info(
        "sweep re-queued unprocessed events", extra={"found": len(ids), "published": published}
    )
    return published
