"""API-key ingest endpoints: single events, typed paths and batches. Thin views."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from e2a_project.openapi import ErrorSchema

from .. import metrics
from ..authentication import check_tenant_claims
from ..contract import ContractError, EventIn
from ..models import Tenant
from ..models.dead_letter import DeadLetterKind
from ..models.event import IngestChannel
from ..services.dead_letters import dead_letter_record, kept_headers
from ..services.ingest import EventResult, events_ingest
from . import schemas
from .common import TenantEventValidator, escapes_nul, ingest_single, invalid_response, raw_text


class IngestEventView(APIView):
    """POST /ingest/events (and /ingest/<source> with the source fixed by the path)."""

    fixed_source: str | None = None

    @extend_schema(
        request=schemas.EventSchema,
        responses={
            202: schemas.EventAcceptedSchema,
            200: OpenApiResponse(schemas.EventAcceptedSchema, "Duplicate of a stored event"),
            400: ErrorSchema,
            401: ErrorSchema,
            403: ErrorSchema,
            413: ErrorSchema,
            415: ErrorSchema,
        },
        summary="Ingest one order-lifecycle event",
    )
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        request.body  # noqa: B018 - read (and size-check) the raw body before parsing
        body = request.data
        check_tenant_claims(request, body)
        response = ingest_single(
            request,
            tenant=request.user.tenant,
            body=body,
            kind=DeadLetterKind.EVENT,
            channel=IngestChannel.EVENT,
            fixed_source=self.fixed_source,
        )
        metrics.INGEST_LATENCY.labels("event").observe(time.perf_counter() - started)
        return response


BATCH_PRIORITIES = ("low", "normal", "high")


class IngestBatchView(APIView):
    """POST /ingest/v2/events/batch: up to 1000 events, one result each, always 200."""

    @extend_schema(
        request=schemas.BatchSchema,
        responses={
            200: schemas.BatchResultSchema,
            400: ErrorSchema,
            413: ErrorSchema,
        },
        summary="Ingest a batch of events",
    )
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        request.body  # noqa: B018
        body = request.data
        check_tenant_claims(request, body)
        tenant: Tenant = request.user.tenant
        correlation_id = request.correlation_id
        problems = _batch_envelope_problems(body)
        if problems:
            letter = dead_letter_record(
                tenant=tenant,
                kind=DeadLetterKind.BATCH,
                raw_body=raw_text(request),
                reason="invalid batch: " + "; ".join(f"{k}: {v[0]}" for k, v in problems.items()),
                errors=problems,
                headers=kept_headers(request.headers),
                correlation_id=correlation_id,
            )
            return invalid_response(problems, letter.pk, correlation_id)

        valid: list[tuple[int, EventIn]] = []
        rejected: list[EventResult] = []
        may_contain_nul = escapes_nul(request.body)  # one scan of the body, not one per item
        validate = TenantEventValidator.for_tenant(tenant)
        for index, item in enumerate(body["events"]):
            try:
                valid.append((index, validate(item, may_contain_nul=may_contain_nul)))
            except ContractError as exc:
                letter = dead_letter_record(
                    tenant=tenant,
                    kind=DeadLetterKind.BATCH_ITEM,
                    # ASCII-escaped: an item may hold U+0000, which a text column refuses.
                    raw_body=json.dumps(item, sort_keys=True),
                    reason=f"invalid batch item {index}: {exc}",
                    errors=exc.errors,
                    headers=kept_headers(request.headers),
                    correlation_id=correlation_id,
                )
                rejected.append(_rejected(index, item, exc.errors, letter.pk))
                metrics.count_event(tenant.slug, "", "", "rejected")
        results = events_ingest(
            tenant=tenant, events=valid, channel=IngestChannel.BATCH, correlation_id=correlation_id
        )
        merged = sorted([*results, *rejected], key=lambda r: r.index)
        counts = {
            s: sum(1 for r in merged if r.status == s)
            for s in ("accepted", "duplicate", "rejected")
        }
        metrics.INGEST_LATENCY.labels("batch").observe(time.perf_counter() - started)
        return Response(
            {
                "status": "completed",
                "batch_id": body.get("batch_id"),
                "priority": body.get("priority") or "normal",
                "correlation_id": correlation_id,
                "total_count": len(merged),
                "processed_count": counts["accepted"],
                "duplicate_count": counts["duplicate"],
                "rejected_count": counts["rejected"],
                "results": [r.as_dict() for r in merged],
            }
        )


def _batch_envelope_problems(body: Any) -> dict[str, list[str]]:
    if not isinstance(body, dict):
        return {"non_field_errors": ["The body must be a JSON object with an 'events' list."]}
    problems: dict[str, list[str]] = {}
    events = body.get("events")
    limit = settings.INGEST_BATCH_MAX_EVENTS
    if not isinstance(events, list) or not events:
        problems["events"] = ["Required: a non-empty list of events."]
    elif len(events) > limit:
        problems["events"] = [f"At most {limit} events per batch ({len(events)} sent); split it."]
    batch_id = body.get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, str) or not 0 < len(batch_id) <= 128):
        problems["batch_id"] = ["Must be a string of 1 to 128 characters."]
    priority = body.get("priority")
    if priority is not None and priority not in BATCH_PRIORITIES:
        problems["priority"] = [f"Must be one of {', '.join(BATCH_PRIORITIES)}."]
    return problems


def _rejected(
    index: int, item: Any, errors: dict[str, list[str]], dead_letter_id: int
) -> EventResult:
    get = item.get if isinstance(item, dict) else (lambda _k: None)
    return EventResult(
        index=index,
        status="rejected",
        event_id=str(get("event_id")) if get("event_id") is not None else None,
        order_id=str(get("order_id")) if get("order_id") is not None else None,
        errors=errors,
        dead_letter_id=dead_letter_id,
    )
