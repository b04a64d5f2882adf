"""Shapes of the exceptions API: query parameters and bodies in, exceptions and stats out.

Input serializers only parse and check the request; the rules about what may
change (and when) stay in `exceptions.services.lifecycle`, which the views call.
Field names in `source=` map straight onto the selector and service keywords.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime, parse_duration
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.authentication import ApiClient
from slas.api.serializers import BreachSerializer, OrderDetailSerializer
from slas.models import Severity, Stage

from ..models import ActionRun, ExceptionActivity, ExceptionStatus, OrderException, ReasonCode
from ..selectors import ACTIVITY_LIMIT, DEFAULT_ORDERING, ORDERING_FIELDS, ExceptionDetail
from ..services.lifecycle import MAX_SNOOZE, OPERATOR_RESOLUTIONS
from ..transitions import allowed_actions

# ---------------------------------------------------------------------------- fields


def user_id_for(username: str) -> int | None:
    """Operators are named by username in the API; the services take ids."""
    return get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()


class CommaChoicesField(serializers.CharField):
    """A comma-separated list of allowed values (`status=OPEN,ACKNOWLEDGED`); a list out."""

    default_error_messages = {"invalid_choice": "Unknown value(s) {values}; one of {choices}."}

    def __init__(self, *, choices: Sequence[str], upper: bool = True, **kwargs: Any) -> None:
        self.choices = list(choices)
        self.upper = upper
        kwargs.setdefault("help_text", f"Comma-separated, any of: {', '.join(self.choices)}.")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        text = super().to_internal_value(data)
        values = [v.strip().upper() if self.upper else v.strip() for v in text.split(",")]
        values = list(dict.fromkeys(v for v in values if v))
        unknown = [v for v in values if v not in self.choices]
        if unknown:
            self.fail("invalid_choice", values=", ".join(unknown), choices=", ".join(self.choices))
        return values


class TextField(serializers.CharField):
    """Text, and only text: DRF's CharField would quietly turn 12 or true into "12"/"True"."""

    default_error_messages = {"not_text": "Give text (a JSON string)."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class AgeField(serializers.CharField):
    """An age such as `30m`, `2h`, `1d`, `1w`, or an ISO-8601 duration (`PT90M`, `P1DT2H`)."""

    COMPACT = re.compile(r"^(\d{1,7})\s*([mhdw])$", re.IGNORECASE)
    UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    LIMIT = timedelta(days=3650)
    default_error_messages = {
        "invalid_age": "Give an age like 30m, 2h, 1d, 1w or an ISO-8601 duration (PT90M).",
        "out_of_range": "Give an age above zero and at most 3650 days.",
    }

    def to_internal_value(self, data: Any) -> timedelta:
        text = super().to_internal_value(data)
        match = self.COMPACT.match(text)
        try:
            if match:
                value = timedelta(**{self.UNITS[match[2].lower()]: int(match[1])})
            elif text[:1] in ("P", "p"):
                value = parse_duration(text.upper())
            else:
                value = None
        except OverflowError:
            self.fail("out_of_range")
        if value is None:
            self.fail("invalid_age")
        if not timedelta(0) < value <= self.LIMIT:
            self.fail("out_of_range")
        return value


class PeriodBoundField(serializers.CharField):
    """An ISO date or date-time bounding the stats period.

    A date means midnight in the tenant's time zone, and as the end of the period
    the midnight after it, so `since=2026-06-01&until=2026-06-30` is all of June;
    a date-time without an offset is read in the tenant's time zone too.
    """

    default_error_messages = {"invalid_bound": "Give an ISO date (2026-06-01) or date-time."}

    def __init__(self, *, end: bool = False, **kwargs: Any) -> None:
        self.end = end
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime:
        text = super().to_internal_value(data)
        tz = self.context["tz"]
        try:  # date first: fromisoformat (inside parse_datetime) takes a bare date too
            day = parse_date(text)
            moment = None if day else parse_datetime(text)
            if day is not None:
                moment = datetime.combine(day + timedelta(days=1) if self.end else day, time())
        except (ValueError, OverflowError):
            moment = None
        if moment is None:
            self.fail("invalid_bound")
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=tz)


# ------------------------------------------------------------------- query parameters


