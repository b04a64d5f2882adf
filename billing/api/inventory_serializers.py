"""Shapes of the WMS's storage snapshots and inbound receipts, in and out.

The same row serializer validates `POST /api/billing/storage` and each line of
`manage.py import_storage`'s CSV, so both refuse the same things with the same
words. Errors of a list are keyed by the item's position (DRF's ListField), so a
100,000-row day with one bad row answers with that row only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from orders.models import Tenant

from ..inventory import ReceiptIn, StorageRow
from ..models.inventory import REFERENCE_MAX_LENGTH, SKU_MAX_LENGTH
from ..periods import local_date

EARLIEST_DAY = date(2000, 1, 1)
MAX_UNITS = 1_000_000_000  # far beyond any warehouse, well inside a 32-bit column
MAX_CARTONS = 10_000_000
# One day of one warehouse: a SKU per lot. Larger exports go through import_storage.
MAX_STORAGE_ROWS = 100_000
MAX_RECEIPTS = 1_000


def _tenant(field: serializers.Field) -> Tenant:
    return field.context["tenant"]


def check_day(day: date, tenant: Tenant) -> None:
    """A counted day is from 2000 and not after the tenant's today."""
    if day < EARLIEST_DAY:
        raise serializers.ValidationError("Is before 2000-01-01.")
    today = local_date(timezone.now(), tenant.timezone)
    if day > today:
        raise serializers.ValidationError(
            f"Is in the future: today is {today:%Y-%m-%d} in {tenant.timezone}."
        )


