"""manage.py ai_reanalyze: analyse exceptions again (after a prompt or model change).

Runs here, in this process, and prints what each analysis decided; `--queue`
sends them to the workers' `ai` queue instead. Each run is a manual analysis:
it always makes a new Explanation row, and never replaces an operator's notes.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exceptions.models import ACTIVE_STATUSES, ExplanationTrigger, OrderException
from orders.demo.command_args import aware_datetime

from ...analysis import exception_analyze
from ...dispatch import enqueue_analysis

MAX_WITHOUT_LIMIT = 1000


class Command(BaseCommand):
    help = "Analyse exceptions again: --exception N (repeatable) or --since T [--tenant S]."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--exception", type=int, action="append", default=[])
        parser.add_argument(
            "--since", type=aware_datetime, default=None, help="First seen at or after (ISO)."
        )
        parser.add_argument("--tenant", default=None, help="With --since: one tenant's slug.")
        parser.add_argument("--all-statuses", action="store_true", help="Not only active ones.")
        parser.add_argument("--limit", type=int, default=MAX_WITHOUT_LIMIT)
        parser.add_argument("--queue", action="store_true", help="Queue for the workers.")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = self._select(options)
        if not ids:
            raise CommandError("No exception matches.")
        for exception_id in ids:
            if options["queue"]:
                enqueue_analysis(exception_id, "manual")
                continue
            row = exception_analyze(exception_id=exception_id, trigger=ExplanationTrigger.MANUAL)
            outcome = (
                f"notes from {row.model} (confidence {row.confidence:.2f})"
                if not row.cause
                else f"catalogue's notes kept: {row.get_cause_display()}"
            )
            self.stdout.write(f"#{exception_id}: {outcome}")
        if options["queue"]:
            self.stdout.write(f"Queued {len(ids)} exception(s) on the ai queue.")

    def _select(self, options: dict[str, Any]) -> list[int]:
        if options["exception"]:
            found = set(
                OrderException.objects.filter(pk__in=options["exception"]).values_list(
                    "pk", flat=True
                )
            )
            missing = sorted(set(options["exception"]) - found)
            if missing:
                raise CommandError(f"No exception {', '.join(f'#{m}' for m in missing)}.")
            return sorted(found)
        if options["since"] is None:
            raise CommandError("Say which: --exception N or --since 2026-11-20T00:00:00Z.")
        rows = OrderException.objects.filter(first_seen_at__gte=options["since"])
        if options["tenant"]:
            rows = rows.filter(tenant__slug=options["tenant"])
        if not options["all_statuses"]:
            rows = rows.filter(status__in=ACTIVE_STATUSES)
        return list(rows.order_by("pk").values_list("pk", flat=True)[: options["limit"]])
