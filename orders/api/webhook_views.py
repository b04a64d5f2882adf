"""Signed webhook endpoints (Shopify, Standard Webhooks): authenticated by signature."""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from e2a_project.openapi import ErrorSchema
from e2a_project.parsers import loads_strict

from .. import metrics
from ..adapters.shopify import UnsupportedWebhook, shopify_webhook_event
from ..contract import ContractError
from ..models import Tenant, WebhookSecret, WebhookSecretKind
from ..models.dead_letter import DeadLetterKind
from ..models.event import IngestChannel
from ..services.dead_letters import dead_letter_record, kept_headers
from ..services.ingest import events_ingest
from ..signatures import shopify_verify, standard_verify
from . import schemas
from .common import ingest_single, single_response, validate_for_tenant


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
            200: OpenApiResponse(
                schemas.SHOPIFY_OK, "A duplicate delivery, or one kept as a dead letter."
            ),
            202: schemas.EventAcceptedSchema,
            401: OpenApiResponse(ErrorSchema, "Unknown tenant or a signature that does not match."),
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
            event = validate_for_tenant(
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
        return single_response(result, correlation_id)


class StandardWebhookView(_SignedWebhookView):
    """POST /webhooks/standard/<tenant>: Standard Webhooks-signed events (WMS, carriers)."""

    secret_kind = WebhookSecretKind.STANDARD

    @extend_schema(
        request=schemas.EventSchema,
        responses={
            202: schemas.EventAcceptedSchema,
            200: schemas.EventAcceptedSchema,
            400: ErrorSchema,
            401: ErrorSchema,
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
        response = ingest_single(
            request,
            tenant=tenant,
            body=body,
            kind=DeadLetterKind.STANDARD,
            channel=IngestChannel.STANDARD,
            fixed_source=None,
        )
        metrics.INGEST_LATENCY.labels("standard").observe(time.perf_counter() - started)
        return response
