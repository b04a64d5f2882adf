"""The scan measurement of `bench/sla_scan.py`: `sla_scan()` timed on scenario A and
B alternately, each scan from the same reset state, its result checked, its
statements recorded, and the plans of its reads explained.

The scan itself runs unchanged; `SET search_path` picks the scenario, so both run in
one process on the same machine state and only the number of open orders differs.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from common import BenchError, progress, statement_log
from psycopg import sql

from .config import Config
from .scan_data import (
    EXCEPTION_TABLES,
    PICK_MINUTES,
    SCAN_TABLES,
    SCHEMA_A,
    build_scenarios,
    memo_keys,
    set_autovacuum,
    tables,
)


@dataclass(slots=True)
class Scenario:
    key: str
    label: str
    schema: str
    open_orders: int
    due_ids: list[int]
    times: list[float] = field(default_factory=list)
    db_seconds: list[float] = field(default_factory=list)
    # Per measured scan: statement label → (calls, seconds).
    statements: list[dict[str, tuple[int, float]]] = field(default_factory=list)
    explain: str = ""  # the due query's plan
    # The at-risk gauge's plan at `now`, as every scan runs it after its passes: no
    # stage is at risk then, so what it costs is the plan's own overhead.
    explain_gauge: str = ""

    @property
    def search_path(self) -> str:
        return "public" if self.schema == "public" else f"{self.schema}, public"

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else 0.0

    def statement_median(self, shape: str) -> tuple[float, float]:
        """Median calls and seconds per scan of one statement label (0 where absent)."""
        runs = [scan.get(shape, (0, 0.0)) for scan in self.statements]
        return statistics.median(c for c, _ in runs), statistics.median(s for _, s in runs)


@contextlib.contextmanager
def search_path(value: str) -> Iterator[None]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SET search_path TO {value}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET search_path TO public")


def reset_due(conn: psycopg.Connection, sc: Scenario, tenant: int) -> None:
    """Make the due clocks running again and forget their breaches; vacuum, so every
    repetition starts from the same state (no dead rows or index entries)."""
    t = tables(sc.schema)
    conn.execute(
        sql.SQL(
            "UPDATE {} SET breached_at = NULL, severity_next_at = NULL WHERE id = ANY(%s)"
        ).format(t["slas_stageclock"]),
        [sc.due_ids],
    )
    # Their orders: the breach out of the memo (ClockEntry.withdraw, in bulk), the pick
    # deadline back in the columns.
    conn.execute(
        sql.SQL(
            "UPDATE {} AS o SET sla_clocks = o.sla_clocks #- ARRAY['pick', %(key_b)s::text],"
            " sla_due_at = (o.sla_clocks #>> ARRAY['pick', %(key_d)s::text])::timestamptz,"
            " sla_warn_at = (o.sla_clocks #>> ARRAY['pick', %(key_w)s::text])::timestamptz,"
            " sla_stage = 'pick' FROM {} AS c WHERE c.id = ANY(%(ids)s) AND o.id = c.order_id"
        ).format(t["orders_order"], t["slas_stageclock"]),
        {"ids": sc.due_ids, **memo_keys()},
    )
    # Children first: notifications and activity, breach links, exceptions, breaches.
    for name in (*reversed(EXCEPTION_TABLES[1:]), EXCEPTION_TABLES[0], "slas_breach"):
        if name == "exceptions_exceptionbreach":
            conn.execute(
                sql.SQL(
                    "DELETE FROM {} AS l USING {} AS b WHERE b.id = l.breach_id"
                    " AND b.tenant_id = %s"
                ).format(t[name], t["slas_breach"]),
                [tenant],
            )
        else:
            conn.execute(sql.SQL("DELETE FROM {} WHERE tenant_id = %s").format(t[name]), [tenant])
    conn.execute(
        sql.SQL("VACUUM (INDEX_CLEANUP ON) {}").format(
            sql.SQL(", ").join(t[name] for name in SCAN_TABLES)
        )
    )


def scan_once(
    conn: psycopg.Connection, sc: Scenario, tenant: int, now: datetime, *, record: bool
) -> tuple[float, list[str]]:
    """Reset, then time one sla_scan(now=now) on the scenario's tables."""
    from slas.services.scan import sla_scan

    reset_due(conn, sc, tenant)
    problems = []
    with search_path(sc.search_path), statement_log() as log:
        started = time.perf_counter()
        result = sla_scan(now=now)
        elapsed = time.perf_counter() - started
    due = len(sc.due_ids)
    if (result.breached, result.missing_scans, result.severity_raised) != (due, 0, 0):
        problems.append(
            f"scan {sc.key}: breached {result.breached}, missing scans {result.missing_scans},"
            f" severity raised {result.severity_raised}; expected {due}, 0, 0"
        )
    stored = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE tenant_id = %s").format(
            tables(sc.schema)["slas_breach"]
        ),
        [tenant],
    ).fetchone()[0]
    if stored != due:
        problems.append(f"scan {sc.key}: {stored} breaches in {sc.schema}, expected {due}")
    if record:
        sc.times.append(elapsed)
        sc.db_seconds.append(log.total()[1])
        sc.statements.append(
            {shape: (log.calls[(scope, shape)], s) for (scope, shape), s in log.seconds.items()}
        )
    return elapsed, problems


