"""events_process / events_sweep_unprocessed: the worker side of ingestion."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from e2a_project.logging import correlation_scope

from .. import followups, metrics
from ..dispatch import enqueue_event_followups
from ..models import Order, OrderEvent

log = logging.getLogger(__name__)

SWEEP_LIMIT = 5000


def events_process(*, event_ids: Sequence[int]) -> int:
    """Run the follow-ups of these events once each; returns how many were processed.

    Per order, in one transaction: lock the order, re-read which of the events are
    still unprocessed (another worker may have done them), run the registered
    follow-up handlers, then mark the events processed. A crash before commit
    leaves them unprocessed for the next delivery or the sweep.
    """
    order_ids = sorted(
        set(
            OrderEvent.objects.filter(pk__in=event_ids, processed_at__isnull=True).values_list(
                "order_id", flat=True
            )
        )
    )
    processed = 0
    for order_id in order_ids:
        with transaction.atomic():
            order = Order.objects.select_for_update().select_related("tenant").get(pk=order_id)
            events = list(
                OrderEvent.objects.filter(
                    pk__in=event_ids, order_id=order_id, processed_at__isnull=True
                ).order_by("occurred_at", "pk")
            )
            if not events:
                continue
            # One message may carry several requests' events: log under the id
            # of the request that sent this order's first event.
            with correlation_scope(events[0].correlation_id):
                for name, handler in followups.handlers():
                    try:
                        handler(order, events)
                    except Exception:
                        log.exception("follow-up handler failed", extra={"handler": name})
                        raise
                now = timezone.now()
                done = OrderEvent.objects.filter(
                    pk__in=[e.pk for e in events], processed_at__isnull=True
                ).update(processed_at=now)
                processed += done
                log.info("events processed", extra={"order_id": order_id, "count": done})
    return processed


def events_sweep_unprocessed(*, older_than: timedelta | None = None) -> int:
    """Re-queue events whose follow-up never ran (lost publish, crashed worker).

    Reads only the partial index of unprocessed events, so its cost follows the
    backlog, not the table.
    """
    age = (
        older_than
        if older_than is not None
        else timedelta(seconds=settings.INGEST_SWEEP_AFTER_SECONDS)
    )
    cutoff = timezone.now() - age
    ids = list(
        OrderEvent.objects.filter(processed_at__isnull=True, received_at__lte=cutoff)
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
