from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from orders.models import DeadLetter, Tenant
from orders.services.dead_letters import dead_letter_replay


class Command(BaseCommand):
    help = "Replay dead letters that were not replayed yet (all, by --id, or --since a time)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", type=int, action="append", dest="ids", help="Repeatable.")
        parser.add_argument("--since", help="ISO 8601 time, e.g. 2026-11-28T00:00:00Z.")
        parser.add_argument("--tenant", help="Only this tenant's (slug).")

    def handle(
        self,
        *args: Any,
        ids: list[int] | None,
        since: str | None,
        tenant: str | None,
        **options: Any,
    ) -> None:
        letters = DeadLetter.objects.filter(replayed_at__isnull=True).select_related("tenant")
        if ids:
            letters = letters.filter(pk__in=ids)
        if since:
            try:
                when: datetime | None = parse_datetime(since)
            except ValueError:  # well-formed but impossible, e.g. month 13
                when = None
            if when is None or when.tzinfo is None:
                raise CommandError("--since needs an ISO 8601 time with an offset or Z.")
            letters = letters.filter(received_at__gte=when)
        if tenant:
            if not Tenant.objects.filter(slug=tenant).exists():
                raise CommandError(f"No tenant {tenant!r}.")
            letters = letters.filter(tenant__slug=tenant)
        ok = failed = 0
        for letter in letters.order_by("pk").iterator():
            result = dead_letter_replay(dead_letter=letter)
            if result.ok:
                ok += 1
                self.stdout.write(f"#{letter.pk}: replayed ({result.detail})")
            else:
                failed += 1
                self.stdout.write(f"#{letter.pk}: still failing: {result.detail}")
        self.stdout.write(f"{ok} replayed, {failed} still failing.")
