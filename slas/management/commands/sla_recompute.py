from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orders.models import Tenant
from slas.services.recompute import clocks_recompute


class Command(BaseCommand):
    help = (
        "Recompute the deadlines of a tenant's open stages under its current SLA policy. "
        "Prints what would change; --apply writes it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--apply", action="store_true", help="Write the changes.")
        parser.add_argument(
            "--version-at-start",
            action="store_true",
            help="Use the policy version in force when each clock started (default: now).",
        )

    def handle(
        self, *args: Any, tenant: str, apply: bool, version_at_start: bool, **options: Any
    ) -> None:
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}.")
        now = timezone.now()
        changes = clocks_recompute(
            tenant=found, now=now, apply=apply, version_at_start=version_at_start
        )
        for change in changes:
            self.stdout.write(
                f"{change.order_id} {change.clock.stage}: due {change.old_due:%Y-%m-%d %H:%M} → "
                f"{change.new_due:%Y-%m-%d %H:%M} UTC ({change.old_allowed} → "
                f"{change.new_allowed} min), {change.verdict}"
            )
        newly = sum(c.verdict == "newly breached" for c in changes)
        cleared = sum(c.verdict == "no longer breached" for c in changes)
        summary = (
            f"{len(changes)} open stage(s) change: {newly} newly breached, "
            f"{cleared} no longer breached."
        )
        if apply:
            self.stdout.write(self.style.SUCCESS(f"Applied. {summary}"))
        else:
            self.stdout.write(f"{summary} Nothing written; run again with --apply to apply.")
