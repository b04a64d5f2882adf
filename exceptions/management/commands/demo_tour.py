"""manage.py demo_tour: a past week of warehouse life, lived through in a minute.

The finite tour behind `make demo`: no server, no worker. It generates a week of
orders for the demo tenant (about 13 % with a known problem) and replays them
under a simulated clock (`orders.demo.replay`), so every event arrives when it
happened and the SLA scan, detection, escalation and the notes run at the times
they would have, while a simulated ops lead (`exceptions.demo_operator`) works the
exception list on shift. Then it prints the `stats` report and where to look next.

It lives in `exceptions`, the highest app it drives (the operator acts through
the exception lifecycle services); the replay itself is in `orders.demo`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import timedelta
from typing import Any, TextIO

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from exceptions.demo_operator import DemoOperator
from orders.demo.command_args import aware_datetime, demo_tenant
from orders.demo.generator import Generator
from orders.demo.progress import progress_bar
from orders.demo.replay import ReplayUnavailable, StepReport, replay
from orders.models import Tenant

DEFAULT_TENANT = "demo-3pl"


class Command(BaseCommand):
    help = (
        "Replay a past week of generated orders for a tenant (default demo-3pl) in-process "
        "under a simulated clock, then print the stats report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default=DEFAULT_TENANT)
        parser.add_argument("--days", type=float, default=7, help="How far back (7).")
        parser.add_argument("--orders-per-day", type=int, default=60)
        parser.add_argument("--seed", type=int, default=2026, help="Same seed, same week.")
        parser.add_argument(
            "--now",
            type=aware_datetime,
            default=None,
            help="Where the replay ends (ISO 8601, UTC without an offset); default: now.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = demo_tenant(command="demo_tour", slug=options["tenant"])
        if options["days"] <= 0 or options["orders_per_day"] < 1:
            raise CommandError("--days and --orders-per-day must be more than 0.")
        end = (options["now"] or timezone.now()).replace(microsecond=0)
        start = end - timedelta(days=options["days"])
        gen = Generator(seed=options["seed"], timezone=tenant.timezone)
        count = max(1, round(options["days"] * options["orders_per_day"]))
        orders = [gen.order(at) for at in gen.placement_times(start=start, end=end, count=count)]
        made = Counter(o.problem or "clean" for o in orders)
        self.stdout.write(
            f"Replaying {count} orders of the past {options['days']:g} days for {tenant.slug}: "
            f"{count - made['clean']} made with a problem, each event delivered when it "
            "happened, the SLA scan and escalation run as beat would have, and the "
            "demo-operator login works the exception list while on shift."
        )
        err: TextIO = options.get("stderr") or sys.stderr
        started = time.monotonic()
        try:
            with progress_bar(err, show=True, unit=None) as bar:
                task = bar.add_task(f"{start:%a %d %b} → {end:%a %d %b}", total=1)

                def advance(step: StepReport) -> None:
                    bar.update(
                        task,
                        completed=step.step,
                        total=step.steps,
                        description=f"{step.at:%a %d %b %H:%M}",
                    )

                tally = replay(
                    tenant=tenant,
                    orders=orders,
                    start=start,
                    end=end,
                    seed=options["seed"],
                    on_step=advance,
                    each_step=DemoOperator(tenant).work,
                )
        except ReplayUnavailable as exc:
            raise CommandError(str(exc)) from exc
        counts = tally.counts
        self.stdout.write(
            f"Delivered {tally.sent} events in {tally.requests} requests "
            f"(accepted {counts['accepted']}, duplicates {counts['duplicate']}, "
            f"rejected {counts['rejected']}) in {time.monotonic() - started:.0f} s.\n"
        )
        call_command("stats", tenant=tenant.slug, stdout=self.stdout)
        self._where_next(tenant)

    def _where_next(self, tenant: Tenant) -> None:
        database = settings.DATABASES["default"]
        where = (
            f"DATABASE_URL=sqlite:///{database['NAME']} make run"
            if database["ENGINE"].endswith("sqlite3")
            else "make run (with the same DATABASE_URL)"
        )
        self.stdout.write(
            "\nWhere to look next:\n"
            f"  {where}\n"
            "      then http://127.0.0.1:8000/admin/ with a login printed by bootstrap_demo:\n"
            "      Exceptions (the week's problems with their notes and activity), Orders\n"
            "      (timelines and stage clocks), Dead letters.\n"
            "  make demo-run        the same console with live traffic, new orders every few s\n"
            "  python bench/detect_eval.py   how well detection finds what was made\n"
        )