class ExceptionListQuery(serializers.Serializer):
    status = CommaChoicesField(source="statuses", choices=ExceptionStatus.values, required=False)
    severity = CommaChoicesField(source="severities", choices=Severity.values, required=False)
    reason_code = serializers.CharField(
        source="reason_codes",
        required=False,
        help_text="Comma-separated reason codes from the catalogue, e.g. PICK_DELAY,SHIP_DELAY.",
    )
    order_id = serializers.CharField(
        required=False, max_length=255, help_text="The sender's order id, e.g. #1001."
    )
    assignee = serializers.CharField(
        required=False,
        max_length=150,
        help_text="An operator's username; `none` for unassigned; `me` for the session's user.",
    )
    older_than = AgeField(
        required=False,
        help_text="First seen longer ago than this: 30m, 2h, 1d, 1w, or ISO-8601 (PT90M, P2D).",
    )
    ordering = CommaChoicesField(
        choices=[f"{sign}{name}" for name in ORDERING_FIELDS for sign in ("", "-")],
        upper=False,
        required=False,
        help_text=f"Comma-separated sort keys, `-` for descending (default "
        f"{','.join(DEFAULT_ORDERING)}); severity sorts by rank, LOW < CRITICAL. "
        f"Keys: {', '.join(ORDERING_FIELDS)}.",
    )

    def validate_reason_code(self, value: str) -> list[str]:
        codes = list(dict.fromkeys(v.strip().upper() for v in value.split(",") if v.strip()))
        known = set(ReasonCode.objects.filter(code__in=codes).values_list("code", flat=True))
        if unknown := [c for c in codes if c not in known]:
            raise serializers.ValidationError(f"Unknown reason code(s) {', '.join(unknown)}.")
        return codes

    def validate_assignee(self, value: str) -> dict[str, Any]:
        """Into the selector's keywords: `unassigned`, or the operator's id."""
        if value.lower() == "none":
            return {"unassigned": True}
        if value.lower() == "me":
            user = self.context["request"].user
            if isinstance(user, ApiClient):
                raise serializers.ValidationError("`me` needs an operator session, not an API key.")
            return {"assignee_id": user.pk}
        user_id = user_id_for(value)
        if user_id is None:
            raise serializers.ValidationError(f"No operator named {value!r}.")
        return {"assignee_id": user_id}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        assignee = attrs.pop("assignee", {})
        return {**attrs, **assignee}


class ExceptionStatsQuery(serializers.Serializer):
    DEFAULT_PERIOD = timedelta(days=30)

    since = PeriodBoundField(
        required=False, help_text="Start (ISO date or date-time); default 30 days before `until`."
    )
    until = PeriodBoundField(
        end=True,
        required=False,
        help_text="End, exclusive (a date counts that whole day); default now.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        until = attrs.get("until") or self.context["now"]
        try:
            since = attrs.get("since") or until - self.DEFAULT_PERIOD
        except OverflowError as exc:
            raise serializers.ValidationError({"until": "Give a later end."}) from exc
        if since >= until:
            raise serializers.ValidationError({"until": "Give an end after the start (since)."})
        return {"since": since, "until": until}


# ------------------------------------------------------------------------ bodies


class NoteBody(serializers.Serializer):
    note = TextField(
        required=False, allow_blank=True, max_length=2000, help_text="Kept in the activity."
    )


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True})
class AssigneeField(serializers.Field):
    """An operator's username (text) or user id (number); null takes the exception back."""

    default_error_messages = {
        "unknown": "No operator named {value!r}.",
        "invalid": "Give a username, a user id, or null.",
        "null_characters": "Null characters are not allowed.",
    }

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, int) and not isinstance(data, bool) and 0 < data < 2**63:
            return data
        if not isinstance(data, str) or not data.strip():
            self.fail("invalid")
        if "\x00" in data:  # no username holds one, and PostgreSQL refuses to compare it
            self.fail("null_characters")
        user_id = user_id_for(data.strip())
        if user_id is None:
            self.fail("unknown", value=data.strip())
        return user_id

    def to_representation(self, value: Any) -> Any:
        return value


class AssignBody(serializers.Serializer):
    # Whether that user may take exceptions (an active operator) is the service's rule.
    assignee = AssigneeField(source="assignee_id", allow_null=True)


class SnoozeBody(NoteBody):
    until = serializers.DateTimeField(required=False, help_text="Snooze until then (ISO-8601).")
    minutes = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=int(MAX_SNOOZE.total_seconds() // 60),
        help_text="Or: snooze this many minutes from now.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        minutes = attrs.pop("minutes", None)
        if minutes is not None and "until" in attrs:
            raise serializers.ValidationError({"minutes": "Give until or minutes, not both."})
        if minutes is None and "until" not in attrs:
            raise serializers.ValidationError({"until": "Give until (a time) or minutes."})
        if minutes is not None:
            attrs["until"] = self.context["now"] + timedelta(minutes=minutes)
        return attrs


class ResolveBody(serializers.Serializer):
    resolution = TextField(max_length=4000, help_text="How it was resolved.")
    resolution_code = serializers.ChoiceField(
        choices=OPERATOR_RESOLUTIONS,
        required=False,
        help_text="Default FIXED.",
    )


class NotesBody(serializers.Serializer):
    ops_note = TextField(required=False, allow_blank=True, max_length=10000)
    client_note = TextField(required=False, allow_blank=True, max_length=10000)


# ----------------------------------------------------------------------- responses


# Other APIs have `status` and `stage` fields with other values; spelling these two
# out keeps the OpenAPI enum names from colliding (and the schema warning-free).
@extend_schema_field(
    {"type": "string", "enum": ExceptionStatus.values}, component_name="ExceptionStatus"
)
class ExceptionStatusField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "enum": ["", *Stage.values]})
class ExceptionStageField(serializers.CharField):
    pass


class QueuedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["queued"])
    exception_id = serializers.IntegerField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField()
    allowed_actions = serializers.ListField(child=serializers.CharField())


