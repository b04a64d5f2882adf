"""Response shapes of the SLA API: they render the responses and document them in OpenAPI."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ClockSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=["pick", "pack", "ship", "delivery"])
    state = serializers.ChoiceField(
        choices=["on_time", "at_risk", "breached", "met", "met_late", "scan_missing", "cancelled"]
    )
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    warn_at = serializers.DateTimeField()
    met_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    stopped_by = serializers.CharField(allow_null=True)
    allowed_minutes = serializers.IntegerField()
    time_basis = serializers.ChoiceField(
        choices=["business", "calendar"],
        help_text="Minutes below count the warehouse calendar's working time, or all time.",
    )
    elapsed_minutes = serializers.FloatField(help_text="From start to met/stopped, or to now.")
    remaining_minutes = serializers.FloatField(
        allow_null=True, help_text="Until due, for a running clock (0 once due)."
    )
    late_minutes = serializers.FloatField(allow_null=True)
    explanation = serializers.CharField()
    explanation_detail = serializers.DictField()


class BreachSerializer(serializers.Serializer):
    stage = serializers.CharField()
    reason_code = serializers.CharField()
    severity = serializers.CharField()
    detected_at = serializers.DateTimeField()
    detected_by = serializers.CharField()
    allowed_minutes = serializers.IntegerField()
    actual_minutes = serializers.FloatField()
    late_minutes = serializers.FloatField()
    final = serializers.BooleanField()
    cleared_at = serializers.DateTimeField(allow_null=True)


class TimelineEventSerializer(serializers.Serializer):
    event_type = serializers.CharField()
    source = serializers.CharField()
    event_id = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    correlation_id = serializers.CharField()
    payload = serializers.DictField(required=False, help_text="Only with ?payload=1.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("with_payload"):
            data.pop("payload")
        return data


class OrderDetailSerializer(serializers.Serializer):
    order_id = serializers.CharField(help_text="The sender's order id.")
    status = serializers.CharField()
    source = serializers.CharField()
    warehouse = serializers.CharField()
    service_level = serializers.CharField()
    handling = serializers.ListField(child=serializers.CharField())
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    stage_times = serializers.DictField(
        child=serializers.DateTimeField(), help_text="Each stage time the order has reached."
    )
    timeline = TimelineEventSerializer(many=True)
    stages = ClockSerializer(many=True)
    breaches = BreachSerializer(many=True)
    as_of = serializers.DateTimeField()


class AtRiskSerializer(ClockSerializer):
    order_id = serializers.CharField()
    warehouse = serializers.CharField()


class AtRiskPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    as_of = serializers.DateTimeField()
    results = AtRiskSerializer(many=True)
