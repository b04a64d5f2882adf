"""manage.py generate_events: realistic demo traffic for one tenant.

Modes: `single` (one order's whole story), `batch --orders N`, `backfill --days D`
(a past week or month with correct occurred_at, so clocks, dashboards and
invoices have history) and `stream --seconds S [--rate R]` (new orders in real
time, each event sent when its time comes). Deterministic with `--seed` and a
fixed `--now`. Refuses to run in production: it writes invented orders.
"""

from __future__ import annotations

import heapq
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orders.demo.generator import GeneratedEvent, GeneratedOrder, Generator
from orders.demo.send import DirectSender, HttpSender, Sender, Tally, plan_parcels
from orders.models import Tenant, WebhookSecret
from orders.models.tenant import WebhookSecretKind

DEFAULT_TENANT = "demo-3pl"
BATCH_WINDOW = timedelta(days=7)  # batch orders are placed within the past week
SINGLE_AGE = timedelta(days=8)  # old enough for the whole story to have happened


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Generate realistic orders and events for a tenant (default demo-3pl), about 13 % "
        "with a known problem, through the HTTP endpoints or in-process (--direct)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mode", choices=["single", "batch", "stream", "backfill"])
        parser.add_argument("--tenant", default=DEFAULT_TENANT)
        parser.add_argument("--seed", type=int, default=None, help="Same seed, same events.")
        parser.add_argument("--now", type=_aware, default=None, help="Fixed clock (ISO 8601).")
        parser.add_argument("--orders", type=int, default=50, help="batch: how many orders.")
        parser.add_argument("--days", type=float, default=7, help="backfill: how far back.")
        parser.add_argument("--orders-per-day", type=int, default=60, help="backfill density.")
        parser.add_argument("--seconds", type=float, default=60, help="stream: how long.")
        parser.add_argument("--rate", type=float, default=0.5, help="stream: orders/second.")
        parser.add_argument("--direct", action="store_true", help="In-process, no server.")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--api-key", default=None, help="Default: $E2A_KEY.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.APP_ENV == "production":
            raise CommandError("generate_events refuses to run with APP_ENV=production.")
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(
                f"Tenant {options['tenant']!r} does not exist; create it with "
                "`manage.py create_tenant` or `manage.py bootstrap_demo`."
            )
        seed = options["seed"] if options["seed"] is not None else int(time.time())
        now: datetime = options["now"] or timezone.now()
        gen = Generator(seed=seed, timezone=tenant.timezone)
        sender = self._sender(tenant, options)
        tally = Tally()
        made: Counter[str] = Counter()
        started = time.monotonic()
        try:
            if options["mode"] == "stream":
                self._stream(gen, sender, tally, made, options)
            else:
                orders = self._orders(gen, now, options)
                for order in orders:
                    made[order.problem or "clean"] += 1
                due = sorted(
                    (e for o in orders for e in o.events if e.occurred_at <= now),
                    key=lambda e: e.occurred_at,
                )
                self._deliver(gen, sender, due, tally)
        finally:
            sender.close()
        self._summary(tally, made, time.monotonic() - started, seed)

    # --- what to make -----------------------------------------------------------
    def _orders(
        self, gen: Generator, now: datetime, options: dict[str, Any]
    ) -> list[GeneratedOrder]:
        mode = options["mode"]
        if mode == "single":
            return [gen.order(now - SINGLE_AGE)]
        if mode == "batch":
            if options["orders"] < 1:
                raise CommandError("--orders must be at least 1.")
            times = gen.placement_times(start=now - BATCH_WINDOW, end=now, count=options["orders"])
        else:
            if options["days"] <= 0:
                raise CommandError("--days must be more than 0.")
            count = max(1, round(options["days"] * options["orders_per_day"]))
            start = now - timedelta(days=options["days"])
            times = gen.placement_times(start=start, end=now, count=count)
        return [gen.order(at) for at in times]

    def _sender(self, tenant: Tenant, options: dict[str, Any]) -> Sender:
        if options["direct"]:
            return DirectSender(tenant)
        api_key = options["api_key"] or os.environ.get("E2A_KEY")
        if not api_key:
            raise CommandError("An API key is needed: --api-key or E2A_KEY (or use --direct).")
        secret = (
            WebhookSecret.objects.filter(
                tenant=tenant, kind=WebhookSecretKind.SHOPIFY, is_active=True
            )
            .order_by("-created_at")
            .values_list("secret", flat=True)
            .first()
        )
        return HttpSender(
            base_url=options["base_url"],
            tenant_slug=tenant.slug,
            api_key=api_key,
            shopify_secret=secret,
        )

    def _deliver(
        self, gen: Generator, sender: Sender, events: Iterable[GeneratedEvent], tally: Tally
    ) -> None:
        parcels = plan_parcels(events, rng=gen.rng, native_shopify=sender.native_shopify)
        progress = self._progress(len(parcels))
        for parcel in parcels:
            sender.send(parcel, tally)
            progress()

    def _progress(self, total: int) -> Callable[[], None]:
        """A progress line every 10 % on long runs (the summary follows at the end)."""
        step = max(1, total // 10)
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if total >= 200 and (done % step == 0 or done == total):
                self.stderr.write(f"  {done}/{total} requests ({100 * done // total} %)")

        return tick

    def _stream(
        self,
        gen: Generator,
        sender: Sender,
        tally: Tally,
        made: Counter[str],
        options: dict[str, Any],
        *,
        clock: Callable[[], datetime] = timezone.now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """New orders at `rate` per second, placed up to two days back so some
        history arrives at once; later events are held until their time comes."""
        if options["rate"] <= 0:
            raise CommandError("--rate must be more than 0.")
        end = time.monotonic() + options["seconds"]
        queue: list[tuple[datetime, int, GeneratedEvent]] = []
        sequence = 0
        next_order = time.monotonic()
        while time.monotonic() < end:
            now = clock()
            if time.monotonic() >= next_order:
                order = gen.order(now - timedelta(hours=gen.rng.uniform(0, 48)))
                made[order.problem or "clean"] += 1
                for event in order.events:
                    heapq.heappush(queue, (event.occurred_at, sequence, event))
                    sequence += 1
                next_order += 1 / options["rate"]
            due: list[GeneratedEvent] = []
            while queue and queue[0][0] <= now:
                due.append(heapq.heappop(queue)[2])
            if due:
                self._deliver(gen, sender, due, tally)
            sleep(min(0.2, max(0.0, next_order - time.monotonic())))

    def _summary(self, tally: Tally, made: Counter[str], seconds: float, seed: int) -> None:
        orders = sum(made.values())
        problems = orders - made["clean"]
        share = 100 * problems / orders if orders else 0.0
        rate = tally.sent / seconds if seconds > 0 else 0.0
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(made.items()) if k != "clean")
        self.stdout.write(
            f"seed {seed}: {_count(orders, 'order')}, {problems} with a problem ({share:.1f} %)"
            + (f": {kinds}" if kinds else "")
        )
        c = tally.counts
        self.stdout.write(
            f"sent {_count(tally.sent, 'event')} in {_count(tally.requests, 'request')}: "
            f"accepted {c['accepted']}, "
            f"duplicates {c['duplicate']}, rejected {c['rejected']}, failed {c['failed']}; "
            f"{rate:.1f} events/s"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
