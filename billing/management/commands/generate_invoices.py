"""`manage.py generate_invoices --period 2026-11 [--tenant demo-3pl] [--issue]`."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.periods import parse_period
from billing.services import PeriodNotOver, invoice_issue, invoice_refresh
from billing.transitions import InvoiceTransitionRefused
from orders.currencies import format_amount
from orders.demo.progress import on_terminal, progress_bar
from orders.models import Tenant


class Command(BaseCommand):
    help = (
        "Build or refresh the month's draft invoice from the evidence, for one tenant or "
        "every active one; --issue also numbers and issues it (the month must be over). "
        "An issued invoice is never changed: it is reported and left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, help="The month, YYYY-MM.")
        parser.add_argument("--tenant", help="A tenant's slug (default: every active tenant).")
        parser.add_argument("--issue", action="store_true", help="Issue each refreshed draft.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = parse_period(options["period"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
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
                result = invoice_refresh(tenant=tenant, period=period)
                invoice, note = result.invoice, "refreshed" if result.refreshed else "left alone"
                if options["issue"] and result.refreshed:
                    try:
                        invoice = invoice_issue(invoice=invoice, by="generate_invoices")
                        note = "issued"
                    except (PeriodNotOver, InvoiceTransitionRefused) as exc:
                        problems += 1
                        note = f"not issued: {exc}"
                rows.append(
                    (
                        tenant.slug,
                        invoice.number or "(draft)",
                        invoice.get_status_display(),
                        str(invoice.order_count),
                        format_amount(invoice.total_cents, invoice.currency),
                        note,
                    )
                )
                bar.advance(task)
        self._summary(period.strftime("%Y-%m"), rows)
        if problems:
            raise CommandError(f"{problems} invoice(s) could not be issued; see above.")

    def _summary(self, period: str, rows: list[tuple[str, ...]]) -> None:
        header = ("tenant", "number", "status", "orders", "total", "")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        self.stdout.write(f"Invoices for {period}:")
        for row in [header, *rows]:
            cells = [row[i].ljust(widths[i]) for i in range(len(widths))]
            if row is not header:
                cells[3] = row[3].rjust(widths[3])
                cells[4] = row[4].rjust(widths[4])
            self.stdout.write("  " + "  ".join(cells) + ("  " + row[5] if row[5] else ""))
        self.stdout.write(f"{len(rows)} invoice(s).")
