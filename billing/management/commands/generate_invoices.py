"""`manage.py generate_invoices --period 2026-11|current|previous [--tenant demo-3pl] [--issue]`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from billing.periods import local_date, month_start, parse_period, previous_month
from billing.services import REFUSALS, invoice_issue, invoice_refresh
from orders.currencies import format_amount
from orders.demo.progress import on_terminal, progress_bar
from orders.models import Tenant


def _current(tenant: Tenant) -> date:
    return month_start(local_date(timezone.now(), tenant.timezone))


RELATIVE: dict[str, Callable[[Tenant], date]] = {
    "current": _current,
    "previous": lambda tenant: previous_month(_current(tenant)),
}


class Command(BaseCommand):
    help = (
        "Build or refresh the month's draft invoice from the evidence, for one tenant or "
        "every active one; --issue also numbers and issues it (the month must be over). "
        "An issued invoice is never changed: it is reported and left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--period",
            required=True,
            help="The month: YYYY-MM, or current / previous (in each tenant's time zone).",
        )
        parser.add_argument("--tenant", help="A tenant's slug (default: every active tenant).")
        parser.add_argument("--issue", action="store_true", help="Issue each refreshed draft.")

    def handle(self, *args: Any, **options: Any) -> None:
        relative = options["period"].strip().lower()
        fixed = None
        if relative not in RELATIVE:
            try:
                fixed = parse_period(options["period"])
            except ValueError as exc:
                raise CommandError(f"{exc} (or: current, previous)") from None
        tenants = Tenant.objects.filter(is_active=True)
        if options["tenant"]:
            tenants = Tenant.objects.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant {options['tenant']!r}.")
        tenants = list(tenants.order_by("slug"))
        rows: list[tuple[str, ...]] = []
        problems = 0
        progress_file = options.get("stderr") or sys.stderr
        with progress_bar(progress_file, show=on_terminal(progress_file), unit="tenants") as bar:
            task = bar.add_task("invoicing", total=len(tenants))
            for tenant in tenants:
                period = fixed or RELATIVE[relative](tenant)
                result = invoice_refresh(tenant=tenant, period=period)
                invoice, note = result.invoice, "refreshed" if result.refreshed else "left alone"
                if options["issue"] and result.refreshed:
                    try:
                        invoice = invoice_issue(invoice=invoice, by="generate_invoices")
                        note = "issued"
                    except REFUSALS as exc:
                        problems += 1
                        note = f"not issued: {exc}"
                rows.append(
                    (
                        f"{period:%Y-%m}",
                        tenant.slug,
                        invoice.number or "(draft)",
                        invoice.get_status_display(),
                        str(invoice.order_count),
                        format_amount(invoice.total_cents, invoice.currency),
                        note,
                    )
                )
                bar.advance(task)
        self._summary(rows)
        if problems:
            raise CommandError(f"{problems} invoice(s) could not be issued; see above.")

    def _summary(self, rows: list[tuple[str, ...]]) -> None:
        header = ("period", "tenant", "number", "status", "orders", "total", "")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [row[i].ljust(widths[i]) for i in range(len(widths))]
            if row is not header:
                cells[4] = row[4].rjust(widths[4])
                cells[5] = row[5].rjust(widths[5])
            line = "  ".join(cells) + ("  " + row[6] if row[6] else "")
            self.stdout.write(line.rstrip())
        self.stdout.write(f"{len(rows)} invoice(s).")
