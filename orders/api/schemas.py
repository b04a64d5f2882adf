"""Serializers that document the ingest API in OpenAPI.

Validation itself is `orders.contract.validate_event`; `tests/test_openapi.py`
checks these documents name the same fields.
"""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from ..contract import MAX_AMOUNT_CENTS, MAX_COUNT, MAX_LABEL_COST_CENTS, SOURCE_RE
from ..models.order import HANDLING_FLAGS, ServiceLevel


class EventSchema(serializers.Serializer):
    source = serializers.RegexField(
        SOURCE_RE.pattern,
        help_text="shopify, wms, carrier or another word; fixed on /ingest/<source>.",
    )
    event_type = serializers.RegexField(
        r"^[a-z0-9_.]{1,64}$", help_text="e.g. order_paid, pick_completed."
    )
    event_id = serializers.CharField(
        max_length=255, help_text="Unique per tenant and source; repeats are duplicates."
    )
    order_id = serializers.CharField(
        max_length=255, help_text="The sender's order id; any printable characters."
    )
    occurred_at = serializers.DateTimeField(
        help_text="ISO 8601 with offset or Z (without an offset it is read in the tenant's "
        "time zone); from 2000-01-01, and not more than INGEST_MAX_FUTURE_SKEW_SECONDS ahead."
    )
    payload = serializers.DictField(required=False)
    data = serializers.DictField(
        required=False, help_text="Shopify senders put the order under data.order."
    )
    tenant = serializers.CharField(
        required=False, help_text="Optional; must be the API key's tenant."
    )
    carrier = serializers.CharField(required=False, max_length=64)
    tracking_number = serializers.CharField(required=False, max_length=128)
    warehouse = serializers.CharField(required=False, max_length=64)
    exception_reason = serializers.CharField(required=False, max_length=255)
    channel = serializers.CharField(required=False, max_length=64)
    station = serializers.CharField(required=False, max_length=64)
    worker_id = serializers.CharField(required=False, max_length=64)
    zone = serializers.CharField(required=False, max_length=64)
    line_count = serializers.IntegerField(required=False, min_value=0, max_value=MAX_COUNT)
    items_count = serializers.IntegerField(required=False, min_value=0, max_value=MAX_COUNT)
    total_amount_cents = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_AMOUNT_CENTS
    )
    label_cost_cents = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_LABEL_COST_CENTS,
        help_text="On a label event: the carrier's charge for the label, in the tenant's "
        "minor unit; billed through at cost plus the tariff's markup.",
    )
    units_returned = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_COUNT,
        help_text="On a returned event: units received back (inspection is billed per "
        "unit; without it, the order's units).",
    )
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, help_text="ISO 4217.")
    customer = serializers.DictField(required=False)
    shipping_address = serializers.DictField(required=False)
    service_level = serializers.ChoiceField(choices=ServiceLevel.values, required=False)
    handling = serializers.ListField(
        child=serializers.ChoiceField(choices=HANDLING_FLAGS), required=False
    )


class EventAcceptedSchema(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])
    event_id = serializers.CharField()
    order_id = serializers.CharField()
    correlation_id = serializers.CharField()


class DeadLetteredSchema(serializers.Serializer):
    """A Shopify delivery that could not be applied: acknowledged, kept for replay.

    Shopify drops a subscription whose deliveries keep failing, so this is a 200.
    """

    status = serializers.ChoiceField(choices=["dead_lettered"])
    dead_letter_id = serializers.IntegerField()
    errors = serializers.DictField(help_text="Field name → list of problems.")
    correlation_id = serializers.CharField()


SHOPIFY_OK = PolymorphicProxySerializer(
    component_name="ShopifyReceiptSchema",
    serializers=[EventAcceptedSchema, DeadLetteredSchema],
    resource_type_field_name=None,
)


class BatchSchema(serializers.Serializer):
    events = EventSchema(many=True)
    batch_id = serializers.CharField(required=False, max_length=128)
    priority = serializers.ChoiceField(choices=["low", "normal", "high"], required=False)


class BatchItemResultSchema(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    event_id = serializers.CharField(required=False)
    order_id = serializers.CharField(required=False)
    source = serializers.CharField(required=False)
    errors = serializers.DictField(required=False)
    dead_letter_id = serializers.IntegerField(required=False)


class BatchResultSchema(serializers.Serializer):
    status = serializers.CharField()
    batch_id = serializers.CharField(allow_null=True)
    priority = serializers.CharField()
    correlation_id = serializers.CharField()
    total_count = serializers.IntegerField()
    processed_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    rejected_count = serializers.IntegerField()
    results = BatchItemResultSchema(many=True)
