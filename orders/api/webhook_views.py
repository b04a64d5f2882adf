"""Signed webhook endpoints (Shopify, Standard Webhooks): authenticated by signature."""

from __future__ import annotations

import time
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from e2a_project.body_limits import limit_for
from e2a_project.openapi import ErrorSchema
from e2a_project.parsers import loads_strict

from .. import metrics
from ..models import Tenant, WebhookSecret, WebhookSecretKind
from ..models.dead_letter import DeadLetterKind
from ..signatures import shopify_verify, standard_verify
from . import schemas
from .common import event_response, receive, single_response


class _SignedWebhookView(APIView):
    """Signed webhooks authenticate by signature, not API key."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    # No OPTIONS description: it would be a 2xx to a caller who proved nothing (an
    # OPTIONS has no body to sign). Only signed POSTs are served here; OPTIONS is 405.
    metadata_class = None
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
        return loads_strict(request.body, limit_for(request.path))


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
        received = receive(
            request, tenant=tenant, kind=DeadLetterKind.SHOPIFY, body=body, fixed_source="shopify"
        )
        metrics.INGEST_LATENCY.labels("shopify").observe(time.perf_counter() - started)
        if received.dead_letter is not None:
            # Shopify removes a subscription that keeps failing, so the delivery is
            # acknowledged and kept for an operator to replay.
            return Response(
                {
                    "status": "dead_lettered",
                    "dead_letter_id": received.dead_letter.pk,
                    "errors": received.errors,
                    "correlation_id": correlation_id,
                },
                status=status.HTTP_200_OK,
            )
        [result] = received.results
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
        # Without an event id in the body, the Webhook-Id (stable across the
        # sender's retries) is the event id: delivery_receive applies it.
        received = receive(request, tenant=tenant, kind=DeadLetterKind.STANDARD, body=body)
        response = event_response(received, request.correlation_id)
        metrics.INGEST_LATENCY.labels("standard").observe(time.perf_counter() - started)
        return response
