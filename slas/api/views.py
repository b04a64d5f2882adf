"""GET /api/orders/<id> and GET /api/sla/at-risk: thin views over slas.selectors."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.contract import MAX_ID_LENGTH
from orders.event_types import STAGE_EVENTS
from orders.models import Order
from orders.scopes import ApiKeyScope

from ..models import Stage
from ..selectors import OrderSla, at_risk_stages, clock_view, order_sla
from . import serializers as out

STAGE_TIME_FIELDS = sorted({rule.field for rule in STAGE_EVENTS.values()})


class AtRiskQuery(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    warehouse = serializers.CharField(required=False, max_length=64)


class AtRiskPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


def can_name_an_order(external_id: str) -> bool:
    """Whether ingestion could have stored an order under this id.

    It stores only printable ids of at most MAX_ID_LENGTH characters; anything
    else is a 404 without a query, which also keeps a NUL (which PostgreSQL
    cannot compare a text column with) from becoming a 500.
    """
    return len(external_id) <= MAX_ID_LENGTH and external_id.isprintable()


class OrderDetailView(APIView):
    required_scopes = {"GET": ApiKeyScope.READ}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "payload", bool, description="Include each event's payload in the timeline."
            )
        ],
        responses={200: out.OrderDetailSerializer},
        summary="One order with its timeline and each stage's SLA clock",
        description="The order id is the sender's; URL-encode it (#1001 → %231001).",
    )
    def get(self, request: Request, external_id: str) -> Response:
        now = timezone.now()
        found = (
            order_sla(tenant=request.user.tenant, external_id=external_id, now=now)
            if can_name_an_order(external_id)
            else None
        )
        if found is None:
            raise exceptions.NotFound(f"No order {external_id!r} for this tenant.")
        with_payload = request.query_params.get("payload", "").lower() in ("1", "true", "yes")
        return Response(order_body(found, with_payload, now))


def order_body(found: OrderSla, with_payload: bool, now: Any) -> dict[str, Any]:
    """The order with its timeline and SLA stages, as GET /api/orders/<id> renders it
    (the exceptions API embeds the same view of the order)."""
    order: Order = found.order
    body = {
        "order_id": order.external_id,
        "status": order.status,
        "source": order.source,
        "warehouse": order.warehouse,
        "service_level": order.service_level,
        "handling": order.handling,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "stage_times": {
            name: getattr(order, name) for name in STAGE_TIME_FIELDS if getattr(order, name)
        },
        "timeline": found.events,
        "stages": [view.as_dict() for view in found.clocks],
        "breaches": found.breaches,
        "as_of": now,
    }
    return out.OrderDetailSerializer(body, context={"with_payload": with_payload}).data


class AtRiskView(APIView):
    required_scopes = {"GET": ApiKeyScope.READ}

    @extend_schema(
        parameters=[AtRiskQuery],
        responses={200: out.AtRiskPageSerializer},
        summary="Stages at risk: past their warning time, not yet due, soonest due first",
    )
    def get(self, request: Request) -> Response:
        query = AtRiskQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        tenant = request.user.tenant
        rows = at_risk_stages(tenant=tenant, now=now, **query.validated_data)
        paginator = AtRiskPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        results = [
            {
                **clock_view(tenant, clock, now).as_dict(),
                "order_id": clock.order.external_id,
                "warehouse": clock.order.warehouse,
            }
            for clock in page
        ]
        response = paginator.get_paginated_response(out.AtRiskSerializer(results, many=True).data)
        response.data["as_of"] = serializers.DateTimeField().to_representation(now)
        return response
