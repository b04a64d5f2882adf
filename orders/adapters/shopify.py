"""Shopify: order payload attributes and native webhook topics → E²A events.

Shopify orders are identified by their `name` (e.g. "#1001"), the same id that
Shopify-fed senders put in `order_id`, so both paths land on the same order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..models.order import HANDLING_FLAGS, ServiceLevel

SUPPORTED_TOPICS = (
    "orders/create",
    "orders/paid",
    "orders/updated",
    "orders/cancelled",
    "orders/fulfilled",
    "fulfillments/create",
    "fulfillments/update",
)

_ORDER_TOPICS = {
    "orders/create": ("order_created", ("created_at",)),
    "orders/paid": ("order_paid", ("updated_at", "processed_at")),
    "orders/updated": ("order_updated", ("updated_at",)),
    "orders/cancelled": ("order_cancelled", ("cancelled_at", "updated_at")),
    "orders/fulfilled": ("order_fulfilled", ("updated_at",)),
}

# Shopify fulfillment `shipment_status` → E²A event type.
SHIPMENT_STATUS_EVENTS = {
    "label_printed": "ship_label_printed",
    "label_purchased": "label_created",
    "confirmed": "fulfillment_update",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "ready_for_pickup": "out_for_delivery",
    "attempted_delivery": "delivery_failed",
    "failure": "delivery_failed",
    "delivered": "delivered",
}

_SERVICE_LEVEL_WORDS = (
    (re.compile(r"overnight|next[\s_-]?day|same[\s_-]?day", re.I), ServiceLevel.OVERNIGHT),
    (re.compile(r"express|expedited|priority", re.I), ServiceLevel.EXPRESS),
)
# `available_quantity` and `inventory_shortage` are not Shopify's: the earlier E²A's
# senders mark stock trouble on the line itself, and detection reads them there.
_LINE_ITEM_KEYS = (
    "id",
    "sku",
    "title",
    "variant_id",
    "product_id",
    "quantity",
    "price",
    "grams",
    "available_quantity",
    "inventory_shortage",
)
_CUSTOMER_KEYS = ("id", "email", "first_name", "last_name", "phone")


class ShopifyShapeError(ValueError):
    """A Shopify payload that does not have the shape Shopify documents."""


def _cents(amount: Any) -> int:
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ShopifyShapeError(f"total_price {amount!r} is not a number.") from exc
    if value < 0 or not value.is_finite():
        raise ShopifyShapeError(f"total_price {amount!r} is not a positive amount.")
    return int((value * 100).to_integral_value())


def tags_list(tags: Any) -> list[str]:
    if isinstance(tags, str):
        return [t.strip() for t in tags.split(",") if t.strip()]
    if isinstance(tags, list):
        return [str(t).strip() for t in tags if str(t).strip()]
    raise ShopifyShapeError("tags must be a comma-separated string or a list.")


def handling_from_tags(tags: list[str]) -> list[str]:
    normalised = {re.sub(r"[\s-]+", "_", t.lower()) for t in tags}
    return sorted(flag for flag in HANDLING_FLAGS if flag in normalised)


def service_level_from_shipping(shipping_lines: list[Mapping[str, Any]]) -> str | None:
    for line in shipping_lines:
        text = f"{line.get('code') or ''} {line.get('title') or ''}"
        for pattern, level in _SERVICE_LEVEL_WORDS:
            if pattern.search(text):
                return level.value
    return ServiceLevel.STANDARD.value if shipping_lines else None


_TRUE_WORDS = frozenset({"true", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "no", "0", ""})


def sender_flag(value: Any) -> bool | None:
    """A yes/no flag as the earlier senders wrote it; None when it says neither.

    Mostly JSON booleans, sometimes words: a flag that cannot be read is left out
    (the order keeps what it knew) rather than refusing the whole order over it.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    return None


def shopify_order_attributes(order: Mapping[str, Any]) -> dict[str, Any]:
    """The order attributes E²A keeps from a Shopify order object."""
    attributes: dict[str, Any] = {}
    line_items = order.get("line_items")
    if line_items is not None:
        if not isinstance(line_items, list) or not all(isinstance(i, Mapping) for i in line_items):
            raise ShopifyShapeError("line_items must be a list of objects.")
        attributes["line_items"] = [
            {k: item[k] for k in _LINE_ITEM_KEYS if k in item} for item in line_items
        ]
        attributes["line_count"] = len(line_items)
        quantities = [item.get("quantity", 0) for item in line_items]
        if not all(isinstance(q, int) and not isinstance(q, bool) and q >= 0 for q in quantities):
            raise ShopifyShapeError("line_items[].quantity must be whole numbers ≥ 0.")
        attributes["items_count"] = sum(quantities)
    shipping_lines = order.get("shipping_lines")
    if shipping_lines is not None:
        if not isinstance(shipping_lines, list) or not all(
            isinstance(i, Mapping) for i in shipping_lines
        ):
            raise ShopifyShapeError("shipping_lines must be a list of objects.")
        attributes["shipping_lines"] = [
            {k: line[k] for k in ("title", "code", "price", "source") if k in line}
            for line in shipping_lines
        ]
        level = service_level_from_shipping(shipping_lines)
        if level:
            attributes["service_level"] = level
    if order.get("tags") is not None:
        tags = tags_list(order["tags"])
        attributes["tags"] = tags
        attributes["handling"] = handling_from_tags(tags)
    if order.get("total_price") is not None:
        attributes["total_amount_cents"] = _cents(order["total_price"])
    currency = order.get("currency")
    if isinstance(currency, str) and len(currency) == 3:
        attributes["currency"] = currency.upper()
    if isinstance(order.get("financial_status"), str):
        attributes["financial_status"] = order["financial_status"][:32]
    payment_issues = sender_flag(order.get("payment_issues"))
    if payment_issues is not None:
        attributes["payment_issues"] = payment_issues
    if isinstance(order.get("source_name"), str):
        attributes["channel"] = order["source_name"][:64]
    customer = order.get("customer")
    if isinstance(customer, Mapping):
        attributes["customer"] = {k: customer[k] for k in _CUSTOMER_KEYS if k in customer}
    address = order.get("shipping_address")
    if isinstance(address, Mapping):
        attributes["shipping_address"] = dict(address)
    fulfillments = order.get("fulfillments")
    if isinstance(fulfillments, list):
        for fulfillment in fulfillments:
            if isinstance(fulfillment, Mapping):
                attributes.update(fulfillment_attributes(fulfillment))
    return attributes


