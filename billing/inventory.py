"""Writing the warehouse's storage snapshots and inbound receipts (the evidence of rule 6).

Both come from the WMS: the API (`POST /api/billing/storage`, `POST
/api/billing/receipts`, `ingest` scope) and `manage.py import_storage` parse and
validate, then call these services, which write all or nothing.

- A day's snapshot is **replaced as a whole**: the WMS's export of a day is the
  truth of that day, so a re-import (a corrected export) deletes the day's rows and
  writes the new ones in one transaction, and a SKU missing from the new export is
  gone. Rows with the same (SKU, received date), two lots received the same day,
  are summed into one.
- A day of a month whose invoice is no longer a draft is refused
  (`StoragePeriodClosed`): replacing it would rewrite the evidence of an issued
  invoice, which is never changed. Receipts are different: a late one is new
  evidence, stored (like a late order event) but billed by no issued invoice.
- A receipt is **idempotent on its reference**: the same reference with the same
  facts is a duplicate (nothing written), with different facts a conflict
  (`ReceiptConflict`, nothing written, not even the batch's other receipts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from orders.models import Tenant

from .models import BillingState, InboundReceipt, Invoice, InvoiceStatus, StorageSnapshot
from .periods import month_start

# Rows written per INSERT: a day of a large warehouse is ~100,000 (SKU, lot) rows.
WRITE_CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class StorageRow:
    sku: str
    received_on: date
    units: int


@dataclass(frozen=True, slots=True)
class StorageDayReplaced:
    day: date
    rows: int  # (SKU, received date) rows stored, after summing lots
    skus: int
    units: int
    replaced: int  # rows the day had before (0: a new day)


class StoragePeriodClosed(Exception):
    """The day's month is invoiced (issued, paid or void): its snapshots stand."""


def _sum_lots(rows: Iterable[StorageRow]) -> dict[tuple[str, date], int]:
    summed: dict[tuple[str, date], int] = defaultdict(int)
    for row in rows:
        summed[(row.sku, row.received_on)] += row.units
    return summed


def storage_days_replace(
    *, tenant: Tenant, days: dict[date, list[StorageRow]], now: datetime | None = None
) -> list[StorageDayReplaced]:
    """Replace each given day's snapshot with its rows, all days in one transaction.

    Imports of one tenant take turns on its billing-state row, so two imports of the
    same day never interleave their delete and insert; refreshes read a day either
    before or after its replacement, never half of it.
    """
    now = now or timezone.now()
    months = {month_start(day) for day in days}
    done: list[StorageDayReplaced] = []
    with transaction.atomic():
        BillingState.objects.get_or_create(tenant=tenant)
        BillingState.objects.select_for_update().filter(tenant=tenant).first()
        closed = sorted(
            Invoice.objects.filter(tenant=tenant, period__in=months)
            .exclude(status=InvoiceStatus.DRAFT)
            .values_list("period", flat=True)
        )
        if closed:
            named = ", ".join(f"{period:%B %Y}" for period in closed)
            raise StoragePeriodClosed(
                f"The invoice of {named} is issued: its storage snapshots can no longer "
                "change (an issued invoice is never changed)."
            )
        for day in sorted(days):
            summed = _sum_lots(days[day])
            replaced, _ = StorageSnapshot.objects.filter(tenant=tenant, day=day).delete()
            StorageSnapshot.objects.bulk_create(
                (
                    StorageSnapshot(
                        tenant=tenant,
                        day=day,
                        sku=sku,
                        received_on=received_on,
                        units=units,
                        imported_at=now,
                    )
                    for (sku, received_on), units in summed.items()
                ),
                batch_size=WRITE_CHUNK,
            )
            done.append(
                StorageDayReplaced(
                    day=day,
                    rows=len(summed),
                    skus=len({sku for sku, _ in summed}),
                    units=sum(summed.values()),
                    replaced=replaced,
                )
            )
    return done


@dataclass(frozen=True, slots=True)
class ReceiptIn:
    reference: str
    received_at: datetime
    units: int
    cartons: int

    def same_as(self, stored: InboundReceipt) -> bool:
        return (self.received_at, self.units, self.cartons) == (
            stored.received_at,
            stored.units,
            stored.cartons,
        )


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    reference: str
    status: str  # "created" or "duplicate"
    receipt_id: int


class ReceiptConflict(Exception):
    """References already stored with other facts; nothing of the request was written."""

    def __init__(self, conflicts: list[tuple[ReceiptIn, InboundReceipt]]) -> None:
        self.conflicts = conflicts
        names = ", ".join(incoming.reference for incoming, _ in conflicts)
        super().__init__(f"Receipts already stored with different facts: {names}.")


def _conflicts(
    receipts: list[ReceiptIn], stored: dict[str, InboundReceipt]
) -> list[tuple[ReceiptIn, InboundReceipt]]:
    return [
        (r, stored[r.reference])
        for r in receipts
        if r.reference in stored and not r.same_as(stored[r.reference])
    ]


def receipts_record(
    *, tenant: Tenant, receipts: list[ReceiptIn], now: datetime | None = None
) -> list[ReceiptResult]:
    """Store the receipts not stored yet; all or nothing.

    The unique (tenant, reference) decides between two senders racing with the same
    reference: the INSERT skips what is there, and what is there is read back and
    compared, so the loser gets a duplicate or a conflict, never a 500.
    """
    now = now or timezone.now()
    references = [r.reference for r in receipts]
    with transaction.atomic():
        before = InboundReceipt.objects.filter(tenant=tenant, reference__in=references)
        stored = {r.reference: r for r in before}
        if conflicts := _conflicts(receipts, stored):
            raise ReceiptConflict(conflicts)
        new = [r for r in receipts if r.reference not in stored]
        InboundReceipt.objects.bulk_create(
            (
                InboundReceipt(
                    tenant=tenant,
                    reference=r.reference,
                    received_at=r.received_at,
                    units=r.units,
                    cartons=r.cartons,
                    created_at=now,
                )
                for r in new
            ),
            batch_size=WRITE_CHUNK,
            ignore_conflicts=True,
        )
        after = {
            r.reference: r
            for r in InboundReceipt.objects.filter(
                tenant=tenant, reference__in=[r.reference for r in new]
            )
        }
        if conflicts := _conflicts(new, after):  # a concurrent sender stored other facts
            raise ReceiptConflict(conflicts)
        stored.update(after)
    created = {r.reference for r in new}
    return [
        ReceiptResult(
            reference=r.reference,
            status="created" if r.reference in created else "duplicate",
            receipt_id=stored[r.reference].pk,
        )
        for r in receipts
    ]
