"""The facts the analyst is given about one exception, with personal data removed.

The order timeline, the SLA clocks with their deadline explanations, the
evidence that opened it, the catalogue entry and the last few resolutions of the
same reason for this merchant. Everything goes through one `Redactor` built from
the order's own personal values (ai/redaction.py).
"""

from __future__ import annotations

from typing import Any

from exceptions.models import ExceptionStatus, OrderException, ReasonCode
from orders.models import OrderEvent
from slas.models import StageClock

from .redaction import Redactor, personal_values

TIMELINE_EVENTS = 30  # the most recent events; an order rarely has more
PAST_RESOLUTIONS = 3
# What of an event's own payload helps judge it; the rest (a Shopify order body
# with its customer) is left out rather than redacted.
EVENT_DETAIL_KEYS = (
    "reason",
    "reason_code",
    "lines",
    "attempt",
    "facility",
    "station",
    "carrier",
    "service_level",
    "weight_grams",
    "financial_status",
)


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _detail(payload: dict[str, Any]) -> dict[str, Any]:
    inner = payload.get("payload") if isinstance(payload.get("payload"), dict) else {}
    detail = {k: inner[k] for k in EVENT_DETAIL_KEYS if k in inner}
    detail.update({k: payload[k] for k in ("reason", "financial_status") if k in payload})
    return detail


def analysis_context(exception: OrderException) -> dict[str, Any]:
    order = exception.order
    address = order.shipping_address or {}
    redactor = Redactor(personal_values(order.customer or {}, address))
    reason: ReasonCode = exception.reason_code
    events = list(
        OrderEvent.objects.filter(order=order)
        .order_by("-occurred_at", "-pk")
        .values("occurred_at", "source", "event_type", "payload")[:TIMELINE_EVENTS]
    )
    clocks = StageClock.objects.filter(order=order).order_by("started_at", "pk")
    resolutions = list(
        OrderException.objects.filter(
            tenant_id=exception.tenant_id,
            reason_code_id=exception.reason_code_id,
            status__in=[ExceptionStatus.RESOLVED, ExceptionStatus.CLOSED],
        )
        .exclude(pk=exception.pk)
        .exclude(resolution_text="")
        .order_by("-resolved_at")
        .values_list("resolution_text", flat=True)[:PAST_RESOLUTIONS]
    )
    context = {
        "exception": {
            "reason": reason.code,
            "stage": exception.stage,
            "severity": exception.severity,
            "status": exception.status,
            "late_minutes": exception.late_minutes,
            "occurrence_count": exception.occurrence_count,
            "first_seen_at": _iso(exception.first_seen_at),
            "evidence": exception.evidence,
        },
        "order": {
            "external_id": order.external_id,
            "status": order.status,
            "warehouse": order.warehouse,
            "service_level": order.service_level,
            "carrier": order.carrier,
            "tracking_number": order.tracking_number,
            "items_count": order.items_count,
            "handling": list(order.handling or []),
            "financial_status": order.financial_status,
            "address": {
                "postal_code": address.get("zip") or address.get("postal_code") or "",
                "city": address.get("city") or "",
                "country_code": address.get("country_code") or address.get("country") or "",
            },
        },
        "sla": [
            {
                "stage": clock.stage,
                "explanation": clock.explanation,
                "started_at": _iso(clock.started_at),
                "met_at": _iso(clock.met_at),
                "breached_at": _iso(clock.breached_at),
            }
            for clock in clocks
        ],
        "timeline": [
            {
                "at": _iso(event["occurred_at"]),
                "source": event["source"],
                "event_type": event["event_type"],
                "detail": _detail(event["payload"] or {}),
            }
            for event in reversed(events)
        ],
        "catalogue": {
            "label": reason.label,
            "description": reason.description,
            "typical_causes": list(reason.typical_causes or []),
            "recommended_actions": list(reason.recommended_actions or []),
        },
        "labels": list(ReasonCode.objects.order_by("code").values_list("code", flat=True)),
        "past_resolutions": resolutions,
    }
    return redactor.facts(context)
