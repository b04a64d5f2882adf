"""Ingest endpoints. Thin: parse, authenticate, call one service, render."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from e2a_project.parsers import loads_strict

from .. import metrics
from ..adapters.shopify import UnsupportedWebhook, shopify_webhook_event
from ..authentication import check_tenant_claims
from ..contract import ContractError, EventIn, validate_event
from ..models import Tenant, WebhookSecret, WebhookSecretKind
from ..models.dead_letter import DeadLetterKind
from ..models.event import IngestChannel
from ..services.dead_letters import dead_letter_record, kept_headers
from ..services.ingest import EventResult, events_ingest
from ..signatures import shopify_verify, standard_verify
from . import schemas


def _validate(
    body: Any, tenant: Tenant, *, fixed_source: str | None = None, may_contain_nul: bool = True
) -> EventIn:
    return validate_event(
        body,
        tenant_tz=ZoneInfo(tenant.timezone),
        now=timezone.now(),
        max_future=timedelta(seconds=settings.INGEST_MAX_FUTURE_SKEW_SECONDS),
        fixed_source=fixed_source,
        may_contain_nul=may_contain_nul,
    )


def _escapes_nul(raw: bytes) -> bool:
    """NUL can only be in the parsed text if the raw JSON escaped it as \\u0000."""
    return b"\\u0000" in raw


def _raw_text(request: Request) -> str:
    return request.body.decode("utf-8", errors="replace")


def _single_response(result: EventResult, correlation_id: str) -> Response:
    body = {
        "status": result.status,
        "event_id": result.event_id,
        "order_id": result.order_id,
        "correlation_id": correlation_id,
    }
    code = status.HTTP_202_ACCEPTED if result.status == "accepted" else status.HTTP_200_OK
    return Response(body, status=code)


def _invalid_response(errors: dict[str, Any], dead_letter_id: int, correlation_id: str) -> Response:
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


def _ingest_single(
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
        event = _validate(
            body, tenant, fixed_source=fixed_source, may_contain_nul=_escapes_nul(request.body)
        )
    except ContractError as exc:
        letter = dead_letter_record(
            tenant=tenant,
            kind=kind,
            source=fixed_source or "",
            raw_body=_raw_text(request),
            reason="invalid event: " + str(exc),
            errors=exc.errors,
            headers=kept_headers(request.headers),
            correlation_id=correlation_id,
        )
        metrics.count_event(tenant.slug, fixed_source or "", "", "rejected")
        return _invalid_response(exc.errors, letter.pk, correlation_id)
    [result] = events_ingest(
        tenant=tenant, events=[(0, event)], channel=channel, correlation_id=correlation_id
    )
    return _single_response(result, correlation_id)


class IngestEventView(APIView):
    """POST /ingest/events (and /ingest/<source> with the source fixed by the path)."""

    fixed_source: str | None = None

    @extend_schema(
        request=schemas.EventSchema,
        responses={
            202: schemas.EventAcceptedSchema,
            200: OpenApiResponse(schemas.EventAcceptedSchema, "Duplicate of a stored event"),
            400: schemas.ErrorSchema,
            401: schemas.ErrorSchema,
            403: schemas.ErrorSchema,
            413: schemas.ErrorSchema,
            415: schemas.ErrorSchema,
        },
        summary="Ingest one order-lifecycle event",
    )
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        request.body  # noqa: B018 - read (and size-check) the raw body before parsing
        body = request.data
        check_tenant_claims(request, body)
        response = _ingest_single(
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
            400: schemas.ErrorSchema,
            413: schemas.ErrorSchema,
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
                raw_body=_raw_text(request),
                reason="invalid batch: " + "; ".join(f"{k}: {v[0]}" for k, v in problems.items()),
                errors=problems,
                headers=kept_headers(request.headers),
                correlation_id=correlation_id,
            )
            return _invalid_response(problems, letter.pk, correlation_id)

        valid: list[tuple[int, EventIn]] = []
        rejected: list[EventResult] = []
        may_contain_nul = _escapes_nul(request.body)  # one scan of the body, not one per item
        for index, item in enumerate(body["events"]):
            try:
                valid.append((index, _validate(item, tenant, may_contain_nul=may_contain_nul)))
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


class _SignedWebhookView(APIView):
    """Signed webhooks authenticate by signature, not API key."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    secret_kind: str = ""

    def _tenant_and_secrets(self, slug: str) -> tuple[Tenant | None, list[str]]:
        tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
        if tenant is None:
            return None, []
        secrets = list(
            WebhookSecret.objects.filter(
                tenant=tenant, kind=self.secret_kind, is_active=True
            ).values_list("secret", flat=True)
        )
        return tenant, secrets

    @staticmethod
    def _unauthorized(reason: str) -> Response:
        # Unknown tenants and bad signatures get the same answer: no tenant enumeration.
        return Response(
            {"detail": f"Signature check failed: {reason}.", "code": "bad_signature"},
            status=status.HTTP_401_UNAUTHORIZED,
        )

    @staticmethod
    def _parse_json(request: Request) -> Any:
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type != "application/json":
            return _UNSUPPORTED
        return loads_strict(request.body)


