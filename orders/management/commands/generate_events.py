"""manage.py generate_events: realistic demo traffic for one tenant.

Modes: `single` (one order's whole story), `batch --orders N`, `backfill --days D`
(a past week or month with correct occurred_at, so clocks, dashboards and
invoices have history) and `stream --seconds S [--rate R]` (new orders in real
time, each event sent when its time comes; with `--now T` the stream's clock
starts at T and runs on in real time). Deterministic with `--seed` and a fixed
`--now`. Refuses to run in production: it writes invented orders.
"""

from __future__ import annotations

import heapq
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TextIO

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from rich.progress import Progress

from orders.demo.command_args import aware_datetime, demo_tenant
from orders.demo.generator import GeneratedEvent, GeneratedOrder, Generator
from orders.demo.progress import on_terminal, progress_bar
from orders.demo.send import DirectSender, HttpSender, Parcel, Sender, Tally, plan_parcels
from orders.models import Tenant, WebhookSecret
from orders.models.tenant import WebhookSecretKind
from orders.services.api_keys import api_key_create

DEFAULT_TENANT = "demo-3pl"
BATCH_WINDOW = timedelta(days=7)  # batch orders are placed within the past week
SINGLE_AGE = timedelta(days=8)  # old enough for the whole story to have happened
STREAM_LINE_SECONDS = 60.0  # a stream off a terminal says how it goes once a minute
LONG_RUN = 200  # requests: from here on a progress bar is shown even off a terminal

# The stream's real-time clock; tests put in a fake one that advances on sleep.
_monotonic: Callable[[], float] = time.monotonic
_sleep: Callable[[float], None] = time.sleep


