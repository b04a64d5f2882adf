"""Pieces shared by the ingest and webhook views: validation in a tenant's terms and responses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from .. import metrics
from ..contract import ContractError, EventIn, validate_event
from ..models import Tenant
from ..services.dead_letters import dead_letter_record, kept_headers
from ..services.ingest import EventResult, events_ingest


@dataclass(frozen=True, slots=True)
class TenantEventValidator:
    """validate_event in one tenant's terms, with the clock and settings read once.

    A batch validates up to a thousand events; reading the time zone, the clock
    and the settings once per request instead of per event is most of its cost.
    """

    tenant_tz: tzinfo
    now: datetime
    max_future: timedelta

    @classmethod
    def for_tenant(cls, tenant: Tenant) -> TenantEventValidator:
        return cls(
            tenant_tz=ZoneInfo(tenant.timezone),
            now=timezone.now(),
            max_future=timedelta(seconds=settings.INGEST_MAX_FUTURE_SKEW_SECONDS),
        )

    def __call__(
        self, body: Any, *, fixed_source: str | None = None, may_contain_nul: bool = True
    ) -> EventIn:
        return validate_event(
            body,
            tenant_tz=self.tenant_tz,
            now=self.now,
            max_future=self.max_future,
            fixed_source=fixed_source,
            may_contain_nul=may_contain_nul,
        )


def validate_for_tenant(
    body: Any, tenant: Tenant, *, fixed_source: str | None = None, may_contain_nul: bool = True
) -> EventIn:
    return TenantEventValidator.for_tenant(tenant)(
        body, fixed_source=fixed_source, may_contain_nul=may_contain_nul
    )


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


def ingest_single(
    request: Request,
    *,
    tenant: Tenant,
    body: Any,
    kind: str,
    channel: str,
    fixed_source: str | None,
) -> Response:
    correlation_id = request.correlation_id
    try:
        event = validate_for_tenant(
            body, tenant, fixed_source=fixed_source, may_contain_nul=escapes_nul(request.body)
        )
    except ContractError as exc:
        letter = dead_letter_record(
            tenant=tenant,
            kind=kind,
            source=fixed_source or "",
            raw_body=raw_text(request),
            reason="invalid event: " + str(exc),
            errors=exc.errors,
            headers=kept_headers(request.headers),
            correlation_id=correlation_id,
        )
        metrics.count_event(tenant.slug, fixed_source or "", "", "rejected")
        return invalid_response(exc.errors, letter.pk, correlation_id)
    [result] = events_ingest(
        tenant=tenant, events=[(0, event)], channel=channel, correlation_id=correlation_id
    )
    return single_response(result, correlation_id)
