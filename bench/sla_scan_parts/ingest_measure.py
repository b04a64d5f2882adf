"""The ingest measurement of `bench/sla_scan.py`: a warm-up that records statements,
then the four sides in rotated rounds, then the checks that every event was stored
with the clocks, rows and breaches the hook owes, and the worker's clock-row
follow-up done and timed apart (it is not part of a request).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from common import BenchError, progress, statement_log

from .config import Config
from .ingest_sides import ORDER_BLOCK, Sender, Side, failed, ingest_batch

# The four ingest sides' order in round r: this, each index + r (mod 4). Over any 4
# consecutive rounds every side runs once in every position and directly after each
# of the other three once (a balanced Latin square), so neither the position in a
# round nor the side before it favours one side.
SIDE_ORDER = (0, 1, 3, 2)


@dataclass(slots=True)
class IngestRun:
    ep_with: Side
    ep_without: Side
    svc_with: Side
    svc_without: Side
    followup_seconds: float = 0.0
    followup_events: int = 0

    @property
    def sides(self) -> tuple[Side, Side, Side, Side]:
        return (self.ep_with, self.ep_without, self.svc_with, self.svc_without)


def run_ingest_phase(cfg: Config, problems: list[str]) -> IngestRun:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from orders.dispatch import followup_publisher
    from orders.services.api_keys import api_key_create
    from orders.services.tenants import tenant_create

    if not {"testserver", "*"} & set(settings.ALLOWED_HOSTS):
        raise BenchError(f"ALLOWED_HOSTS {settings.ALLOWED_HOSTS} refuses django.test.Client")
    tenant = tenant_create(slug="bench-ingest", name="Bench ingest", timezone="Europe/Berlin")
    key = api_key_create(tenant=tenant, name="bench")
    # Errors in the view come back as a 500 and count as not accepted.
    sender = Sender(Client(raise_request_exception=False), f"Bearer {key.raw}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pg_pid = cursor.fetchone()[0]
    run = uuid.uuid4().hex[:6]
    ing = IngestRun(
        ep_with=Side(True, True, "POST, with SLA hook", f"es{run}"),
        ep_without=Side(True, False, "POST, without (hook unregistered)", f"en{run}"),
        svc_with=Side(False, True, "events_ingest, with SLA hook", f"ss{run}"),
        svc_without=Side(False, False, "events_ingest, without (hook unregistered)", f"sn{run}"),
    )
    warm = 3 * ORDER_BLOCK
    progress(f"ingest warm-up: {warm} events for each of the four sides, statements recorded")
    for side in (ing.ep_without, ing.ep_with, ing.svc_without, ing.svc_with):
        with statement_log() as log:
            _elapsed, failures = ingest_batch(tenant, side, warm, pg_pid, sender, log)
        side.profile, side.profile_events = log, warm
        if failures:
            problems.append(f"ingest warm-up {side.label}: {failed(failures)}")
    for side in ing.sides:
        side.cpu_py = side.cpu_pg = 0.0
    for r in range(cfg.rounds):
        for side in (ing.sides[(i + r) % 4] for i in SIDE_ORDER):
            elapsed, failures = ingest_batch(tenant, side, cfg.events, pg_pid, sender)
            side.seconds.append(elapsed)
            side.events += cfg.events
            if failures:
                problems.append(f"ingest round {r + 1} {side.label}: {failed(failures)}")
            progress(
                f"ingest round {r + 1}/{cfg.rounds} {side.label}: {cfg.events / elapsed:,.0f}"
                " events/s"
            )
    if not followup_publisher.wait_idle(timeout=30):
        problems.append("follow-up publisher still busy after 30 s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        if cursor.fetchone()[0] != pg_pid:
            problems.append("ingest: Django's connection changed, the pg CPU figures are wrong")
    problems += check_ingest(tenant.pk, ing, warm + cfg.rounds * cfg.events)
    ing.followup_seconds, ing.followup_events, found = run_clock_row_followups(tenant.pk, ing)
    problems += found
    return ing


def check_ingest(tenant_id: int, ing: IngestRun, per_side: int) -> list[str]:
    """Every event stored; the orders ingested with the hook have their three clocks in
    the memo and a clock row for each late pick (its breach hangs on it), one breach per
    late pick; the others none of these."""
    from orders.models import Order, OrderEvent
    from slas.models import Breach, StageClock

    found = []
    orders = per_side // 3
    late = (orders + 9) // 10  # every tenth order is picked late
    for side in ing.sides:
        like = f"#{side.prefix}-"
        of_side = {"tenant_id": tenant_id, "order__external_id__startswith": like}
        side_orders = Order.objects.filter(tenant_id=tenant_id, external_id__startswith=like)
        counts = (
            OrderEvent.objects.filter(**of_side).count(),
            side_orders.count(),
            side_orders.filter(sla_clocks__has_keys=["pick", "pack", "ship"]).count(),
            StageClock.objects.filter(**of_side).count(),
            Breach.objects.filter(**of_side).count(),
        )
        expected = (
            (per_side, orders, orders, late, late) if side.with_sla else (per_side, orders, 0, 0, 0)
        )
        if counts != expected:
            found.append(
                f"ingest {side.label}: {counts[0]} events, {counts[1]} orders, {counts[2]} with"
                f" 3 clocks in the memo, {counts[3]} clock rows, {counts[4]} breaches;"
                f" expected {', '.join(map(str, expected))}"
            )
    return found


def run_clock_row_followups(tenant_id: int, ing: IngestRun) -> tuple[float, int, list[str]]:
    """What the worker's follow-up does after the events (no worker runs here): write the
    clock rows of the orders ingested with the hook from their memos, 50 orders per
    transaction with their rows locked, as events_process locks them. Returns the
    seconds, the events those orders got, and any order left without its three rows."""
    from django.db import transaction
    from django.utils import timezone

    from orders.models import Order, OrderEvent
    from slas.models import StageClock
    from slas.services.clock_rows import clock_rows_sync

    seconds, events, problems = 0.0, 0, []
    for side in (ing.ep_with, ing.svc_with):
        like = f"#{side.prefix}-"
        ids = list(
            Order.objects.filter(tenant_id=tenant_id, external_id__startswith=like)
            .order_by("external_id")
            .values_list("pk", flat=True)
        )
        started = time.perf_counter()
        for start in range(0, len(ids), ORDER_BLOCK):
            with transaction.atomic():
                block = list(
                    Order.objects.select_for_update(of=("self",))
                    .select_related("tenant")
                    .filter(pk__in=ids[start : start + ORDER_BLOCK])
                    .order_by("external_id")
                )
                clock_rows_sync(block, now=timezone.now())
        seconds += time.perf_counter() - started
        events += OrderEvent.objects.filter(order_id__in=ids).count()
        rows = StageClock.objects.filter(order_id__in=ids).count()
        if rows != 3 * len(ids):
            problems.append(f"follow-up {side.label}: {rows} clock rows, expected {3 * len(ids)}")
    return seconds, events, problems
