"""Detection rules beyond the SLA clock: pure functions from an order and its events.

Two kinds, because they behave differently over time:

* **Conditions** hold on the order's current state (payment not through or
  flagged, lines the sender marks short of stock, an address that cannot be
  delivered to, repeated failed deliveries). They are
  re-evaluated after every batch of events; while one holds its exception stays
  open, and when it stops holding an auto-resolving code resolves itself.
* **Reports** are single events that say something went wrong (the WMS's
  `exception_reported`, a carrier's `delivery_failed` or `returned`, an
  `inventory_shortage`, an inventory snapshot that cannot cover the lines). Each
  report is one occurrence.

Nothing here touches the database; `services.detection` applies the findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orders.models import Order, OrderEvent

from .postal import postal_problem
from .services.raising import Finding

# --- payment ----------------------------------------------------------------------
FAILED_PAYMENT = frozenset({"failed", "declined", "voided", "error", "expired"})
PENDING_PAYMENT = frozenset({"pending", "unpaid"})
# Stage times that mean the warehouse is already working on the order.
WORK_STARTED = (
    "pick_started_at",
    "picked_at",
    "pack_started_at",
    "packed_at",
    "label_printed_at",
    "shipped_at",
)


def payment_finding(order: Order) -> Finding | None:
    """PAYMENT_FAILED: payment failed, flagged, or still pending while the warehouse works.

    A freshly placed order is often `pending` for a moment (card authorisation);
    that alone is not a problem, shipping unpaid goods is. The earlier E²A's
    senders say more than the status: their `payment_issues: true` (usually next to
    `pending`) is a problem on its own, and clearing it clears the condition.
    """
    status = (order.financial_status or "").lower()
    working = [name for name in WORK_STARTED if getattr(order, name)]
    if order.payment_issues or status in FAILED_PAYMENT or (status in PENDING_PAYMENT and working):
        return Finding(
            "PAYMENT_FAILED",
            {
                "source": "order",
                "rule": "payment",
                "financial_status": status,
                # Always present, so refreshing the evidence also clears an old True.
                "payment_issues": order.payment_issues,
                "warehouse_activity": [name.removesuffix("_at") for name in working],
            },
        )
    return None


# --- stock flags on the order's lines -----------------------------------------------
def inventory_finding(order: Order) -> Finding | None:
    """INVENTORY_SHORTAGE from the order's own lines, as the earlier senders mark it.

    A line is short when the sender flags it (`inventory_shortage: true`) or its
    `available_quantity` is below its `quantity`. Unlike an inventory snapshot an
    event reports (a one-off occurrence, `report_findings`), this is the order's
    current state: a later event that clears the flags resolves it. The evidence
    lines have the snapshot's shape (sku, ordered, available) so one note template
    serves both; `available` is None for a flagged line that gave no count.
    """
    lines: list[dict[str, Any]] = []
    for item in order.line_items or []:
        if not isinstance(item, Mapping):
            continue
        ordered = item.get("quantity")
        available = item.get("available_quantity")
        available = available if _whole(available) else None
        flagged = item.get("inventory_shortage") is True
        below = available is not None and _whole(ordered) and available < ordered
        if flagged or below:
            lines.append(
                {
                    "sku": str(item.get("sku") or ""),
                    "title": str(item.get("title") or ""),
                    "line_item_id": item.get("id"),
                    "ordered": ordered,
                    "available": available,
                    "flagged": flagged,
                }
            )
    if not lines:
        return None
    return Finding("INVENTORY_SHORTAGE", {"source": "order", "rule": "line_items", "lines": lines})


# --- address ----------------------------------------------------------------------
# (keys any of which will do, what is missing when none is there)
REQUIRED_ADDRESS_FIELDS = (
    (("address1",), "street"),
    (("city",), "city"),
    (("country_code", "country"), "country"),
)


def _first_text(address: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = address.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def address_findings(order: Order) -> list[Finding]:
    """ADDRESS_ERROR for an incomplete address, ADDRESS_INVALID for a bad postal code."""
    address: Mapping[str, Any] = order.shipping_address or {}
    if not address:
        return []  # not known yet
    findings = []
    missing = [label for keys, label in REQUIRED_ADDRESS_FIELDS if not _first_text(address, keys)]
    if missing:
        findings.append(
            Finding(
                "ADDRESS_ERROR",
                {
                    "source": "order",
                    "rule": "address_incomplete",
                    "problems": [f"no {label}" for label in missing],
                },
            )
        )
    postal = str(address.get("zip") or address.get("postal_code") or "").strip()
    country = str(address.get("country_code") or "").upper()
    area = _first_text(address, ("province_code", "province", "state_code", "state"))
    problem = postal_problem(postal, country, area)
    if problem is not None:
        findings.append(_postal_finding(postal, country, problem))
    return findings


def _postal_finding(postal: str, country: str, problem: str) -> Finding:
    return Finding(
        "ADDRESS_INVALID",
        {
            "source": "order",
            "rule": "postal_code",
            "postal_code": postal,
            "country": country,
            "problem": problem,
        },
    )


# --- delivery attempts ------------------------------------------------------------
FAILED_ATTEMPTS_THRESHOLD = 2


def attempts_finding(order: Order) -> Finding | None:
    if order.failed_delivery_attempts >= FAILED_ATTEMPTS_THRESHOLD:
        return Finding(
            "CUSTOMER_UNAVAILABLE",
            {
                "source": "order",
                "rule": "failed_attempts",
                "failed_attempts": order.failed_delivery_attempts,
            },
            stage="delivery",
        )
    return None


def condition_findings(order: Order) -> dict[str, Finding]:
    """Every condition that holds on the order now, by reason code."""
    found = [
        payment_finding(order),
        inventory_finding(order),
        attempts_finding(order),
        *address_findings(order),
    ]
    return {f.reason_code: f for f in found if f is not None}


# Codes whose open exception a condition rule owns (it may resolve them when clear).
CONDITION_RULES = {"payment", "line_items", "address_incomplete", "postal_code", "failed_attempts"}

# --- reports ----------------------------------------------------------------------
# A reported reason's words → reason code, first match wins. Senders that name a
# catalogue code (`reason_code`) skip this.
REASON_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("damag", "DAMAGED_PACKAGE"),
    ("broken", "DAMAGED_PACKAGE"),
    ("mismatch", "STOCK_MISMATCH"),
    ("count", "STOCK_MISMATCH"),
    ("out of stock", "INVENTORY_SHORTAGE"),
    ("shortage", "INVENTORY_SHORTAGE"),
    ("short pick", "INVENTORY_SHORTAGE"),
    ("stock", "INVENTORY_SHORTAGE"),
    ("address", "ADDRESS_ERROR"),
    ("payment", "PAYMENT_FAILED"),
    ("not home", "CUSTOMER_UNAVAILABLE"),
    ("unavailable", "CUSTOMER_UNAVAILABLE"),
    ("no one", "CUSTOMER_UNAVAILABLE"),
    ("absent", "CUSTOMER_UNAVAILABLE"),
    ("carrier", "CARRIER_ISSUE"),
    ("system", "SYSTEM_ERROR"),
    ("error", "SYSTEM_ERROR"),
    ("printer", "SYSTEM_ERROR"),
    ("timeout", "SYSTEM_ERROR"),
)


def reported_reason(event: OrderEvent) -> str:
    """The sender's words for what went wrong, wherever in the body it put them."""
    for body in _bodies(event.payload):
        for key in ("exception_reason", "reason", "message", "description", "status_detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:255]
    return ""


def _bodies(payload: Any) -> list[Mapping[str, Any]]:
    if not isinstance(payload, Mapping):
        return []
    nested = [payload[k] for k in ("payload", "data") if isinstance(payload.get(k), Mapping)]
    return [payload, *nested]


def code_for_reason(text: str, *, default: str, known: frozenset[str]) -> str:
    candidate = text.strip().upper().replace(" ", "_")
    if candidate in known:
        return candidate
    lowered = text.lower()
    for keyword, code in REASON_KEYWORDS:
        if keyword in lowered:
            return code
    return default


def _named_code(event: OrderEvent, known: frozenset[str]) -> str | None:
    for body in _bodies(event.payload):
        value = body.get("reason_code")
        if isinstance(value, str) and value.upper() in known:
            return value.upper()
    return None


def _report(code: str, event: OrderEvent, reason: str, **facts: Any) -> Finding:
    return Finding(
        code,
        {
            "source": "event",
            "event_id": event.event_id,
            "event_type": event.event_type,
            "event_source": event.source,
            "occurred_at": event.occurred_at.isoformat(),
            "reason": reason,
            **facts,
        },
        correlation_id=event.correlation_id or "",
        detected_at=event.occurred_at,
    )


def report_findings(order: Order, event: OrderEvent, known: frozenset[str]) -> list[Finding]:
    """The problems one event reports (none for an ordinary lifecycle event)."""
    reason = reported_reason(event)
    kind = event.event_type
    findings: list[Finding] = []
    if kind == "exception_reported":
        code = _named_code(event, known) or code_for_reason(reason, default="OTHER", known=known)
        findings.append(_report(code, event, reason))
    elif kind == "delivery_failed":
        code = code_for_reason(reason, default="CARRIER_ISSUE", known=known)
        if code == "CUSTOMER_UNAVAILABLE":
            pass  # one missed delivery is routine; the attempts condition counts them
        elif code in ("ADDRESS_ERROR", "DAMAGED_PACKAGE"):
            findings.append(_report(code, event, reason, carrier=order.carrier))
        else:
            findings.append(_report("CARRIER_ISSUE", event, reason, carrier=order.carrier))
    elif kind == "returned":
        findings.append(
            _report("CARRIER_ISSUE", event, reason or "Returned to sender", carrier=order.carrier)
        )
    elif kind == "inventory_shortage":
        lines = short_lines(order, event)
        findings.append(_report("INVENTORY_SHORTAGE", event, reason, lines=lines))
    else:
        lines = short_lines(order, event)
        if lines:
            findings.append(_report("INVENTORY_SHORTAGE", event, reason, lines=lines))
    return findings


def short_lines(order: Order, event: OrderEvent) -> list[dict[str, Any]]:
    """Lines whose ordered quantity exceeds the inventory snapshot the event carries.

    The snapshot is either `inventory: {sku: available}` (compared with the order's
    line items) or `lines: [{sku, ordered|quantity, available}]`.
    """
    ordered = {
        str(item.get("sku")): item.get("quantity")
        for item in (order.line_items or [])
        if isinstance(item, Mapping) and item.get("sku")
    }
    short: list[dict[str, Any]] = []
    for body in _bodies(event.payload):
        inventory = body.get("inventory")
        if isinstance(inventory, Mapping):
            for sku, available in inventory.items():
                need = ordered.get(str(sku))
                if _whole(need) and _whole(available) and need > available:
                    short.append({"sku": str(sku), "ordered": need, "available": available})
        lines = body.get("lines")
        if isinstance(lines, list):
            for line in lines:
                if not isinstance(line, Mapping):
                    continue
                need = line.get("ordered", line.get("quantity", ordered.get(str(line.get("sku")))))
                available = line.get("available")
                if _whole(need) and _whole(available) and need > available:
                    short.append(
                        {"sku": str(line.get("sku", "")), "ordered": need, "available": available}
                    )
        if short:
            break
    return short


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
