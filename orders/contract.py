"""The event contract: turn one JSON object into a validated `EventIn`.

This is the one definition of what an event must look like, used by every ingest
path (single, typed paths, batch, Standard Webhooks, dead-letter replay). It is a
plain function rather than a DRF serializer because a batch validates up to 1000
events per request and a serializer costs about 20 times more per event; the OpenAPI schema
in `orders.api.schemas` documents the same fields and a test keeps them in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from .adapters.shopify import ShopifyShapeError, shopify_order_attributes
from .event_types import EVENT_TYPE_RE
from .models.order import HANDLING_FLAGS, ServiceLevel

SOURCE_RE = re.compile(r"^[a-z0-9_.-]{1,32}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_ID_LENGTH = 255
# Bounds that keep every value storable (PostgreSQL integer columns) and plausible.
MAX_COUNT = 1_000_000
MAX_AMOUNT_CENTS = 10**15
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)

# Typed top-level fields: name -> (kind, max length). Everything else at the top
# level is kept in the stored payload untouched.
_TEXT_ATTRIBUTES = {
    "carrier": 64,
    "tracking_number": 128,
    "warehouse": 64,
    "exception_reason": 255,
    "channel": 64,
}
_TEXT_FIELDS_KEPT_IN_PAYLOAD = {"station": 64, "worker_id": 64, "zone": 64}
_COUNT_ATTRIBUTES = ("line_count", "items_count", "total_amount_cents")
# Whole numbers billing reads from the stored event (billing.rules), kept in the
# payload, not on the order: a label event's carrier cost passed through, and the
# units a `returned` event reports (inspected per unit). Checked here so that a bad
# one is a 400 naming it rather than a value billing has to ignore.
MAX_LABEL_COST_CENTS = 100_000_000
_BILLED_COUNTS = {"label_cost_cents": MAX_LABEL_COST_CENTS, "units_returned": MAX_COUNT}
# Looked up for every event of a batch: built once.
_TEXT_FIELDS = _TEXT_ATTRIBUTES | _TEXT_FIELDS_KEPT_IN_PAYLOAD
_SERVICE_LEVELS = frozenset(ServiceLevel.values)
_HANDLING_FLAGS = frozenset(HANDLING_FLAGS)
_OBJECT_ATTRIBUTES = ("customer", "shipping_address")

DOCUMENTED_FIELDS = (
    {"source", "event_type", "event_id", "order_id", "occurred_at", "payload", "data", "tenant"}
    | set(_TEXT_ATTRIBUTES)
    | set(_TEXT_FIELDS_KEPT_IN_PAYLOAD)
    | set(_COUNT_ATTRIBUTES)
    | set(_BILLED_COUNTS)
    | set(_OBJECT_ATTRIBUTES)
    | {"service_level", "handling", "currency"}
)


class ContractError(ValueError):
    """The object is not a valid event; `errors` maps each bad field to its problems."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class EventIn:
    source: str
    event_type: str
    event_id: str
    order_external_id: str
    occurred_at: datetime
    raw: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    # Total order of events for "newer wins": time, then a stable tiebreak.
    version: str = field(init=False, repr=False)
    # The identity the database keeps unique per tenant.
    key: tuple[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        at = self.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
        object.__setattr__(self, "version", f"{at}|{self.source}|{self.event_id}")
        object.__setattr__(self, "key", (self.source, self.event_id))


def _identifier(value: Any, name: str, errors: dict[str, list[str]]) -> str | None:
    if value is None or value == "":
        errors[name] = ["This field is required."]
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors[name] = ["Must be a string."]
        return None
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        errors[name] = [f"At most {MAX_ID_LENGTH} characters."]
    elif not text.isprintable() or not text.strip():
        errors[name] = ["Must be printable characters, not only spaces."]
    else:
        return text
    return None


def parse_occurred_at(
    value: Any, *, tenant_tz: tzinfo, now: datetime, max_future: timedelta
) -> tuple[datetime | None, str | None]:
    """ISO 8601 with offset or Z; a naive time is read in the tenant's time zone."""
    if not isinstance(value, str) or not value:
        return None, "Must be an ISO 8601 date-time string."
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tenant_tz)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None, "Not an ISO 8601 date-time (e.g. 2026-11-28T14:05:00Z)."
    if parsed < EARLIEST_OCCURRED_AT:
        return None, "Is before 2000-01-01; check the sender's clock."
    if parsed > now + max_future:
        return None, f"Is more than {int(max_future.total_seconds() // 3600)} h in the future."
    return parsed, None


def _count(value: Any, maximum: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"Must be a whole number from 0 to {maximum}.")
    return value