def _plan_summary(plan: str) -> str:
    """'Limit ← Index Scan using order_sla_due on orders_order (rows=500); 0.2 ms'."""
    nodes = []
    for line in plan.splitlines():
        text = line.strip().removeprefix("->").strip()
        match = re.match(r"([A-Za-z][A-Za-z ]+?)(?: using (\w+))?(?: on (\w+))?\s+\(", text)
        if match and "Filter" not in text[:8]:
            name, index, table = match.groups()
            rows = re.search(r"actual time=[\d.]+\.\.[\d.]+ rows=(\d+)", text)
            node = name + (f" using {index}" if index else "") + (f" on {table}" if table else "")
            nodes.append(node + (f" (rows={rows.group(1)})" if rows else ""))
    exec_ms = re.search(r"Execution Time: ([\d.]+) ms", plan)
    # JIT compiles a plan whose estimated cost passes jit_above_cost, before it runs.
    jit_ms = re.search(r"Timing: .*Total ([\d.]+) ms", plan)
    return (
        " ← ".join(nodes)
        + (f"; {float(exec_ms.group(1)):.2f} ms" if exec_ms else "")
        + (f" (JIT {float(jit_ms.group(1)):.0f} ms in leader and workers)" if jit_ms else "")
    )


def explain_scan_reads(sc: Scenario, now: datetime, chunk: int) -> dict[str, str]:
    """EXPLAIN ANALYZE of the scan's read queries, as the scan builds them (read-only)."""
    from django.db.models import Count

    from orders.models import Order

    queries = {
        "due": Order.objects.filter(sla_due_at__lte=now)
        .order_by("sla_due_at")
        .values_list("pk", flat=True)[:chunk],
        "at-risk gauge": Order.objects.filter(sla_warn_at__lte=now, sla_due_at__gt=now)
        .values("tenant__slug")
        .annotate(n=Count("id")),
    }
    with search_path(sc.search_path):
        return {name: _plan_summary(qs.explain(analyze=True)) for name, qs in queries.items()}


def run_scan_phase(
    cfg: Config, admin: psycopg.Connection, problems: list[str]
) -> tuple[Scenario, Scenario, dict[str, str], datetime]:
    """Build both scenarios, explain their reads, then time the scans alternately;
    returns A, B, notes for the report (plans, sizes) and the fixed `now`. Problems
    found in a scan are appended to `problems` rather than raised, so one wrong scan
    is reported with the rest of the run instead of hiding it."""
    from django.conf import settings

    from orders.services.tenants import tenant_create
    from slas.models import SlaPolicy

    tenant = tenant_create(slug="bench-scan", name="Bench scan", timezone="Europe/Berlin")
    policy = SlaPolicy.objects.get(tenant__isnull=True, warehouse="", service_level="")
    if policy.pick_minutes != PICK_MINUTES or policy.warn_percent != 80:
        raise BenchError("the default SLA policy no longer has pick 120 min, warn at 80 %")
    now = datetime.now(UTC).replace(microsecond=0)
    progress(f"building B: {cfg.open_orders:,} open orders and their clocks, and A")
    a_ids, b_ids, build = build_scenarios(
        admin, tenant=tenant.pk, policy=policy.pk, now=now, open_orders=cfg.open_orders,
        due=cfg.due,
    )  # fmt: skip
    progress(f"built in {build.total:.1f} s")
    set_autovacuum(admin, enabled=False)
    if len(a_ids) != cfg.due or len(b_ids) != cfg.due:
        raise BenchError(f"expected {cfg.due} due clocks, got A {len(a_ids)}, B {len(b_ids)}")
    a = Scenario("A", f"A: {cfg.due:,} due among {cfg.due:,} open orders", SCHEMA_A, cfg.due, a_ids)
    b = Scenario(
        "B", f"B: {cfg.due:,} due among {cfg.open_orders:,} open orders", "public",
        cfg.open_orders, b_ids,
    )  # fmt: skip
    chunk = settings.SLA_SCAN_CHUNK
    for sc in (a, b):
        plans = explain_scan_reads(sc, now, chunk)
        sc.explain, sc.explain_gauge = plans["due"], plans["at-risk gauge"]
    later = now + timedelta(minutes=60)
    at_risk_rows = admin.execute(
        "SELECT count(*) FROM orders_order WHERE sla_warn_at <= %s AND sla_due_at > %s",
        [later, later],
    ).fetchone()[0]
    notes = {
        "at_risk": explain_scan_reads(b, later, chunk)["at-risk gauge"],
        "at_risk_rows": f"{at_risk_rows:,} stages at risk",
        "sizes": build.sizes,
        "build": build.summary(),
    }
    progress("scan warm-up: one scan each")
    for sc in (a, b):
        problems += scan_once(admin, sc, tenant.pk, now, record=False)[1]
    for rep in range(cfg.repeats):
        order = (a, b) if rep % 2 == 0 else (b, a)
        for sc in order:
            elapsed, found = scan_once(admin, sc, tenant.pk, now, record=True)
            problems += found
            progress(f"scan {rep + 1}/{cfg.repeats} {sc.key}: {1000 * elapsed:.1f} ms")
    set_autovacuum(admin, enabled=True)
    return a, b, notes, now