class ExceptionSerializer(serializers.ModelSerializer):
    status = ExceptionStatusField()
    stage = ExceptionStageField(help_text="Blank when not tied to a stage.")
    order_id = serializers.CharField(source="order.external_id", help_text="The sender's id.")
    reason_code = serializers.CharField(source="reason_code_id")
    label = serializers.CharField(source="reason_code.label")
    assignee = serializers.CharField(
        source="assignee.username", allow_null=True, help_text="Username."
    )
    allowed_actions = serializers.SerializerMethodField(
        help_text="What may be done in this status (a refused one answers 409)."
    )

    class Meta:
        model = OrderException
        fields = [
            "id",
            "order_id",
            "reason_code",
            "label",
            "stage",
            "severity",
            "status",
            "dedup_key",
            "occurrence_count",
            "first_seen_at",
            "last_seen_at",
            "late_minutes",
            "ops_note",
            "client_note",
            "explanation_source",
            "explanation_label",
            "explanation_confidence",
            "explanation_cause",
            "acknowledged_by",
            "acknowledged_at",
            "assignee",
            "snoozed_until",
            "escalation_level",
            "next_escalation_at",
            "resolved_by",
            "resolved_at",
            "resolution_code",
            "resolution_text",
            "resolution_attempts",
            "max_resolution_attempts",
            "blocked",
            "blocked_reason",
            "correlation_id",
            "evidence",
            "closed_at",
            "created_at",
            "updated_at",
            "allowed_actions",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_actions(self, exception: OrderException) -> list[str]:
        return allowed_actions(exception.status)


class ExceptionPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ExceptionSerializer(many=True)


class ActivitySerializer(serializers.ModelSerializer):
    class Meta:
        model = ExceptionActivity
        fields = [
            "action",
            "actor_type",
            "actor_label",
            "from_status",
            "to_status",
            "before",
            "after",
            "note",
            "created_at",
        ]
        read_only_fields = fields


class ApproveActionBody(serializers.Serializer):
    action_id = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The waiting action's id; optional, as at most one waits per exception. "
        "Given, it guards against approving something else than what you saw.",
    )
    note = TextField(
        required=False, allow_blank=True, max_length=2000, help_text="Kept in the activity."
    )


class RejectActionBody(serializers.Serializer):
    action_id = serializers.IntegerField(
        required=False, min_value=1, help_text="The waiting action's id (optional)."
    )
    reason = TextField(
        max_length=2000, help_text="Why not; kept with the action and in the activity."
    )


class ActionRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActionRun
        fields = [
            "id",
            "kind",
            "target",
            "status",
            "chosen_by",
            "needs_approval",
            "decided_by",
            "decided_at",
            "decision_note",
            "detail",
            "request",
            "response",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class NoWaitingActionSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class ExceptionDetailSerializer(ExceptionSerializer):
    """The exception, plus its order (timeline and SLA clocks), breaches and activity.

    Rendered from a `selectors.ExceptionDetail` by `exception_detail_body`; the
    fields below document the shape.
    """

    order = OrderDetailSerializer(help_text="The order's timeline and each stage's SLA clock.")
    breaches = BreachSerializer(many=True, help_text="The SLA breaches behind this exception.")
    activity = ActivitySerializer(
        many=True, help_text=f"Oldest first; the newest {ACTIVITY_LIMIT} rows at most."
    )
    activity_truncated = serializers.BooleanField(help_text="Older activity was left out.")
    actions = ActionRunSerializer(
        many=True, help_text="Automated actions tried, waiting or rejected, newest first."
    )

    class Meta(ExceptionSerializer.Meta):
        fields = [
            *ExceptionSerializer.Meta.fields,
            "order",
            "breaches",
            "activity",
            "activity_truncated",
            "actions",
        ]
        read_only_fields = fields


class ExceptionStatsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = serializers.IntegerField(help_text="Exceptions first seen in the period.")
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())
    by_reason = serializers.DictField(child=serializers.IntegerField())
    created = serializers.IntegerField(
        help_text="Exceptions opened in the period (MTTA/MTTR base)."
    )
    acknowledged = serializers.IntegerField(help_text="…of which acknowledged or started.")
    resolved = serializers.IntegerField(help_text="…of which resolved (by anyone).")
    mtta_minutes = serializers.FloatField(
        allow_null=True, help_text="Mean minutes from opening to first acknowledged/started."
    )
    mttr_minutes = serializers.FloatField(
        allow_null=True, help_text="Mean minutes from opening to first resolved/auto_resolved."
    )


def exception_detail_body(detail: ExceptionDetail, *, order: dict[str, Any]) -> dict[str, Any]:
    """Render a `selectors.ExceptionDetail`; `order` is the order already rendered."""
    return {
        **ExceptionSerializer(detail.exception).data,
        "order": order,
        "breaches": BreachSerializer(detail.breaches, many=True).data,
        "activity": ActivitySerializer(detail.activity, many=True).data,
        "activity_truncated": detail.activity_truncated,
        "actions": ActionRunSerializer(detail.actions, many=True).data,
    }