def _has_nul(value: Any) -> bool:
    """PostgreSQL cannot store U+0000 in text or jsonb: such a body is refused up front."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def validate_event(
    obj: Any,
    *,
    tenant_tz: tzinfo,
    now: datetime,
    max_future: timedelta,
    fixed_source: str | None = None,
    may_contain_nul: bool = True,
) -> EventIn:
    """Validate one event object; raise ContractError naming every bad field.

    `may_contain_nul=False` skips the walk for U+0000 when the caller already knows
    the raw body has no escaped NUL (the common case; it saves a full traversal).
    """
    if not isinstance(obj, Mapping):
        raise ContractError({"non_field_errors": ["An event must be a JSON object."]})
    if may_contain_nul and _has_nul(obj):
        raise ContractError(
            {"non_field_errors": ["Text must not contain NUL (U+0000) characters."]}
        )
    errors: dict[str, list[str]] = {}

    source = obj.get("source", fixed_source)
    if isinstance(source, str):
        source = source.strip().lower()
    if fixed_source is not None and source != fixed_source:
        errors["source"] = [f"Must be '{fixed_source}' on this endpoint (or left out)."]
    elif not isinstance(source, str) or not SOURCE_RE.match(source):
        errors["source"] = ["Required: a word such as shopify, wms or carrier ([a-z0-9_.-], ≤32)."]

    event_type = obj.get("event_type")
    if isinstance(event_type, str):
        event_type = event_type.strip().lower()
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.match(event_type):
        errors["event_type"] = ["Required: [a-z0-9_.], 1 to 64 characters."]

    event_id = _identifier(obj.get("event_id"), "event_id", errors)
    order_id = _identifier(obj.get("order_id"), "order_id", errors)

    occurred_at, problem = parse_occurred_at(
        obj.get("occurred_at"), tenant_tz=tenant_tz, now=now, max_future=max_future
    )
    if problem:
        errors["occurred_at"] = [problem]

    attributes: dict[str, Any] = {}
    for name in ("payload", "data"):
        if name in obj and obj[name] is not None and not isinstance(obj[name], Mapping):
            errors[name] = ["Must be a JSON object."]
    shopify_order = _embedded_shopify_order(obj)
    if shopify_order is not None:
        try:
            attributes.update(shopify_order_attributes(shopify_order))
        except ShopifyShapeError as exc:
            errors["data.order"] = [str(exc)]

    for name, limit in _TEXT_FIELDS.items():
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limit:
            errors[name] = [f"Must be a string of at most {limit} characters."]
        elif name in _TEXT_ATTRIBUTES:
            attributes[name] = value
    for name in _COUNT_ATTRIBUTES:
        if obj.get(name) is not None:
            maximum = MAX_AMOUNT_CENTS if name == "total_amount_cents" else MAX_COUNT
            try:
                attributes[name] = _count(obj[name], maximum)
            except ValueError as exc:
                errors[name] = [str(exc)]
    for name, maximum in _BILLED_COUNTS.items():
        if obj.get(name) is not None:
            try:
                _count(obj[name], maximum)
            except ValueError as exc:
                errors[name] = [str(exc)]
    for name in _COUNT_ATTRIBUTES:  # values derived from an embedded Shopify order
        if name in attributes and name not in obj:
            maximum = MAX_AMOUNT_CENTS if name == "total_amount_cents" else MAX_COUNT
            if attributes[name] > maximum:
                errors[f"data.order.{name}"] = [f"Must be at most {maximum}."]
    for name in _OBJECT_ATTRIBUTES:
        if obj.get(name) is not None:
            if isinstance(obj[name], Mapping):
                attributes[name] = dict(obj[name])
            else:
                errors[name] = ["Must be a JSON object."]
    if obj.get("currency") is not None:
        currency = obj["currency"]
        if isinstance(currency, str) and CURRENCY_RE.match(currency.upper()):
            attributes["currency"] = currency.upper()
        else:
            errors["currency"] = ["Must be a three-letter ISO 4217 code."]
    if obj.get("service_level") is not None:
        level = obj["service_level"]
        # Only a string can name a level; a list or object is not hashable, so
        # testing it against the set would raise instead of being refused.
        if isinstance(level, str) and level.strip().lower() in _SERVICE_LEVELS:
            level = level.strip().lower()
            attributes["service_level"] = level
        else:
            errors["service_level"] = [f"Must be one of {', '.join(ServiceLevel.values)}."]
    if obj.get("handling") is not None:
        handling = obj["handling"]
        if not isinstance(handling, list) or not all(isinstance(h, str) for h in handling):
            errors["handling"] = ["Must be a list of strings."]
        else:
            flags = {h.strip().lower() for h in handling}
            unknown = sorted(flags - _HANDLING_FLAGS)
            if unknown:
                errors["handling"] = [
                    f"Unknown flags {', '.join(unknown)}; allowed: {', '.join(HANDLING_FLAGS)}."
                ]
            else:
                attributes["handling"] = sorted(flags)

    if errors:
        raise ContractError(errors)
    assert source and event_type and event_id and order_id and occurred_at  # for type checkers
    return EventIn(
        source=source,
        event_type=event_type,
        event_id=event_id,
        order_external_id=order_id,
        occurred_at=occurred_at,
        raw=dict(obj),
        attributes=attributes,
    )


def _embedded_shopify_order(obj: Mapping[str, Any]) -> Any:
    """Shopify-fed senders put the whole order under data.order (or payload.order)."""
    for container in ("data", "payload"):
        inner = obj.get(container)
        if isinstance(inner, Mapping) and isinstance(inner.get("order"), Mapping):
            return inner["order"]
    return None
