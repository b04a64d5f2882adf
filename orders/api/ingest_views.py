"""API-key ingest endpoints: single events, typed paths and batches. Thin views."""

from __future__ import annotations

import time

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from e2a_project.openapi import ErrorSchema

from .. import metrics
from ..authentication import check_tenant_claims
from ..models.dead_letter import DeadLetterKind
from ..scopes import ApiKeyScope
from . import schemas
from .common import event_response, invalid_response, receive


class IngestEventView(APIView):
    """POST /ingest/events (and /ingest/<source> with the source fixed by the path)."""

    fixed_source: str | None = None
    required_scopes = {"POST": ApiKeyScope.INGEST}

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
        received = receive(
            request,
            tenant=request.user.tenant,
            kind=DeadLetterKind.EVENT,
            body=body,
            fixed_source=self.fixed_source,
        )
        response = event_response(received, request.correlation_id)
        metrics.INGEST_LATENCY.labels("event").observe(time.perf_counter() - started)
        return response


class IngestBatchView(APIView):
    """POST /ingest/v2/events/batch: up to 1000 events, one result each, always 200."""

    required_scopes = {"POST": ApiKeyScope.INGEST}

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
        correlation_id = request.correlation_id
        received = receive(
            request, tenant=request.user.tenant, kind=DeadLetterKind.BATCH, body=body
        )
        if received.dead_letter is not None:  # the envelope itself is wrong
            return invalid_response(received.errors, received.dead_letter.pk, correlation_id)
        counts = received.counts()
        metrics.INGEST_LATENCY.labels("batch").observe(time.perf_counter() - started)
        return Response(
            {
                "status": "completed",
                "batch_id": body.get("batch_id"),
                "priority": body.get("priority") or "normal",
                "correlation_id": correlation_id,
                "total_count": len(received.results),
                "processed_count": counts["accepted"],
                "duplicate_count": counts["duplicate"],
                "rejected_count": counts["rejected"],
                "results": [r.as_dict() for r in received.results],
            }
        )
