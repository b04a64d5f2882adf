"""The WMS posts what the warehouse holds and receives: daily storage snapshots and
inbound receipts. API keys with the `ingest` scope (a sender's key), for the key's
own tenant. Thin views: parse with a serializer, call one service
(`billing.inventory`), render. Bad input is a 400 naming each problem (list items
by position) and nothing is written; a conflict is a 409, nothing written either.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from drf_spectacular.utils import PolymorphicProxySerializer as OneOf
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from e2a_project.openapi import ErrorSchema
from orders.authentication import check_tenant_claims
from orders.scopes import ApiKeyScope

from ..inventory import (
    ReceiptConflict,
    StoragePeriodClosed,
    receipts_record,
    storage_days_replace,
)
from . import inventory_serializers as io


def _context(request: Request) -> dict[str, Any]:
    return {"request": request, "tenant": request.user.tenant}


class StorageSnapshotView(APIView):
    """POST /api/billing/storage: one day's on-hand snapshot, replacing that day."""

    required_scopes = {"POST": ApiKeyScope.INGEST}

    @extend_schema(
        operation_id="billing_storage_replace",
        tags=["billing ingest"],
        request=io.StorageDaySerializer,
        responses={
            200: io.StorageDayResultSerializer,
            409: OpenApiResponse(
                ErrorSchema,
                description="The day's month is invoiced (code `period_closed`): an issued "
                "invoice's snapshots never change.",
            ),
        },
        summary="Replace one day's storage snapshot (units on hand per SKU and received date)",
        description="The WMS's on-hand export of one tenant-local day: a row per SKU and "
        "received date (lot). It replaces everything stored for that day, atomically; "
        "rows with the same SKU and received date are summed. Billed at the tariff's "
        "unit-day fee, aged units (on hand longer than the tariff's days since received) "
        "at its aged multiple.",
        examples=[
            OpenApiExample(
                "A day",
                value={
                    "day": "2026-11-03",
                    "rows": [
                        {"sku": "TSHIRT-M", "units": 120, "received_on": "2026-08-01"},
                        {"sku": "TSHIRT-M", "units": 40, "received_on": "2026-10-28"},
                    ],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = request.data
        check_tenant_claims(request, body)
        parsed = io.StorageDaySerializer(data=body, context=_context(request))
        parsed.is_valid(raise_exception=True)
        day = parsed.validated_data["day"]
        try:
            [done] = storage_days_replace(
                tenant=request.user.tenant, days={day: parsed.validated_data["rows"]}
            )
        except StoragePeriodClosed as exc:
            return Response(
                {"detail": str(exc), "code": "period_closed"}, status=status.HTTP_409_CONFLICT
            )
        return Response(io.StorageDayResultSerializer(done).data)


RECEIPTS_IN = OneOf(
    component_name="ReceiptsIn",
    serializers=[io.ReceiptSerializer, io.ReceiptBatchSerializer],
    resource_type_field_name=None,
)


class InboundReceiptView(APIView):
    """POST /api/billing/receipts: one receipt, or a batch under `receipts`."""

    required_scopes = {"POST": ApiKeyScope.INGEST}

    @extend_schema(
        operation_id="billing_receipts_record",
        tags=["billing ingest"],
        request=RECEIPTS_IN,
        responses={
            201: OpenApiResponse(io.ReceiptsRecordedSerializer, "At least one receipt stored"),
            200: OpenApiResponse(
                io.ReceiptsRecordedSerializer, "Every receipt was stored already (duplicates)"
            ),
            409: OpenApiResponse(
                io.ReceiptConflictSerializer,
                "A reference is stored with other facts; nothing of the request was written.",
            ),
        },
        summary="Record inbound receipts (idempotent on the reference)",
        description="One receipt, or up to 1,000 under `receipts`, written all or nothing. "
        "Posting a reference again with the same facts is a duplicate (200); with "
        "different facts a 409 that shows both. Billed per receipt and per unit in the "
        "tenant-local month received; receipts are not orders (no volume tier, no "
        "per-order minimum).",
    )
    def post(self, request: Request) -> Response:
        body = request.data
        check_tenant_claims(request, body)
        batch = isinstance(body, dict) and "receipts" in body
        serializer = io.ReceiptBatchSerializer if batch else io.ReceiptSerializer
        parsed = serializer(data=body, context=_context(request))
        parsed.is_valid(raise_exception=True)
        receipts = parsed.validated_data["receipts"] if batch else [parsed.validated_data]
        try:
            results = receipts_record(tenant=request.user.tenant, receipts=receipts)
        except ReceiptConflict as exc:
            return Response(
                {
                    "detail": f"{exc} Nothing was written; a receipt's facts never change "
                    "once stored: send it under a new reference.",
                    "code": "receipt_conflict",
                    "conflicts": [
                        {
                            "reference": sent.reference,
                            "stored": io.StoredReceiptSerializer(stored).data,
                            "sent": io.StoredReceiptSerializer(sent).data,
                        }
                        for sent, stored in exc.conflicts
                    ],
                },
                status=status.HTTP_409_CONFLICT,
            )
        created = sum(r.status == "created" for r in results)
        body_out = {
            "created_count": created,
            "duplicate_count": len(results) - created,
            "results": io.ReceiptResultSerializer(results, many=True).data,
        }
        return Response(body_out, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