class Command(BaseCommand):
    help = (
        "Generate realistic orders and events for a tenant (default demo-3pl), about 13 % "
        "with a known problem, through the HTTP endpoints or in-process (--direct)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mode", choices=["single", "batch", "stream", "backfill"])
        parser.add_argument("--tenant", default=DEFAULT_TENANT)
        parser.add_argument("--seed", type=int, default=None, help="Same seed, same events.")
        parser.add_argument(
            "--now", type=aware_datetime, default=None, help="Fixed clock (ISO 8601)."
        )
        parser.add_argument("--orders", type=int, default=50, help="batch: how many orders.")
        parser.add_argument("--days", type=float, default=7, help="backfill: how far back.")
        parser.add_argument("--orders-per-day", type=int, default=60, help="backfill density.")
        parser.add_argument("--seconds", type=float, default=60, help="stream: how long.")
        parser.add_argument("--rate", type=float, default=0.5, help="stream: orders/second.")
        parser.add_argument("--direct", action="store_true", help="In-process, no server.")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--api-key", default=None, help="Default: $E2A_KEY.")
        parser.add_argument(
            "--issue-key",
            action="store_true",
            help="Issue a new ingest-only key for this run instead (make demo-run).",
        )
        parser.add_argument(
            "--wait-for-server",
            type=float,
            default=0,
            metavar="SECONDS",
            help="Wait up to this long for --base-url's /healthz before sending.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = demo_tenant(command="generate_events", slug=options["tenant"])
        seed = options["seed"] if options["seed"] is not None else int(time.time())
        now: datetime = options["now"] or timezone.now()
        # Where stderr really goes: call_command(stderr=…) or the process's own.
        self._progress_file: TextIO = options.get("stderr") or sys.stderr
        gen = Generator(seed=seed, timezone=tenant.timezone)
        # Parcels draw from their own rng: how events are cut into requests (which
        # depends on the tenant's secrets and, in a stream, on timing) must not
        # change which orders the seed makes.
        self._parcel_rng = random.Random(f"parcels-{seed}")  # noqa: S311 - demo data
        sender = self._sender(tenant, options)
        tally = Tally()
        made: Counter[str] = Counter()
        started = time.monotonic()
        try:
            if options["mode"] == "stream":
                self._stream(gen, sender, tally, made, options, start=now)
            else:
                orders = self._orders(gen, now, options)
                for order in orders:
                    made[order.problem or "clean"] += 1
                due = sorted(
                    (e for o in orders for e in o.events if e.occurred_at <= now),
                    key=lambda e: e.occurred_at,
                )
                self._deliver_all(sender, due, tally)
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
        if options["issue_key"]:
            api_key = api_key_create(tenant=tenant, name="generate_events").raw
        if not api_key:
            raise CommandError(
                "An API key is needed: --api-key, E2A_KEY or --issue-key (or use --direct)."
            )
        if options["wait_for_server"] > 0:
            self._wait_for(options["base_url"], options["wait_for_server"])
        return HttpSender(
            base_url=options["base_url"],
            tenant_slug=tenant.slug,
            api_key=api_key,
            shopify_secret=_newest_secret(tenant, WebhookSecretKind.SHOPIFY),
            standard_secret=_newest_secret(tenant, WebhookSecretKind.STANDARD),
        )

    def _wait_for(self, base_url: str, seconds: float) -> None:
        """Started beside the server (make demo-run): wait until it answers /healthz."""
        deadline = time.monotonic() + seconds
        url = base_url.rstrip("/") + "/healthz"
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                raise CommandError(f"{url} did not answer 200 within {seconds:g} s.")
            time.sleep(0.5)

    def _plan(self, sender: Sender, events: Iterable[GeneratedEvent]) -> list[Parcel]:
        return plan_parcels(
            events,
            rng=self._parcel_rng,
            native_shopify=sender.native_shopify,
            standard_webhooks=sender.standard_webhooks,
        )

    def _deliver_all(self, sender: Sender, events: Iterable[GeneratedEvent], tally: Tally) -> None:
        """Send every parcel, with a progress bar on a terminal or on a long run."""
        parcels = self._plan(sender, events)
        show = self._on_terminal() or len(parcels) >= LONG_RUN
        with self._progress_bar(show=show, counted=True) as bar:
            task = bar.add_task("sending", total=len(parcels))
            for parcel in parcels:
                sender.send(parcel, tally)
                bar.advance(task)

    def _on_terminal(self) -> bool:
        return on_terminal(self._progress_file)

    def _progress_bar(self, *, show: bool, counted: bool) -> Progress:
        return progress_bar(self._progress_file, show=show, unit="requests" if counted else None)

    def _stream(
        self,
        gen: Generator,
        sender: Sender,
        tally: Tally,
        made: Counter[str],
        options: dict[str, Any],
        *,
        start: datetime,
    ) -> None:
        """New orders at `rate` per second, placed up to two days back so some
        history arrives at once; later events are held until their time comes.

        The stream's clock is `start` plus the real time elapsed, so `--now` and
        `--seed` reproduce a stream. A progress bar over its duration is shown on
        a terminal only: how many requests it will make is not known up front.
        Elsewhere (a log, `make demo-run`'s process manager) it writes one line a
        minute instead, so a long stream is seen to be alive.
        """
        if options["rate"] <= 0:
            raise CommandError("--rate must be more than 0.")
        seconds: float = options["seconds"]
        queue: list[tuple[datetime, int, GeneratedEvent]] = []
        sequence = 0
        began = _monotonic()
        next_order = began
        next_line = began + STREAM_LINE_SECONDS
        terminal = self._on_terminal()
        with self._progress_bar(show=terminal, counted=False) as bar:
            task = bar.add_task("stream", total=seconds)
            while (elapsed := _monotonic() - began) < seconds:
                now = start + timedelta(seconds=elapsed)
                if _monotonic() >= next_order:
                    order = gen.order(now - timedelta(hours=gen.rng.uniform(0, 48)))
                    made[order.problem or "clean"] += 1
                    for event in order.events:
                        heapq.heappush(queue, (event.occurred_at, sequence, event))
                        sequence += 1
                    next_order += 1 / options["rate"]
                due: list[GeneratedEvent] = []
                while queue and queue[0][0] <= now:
                    due.append(heapq.heappop(queue)[2])
                for parcel in self._plan(sender, due):
                    sender.send(parcel, tally)
                bar.update(
                    task,
                    completed=min(elapsed, seconds),
                    description=f"stream, {tally.requests} requests",
                )
                if not terminal and _monotonic() >= next_line:
                    next_line += STREAM_LINE_SECONDS
                    self._stream_line(made, tally)
                _sleep(min(0.2, max(0.0, next_order - _monotonic())))
            bar.update(task, completed=seconds)

    def _stream_line(self, made: Counter[str], tally: Tally) -> None:
        orders = sum(made.values())
        counts = tally.counts
        self.stdout.write(
            f"stream: {_count(orders, 'order')} ({orders - made['clean']} with a problem), "
            f"{_count(tally.sent, 'event')} sent: accepted {counts['accepted']}, "
            f"duplicates {counts['duplicate']}, rejected {counts['rejected']}, "
            f"failed {counts['failed']}"
        )

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


def _newest_secret(tenant: Tenant, kind: str) -> str | None:
    """The tenant's newest active secret of a kind: what its sender signs with."""
    return (
        WebhookSecret.objects.filter(tenant=tenant, kind=kind, is_active=True)
        .order_by("-created_at")
        .values_list("secret", flat=True)
        .first()
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