def fulfillment_attributes(fulfillment: Mapping[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if isinstance(fulfillment.get("tracking_company"), str) and fulfillment["tracking_company"]:
        attributes["carrier"] = fulfillment["tracking_company"][:64]
    if isinstance(fulfillment.get("tracking_number"), str) and fulfillment["tracking_number"]:
        attributes["tracking_number"] = fulfillment["tracking_number"][:128]
    return attributes


class UnsupportedWebhook(ValueError):
    """A webhook E²A cannot turn into an order event (kept as a dead letter)."""


# Shopify signs the body only: the X-Shopify-Topic header could be changed on a
# captured delivery (an order's creation replayed as its cancellation). So the
# topic must agree with what the signed body says about the order.
_PAID_STATUSES = frozenset({"paid", "partially_paid", "partially_refunded", "refunded"})


def topic_contradiction(topic: str, body: Mapping[str, Any]) -> str:
    """Why the signed body cannot be the topic's ('' when it can)."""
    is_order = "financial_status" in body and "order_id" not in body
    if topic in _ORDER_TOPICS and not is_order:
        return f"The body is not an order (no financial_status), so it cannot be {topic}."
    if topic.startswith("fulfillments/") and is_order:
        return f"The body is an order, not a fulfillment, so it cannot be {topic}."
    if topic == "orders/cancelled" and not body.get("cancelled_at"):
        return "The order's cancelled_at is empty, so it cannot be orders/cancelled."
    if topic == "orders/paid" and body.get("financial_status") not in _PAID_STATUSES:
        status = body.get("financial_status")
        return f"The order's financial_status is {status!r}, so it cannot be orders/paid."
    if topic == "orders/fulfilled" and body.get("fulfillment_status") != "fulfilled":
        status = body.get("fulfillment_status")
        return f"The order's fulfillment_status is {status!r}, so it cannot be orders/fulfilled."
    return ""


def shopify_webhook_event(
    *, topic: str, webhook_id: str, body: Any, triggered_at: str | None
) -> dict[str, Any]:
    """Build an event in the E²A contract from one native Shopify webhook.

    The result goes through `orders.contract.validate_event` like any other event,
    so Shopify's data lands on the order by the same rules.
    """
    if topic not in SUPPORTED_TOPICS:
        supported = ", ".join(SUPPORTED_TOPICS)
        raise UnsupportedWebhook(
            f"Topic {topic or '(missing)'!r} is not handled; supported: {supported}."
        )
    if not isinstance(body, Mapping):
        raise UnsupportedWebhook("The webhook body is not a JSON object.")
    if contradiction := topic_contradiction(topic, body):
        raise UnsupportedWebhook(contradiction)
    if topic in _ORDER_TOPICS:
        event_type, time_fields = _ORDER_TOPICS[topic]
        order_id = body.get("name") or body.get("id")
        data: dict[str, Any] = {"order": dict(body)}
    else:
        time_fields = ("updated_at", "created_at") if topic.endswith("update") else ("created_at",)
        status = body.get("shipment_status")
        event_type = (
            SHIPMENT_STATUS_EVENTS.get(status, "fulfillment_update")
            if isinstance(status, str)
            else "fulfillment_update"
        )
        # A successful fulfillment has shipped; a carrier status that says no more
        # (e.g. "confirmed") must not make it count for less than no status at all.
        if (
            event_type == "fulfillment_update"
            and topic == "fulfillments/create"
            and body.get("status") in (None, "success")
        ):
            event_type = "package_shipped"
        name = body.get("name")
        # A fulfillment is named after its order plus a counter: "#1001.1" → "#1001".
        order_id = name.rsplit(".", 1)[0] if isinstance(name, str) and "." in name else None
        order_id = order_id or body.get("order_id")
        data = {"fulfillment": dict(body)}
    if order_id in (None, ""):
        raise UnsupportedWebhook("The payload names no order (name / order_id).")
    occurred_at = (
        next((body[f] for f in time_fields if isinstance(body.get(f), str) and body[f]), None)
        or triggered_at
    )
    event: dict[str, Any] = {
        "source": "shopify",
        "event_type": event_type,
        "event_id": webhook_id,
        "order_id": str(order_id),
        "occurred_at": occurred_at,
        "data": data,
        "shopify_topic": topic,
    }
    if "fulfillment" in data:
        event.update(fulfillment_attributes(data["fulfillment"]))
    return event
