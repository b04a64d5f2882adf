"""followup_failure_record / followup_failures_replay: poison follow-ups, isolated.

A follow-up that raises for one order must neither block the other orders of its
message nor come back every minute for ever. Each failure is counted per event;
the sweep leaves the event alone for a pause that doubles with every attempt
(FOLLOWUP_RETRY_BASE_SECONDS, capped at FOLLOWUP_RETRY_MAX_SECONDS), and after
FOLLOWUP_MAX_ATTEMPTS the event is parked: settled, so the sweep's index no longer
holds it, and announced to the parked listeners (the exceptions app opens a
SYSTEM_ERROR on the order, since its clocks and exceptions are stale from then
on). An operator replays parked events from the admin once the cause is fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import followups, metrics
from ..dispatch import enqueue_event_followups
from ..models import FollowUpFailure, Order, OrderEvent
from ..selectors import locked_order

log = logging.getLogger(__name__)

ERROR_CHARS = 2000


def followup_retry_pause(attempts: int) -> timedelta:
    """How long the sweep waits after the `attempts`-th failure: 1, 2, 4… minutes, capped."""
    base = settings.FOLLOWUP_RETRY_BASE_SECONDS
    seconds = min(base * 2 ** max(attempts - 1, 0), settings.FOLLOWUP_RETRY_MAX_SECONDS)
    return timedelta(seconds=seconds)


def followup_failure_record(
    *,
    order_id: int,
    event_ids: Sequence[int],
    handler: str,
    error: BaseException | None,
    now: datetime | None = None,
) -> list[FollowUpFailure]:
    """Count one failed run for each of these events; park those out of attempts."""
    now = now or timezone.now()
    text = f"{type(error).__name__}: {error}"[:ERROR_CHARS] if error else "unknown error"
    recorded = []
    with transaction.atomic():
        order = locked_order(order_id)
        # Still owed: another worker may have processed them meanwhile.
        events = OrderEvent.objects.filter(pk__in=event_ids, processed_at__isnull=True).order_by(
            "pk"
        )
        for event in events:
            failure = _bump(event, handler, text, now)
            recorded.append(failure)
            if failure.parked_at is not None:
                _park(order, event, failure, now)
            else:
                metrics.FOLLOWUP_FAILURES.labels("retrying").inc()
                log.warning(
                    "follow-up failed; will retry",
                    extra={
                        "event_id": event.pk,
                        "handler": handler,
                        "attempts": failure.attempts,
                        "next_attempt_at": failure.next_attempt_at.isoformat(),
                    },
                )
    return recorded


def _bump(event: OrderEvent, handler: str, text: str, now: datetime) -> FollowUpFailure:
    failure = FollowUpFailure.objects.select_for_update().filter(event=event).first()
    if failure is None:
        failure = FollowUpFailure(event=event, attempts=0, first_failed_at=now)
    failure.attempts += 1
    failure.handler = handler[:64]
    failure.last_error = text
    failure.last_failed_at = now
    failure.next_attempt_at = now + followup_retry_pause(failure.attempts)
    if failure.attempts >= settings.FOLLOWUP_MAX_ATTEMPTS:
        failure.parked_at = now
    failure.save()
    return failure


def _park(order: Order, event: OrderEvent, failure: FollowUpFailure, now: datetime) -> None:
    # Settled: out of the sweep's partial index until a replay puts it back.
    OrderEvent.objects.filter(pk=event.pk).update(processed_at=now)
    metrics.FOLLOWUP_FAILURES.labels("parked").inc()
    log.error(
        "follow-up parked after repeated failures",
        extra={
            "event_id": event.pk,
            "order_id": order.pk,
            "handler": failure.handler,
            "attempts": failure.attempts,
            "error": failure.last_error,
        },
    )
    for name, listener in followups.parked_listeners():
        try:
            with transaction.atomic():
                listener(order, failure)
        except Exception:  # the parking itself must stand
            log.exception("parked-follow-up listener failed", extra={"listener": name})


def followup_failures_replay(*, failures: Iterable[FollowUpFailure]) -> int:
    """Give parked events a fresh set of attempts and queue their follow-up now.

    Returns how many were replayed; failures not parked (still retrying by
    themselves) are left alone.
    """
    parked = [f for f in failures if f.parked_at is not None]
    if not parked:
        return 0
    ids = [f.event_id for f in parked]
    now = timezone.now()
    with transaction.atomic():
        for failure in parked:
            FollowUpFailure.objects.filter(pk=failure.pk, parked_at__isnull=False).update(
                parked_at=None, attempts=0, next_attempt_at=now, replays=failure.replays + 1
            )
        OrderEvent.objects.filter(pk__in=ids).update(processed_at=None)
        transaction.on_commit(lambda: enqueue_event_followups(ids))
    log.info("parked follow-ups replayed", extra={"count": len(ids)})
    return len(ids)
