"""What the exceptions app's admin modules share: the read-only inline, the act permission."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

# Lifecycle actions are not plain edits: they need `exceptions.act_on_exception`
# (each admin's has_act_on_exception_permission), which Viewers and Finance lack.
ACT = "act_on_exception"


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
