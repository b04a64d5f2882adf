"""Screens of Slack alerting: channels per tenant, user mapping, every notification sent."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from orders.admin_scoping import TenantScopedAdmin

from .admin_parts import ACT
from .models import Notification, SlackChannel, SlackIdentity, TenantAlerting
from .notify.outbox import notifications_send_again


@admin.register(TenantAlerting)
class TenantAlertingAdmin(TenantScopedAdmin):
    list_display = ["tenant", "slack_channel", "min_severity", "enabled"]
    list_select_related = ["tenant"]
    autocomplete_fields = ["tenant"]


@admin.register(SlackIdentity)
class SlackIdentityAdmin(TenantScopedAdmin):
    tenant_field = None  # maps Slack users to accounts of any tenant: Admin only
    list_display = ["slack_user_id", "user", "slack_team_id"]
    list_select_related = ["user"]
    search_fields = ["slack_user_id", "user__username"]
    autocomplete_fields = ["user"]


@admin.register(Notification)
class NotificationAdmin(TenantScopedAdmin):
    list_display = [
        "created_at",
        "tenant",
        "kind",
        "channel",
        "status",
        "exception_id",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "kind", "channel"]
    list_select_related = ["tenant"]
    search_fields = ["text", "channel"]
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_act_on_exception_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"exceptions.{ACT}")

    @admin.action(description="Send again (failed or skipped)", permissions=[ACT])
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = notifications_send_again(notifications=queryset)
        self.message_user(request, f"{count} notification(s) queued again.", messages.SUCCESS)


@admin.register(SlackChannel)
class SlackChannelAdmin(TenantScopedAdmin):
    tenant_field = None  # Slack's rate-limit slots, shared by tenants: Admin only
    list_display = ["name", "next_send_at"]
    readonly_fields = ["name", "next_send_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
