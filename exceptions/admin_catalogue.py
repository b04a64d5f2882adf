"""The reason-code catalogue's screen: one catalogue for every tenant, edited by Admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from orders.admin_scoping import TenantScopedAdmin

from .automation.admin import PlaybookActionInline
from .models import ReasonCode

# How a code is handled: the list's columns and the form's "Handling" section.
HANDLING = [
    "default_severity",
    "escalation_hours",
    "resolve_hours",
    "auto_resolve",
    "client_visible",
    "requires_approval",
    "automate",
]


@admin.register(ReasonCode)
class ReasonCodeAdmin(TenantScopedAdmin):
    tenant_field = None  # one catalogue for every tenant: Admin changes it, others read it
    list_display = ["code", "label", *HANDLING, "active"]
    list_filter = ["default_severity", "auto_resolve", "automate", "client_visible", "active"]
    inlines = [PlaybookActionInline]
    search_fields = ["code", "label", "description"]
    fieldsets = [
        (None, {"fields": ["code", "label", "description", "active"]}),
        ("Handling", {"fields": HANDLING}),
        ("Guidance", {"fields": ["typical_causes", "recommended_actions"]}),
        ("Rule-based notes (Jinja2)", {"fields": ["ops_note_template", "client_note_template"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["code"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: exceptions keep pointing at their code
