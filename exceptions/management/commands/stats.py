"""manage.py stats [--tenant T]: what E²A holds for each tenant, as plain-text tables.

The first thing to run after a demo or a backfill ("did it work?") and a quick
look for an operator without the admin: events, orders by status, exceptions by
reason and status, stages at risk, and whatever sections later apps register in
`exceptions.stats`. The query count is fixed however many tenants and rows.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from exceptions.stats import render_table, stats_report
from orders.models import Tenant


class Command(BaseCommand):
    help = (
        "Print events, orders by status, exceptions by reason and status and at-risk "
        "stages, one block per tenant (all tenants unless --tenant)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="Only this tenant (its slug).")

    def handle(self, *args: Any, tenant: str | None, **options: Any) -> None:
        rows = Tenant.objects.order_by("slug")
        if tenant is not None:
            rows = rows.filter(slug=tenant)
        tenants = list(rows)
        if tenant is not None and not tenants:
            known = list(Tenant.objects.order_by("slug").values_list("slug", flat=True)[:20])
            raise CommandError(
                f"No tenant with slug {tenant!r}. Known tenants: {', '.join(known) or 'none'}."
            )
        if not tenants:
            self.stdout.write("No tenants yet (create one with manage.py create_tenant).")
            return
        now = timezone.now()
        report = stats_report(tenants=tenants, now=now)
        blocks = []
        for t in tenants:
            inactive = "" if t.is_active else " (inactive)"
            heading = f"{t.slug}: {t.name}{inactive}"
            lines = [heading, "=" * len(heading)]
            for table in report[t.pk]:
                lines.extend(render_table(table))
                lines.append("")
            blocks.append("\n".join(lines).rstrip())
        self.stdout.write(f"E²A stats at {now:%Y-%m-%d %H:%M} UTC")
        self.stdout.write("")
        self.stdout.write("\n\n".join(blocks))
