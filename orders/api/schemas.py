"""Serializers that document the ingest API in OpenAPI.

Validation itself is `orders.contract.validate_event`; `tests/test_openapi.py`
checks these documents name the same fields.
"""

from __future__ import annotations

from rest_framework import serializers

from ..models.order import HANDLING_FLAGS, ServiceLevel


class EventSchema(serializers.Serializer):
    source = serializers.CharField(
        help_text="shopify, wms, carrier or another word; fixed on /ingest/<source>."
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
    occurred_at = serializers.CharField(
        help_text="ISO 8601 with offset or Z; without an offset, read in the tenant's time zone."
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
    line_count = serializers.IntegerField(required=False, min_value=0)
    items_count = serializers.IntegerField(required=False, min_value=0)
    total_amount_cents = serializers.IntegerField(required=False, min_value=0)
    currency = serializers.CharField(required=False, min_length=3, max_length=3)
    customer = serializers.DictField(required=False)
    shipping_address = serializers.DictField(required=False)
    service_level = serializers.ChoiceField(choices=ServiceLevel.values, required=False)
    handling = serializers.ListField(
        child=serializers.ChoiceField(choices=HANDLING_FLAGS), required=False
    )


class EventAcceptedSchema(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "dead_lettered"])
    event_id = serializers.CharField()
    order_id = serializers.CharField()
    correlation_id = serializers.CharField()


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
