"""Apply one event to an Order so that arrival order never matters.

Every rule here is a merge that gives the same result whichever order the same
set of events arrives in (a commutative, idempotent "join"):

* stage times keep the earliest report (`delivery_failed_at` the latest);
* the status comes from the newest stage event, by (occurred_at, stage rank);
* each attribute keeps the value of the newest event that carried it, by the
  event's version (occurred_at, then source and id as a stable tiebreak), so an
  older event never overwrites newer data, field by field;
* counters count distinct events, which ingestion guarantees.

`apply_event` returns the names of the fields it changed so callers can save
exactly those.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .contract import EventIn
from .event_types import STAGE_EVENTS, STATUS_RANK
from .models.order import Order

# Event attribute name -> Order field name (identical today, kept explicit).
ATTRIBUTE_FIELDS: dict[str, str] = {
    name: name
    for name in (
        "service_level",
        "handling",
        "line_count",
        "items_count",
        "total_amount_cents",
        "currency",
        "financial_status",
        "payment_issues",
        "carrier",
        "tracking_number",
        "warehouse",
        "exception_reason",
        "channel",
        "customer",
        "shipping_address",
        "line_items",
        "shipping_lines",
        "tags",
    )
}


def _newer_status(order: Order, status: str, at: datetime) -> bool:
    if not order.status or order.status_as_of is None:
        return True
    return (at, STATUS_RANK[status]) > (order.status_as_of, STATUS_RANK[order.status])


def apply_event(order: Order, event: EventIn) -> set[str]:
    changed: set[str] = {"event_count"}
    order.event_count += 1
    if order.last_event_at is None or event.occurred_at > order.last_event_at:
        order.last_event_at = event.occurred_at
        changed.add("last_event_at")

    rule = STAGE_EVENTS.get(event.event_type)
    if rule is not None:
        current: datetime | None = getattr(order, rule.field)
        if (
            current is None
            or (rule.keep == "first" and event.occurred_at < current)
            or (rule.keep == "last" and event.occurred_at > current)
        ):
            setattr(order, rule.field, event.occurred_at)
            changed.add(rule.field)
        if event.event_type == "delivery_failed":
            order.failed_delivery_attempts += 1
            changed.add("failed_delivery_attempts")
        if _newer_status(order, rule.status.value, event.occurred_at):
            order.status = rule.status.value
            order.status_as_of = event.occurred_at
            changed.update({"status", "status_as_of"})

    versions: dict[str, Any] = order.attribute_versions
    version = event.version
    for name, value in event.attributes.items():
        field = ATTRIBUTE_FIELDS.get(name)
        if field is None:
            continue
        if versions.get(field, "") < version:
            versions[field] = version
            setattr(order, field, value)
            changed.update({field, "attribute_versions"})
    return changed