class DayField(serializers.DateField):
    """A tenant-local date, YYYY-MM-DD, from 2000-01-01 to the tenant's today."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(input_formats=["iso-8601"], **kwargs)

    def to_internal_value(self, value: Any) -> date:
        day = super().to_internal_value(value)
        check_day(day, _tenant(self))
        return day


class StorageRowSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=SKU_MAX_LENGTH, help_text="The SKU (any text).")
    units = serializers.IntegerField(
        min_value=0, max_value=MAX_UNITS, help_text="Units of the SKU received that date, on hand."
    )
    received_on = serializers.DateField(
        input_formats=["iso-8601"],
        help_text="YYYY-MM-DD: when these units were received (their age prices them); "
        "not after the snapshot's day.",
    )

    def to_internal_value(self, data: Any) -> Any:
        values = super().to_internal_value(data)
        if values["received_on"] < EARLIEST_DAY:
            raise serializers.ValidationError({"received_on": ["Is before 2000-01-01."]})
        return self.build(values)

    def build(self, values: dict[str, Any]) -> Any:
        return StorageRow(**values)


def received_after_day(row: StorageRow, day: date) -> dict[str, list[str]] | None:
    if row.received_on > day:
        return {
            "received_on": [
                f"Is after the snapshot's day ({day:%Y-%m-%d}): goods are counted once received."
            ]
        }
    return None


class IndexedListField(serializers.ListField):
    """A ListField whose errors are keyed by the item's position as a string ("17"), as
    JSON keys are (DRF keys them by int, which the JSON renderer refuses)."""

    def run_child_validation(self, data: list[Any]) -> list[Any]:
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict):
                detail = {str(key): value for key, value in detail.items()}
            raise serializers.ValidationError(detail) from None


class StorageDaySerializer(serializers.Serializer):
    """One day's on-hand snapshot; it replaces whatever that day had."""

    day = DayField(help_text="YYYY-MM-DD, the tenant-local day counted; not in the future.")
    rows = IndexedListField(
        child=StorageRowSerializer(),
        allow_empty=True,
        max_length=MAX_STORAGE_ROWS,
        help_text="One per SKU and received date (lots with the same date are summed); "
        f"empty: nothing on hand. At most {MAX_STORAGE_ROWS:,}.",
    )
    tenant = serializers.CharField(
        required=False, help_text="Optional; must be the API key's tenant."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors = {
            str(i): problem
            for i, row in enumerate(attrs["rows"])
            if (problem := received_after_day(row, attrs["day"]))
        }
        if errors:
            raise serializers.ValidationError({"rows": errors})
        return attrs


class StorageCsvRowSerializer(StorageRowSerializer):
    """A line of import_storage's CSV: the day is a column."""

    day = DayField()

    def build(self, values: dict[str, Any]) -> tuple[date, StorageRow]:
        day = values.pop("day")
        row = StorageRow(**values)
        if problem := received_after_day(row, day):
            raise serializers.ValidationError(problem)
        return day, row


class StorageDayResultSerializer(serializers.Serializer):
    day = serializers.DateField()
    rows = serializers.IntegerField(help_text="Rows stored (SKU × received date).")
    skus = serializers.IntegerField()
    units = serializers.IntegerField()
    replaced = serializers.IntegerField(help_text="Rows the day had before; 0: a new day.")


class TenantDateTimeField(serializers.DateTimeField):
    """ISO 8601; without an offset it is read in the tenant's time zone."""

    def default_timezone(self) -> ZoneInfo:
        return ZoneInfo(_tenant(self).timezone)

    def to_internal_value(self, value: Any) -> datetime:
        at = super().to_internal_value(value)
        if at.year < EARLIEST_DAY.year:
            raise serializers.ValidationError("Is before 2000-01-01; check the sender's clock.")
        skew = timedelta(seconds=settings.INGEST_MAX_FUTURE_SKEW_SECONDS)
        if at > timezone.now() + skew:
            raise serializers.ValidationError("Is in the future; check the sender's clock.")
        return at


class ReceiptSerializer(serializers.Serializer):
    reference = serializers.CharField(
        max_length=REFERENCE_MAX_LENGTH,
        help_text="The WMS's receipt (ASN) reference, unique per tenant: posting it again "
        "with the same facts is a duplicate, with different facts a 409.",
    )
    received_at = TenantDateTimeField(
        help_text="ISO 8601 with offset or Z (without one, read in the tenant's time zone). "
        "Its tenant-local month bills the receipt."
    )
    units = serializers.IntegerField(min_value=0, max_value=MAX_UNITS)
    cartons = serializers.IntegerField(min_value=0, max_value=MAX_CARTONS, default=0)
    tenant = serializers.CharField(
        required=False, help_text="Optional; must be the API key's tenant."
    )

    def to_internal_value(self, data: Any) -> ReceiptIn:
        values = super().to_internal_value(data)
        values.pop("tenant", None)
        return ReceiptIn(**values)


class ReceiptBatchSerializer(serializers.Serializer):
    receipts = IndexedListField(
        child=ReceiptSerializer(), allow_empty=False, max_length=MAX_RECEIPTS
    )
    tenant = serializers.CharField(
        required=False, help_text="Optional; must be the API key's tenant."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A reference twice in one batch: once if the facts agree, else refused."""
        first: dict[str, ReceiptIn] = {}
        errors: dict[str, Any] = {}
        unique: list[ReceiptIn] = []
        for i, receipt in enumerate(attrs["receipts"]):
            seen = first.get(receipt.reference)
            if seen is None:
                first[receipt.reference] = receipt
                unique.append(receipt)
            elif seen != receipt:
                errors[str(i)] = {
                    "reference": ["Appears earlier in this batch with different facts."]
                }
        if errors:
            raise serializers.ValidationError({"receipts": errors})
        attrs["receipts"] = unique
        return attrs


class ReceiptResultSerializer(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "duplicate"])
    id = serializers.IntegerField(source="receipt_id")


class ReceiptsRecordedSerializer(serializers.Serializer):
    created_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    results = ReceiptResultSerializer(many=True)


class StoredReceiptSerializer(serializers.Serializer):
    received_at = serializers.DateTimeField()
    units = serializers.IntegerField()
    cartons = serializers.IntegerField()


class ReceiptConflictItemSerializer(serializers.Serializer):
    reference = serializers.CharField()
    stored = StoredReceiptSerializer(help_text="What E²A has for this reference.")
    sent = StoredReceiptSerializer(help_text="What this request said.")


class ReceiptConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=["receipt_conflict"])
    conflicts = ReceiptConflictItemSerializer(many=True)
