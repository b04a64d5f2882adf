"""`manage.py import_storage <tenant-slug> <file.csv>`: daily on-hand snapshots from a
WMS export.

The CSV has a header row naming at least the columns `day,sku,units,received_on`
(any order; other columns are ignored, as WMS exports carry more):

    day,sku,units,received_on
    2026-11-03,TSHIRT-M,120,2026-08-01
    2026-11-03,TSHIRT-M,40,2026-10-28

`day` is the tenant-local day counted and `received_on` the day those units were
received (YYYY-MM-DD); rows with the same day, SKU and received date are summed.
Every row is validated first (row numbers are the file's line numbers, the header
being line 1); on any error nothing is written. Otherwise each day present in the
file replaces what was stored for it, all in one transaction, and a summary is
printed. UTF-8, with or without a byte-order mark (Excel's).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.api.inventory_serializers import StorageCsvRowSerializer
from billing.inventory import StoragePeriodClosed, StorageRow, storage_days_replace
from orders.models import Tenant

COLUMNS = ("day", "sku", "units", "received_on")
ERRORS_SHOWN = 50


def _messages(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_messages(problem)}" for field, problem in detail.items())
    if isinstance(detail, list):
        return " ".join(str(item) for item in detail)
    return str(detail)


class Command(BaseCommand):
    help = (
        "Import daily storage snapshots (CSV columns day,sku,units,received_on) for a "
        "tenant; each day in the file replaces that day. Nothing is written on any error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="The tenant's slug.")
        parser.add_argument("file", type=Path, help="The CSV file.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}.")
        path: Path = options["file"]
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                days, errors = self._read(csv.DictReader(handle), tenant)
        except FileNotFoundError:
            raise CommandError(f"No file {str(path)!r}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        except csv.Error as exc:
            raise CommandError(f"{path} is not a readable CSV file: {exc}.") from None
        if errors:
            shown = "\n".join(errors[:ERRORS_SHOWN])
            more = (
                f"\n… and {len(errors) - ERRORS_SHOWN} more" if len(errors) > ERRORS_SHOWN else ""
            )
            raise CommandError(
                f"{len(errors)} invalid row(s) in {path}; nothing was imported:\n{shown}{more}"
            )
        if not days:
            raise CommandError(f"{path} has no rows; nothing was imported.")
        try:
            done = storage_days_replace(tenant=tenant, days=days)
        except StoragePeriodClosed as exc:
            raise CommandError(f"{exc} Nothing was imported.") from None
        replaced = sum(1 for day in done if day.replaced)
        first, last = done[0].day, done[-1].day
        span = f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
        self.stdout.write(
            f"Imported storage for {tenant.slug}: {len(done)} day(s), {span}; "
            f"{sum(d.rows for d in done):,} rows (SKU × received date), "
            f"{sum(d.units for d in done):,} units on hand in total; "
            f"{replaced} day(s) replaced what was stored."
        )

    def _read(
        self, reader: csv.DictReader, tenant: Tenant
    ) -> tuple[dict[date, list[StorageRow]], list[str]]:
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [column for column in COLUMNS if column not in header]
        if missing:
            raise CommandError(
                f"The header must name the columns {','.join(COLUMNS)}; missing: "
                f"{', '.join(missing)}."
            )
        reader.fieldnames = header
        days: dict[date, list[StorageRow]] = defaultdict(list)
        errors: list[str] = []
        for row in reader:
            line = reader.line_num
            values = {column: (row.get(column) or "").strip() for column in COLUMNS}
            parsed = StorageCsvRowSerializer(data=values, context={"tenant": tenant})
            if not parsed.is_valid():
                errors.append(f"row {line}: {_messages(parsed.errors)}")
                continue
            day, storage_row = parsed.validated_data
            days[day].append(storage_row)
        return dict(days), errors
