"""The event-type catalogue: which types move an order through its stages.

A known stage event stamps one stage time on the order and may set its status;
an attribute-only event updates what it carries (carrier, address, counts…) but no
stage; any other well-formed type is stored for the timeline and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models.order import OrderStatus

EVENT_TYPE_RE = re.compile(r"^[a-z0-9_.]{1,64}$")


@dataclass(frozen=True, slots=True)
class StageRule:
    field: str  # Order field stamped with the event's occurred_at
    status: OrderStatus
    keep: str = "first"  # "first": earliest report wins; "last": latest wins


STAGE_EVENTS: dict[str, StageRule] = {
    "order_created": StageRule("placed_at", OrderStatus.CREATED),
    "order_paid": StageRule("paid_at", OrderStatus.PAID),
    "pick_started": StageRule("pick_started_at", OrderStatus.PICKING),
    "pick_completed": StageRule("picked_at", OrderStatus.PICKED),
    "pack_started": StageRule("pack_started_at", OrderStatus.PACKING),
    "pack_completed": StageRule("packed_at", OrderStatus.PACKED),
    "ship_label_printed": StageRule("label_printed_at", OrderStatus.LABEL_PRINTED),
    "label_created": StageRule("label_printed_at", OrderStatus.LABEL_PRINTED),
    "manifested": StageRule("manifested_at", OrderStatus.MANIFESTED),
    "picked_up": StageRule("shipped_at", OrderStatus.SHIPPED),
    "package_shipped": StageRule("shipped_at", OrderStatus.SHIPPED),
    "shipment_dispatched": StageRule("shipped_at", OrderStatus.SHIPPED),
    "order_fulfilled": StageRule("shipped_at", OrderStatus.SHIPPED),
    "in_transit": StageRule("in_transit_at", OrderStatus.IN_TRANSIT),
    "out_for_delivery": StageRule("out_for_delivery_at", OrderStatus.OUT_FOR_DELIVERY),
    "delivery_failed": StageRule("delivery_failed_at", OrderStatus.DELIVERY_FAILED, keep="last"),
    "delivered": StageRule("delivered_at", OrderStatus.DELIVERED),
    "returned": StageRule("returned_at", OrderStatus.RETURNED),
    "order_cancelled": StageRule("cancelled_at", OrderStatus.CANCELLED),
}

# Value-added services the warehouse reports on an order (billing.rules, rule 4).
# They are work done to the order, not a stage it reaches: stored for the timeline
# and billed, but the order's stage and status stay where they are.
SERVICE_EVENTS: frozenset[str] = frozenset(
    {"photo_taken", "quality_check_completed", "custom_packaging_applied", "gift_wrapped"}
)

ATTRIBUTE_ONLY_EVENTS: frozenset[str] = (
    frozenset(
        {
            "order_updated",
            "fulfillment_update",
            "exception_reported",
            "inventory_shortage",
            "address_updated",
        }
    )
    | SERVICE_EVENTS
)

KNOWN_EVENT_TYPES: frozenset[str] = frozenset(STAGE_EVENTS) | ATTRIBUTE_ONLY_EVENTS

# Ties between two status changes at the same instant go to the later stage.
STATUS_RANK: dict[str, int] = {status.value: rank for rank, status in enumerate(OrderStatus)}
