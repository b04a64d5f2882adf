"""event_ingest / events_ingest: store events exactly once and project them.

One call stores any number of events (a single POST is a batch of one) in one
transaction, set-based:

1. drop repeats inside the call and events already stored (one indexed query);
2. create missing orders (INSERT … ON CONFLICT DO NOTHING) and lock the
   touched orders in primary-key order, so concurrent batches cannot deadlock;
3. insert the events with ON CONFLICT DO NOTHING RETURNING: whatever is not
   returned was stored by someone else first and is a duplicate;
4. project the new events onto their orders and save the changed fields;
5. after commit, queue the follow-up task for the new events.

Redis locks (orders.locks) around the whole keep concurrent copies of one event
from reaching step 2 at all; without Redis the constraint alone decides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import transaction
from django.utils import timezone

from .. import metrics
from ..contract import EventIn
from ..db import insert_returning_new
from ..dispatch import enqueue_event_followups
from ..locks import event_locks
from ..models import Order, OrderEvent, Tenant
from ..projection import apply_event

log = logging.getLogger(__name__)

Outcome = Literal["accepted", "duplicate", "rejected"]


@dataclass(slots=True)
class EventResult:
    index: int
    status: Outcome
    event_id: str | None = None
    order_id: str | None = None
    source: str | None = None
    event_type: str = ""
    errors: dict[str, list[str]] | None = None
    dead_letter_id: int | None = None
    event_pk: int | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "status": self.status}
        for name in ("event_id", "order_id", "source", "errors", "dead_letter_id"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


def events_ingest(
    *,
    tenant: Tenant,
    events: Sequence[tuple[int, EventIn]],
    channel: str,
    correlation_id: str = "",
) -> list[EventResult]:
    """Store the (index, event) pairs; return one result per pair, in input order."""
    results: dict[int, EventResult] = {}
    unique: dict[tuple[str, str], tuple[int, EventIn]] = {}
    for index, event in events:
        if event.key in unique:
            results[index] = _result(index, "duplicate", event)
        else:
            unique[event.key] = (index, event)

    with event_locks(tenant.pk, list(unique)):
        stored = _stored_keys(tenant, list(unique))
        fresh = [(i, e) for key, (i, e) in unique.items() if key not in stored]
        for key in stored & unique.keys():
            index, event = unique[key]
            results[index] = _result(index, "duplicate", event)
        if fresh:
            with transaction.atomic():
                inserted = _store(tenant, fresh, channel, correlation_id)
                new_ids = sorted(inserted.values())
                transaction.on_commit(lambda: enqueue_event_followups(new_ids))
            for index, event in fresh:
                pk = inserted.get(event.key)
                results[index] = _result(
                    index, "accepted" if pk else "duplicate", event, event_pk=pk
                )

    ordered = [results[i] for i in sorted(results)]
    for result in ordered:
        metrics.count_event(tenant.slug, result.source or "", result.event_type, result.status)
    return ordered


def _result(
    index: int, status: Outcome, event: EventIn, *, event_pk: int | None = None
) -> EventResult:
    return EventResult(
        index=index,
        status=status,
        event_id=event.event_id,
        order_id=event.order_external_id,
        source=event.source,
        event_type=event.event_type,
        event_pk=event_pk,
    )


def _stored_keys(tenant: Tenant, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    if not keys:
        return set()
    sources = {s for s, _ in keys}
    event_ids = {e for _, e in keys}
    rows = OrderEvent.objects.filter(
        tenant=tenant, source__in=sources, event_id__in=event_ids
    ).values_list("source", "event_id")
    return set(rows) & set(keys)


def _store(
    tenant: Tenant, fresh: list[tuple[int, EventIn]], channel: str, correlation_id: str
) -> dict[tuple[str, str], int]:
    now = timezone.now()
    first_source: dict[str, str] = {}
    for _, event in sorted(fresh, key=lambda pair: pair[1].version):
        first_source.setdefault(event.order_external_id, event.source)
    external_ids = sorted(first_source)
    Order.objects.bulk_create(
        [
            Order(
                tenant=tenant,
                external_id=ext,
                source=first_source[ext],
                first_seen_at=now,
                updated_at=now,
            )
            for ext in external_ids
        ],
        ignore_conflicts=True,
    )
    orders = {
        o.external_id: o
        for o in Order.objects.select_for_update()
        .filter(tenant=tenant, external_id__in=external_ids)
        .order_by("pk")
    }
    rows = sorted(
        (
            OrderEvent(
                tenant=tenant,
                order=orders[event.order_external_id],
                source=event.source,
                event_type=event.event_type,
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                received_at=now,
                channel=channel,
                payload=event.raw,
                correlation_id=correlation_id,
            )
            for _, event in fresh
        ),
        key=lambda row: (row.source, row.event_id),
    )
    returned = insert_returning_new(
        OrderEvent,
        rows,
        fields=[
            "tenant",
            "order",
            "source",
            "event_type",
            "event_id",
            "occurred_at",
            "received_at",
            "channel",
            "payload",
            "correlation_id",
        ],
        conflict_fields=["tenant", "source", "event_id"],
        returning=["id", "source", "event_id"],
    )
    inserted = {(source, event_id): pk for pk, source, event_id in returned}

    changed: dict[int, set[str]] = {}
    for _, event in fresh:
        if event.key in inserted:
            order = orders[event.order_external_id]
            changed.setdefault(order.pk, set()).update(apply_event(order, event))
    if changed:
        fields = set().union(*changed.values()) | {"updated_at"}
        touched = [o for o in orders.values() if o.pk in changed]
        for order in touched:
            order.updated_at = now
        Order.objects.bulk_update(touched, sorted(fields))
    return inserted
