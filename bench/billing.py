"""E²A billing benchmark: a month's invoice against a bare count of the same events.

    .venv/bin/python bench/billing.py                      # 1,000,000 + 100,000 orders
    .venv/bin/python bench/billing.py --reuse              # keep the loaded months
    .venv/bin/python bench/billing.py --orders 100000 --small-orders 10000

It loads, with COPY, one month (November 2026, America/New_York) of orders and their
lifecycle events for two tenants, `--orders` (1,000,000: about 5 million events) and
`--small-orders` (100,000), into the PostgreSQL database named by DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/e2a_bench_billing; the name must contain
"bench"), migrated with `manage.py migrate`. Then, in one run:

* the bare `SELECT event_type, count(*) … GROUP BY event_type` over the large
  tenant's events of the month (warm, best of `--repeats` + 2);
* `invoice_refresh()` of that month (warm, best of `--repeats`; every call deletes and
  rewrites the lines), in a child process of its own, for each tenant, so that each
  one's peak memory (RSS high-water mark, and the tracemalloc peak of one refresh) is
  that of a process that did nothing else;
* the ratio invoice ÷ count                                           (goal ≤ 3),
  the lines written, the statements of one refresh with their times, and an
  `EXPLAIN (ANALYZE, BUFFERS)` summary of the heavy ones.

No timed assertion: exit 1 only with `--check` and a missed goal; 2 on a setup failure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from common import (
    BenchError,
    Ratio,
    bench_database_name,
    in_process_django,
    label,
    libpq_url,
    machine_notes,
    plan_summary,
    print_ratios,
    progress,
    recreate_database,
    require_loopback,
    run,
    short,
)
from psycopg import sql

GOAL_RATIO = 3.0
PERIOD = date(2026, 11, 1)
TIME_ZONE = "America/New_York"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/e2a_bench_billing"
CHUNK = 20_000  # orders generated per COPY write
EXPLAIN_SHARE = 0.05  # statements taking at least this share of a refresh are explained


@dataclass(slots=True)
class Config:
    database_url: str
    orders: int
    small_orders: int
    repeats: int
    reuse: bool
    check: bool


def parse_args(argv: list[str] | None = None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="the judged month (1M)")
    parser.add_argument(
        "--small-orders",
        type=int,
        default=100_000,
        help="a second tenant's month, for peak memory side by side (100,000; 0: none)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="invoice refreshes timed (3)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database and the months already loaded at these sizes",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the ratio misses")
    parser.add_argument("--child", metavar="SLUG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = Config(
        database_url=os.environ.get("DATABASE_URL", DEFAULT_URL),
        orders=args.orders,
        small_orders=args.small_orders,
        repeats=max(1, args.repeats),
        reuse=args.reuse,
        check=args.check,
    )
    if cfg.orders < 1000 or (cfg.small_orders and cfg.small_orders < 1000):
        raise BenchError("--orders and --small-orders are at least 1,000 (or 0 for none)")
    return cfg, args


def slug_for(orders: int) -> str:
    return f"bench-billing-{orders}"


# ------------------------------------------------------------------------ the data


def month_bounds_utc() -> tuple[datetime, datetime]:
    from billing.periods import month_bounds

    return month_bounds(PERIOD, TIME_ZONE)


def _iso(at: datetime) -> str:
    return at.isoformat()


def order_rows(
    tenant: int, first_id: int, n: int, start: datetime, end: datetime
) -> Iterator[tuple[str, str]]:
    """COPY text of the orders and of their events, `CHUNK` orders at a time.

    Per order: `order_paid` (store), `pick_completed`, `pack_completed` and
    `ship_label_printed` (WMS), `picked_up` (carrier); one in ten orders has a
    `label_created` from the carrier too (the same label, a second source), one in
    thirty a `kitting_completed`. One in fifty is paid but not yet picked. Orders are
    placed evenly over the month, so the last ones are packed or labelled after its
    end; one in two hundred was picked just before it began. 30 % have 2–5 items; a
    few per cent carry handling flags (rush, hazmat, fragile, oversized, gift wrap).
    """
    span = (end - start).total_seconds()
    for base in range(0, n, CHUNK):
        orders: list[str] = []
        events: list[str] = []
        for i in range(base, min(n, base + CHUNK)):
            oid = first_id + i
            r = (i * 2654435761) % 4294967296  # a fixed scramble of i: reproducible
            ext = f"B{i}"
            if r % 200 == 7:
                paid = start - timedelta(hours=3, seconds=r % 3600)
            else:
                paid = start + timedelta(seconds=span * i / n + r % 600)
            picked = paid + timedelta(hours=1 + r % 5, seconds=r % 1800)
            packed = picked + timedelta(minutes=20 + r % 40)
            labelled = packed + timedelta(minutes=5 + r % 10)
            shipped = labelled + timedelta(hours=4)
            items = 1 if r % 10 < 7 else 2 + r % 4
            flags = [
                flag
                for flag, every in (
                    ("fragile", 53),
                    ("gift_wrap", 31),
                    ("hazmat", 97),
                    ("oversized", 89),
                    ("rush", 19),
                )
                if (r >> 8) % every == 0
            ]
            handling = json.dumps(flags)
            evs: list[tuple[str, str, datetime]] = [("shop", "order_paid", paid)]
            if r % 50 != 3:
                evs += [
                    ("wms", "pick_completed", picked),
                    ("wms", "pack_completed", packed),
                    ("wms", "ship_label_printed", labelled),
                    ("carrier", "picked_up", shipped),
                ]
                if r % 10 == 1:
                    evs.append(("carrier", "label_created", labelled + timedelta(minutes=2)))
                if r % 30 == 2:
                    evs.append(("wms", "kitting_completed", picked + timedelta(minutes=10)))
            last = max(at for _s, _t, at in evs)
            orders.append(
                f"{oid}\t{tenant}\t{ext}\tshop\tweb\tpaid\t{_iso(paid)}\t{_iso(paid)}\t0\t"
                f"standard\t{handling}\t{items}\tUSD\tpaid\t\t\tNYC-1\t\t{{}}\t{{}}\t[]\t[]\t[]"
                f"\t{{}}\t{{}}\t\t{len(evs)}\t{_iso(last)}\t{_iso(paid)}\t{_iso(last)}\tf\n"
            )
            for k, (source, event_type, at) in enumerate(evs):
                events.append(
                    f"{tenant}\t{oid}\t{source}\t{event_type}\t{ext}-{k}\t{_iso(at)}\t{_iso(at)}"
                    f'\tevent\t{{"event_type": "{event_type}", "order_id": "{ext}"}}\t\t'
                    f"{_iso(at)}\n"
                )
        yield "".join(orders), "".join(events)


_ORDER_COLUMNS = (
    "id", "tenant_id", "external_id", "source", "channel", "status", "status_as_of",
    "paid_at", "failed_delivery_attempts", "service_level", "handling", "items_count",
    "currency", "financial_status", "carrier", "tracking_number", "warehouse",
    "exception_reason", "customer", "shipping_address", "line_items", "shipping_lines",
    "tags", "attribute_versions", "sla_clocks", "sla_stage", "event_count", "last_event_at",
    "first_seen_at", "updated_at", "payment_issues",
)  # fmt: skip
_EVENT_COLUMNS = (
    "tenant_id", "order_id", "source", "event_type", "event_id", "occurred_at",
    "received_at", "channel", "payload", "correlation_id", "processed_at",
)  # fmt: skip


def load_month(conn: psycopg.Connection, *, tenant: int, n: int) -> None:
    """COPY the tenant's orders (explicit ids from a reserved block) and events."""
    start, end = month_bounds_utc()
    seq = conn.execute("SELECT pg_get_serial_sequence('orders_order', 'id')").fetchone()[0]
    first_id = conn.execute("SELECT nextval(%s)", [seq]).fetchone()[0]
    conn.execute("SELECT setval(%s, %s)", [seq, first_id + n])
    started = time.perf_counter()
    # The rows are consistent by construction: skip the per-row foreign-key triggers
    # (checked once below instead) and the WAL flush at commit.
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    try:
        with conn.transaction():
            # Events go through an unlogged staging table and into the app's table in
            # the order they were received, as ingestion stores them: an order's events
            # are hours apart in the table, interleaved with other orders' events, not
            # side by side (which would flatter every plan that reads them by order).
            conn.execute(
                "CREATE UNLOGGED TABLE bench_event_load AS"
                f" SELECT {', '.join(_EVENT_COLUMNS)} FROM orders_orderevent WITH NO DATA"
            )
            for table, columns, part in (
                ("orders_order", _ORDER_COLUMNS, 0),
                ("bench_event_load", _EVENT_COLUMNS, 1),
            ):
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
                # Generated twice (orders, then events) rather than held: ~1 GB at 1M.
                with conn.cursor().copy(statement) as copy:
                    for texts in order_rows(tenant, first_id, n, start, end):
                        copy.write(texts[part])
                progress(f"  {table} copied, {time.perf_counter() - started:.0f} s")
            conn.execute(
                f"INSERT INTO orders_orderevent ({', '.join(_EVENT_COLUMNS)})"
                f" SELECT {', '.join(_EVENT_COLUMNS)} FROM bench_event_load"
                " ORDER BY received_at, event_id"
            )
            conn.execute("DROP TABLE bench_event_load")
            progress(f"  orders_orderevent filled, {time.perf_counter() - started:.0f} s")
    finally:
        conn.execute("RESET session_replication_role")
        conn.execute("RESET synchronous_commit")
    orphans = conn.execute(
        "SELECT count(*) FROM orders_orderevent AS e LEFT JOIN orders_order AS o"
        " ON o.id = e.order_id WHERE e.tenant_id = %s AND (o.id IS NULL OR o.tenant_id <> %s)",
        [tenant, tenant],
    ).fetchone()[0]
    if orphans:
        raise BenchError(f"{orphans} events without their order")


