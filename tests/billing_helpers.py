"""Building months of evidence for billing tests: orders and their events, written
directly (billing reads stored events; ingestion has its own tests)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.test import Client

from orders.models import Order, OrderEvent, Tenant
from orders.services.staff import staff_user_save

_ids = itertools.count(1)
# (event_type, occurred_at), (event_type, occurred_at, source), or with the event's
# other top-level fields as sent: (event_type, occurred_at, source, {"label_cost_cents": 512})
Evidence = tuple[str, datetime] | tuple[str, datetime, str] | tuple[str, datetime, str, dict]


def order_with(
    tenant: Tenant,
    external_id: str,
    evidence: Iterable[Evidence],
    *,
    items: int | None = None,
    handling: Sequence[str] = (),
) -> Order:
    """One order and its events, each event stored once as ingestion would."""
    order = Order.objects.create(
        tenant=tenant,
        external_id=external_id,
        source="wms",
        items_count=items,
        handling=sorted(handling),
    )
    OrderEvent.objects.bulk_create(_events(tenant, order, evidence))
    return order


def orders_with(
    tenant: Tenant,
    count: int,
    evidence: Sequence[Evidence],
    *,
    items: int | None = None,
    handling: Sequence[str] = (),
    prefix: str = "B",
) -> list[Order]:
    """`count` orders with the same evidence, in two bulk statements."""
    orders = Order.objects.bulk_create(
        Order(
            tenant=tenant,
            external_id=f"{prefix}{n}",
            source="wms",
            items_count=items,
            handling=sorted(handling),
        )
        for n in range(count)
    )
    OrderEvent.objects.bulk_create(
        event for order in orders for event in _events(tenant, order, evidence)
    )
    return orders


def _events(tenant: Tenant, order: Order, evidence: Iterable[Evidence]) -> list[OrderEvent]:
    events = []
    for item in evidence:
        event_type, occurred_at = item[0], item[1]
        source = item[2] if len(item) > 2 else "wms"
        extra = item[3] if len(item) > 3 else {}
        events.append(
            OrderEvent(
                tenant=tenant,
                order=order,
                source=source,
                event_type=event_type,
                event_id=f"evt-{next(_ids)}",
                occurred_at=occurred_at,
                channel="event",
                payload={"event_type": event_type, **extra},
            )
        )
    return events


def logged_in(role: str, tenant: Tenant) -> Client:
    """A console session of a staff user with `role` on `tenant`."""
    user = staff_user_save(username=f"{role}-user", role=role, tenant_slugs=[tenant.slug]).user
    client = Client()
    client.force_login(user)
    return client


def shipped_on(day: int, month: int, year: int = 2026) -> list[tuple[str, datetime]]:
    """Picked at 09:00 UTC that day, packed at 10:00, labelled at 11:00: 65 cents of
    operations on the default rate sheet."""
    return [
        ("pick_completed", datetime(year, month, day, 9, tzinfo=UTC)),
        ("pack_completed", datetime(year, month, day, 10, tzinfo=UTC)),
        ("ship_label_printed", datetime(year, month, day, 11, tzinfo=UTC)),
    ]