_UNSUPPORTED = object()


def _unsupported_media(request: Request) -> Response:
    return Response(
        {
            "detail": f"Unsupported media type {request.content_type!r}; send application/json.",
            "code": "unsupported_media_type",
        },
        status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    )


class ShopifyWebhookView(_SignedWebhookView):
    """POST /webhooks/shopify/<tenant>: native Shopify order and fulfillment webhooks."""

    secret_kind = WebhookSecretKind.SHOPIFY

    @extend_schema(
        request={"application/json": dict},
        responses={
            200: schemas.EventAcceptedSchema,
            202: schemas.EventAcceptedSchema,
            401: schemas.ErrorSchema,
        },
        summary="Receive a Shopify webhook (X-Shopify-Hmac-Sha256)",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        started = time.perf_counter()
        raw = request.body
        tenant, secrets = self._tenant_and_secrets(tenant_slug)
        if tenant is None or not shopify_verify(
            body=raw, signature=request.headers.get("X-Shopify-Hmac-Sha256"), secrets=secrets
        ):
            return self._unauthorized("X-Shopify-Hmac-Sha256 does not match")
        body = self._parse_json(request)
        if body is _UNSUPPORTED:
            return _unsupported_media(request)
        webhook_id = request.headers.get("X-Shopify-Webhook-Id", "").strip()
        if not webhook_id:
            return Response(
                {
                    "detail": "X-Shopify-Webhook-Id is required to deduplicate deliveries.",
                    "code": "invalid",
                    "errors": {"X-Shopify-Webhook-Id": ["This header is required."]},
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        correlation_id = request.correlation_id
        try:
            event = _validate(
                shopify_webhook_event(
                    topic=request.headers.get("X-Shopify-Topic", "").strip(),
                    webhook_id=webhook_id,
                    body=body,
                    triggered_at=request.headers.get("X-Shopify-Triggered-At")
                    or timezone.now().isoformat(),
                ),
                tenant,
                fixed_source="shopify",
            )
        except (UnsupportedWebhook, ContractError) as exc:
            # Shopify removes a subscription that keeps failing, so the delivery is
            # acknowledged and kept for an operator to replay.
            errors = (
                exc.errors if isinstance(exc, ContractError) else {"non_field_errors": [str(exc)]}
            )
            letter = dead_letter_record(
                tenant=tenant,
                kind=DeadLetterKind.SHOPIFY,
                source="shopify",
                raw_body=raw.decode("utf-8", errors="replace"),
                reason=f"shopify webhook not applied: {exc}",
                errors=errors,
                headers=kept_headers(request.headers),
                correlation_id=correlation_id,
            )
            return Response(
                {
                    "status": "dead_lettered",
                    "dead_letter_id": letter.pk,
                    "errors": errors,
                    "correlation_id": correlation_id,
                },
                status=status.HTTP_200_OK,
            )
        [result] = events_ingest(
            tenant=tenant,
            events=[(0, event)],
            channel=IngestChannel.SHOPIFY,
            correlation_id=correlation_id,
        )
        metrics.INGEST_LATENCY.labels("shopify").observe(time.perf_counter() - started)
        return _single_response(result, correlation_id)


class StandardWebhookView(_SignedWebhookView):
    """POST /webhooks/standard/<tenant>: Standard Webhooks-signed events (WMS, carriers)."""

    secret_kind = WebhookSecretKind.STANDARD

    @extend_schema(
        request=schemas.EventSchema,
        responses={
            202: schemas.EventAcceptedSchema,
            200: schemas.EventAcceptedSchema,
            400: schemas.ErrorSchema,
            401: schemas.ErrorSchema,
        },
        summary="Receive a Standard Webhooks-signed event",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        started = time.perf_counter()
        raw = request.body
        tenant, secrets = self._tenant_and_secrets(tenant_slug)
        headers = {k.lower(): v for k, v in request.headers.items()}
        # An unknown tenant has no secrets: it fails like a wrong signature would.
        problem = standard_verify(body=raw, headers=headers, secrets=secrets)
        if problem or tenant is None:
            return self._unauthorized(problem or "no matching signature found")
        body = self._parse_json(request)
        if body is _UNSUPPORTED:
            return _unsupported_media(request)
        if isinstance(body, dict) and not body.get("event_id"):
            body = {
                **body,
                "event_id": headers["webhook-id"],
            }  # the message id is stable across retries
        response = _ingest_single(
            request,
            tenant=tenant,
            body=body,
            kind=DeadLetterKind.STANDARD,
            channel=IngestChannel.STANDARD,
            fixed_source=None,
        )
        metrics.INGEST_LATENCY.labels("standard").observe(time.perf_counter() - started)
        return response
