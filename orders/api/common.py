"""Pieces shared by the ingest and webhook views: handing a request to delivery_receive,
and the answers."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import Tenant
from ..services.dead_letters import kept_headers
from ..services.delivery import Delivery, Received, delivery_receive
from ..services.ingest import EventResult


def escapes_nul(raw: bytes) -> bool:
    """NUL can only be in the parsed text if the raw JSON escaped it as \\u0000."""
    return b"\\u0000" in raw


def raw_text(request: Request) -> str:
    return request.body.decode("utf-8", errors="replace")


def single_response(result: EventResult, correlation_id: str) -> Response:
    body = {
        "status": result.status,
        "event_id": result.event_id,
        "order_id": result.order_id,
        "correlation_id": correlation_id,
    }
    code = status.HTTP_202_ACCEPTED if result.status == "accepted" else status.HTTP_200_OK
    return Response(body, status=code)


def invalid_response(errors: dict[str, Any], dead_letter_id: int, correlation_id: str) -> Response:
    return Response(
        {
            "detail": "The event has invalid fields; it was kept as a dead letter.",
            "code": "invalid",
            "errors": errors,
            "dead_letter_id": dead_letter_id,
            "correlation_id": correlation_id,
        },
        status=status.HTTP_400_BAD_REQUEST,
    )


def receive(
    request: Request,
    *,
    tenant: Tenant,
    kind: str,
    body: Any,
    fixed_source: str | None = None,
) -> Received:
    """delivery_receive for this request's body, headers and correlation id."""
    return delivery_receive(
        Delivery(
            tenant=tenant,
            kind=kind,
            body=body,
            raw_body=raw_text(request),
            headers=kept_headers(request.headers),
            fixed_source=fixed_source,
            correlation_id=request.correlation_id,
            may_contain_nul=escapes_nul(request.body),
        )
    )


def event_response(received: Received, correlation_id: str) -> Response:
    """A single event's answer: 202/200 once stored, 400 naming its dead letter if not."""
    if received.dead_letter is not None:
        return invalid_response(received.errors, received.dead_letter.pk, correlation_id)
    [result] = received.results
    return single_response(result, correlation_id)
