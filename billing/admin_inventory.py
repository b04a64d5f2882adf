"""The console's storage snapshots and inbound receipts: read-only lists of the
evidence that storage and receiving fees are billed from.

They come from the WMS (the API and `import_storage`), so nothing is added, edited
or deleted here: a corrected day is re-imported, which replaces it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from orders.admin_scoping import TenantScopedAdmin

from .models import InboundReceipt, StorageSnapshot


class ReadOnlyEvidenceAdmin(TenantScopedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StorageSnapshot)
class StorageSnapshotAdmin(ReadOnlyEvidenceAdmin):
    list_display = ["day", "sku", "received_on", "age_days", "units", "tenant"]
    list_filter = ["day", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["sku"]
    date_hierarchy = "day"
    ordering = ["-day", "sku", "received_on"]
    fields = ["tenant", "day", "sku", "received_on", "units", "imported_at"]
    readonly_fields = fields

    @admin.display(description="age (days)")
    def age_days(self, obj: StorageSnapshot) -> int:
        return (obj.day - obj.received_on).days


@admin.register(InboundReceipt)
class InboundReceiptAdmin(ReadOnlyEvidenceAdmin):
    list_display = ["reference", "received_at", "units", "cartons", "tenant", "created_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["reference"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    fields = ["tenant", "reference", "received_at", "units", "cartons", "created_at"]
    readonly_fields = fields