def ensure_months(cfg: Config) -> dict[int, int]:
    """Database, migrations, tenants and their months, as the options ask: loaded
    again unless `--reuse` finds them at the same size. Returns orders → tenant id."""
    dbname = bench_database_name(cfg.database_url)
    exists = _database_exists(cfg.database_url, dbname)
    if not (cfg.reuse and exists):
        progress(f"recreating database {dbname}")
        recreate_database(cfg.database_url)
    in_process_django(cfg.database_url)
    from django.core.management import call_command

    progress("migrating")
    call_command("migrate", interactive=False, verbosity=0)
    from orders.models import Order, Tenant

    sizes = [cfg.orders] + ([cfg.small_orders] if cfg.small_orders else [])
    tenants: dict[int, int] = {}
    loaded = False
    with psycopg.connect(libpq_url(cfg.database_url), autocommit=True) as conn:
        for n in sizes:
            tenant, _created = Tenant.objects.get_or_create(
                slug=slug_for(n),
                defaults={"name": f"Billing bench, {n:,} orders", "timezone": TIME_ZONE},
            )
            tenants[n] = tenant.pk
            have = Order.objects.filter(tenant=tenant).count()
            if have == n:
                progress(f"reusing {tenant.slug}: {n:,} orders already loaded")
                continue
            if have:
                raise BenchError(f"{tenant.slug} holds {have:,} orders, not {n:,}: drop --reuse")
            progress(f"loading {tenant.slug}: {n:,} orders")
            load_month(conn, tenant=tenant.pk, n=n)
            loaded = True
        if loaded:
            started = time.perf_counter()
            conn.execute("VACUUM ANALYZE orders_order")
            conn.execute("VACUUM ANALYZE orders_orderevent")
            conn.execute("CHECKPOINT")
            progress(f"vacuumed and analysed in {time.perf_counter() - started:.0f} s")
    return tenants


