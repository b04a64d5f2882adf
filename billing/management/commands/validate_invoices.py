"""`manage.py validate_invoices [--tenant demo-3pl]`: what the nightly job's validation
does, now, for one tenant or every active one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from billing.models import AdjustmentStatus, Invoice, InvoiceStatus
from billing.services import tenant_rebook
from billing.validation import invoice_validate
from orders.currencies import format_amount
from orders.models import Tenant


class Command(BaseCommand):
    help = (
        "Recompute every issued, unpaid invoice from the evidence as it stands and turn "
        "each difference into a proposed adjustment (an issued invoice is never edited); "
        "list the proposals waiting for Finance."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="A tenant's slug (default: every active tenant).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.filter(is_active=True)
        if options["tenant"]:
            tenants = Tenant.objects.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant {options['tenant']!r}.")
        now = timezone.now()
        checked = 0
        for tenant in tenants.order_by("slug"):
            approved = 0
            issued = Invoice.objects.filter(tenant=tenant, status=InvoiceStatus.ISSUED)
            for invoice in issued.order_by("period"):
                result = invoice_validate(invoice=invoice, now=now)
                approved += result.approved
                checked += 1
                self._report(result.invoice)
            if approved:
                tenant_rebook(tenant_id=tenant.pk)
        self.stdout.write(f"{checked} issued invoice(s) validated.")

    def _report(self, invoice: Invoice) -> None:
        proposals = invoice.adjustments.filter(status=AdjustmentStatus.PROPOSED)
        if not proposals:
            self.stdout.write(f"{invoice.number}: matches the evidence.")
            return
        self.stdout.write(f"{invoice.number}: {len(proposals)} proposed adjustment(s)")
        for adjustment in proposals:
            amount = format_amount(adjustment.amount_cents, invoice.currency)
            self.stdout.write(f"  {amount:>14}  {adjustment.rationale}")
