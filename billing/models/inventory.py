"""What the warehouse holds and receives for a tenant: the evidence of storage and
receiving fees.

Both come from the WMS, not from order events: a daily on-hand snapshot per SKU
(`StorageSnapshot`) and one row per inbound receipt (`InboundReceipt`). Billing
reads them set-based (`billing.inventory_fees`); they are never edited in place.

**Snapshots.** A WMS's on-hand export is usually one row per SKU *per lot*, and
lots of one SKU arrive on different days: the units of a SKU are not all the same
age. A row is therefore one (tenant, day, SKU, received date), with the units of
that SKU received that date and on hand that day; rows of the export with the same
key (two lots received the same day) are summed on import. The day is the
tenant-local date the count was taken (the WMS's own day), not an instant. A day
is replaced as a whole on re-import (`billing.inventory.storage_day_replace`): the
export of a day is the truth of that day, and a SKU missing from the new export
has left the building.

**Receipts.** An inbound receipt (an ASN or a purchase order put away) is known by
the WMS's reference, unique per tenant, which makes posting it idempotent.
Receipts are not orders: they have no order, no events, and never count toward a
volume tier or a per-order minimum.

Every invariant is a database constraint: units and cartons are never negative,
goods are not received after the day they are counted on, a SKU and a reference
are never blank.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from orders.models import Tenant

SKU_MAX_LENGTH = 128
REFERENCE_MAX_LENGTH = 128


class StorageSnapshot(models.Model):
    """Units of one SKU, received on one date, on hand on one tenant-local day."""

    # PROTECT, like order events: the evidence of issued invoices is never deleted
    # with its tenant by accident.
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    day = models.DateField(help_text="The tenant-local day the stock was counted.")
    sku = models.CharField(max_length=SKU_MAX_LENGTH)
    received_on = models.DateField(
        help_text="The day these units were received: their age decides the aged rate."
    )
    units = models.PositiveIntegerField(help_text="Units on hand (summed over lots).")
    imported_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["tenant", "-day", "sku", "received_on"]
        constraints = [
            # Also the index every read uses: a day's rows (replace) and a month's
            # days (billing) are prefixes of it.
            models.UniqueConstraint(
                fields=["tenant", "day", "sku", "received_on"],
                name="storage_one_row_per_sku_lot_day",
            ),
            models.CheckConstraint(condition=Q(units__gte=0), name="storage_units_ge_0"),
            models.CheckConstraint(
                condition=Q(received_on__lte=F("day")), name="storage_received_not_after_day"
            ),
            models.CheckConstraint(condition=~Q(sku=""), name="storage_sku_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} × {self.units} on {self.day:%Y-%m-%d}"


class InboundReceipt(models.Model):
    """One inbound receipt put away at the warehouse, as the WMS reported it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(
        max_length=REFERENCE_MAX_LENGTH,
        help_text="The WMS's receipt (ASN) reference; posting it again is a duplicate.",
    )
    received_at = models.DateTimeField(help_text="When it was received: its month bills it.")
    units = models.PositiveIntegerField()
    cartons = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["tenant", "-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "reference"], name="receipt_reference_unique_per_tenant"
            ),
            models.CheckConstraint(condition=Q(units__gte=0), name="receipt_units_ge_0"),
            models.CheckConstraint(condition=Q(cartons__gte=0), name="receipt_cartons_ge_0"),
            models.CheckConstraint(condition=~Q(reference=""), name="receipt_reference_not_blank"),
        ]
        indexes = [
            models.Index(fields=["tenant", "received_at"], name="receipt_tenant_received_at")
        ]

    def __str__(self) -> str:
        return f"Receipt {self.reference}"