def _database_exists(url: str, dbname: str) -> bool:
    with psycopg.connect(libpq_url(url, "postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
    return row is not None


# -------------------------------------------------------------------- the baseline


COUNT_SQL = (
    "SELECT event_type, count(*) FROM orders_orderevent"
    " WHERE tenant_id = %s AND occurred_at >= %s AND occurred_at < %s GROUP BY event_type"
)


def time_count(tenant: int, repeats: int) -> tuple[list[float], int, list[str]]:
    """The bare count, warm: best of `repeats` after one warm-up; with its plan."""
    from django.db import connection

    start, end = month_bounds_utc()
    params = [tenant, start, end]
    times: list[float] = []
    with connection.cursor() as cursor:
        cursor.execute(COUNT_SQL, params)  # warm-up
        rows = cursor.fetchall()
        for _ in range(repeats):
            started = time.perf_counter()
            cursor.execute(COUNT_SQL, params)
            cursor.fetchall()
            times.append(time.perf_counter() - started)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + COUNT_SQL, params)
        plan = [row[0] for row in cursor.fetchall()]
    return times, sum(count for _type, count in rows), plan


# ------------------------------------------------------- the invoice, in a child


def child_main(cfg: Config, slug: str) -> int:
    """In a fresh process: refresh the month `repeats` times, then once under
    tracemalloc, then replay one refresh's statements with EXPLAIN ANALYZE of the heavy
    ones (rolled back). Prints one JSON object on stdout."""
    in_process_django(cfg.database_url)
    from django.db import connection, transaction

    from billing.models import InvoiceLine
    from billing.services import invoice_refresh
    from orders.models import Tenant

    tenant = Tenant.objects.get(slug=slug)
    rss_ready = _maxrss_kb()
    invoice_refresh(tenant=tenant, period=PERIOD)  # warm-up: code, caches, the invoice row
    times: list[float] = []
    for _ in range(cfg.repeats):
        vacuum_lines()
        started = time.perf_counter()
        invoice_refresh(tenant=tenant, period=PERIOD)
        times.append(time.perf_counter() - started)
    rss_peak = _maxrss_kb()

    statements: list[tuple[str, Any, float]] = []

    def record(execute, statement, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            statements.append((statement, params, time.perf_counter() - started))

    vacuum_lines()
    tracemalloc.start()
    with connection.execute_wrapper(record):
        started = time.perf_counter()
        # In a transaction of ours, so that its commit, which runs the deferred
        # foreign-key checks of every line written, is timed on its own.
        with transaction.atomic():
            refreshed = invoice_refresh(tenant=tenant, period=PERIOD)
            committing = time.perf_counter()
        traced_seconds = time.perf_counter() - started
        commit_seconds = time.perf_counter() - committing
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    invoice = refreshed.invoice
    lines = InvoiceLine.objects.filter(invoice=invoice).count()
    order_lines = InvoiceLine.objects.filter(invoice=invoice, order__isnull=False).count()

    total = sum(seconds for _s, _p, seconds in statements)
    explained: list[dict[str, Any]] = []
    with transaction.atomic(), connection.cursor() as cursor:
        for statement, params, seconds in statements:
            if statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
                continue
            if seconds >= EXPLAIN_SHARE * total:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                plan = [row[0] for row in cursor.fetchall()]
                explained.append({"label": label(statement), "seconds": seconds, "plan": plan})
            else:
                cursor.execute(statement, params)
        transaction.set_rollback(True)

    print(
        json.dumps(
            {
                "times": times,
                "rss_ready_kb": rss_ready,
                "rss_peak_kb": rss_peak,
                "traced_peak": traced_peak,
                "traced_seconds": traced_seconds,
                "commit_seconds": commit_seconds,
                "lines": lines,
                "order_lines": order_lines,
                "total_cents": invoice.total_cents,
                "order_count": invoice.order_count,
                "statements": [(label(s), seconds, len(s)) for s, _p, seconds in statements],
                "explained": explained,
            }
        )
    )
    return 0


def vacuum_lines() -> None:
    """What autovacuum does between two nightly refreshes, done before each timed one
    (untimed): without it, every refresh in a row finds the previous ones' million
    dead lines in the table and its indexes, and each one is slower than the last."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM billing_invoiceline")


def _maxrss_kb() -> int:
    """The process's RSS high-water mark in kB: VmHWM, not `ru_maxrss`, which a child
    inherits from the parent it was forked from (the loader's, here) across exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(cfg: Config, slug: str) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": cfg.database_url}
    argv = [sys.executable, __file__, "--child", slug, "--repeats", str(cfg.repeats)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise BenchError(f"invoice process for {slug} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- the report


def kb(value: int) -> str:
    return f"{value / 1024:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    require_loopback(cfg.database_url, "DATABASE_URL")
    if args.child:
        return child_main(cfg, args.child)
    bench_database_name(cfg.database_url)
    notes = machine_notes()
    tenants = ensure_months(cfg)
    from django.db import connection

    large = tenants[cfg.orders]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_orderevent WHERE tenant_id = %s", [large])
        tenant_events = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM orders_orderevent")
        all_events = cursor.fetchone()[0]
        cursor.execute("SHOW max_parallel_workers_per_gather")
        parallel = cursor.fetchone()[0]
    progress("timing the bare count")
    count_times, counted, count_plan = time_count(large, cfg.repeats + 2)
    results: dict[int, dict[str, Any]] = {}
    for n in sorted(tenants, reverse=True):
        progress(f"refreshing {slug_for(n)}'s invoice in a process of its own")
        results[n] = run_child(cfg, slug_for(n))
    progress("timing the bare count again")
    again, _counted, _plan = time_count(large, cfg.repeats + 2)
    count_times += again
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        serial_times, _c, _p = time_count(large, cfg.repeats + 2)
        cursor.execute("RESET max_parallel_workers_per_gather")

    big = results[cfg.orders]
    best_count = min(count_times)
    best_invoice = min(big["times"])
    ratio = best_invoice / best_count
    dbname = urlsplit(cfg.database_url).path.lstrip("/")
    print()
    print(f"E²A billing benchmark, database {dbname}")
    for note in notes:
        print("  " + note)
    print(
        f"  month {PERIOD:%Y-%m} ({TIME_ZONE}); {cfg.orders:,} orders and {tenant_events:,}"
        f" events in the judged tenant; {all_events:,} events in the table;"
        f" max_parallel_workers_per_gather={parallel}"
    )
    print()
    print(f"bare count ({counted:,} events of the month, {len(count_times)} runs)")
    print(f"  best {best_count * 1000:,.0f} ms, median {_median(count_times) * 1000:,.0f} ms;"
          f" without parallel workers best {min(serial_times) * 1000:,.0f} ms")  # fmt: skip
    details = ("Trigger", "Execution Time", "Workers Launched", "Sort Method", "Batches")
    for line in plan_summary(count_plan, details=details):
        print("    " + line)
    print()
    print("invoice_refresh (warm; each call deletes and rewrites the month's lines)")
    header = f"  {'orders':>10} {'lines':>10} {'best':>9} {'median':>9} {'RSS ready':>10}"
    header += f" {'RSS peak':>10} {'growth':>9} {'tracemalloc peak':>17}"
    print(header)
    for n in sorted(results):
        r = results[n]
        growth = r["rss_peak_kb"] - r["rss_ready_kb"]
        print(
            f"  {n:>10,} {r['lines']:>10,} {min(r['times']):>8.2f}s {_median(r['times']):>8.2f}s"
            f" {kb(r['rss_ready_kb']):>10} {kb(r['rss_peak_kb']):>10} {kb(growth):>9}"
            f" {r['traced_peak'] / 1024:>13,.0f} kB"
        )
    print(
        f"  {cfg.orders:,} orders: {big['order_lines']:,} order lines for {big['order_count']:,}"
        f" billed orders, invoice total {big['total_cents'] / 100:,.2f}"
    )
    print()
    print(f"statements of one refresh of {cfg.orders:,} orders (traced run)")
    in_statements = 0.0
    for text, seconds, length in big["statements"]:
        in_statements += seconds
        if seconds >= 0.001:
            print(f"  {seconds * 1000:>9,.0f} ms  {short(text, 80)}  ({length:,} chars)")
    commit = big["commit_seconds"]
    outside = big["traced_seconds"] - in_statements - commit
    print(f"  {commit * 1000:>9,.0f} ms  COMMIT: the deferred foreign-key checks of the lines")
    print(f"  {outside * 1000:>9,.0f} ms  outside the statements (Python, Django)")
    print(f"  {big['traced_seconds'] * 1000:>9,.0f} ms  in all (this run was traced)")
    for item in big["explained"]:
        print()
        print(f"EXPLAIN ANALYZE: {short(item['label'], 96)}")
        for line in plan_summary(item["plan"], details=details):
            print("    " + line)
    print()
    ratio_line = Ratio(
        f"invoice_refresh ÷ bare GROUP BY count, {cfg.orders:,} orders",
        ratio,
        GOAL_RATIO,
        at_least=False,
    )
    serial = Ratio(
        "  the same ÷ the count without parallel workers",
        best_invoice / min(serial_times),
        GOAL_RATIO,
        at_least=False,
        judged=False,
    )
    print_ratios([ratio_line, serial], width=58)
    if cfg.small_orders:
        small = results[cfg.small_orders]
        small_growth = kb(small["rss_peak_kb"] - small["rss_ready_kb"])
        print(
            f"peak RSS growth during the refreshes: {small_growth}"
            f" at {cfg.small_orders:,} orders, {kb(big['rss_peak_kb'] - big['rss_ready_kb'])}"
            f" at {cfg.orders:,} (goal: flat)"
        )
    return 1 if cfg.check and not ratio_line.met else 0


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


if __name__ == "__main__":
    # The repository before bench/: this file's own name must not hide the app `billing`.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    run(main, interrupted="billing bench interrupted")
