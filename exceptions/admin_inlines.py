"""The exception page's read-only tables: activity, breaches, analyses, notifications."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .admin_parts import ReadOnlyInline
from .models import ExceptionActivity, ExceptionBreach, Explanation, Notification


class ActivityInline(ReadOnlyInline):
    model = ExceptionActivity
    fields = ["created_at", "action", "actor_label", "from_status", "to_status", "note"]
    readonly_fields = fields
    ordering = ["created_at", "pk"]


class BreachInline(ReadOnlyInline):
    model = ExceptionBreach
    verbose_name = "SLA breach"
    verbose_name_plural = "SLA breaches"
    fields = ["breach", "linked_at"]
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("breach", "breach__order")


class ExplanationInline(ReadOnlyInline):
    """Every analysis of this exception, used or not: the reply, its cost and the gate's call."""

    model = Explanation
    fields = [
        "created_at",
        "trigger",
        "decision",
        "cause",
        "model",
        "label",
        "confidence",
        "reply_notes",
        "tokens",
        "cost_usd",
        "latency_ms",
        "prompt",
        "detail",
    ]
    readonly_fields = fields
    ordering = ["-created_at", "-pk"]

    @admin.display(description="reply")
    def reply_notes(self, obj: Explanation) -> str:
        reply = obj.reply or {}
        if not reply:
            return "-"
        return format_html(
            '<div style="min-width:30em"><b>ops:</b> {}<br><b>client:</b> {}<br>'
            "<b>root cause:</b> {}</div>",
            reply.get("ops_note", ""),
            reply.get("client_note", ""),
            reply.get("root_cause", ""),
        )

    @admin.display(description="tokens in/out")
    def tokens(self, obj: Explanation) -> str:
        return f"{obj.prompt_tokens}/{obj.completion_tokens}" if obj.prompt_tokens else "-"

    @admin.display(description="prompt")
    def prompt(self, obj: Explanation) -> str:
        if not obj.prompt_name:
            return "-"
        return f"{obj.prompt_name} v{obj.prompt_version} ({obj.prompt_hash[:8]})"


class NotificationInline(ReadOnlyInline):
    model = Notification
    fields = ["created_at", "kind", "channel", "status", "skip_reason", "last_error", "sent_at"]
    readonly_fields = fields
