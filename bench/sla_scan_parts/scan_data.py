"""The scan scenarios' data for `bench/sla_scan.py`: ten million open orders with one
running pick clock each (B, the app's own tables) and the same due orders alone in a
copy of the tables (A, schema `bench_scan_a`).

Built in SQL, because loading millions of rows through the ORM would take longer than
the whole rest of the run. The orders differ only in their id, external id, item
count and deadline, and the deadlines take 6,000 values (one a second), so what is
costly to build per row is built once per deadline, in Python, into a small table of
*slots*: the memo entry (`ClockEntry`, as ingestion writes it), the inputs key
(`deadlines.inputs_key`, as ingestion computes it) and the clock row's explanation.
Each order joins its slot. Building the memo's jsonb in SQL for every row cost about
15 µs a row, most of the load at ten million; a slot costs a hash look-up.

B is loaded in chunks of a million orders, one statement and one transaction per
chunk (orders and their clocks together), with every index but the primary keys
dropped (a primary key only ever grows at its right edge), then vacuumed (hint bits
and visibility map written in one pass), indexed, analysed and checkpointed; each step
is timed and printed with the tables' sizes. At ten million orders on two busy cores
the rows take about four minutes and the rest about three.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from common import BenchError, progress
from psycopg import sql
from psycopg.types.json import Jsonb

SCHEMA_A = "bench_scan_a"  # scenario A's own copy of the tables the scan touches
# The tables a scan writes: clocks and breaches, and the exceptions each breach
# opens (with its breach link, activity row and Slack outbox row).
EXCEPTION_TABLES = (
    "exceptions_orderexception",
    "exceptions_exceptionbreach",
    "exceptions_exceptionactivity",
    "exceptions_notification",
)
SCAN_TABLES = ("orders_order", "slas_stageclock", "slas_breach", *EXCEPTION_TABLES)
# The two tables that hold B's millions of rows; the other scan tables start empty.
BIG_TABLES = ("orders_order", "slas_stageclock")
PICK_MINUTES = 120  # the default policy's pick allowance (fixtures/sla_default_policy.yaml)
WARN_MINUTES = 96  # its warn_percent, 80 %
CHUNK = 1_000_000  # orders (and clocks) per statement and transaction while loading B
SLOTS = "bench_scan_slots"  # the load's temporary table of deadlines
DUE_SECONDS = 600  # due deadlines: 1 to 600 s before `now`
LATER_SECONDS = 5400  # the other deadlines: 30 min plus 0 to 5,399 s after `now`
LATER_OFFSET = timedelta(minutes=30)

# Order g (1..n) is due when g is a multiple of `stride` (the k-th such order, up to
# `due` of them), so the due rows are spread evenly over B's table rather than packed
# into a few pages. A due clock's deadline passed 1 s to 10 min before `now`: it is LOW
# and does not rise in severity within the scan; its slot is minus that many seconds.
# Every other clock is due 30 to 120 minutes after `now`, not yet at risk (warn_at
# after `now`); its slot is the seconds past the first such deadline.
_SLOT_OF_G = (
    "CASE WHEN g %% %(stride)s = 0 AND g / %(stride)s <= %(due)s"
    f" THEN -(1 + (g / %(stride)s * 7) %% {DUE_SECONDS}) ELSE g %% {LATER_SECONDS} END"
)

# One running pick clock per open order, in the order's memo and deadline columns
# (`sla_clocks`, `sla_due_at`, `sla_warn_at`, `sla_stage`, as ingestion leaves them)
# and in its clock row (as the worker's follow-up writes it), both from the order's
# slot. The clocks are made from the orders this statement inserted (RETURNING), so
# every clock has its order, of its tenant, without a check over the whole table; the
# hash join probes in generate_series' order (the slots are the small, hashed side),
# so ids follow g and the due rows stay spread.
_LOAD_SQL = f"""
WITH inserted AS (
    INSERT INTO {{orders}} (
        tenant_id, external_id, source, channel, status, status_as_of, paid_at,
        failed_delivery_attempts, service_level, handling, items_count, currency,
        financial_status, carrier, tracking_number, warehouse, exception_reason, customer,
        shipping_address, line_items, shipping_lines, tags, attribute_versions, sla_clocks,
        sla_due_at, sla_warn_at, sla_stage, event_count, last_event_at, first_seen_at,
        updated_at)
    SELECT %(tenant)s, 'SCAN-' || g, 'shopify', 'web', 'paid', s.started_at, s.started_at,
        0, 'standard', '[]', 1 + g %% 5, 'EUR',
        'paid', '', '', 'BER-1', '', '{{{{"id": "C1"}}}}',
        '{{{{"city": "Berlin", "country": "DE"}}}}', '[]', '[]', '[]', '{{{{}}}}', s.memo,
        s.due_at, s.warn_at, 'pick', 1, s.started_at, s.started_at, s.started_at
    FROM generate_series(%(first)s::integer, %(last)s::integer, %(step)s::integer) AS g
    JOIN {{slots}} AS s ON s.slot = {_SLOT_OF_G}
    RETURNING id, tenant_id, sla_due_at
), made AS (
    INSERT INTO {{clocks}} (
        tenant_id, order_id, stage, policy_id, calendar_id, business_time, started_at,
        allowed_minutes, due_at, warn_at, explanation, explanation_detail, high_volume,
        inputs_key, stopped_by, updated_at)
    SELECT i.tenant_id, i.id, 'pick', %(policy)s, NULL, false, s.started_at,
        %(allowed)s, s.due_at, s.warn_at, s.explanation, s.explanation_detail, false,
        s.inputs_key, '', s.started_at
    FROM inserted AS i
    JOIN {{slots}} AS s ON s.due_at = i.sla_due_at
    RETURNING id, due_at
)
SELECT count(*), coalesce(array_agg(id) FILTER (WHERE due_at <= %(now)s), '{{{{}}}}') FROM made
"""


@dataclass(slots=True)
class Build:
    """How long building scenario B took, step by step, and what it left on disk."""

    inserted: float = 0.0
    vacuumed: float = 0.0
    indexed: float = 0.0
    analysed: float = 0.0  # VACUUM ANALYZE of the whole database, scenario A included
    checkpoint: float = 0.0
    sizes: str = ""

    @property
    def total(self) -> float:
        return self.inserted + self.vacuumed + self.indexed + self.analysed + self.checkpoint

    def summary(self) -> str:
        return (
            f"{self.total:.0f} s: rows inserted {self.inserted:.0f} s,"
            f" VACUUM {self.vacuumed:.0f} s, indexes {self.indexed:.0f} s,"
            f" VACUUM ANALYZE {self.analysed:.0f} s, CHECKPOINT {self.checkpoint:.0f} s"
        )


def _slot_rows(policy: int, now: datetime) -> Iterator[tuple[object, ...]]:
    """Every deadline a scenario row can have, with what ingestion and the follow-up
    derive from it: (slot, started, due, warn, memo, inputs key, explanation, detail)."""
    from slas.deadlines import DeadlinePlan, OrderFacts, inputs_key
    from slas.memo import ClockEntry

    facts = OrderFacts(warehouse="BER-1", service_level="standard", handling=frozenset())
    for slot in range(-DUE_SECONDS, LATER_SECONDS):
        due = now + timedelta(seconds=slot) + (LATER_OFFSET if slot >= 0 else timedelta())
        started = due - timedelta(minutes=PICK_MINUTES)
        warn = started + timedelta(minutes=WARN_MINUTES)
        key = inputs_key(
            stage="pick", started_at=started, policy_id=policy, calendar_id=None, facts=facts,
            high_volume=False,
        )  # fmt: skip
        plan = DeadlinePlan(
            stage="pick", started_at=started, business_time=False,
            allowed_minutes=PICK_MINUTES, due_at=due, warn_at=warn,
        )  # fmt: skip
        entry = ClockEntry.start(
            started_at=started, high_volume=False, plan=plan, policy_id=policy,
            calendar_id=None, inputs_key=key,
        )  # fmt: skip
        explanation = (
            f"pick due {due:%a %d %b %H:%M} = {PICK_MINUTES} min, 24×7 (no warehouse calendar)"
        )
        detail = {"base_minutes": PICK_MINUTES, "factors": [], "calendar": "24×7"}
        memo = Jsonb({"pick": entry.to_json()})
        yield slot, started, due, warn, memo, key, explanation, Jsonb(detail)


def create_slots(conn: psycopg.Connection, *, policy: int, now: datetime) -> None:
    """The load's table of deadlines (temporary: it lives as long as `conn`)."""
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (slot integer PRIMARY KEY, started_at timestamptz,"
            " due_at timestamptz UNIQUE, warn_at timestamptz, memo jsonb, inputs_key text,"
            " explanation text, explanation_detail jsonb)"
        ).format(sql.Identifier(SLOTS))
    )
    with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(SLOTS))) as copy:
        for row in _slot_rows(policy, now):
            copy.write_row(row)
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(SLOTS)))


def memo_keys() -> dict[str, str]:
    """The memo keys the bench's SQL reads or overwrites, by their ClockEntry field."""
    from slas.memo import KEYS

    return {f"key_{KEYS[name]}": KEYS[name] for name in ("due_at", "warn_at", "breached_at")}


def tables(schema: str) -> dict[str, sql.Composable]:
    return {name: sql.Identifier(schema, name) for name in SCAN_TABLES}


def load_rows(
    conn: psycopg.Connection,
    schema: str,
    *,
    tenant: int,
    policy: int,
    now: datetime,
    open_orders: int,
    due: int,
    only_due: bool,
) -> list[int]:
    """Insert the scenario's orders and clocks from the slots (`create_slots`): all
    `open_orders` in chunks of CHUNK (B), or only the due ones (A). Returns the ids of
    the due clocks."""
    t = tables(schema)
    stride = open_orders // due
    statement = sql.SQL(_LOAD_SQL).format(
        orders=t["orders_order"], clocks=t["slas_stageclock"], slots=sql.Identifier(SLOTS)
    )
    if only_due:
        ranges = [(stride, stride * due, stride)]
    else:
        ranges = [
            (first, min(first + CHUNK - 1, open_orders), 1)
            for first in range(1, open_orders + 1, CHUNK)
        ]
    started = time.perf_counter()
    due_ids: list[int] = []
    # The rows are consistent by construction (each clock is made from the order the
    # same statement inserted): skip the per-row foreign-key triggers and the WAL flush
    # at each chunk's commit.
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    try:
        for first, last, step in ranges:
            made, due_made = conn.execute(
                statement,
                {
                    "tenant": tenant, "policy": policy, "allowed": PICK_MINUTES, "now": now,
                    "first": first, "last": last, "step": step, "stride": stride, "due": due,
                },
            ).fetchone()  # fmt: skip
            if made != (last - first) // step + 1:
                raise BenchError(f"{schema}: {made} orders and clocks for g = {first}..{last}")
            due_ids += due_made
            if not only_due:
                progress(
                    f"  {schema}: {last:,} of {open_orders:,} orders and clocks inserted,"
                    f" {time.perf_counter() - started:.0f} s"
                )
    finally:
        conn.execute("RESET session_replication_role")
        conn.execute("RESET synchronous_commit")
    due_ids.sort()
    gaps = [b - a for a, b in itertools.pairwise(due_ids)]
    if not only_due and gaps and min(gaps) < stride // 2:
        raise BenchError(f"{schema}: the due rows are not spread over the table (plan changed?)")
    return due_ids


def drop_indexes(conn: psycopg.Connection, schema: str) -> list[sql.Composable]:
    """Drop what a bulk load would keep up to date row by row for nothing: the indexes
    of the scan tables that back no constraint, and their unique constraints that no
    foreign key relies on (the primary keys stay; their ids only ever grow). Returns
    the statements that make them again under the same names and definitions."""
    again: list[sql.Composable] = []
    for name in SCAN_TABLES:
        table = sql.Identifier(schema, name)
        for conname, definition in conn.execute(
            "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint AS c"
            " WHERE c.conrelid = %s::regclass AND c.contype = 'u' AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint AS f WHERE f.contype = 'f'"
            " AND f.conindid = c.conindid)",
            [f"{schema}.{name}"],
        ).fetchall():
            ident = sql.Identifier(conname)
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, ident))
            again.append(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(table, ident)
                + sql.SQL(definition)  # from pg_get_constraintdef, not user input
            )
        for (definition,) in conn.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i"
            " WHERE i.indrelid = %s::regclass AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)",
            [f"{schema}.{name}"],
        ).fetchall():
            index = re.match(r"CREATE (?:UNIQUE )?INDEX (\S+) ", definition).group(1)
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, index)))
            again.append(sql.SQL(definition))  # from pg_get_indexdef, not user input
    return again


def build_indexes(conn: psycopg.Connection, statements: list[sql.Composable]) -> None:
    """Run `drop_indexes`' statements, with the memory to sort ten million keys at once
    (a sort that spills to disk takes several times as long)."""
    conn.execute("SET maintenance_work_mem = '1GB'")
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.execute("RESET maintenance_work_mem")


def build_scenarios(
    conn: psycopg.Connection,
    *,
    tenant: int,
    policy: int,
    now: datetime,
    open_orders: int,
    due: int,
) -> tuple[list[int], list[int], Build]:
    """Scenario A's schema, then B's rows and A's; returns the due clock ids of A and
    B and how the build went. B is vacuumed before its indexes are built: the first
    pass over freshly inserted rows writes every page again (hint bits, the
    all-visible flag), and VACUUM does that in one pass, after which the index builds
    only read the heap."""
    build = Build()
    create_schema_a(conn)
    create_slots(conn, policy=policy, now=now)
    statements = drop_indexes(conn, "public")
    started = time.perf_counter()
    b_ids = load_rows(
        conn, "public", tenant=tenant, policy=policy, now=now, open_orders=open_orders,
        due=due, only_due=False,
    )  # fmt: skip
    a_ids = load_rows(
        conn, SCHEMA_A, tenant=tenant, policy=policy, now=now, open_orders=open_orders,
        due=due, only_due=True,
    )  # fmt: skip
    build.inserted = time.perf_counter() - started
    big = sql.SQL(", ").join(sql.Identifier("public", name) for name in BIG_TABLES)
    steps: list[tuple[str, str, Callable[[], object]]] = [
        ("vacuumed", "VACUUM of B's two big tables", lambda: conn.execute(
            sql.SQL("VACUUM {}").format(big))),
        ("indexed", f"{len(statements)} indexes and unique constraints",
         lambda: build_indexes(conn, statements)),
        ("analysed", "VACUUM ANALYZE", lambda: conn.execute("VACUUM ANALYZE")),
        ("checkpoint", "CHECKPOINT", lambda: conn.execute("CHECKPOINT")),
    ]  # fmt: skip
    for field, what, run in steps:
        started = time.perf_counter()
        run()
        setattr(build, field, time.perf_counter() - started)
        progress(f"  {what}: {getattr(build, field):.1f} s")
    build.sizes = table_sizes(conn, "public")
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(SLOTS)))
    return a_ids, b_ids, build


def create_schema_a(conn: psycopg.Connection) -> None:
    """Copies of the scan's tables (SCAN_TABLES) in a schema of their own:
    same columns, defaults and checks, the same indexes under the same names (partial
    ones included), the same foreign keys (those among the three point at the copies)."""
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA_A)))
    for name in SCAN_TABLES:
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL EXCLUDING INDEXES)").format(
                sql.Identifier(SCHEMA_A, name), sql.Identifier("public", name)
            )
        )
    conn.execute("SET search_path = pg_catalog")  # definitions come out schema-qualified
    try:
        keys: list[sql.Composable] = []  # unique keys and indexes of all three first,
        foreign: list[sql.Composable] = []  # then the foreign keys that need them
        for name in SCAN_TABLES:
            source, copy = f"public.{name}", sql.Identifier(SCHEMA_A, name)
            constraints = conn.execute(
                "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f')"
                " ORDER BY contype, conname",
                [source],
            ).fetchall()
            for conname, contype, definition in constraints:
                for other in SCAN_TABLES:
                    definition = definition.replace(
                        f"REFERENCES public.{other}(", f"REFERENCES {SCHEMA_A}.{other}("
                    )
                (foreign if contype == "f" else keys).append(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                        copy, sql.Identifier(conname)
                    )
                    + sql.SQL(definition)  # from pg_get_constraintdef, not user input
                )
            indexes = conn.execute(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i"
                " WHERE i.indrelid = %s::regclass AND NOT EXISTS"
                " (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)"
                " ORDER BY i.indexrelid",
                [source],
            ).fetchall()
            for (definition,) in indexes:
                keys.append(
                    sql.SQL(
                        definition.replace(f" ON {source} USING ", f" ON {SCHEMA_A}.{name} USING ")
                    )
                )
        for statement in (*keys, *foreign):
            conn.execute(statement)
    finally:
        conn.execute("RESET search_path")


def set_autovacuum(conn: psycopg.Connection, enabled: bool) -> None:
    """Off while the scan is measured, so that it never runs during a measurement
    (every repetition vacuums explicitly instead); back to the default afterwards."""
    for schema in ("public", SCHEMA_A):
        for name in SCAN_TABLES:
            table = sql.Identifier(schema, name)
            if enabled:
                conn.execute(sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(table))
            else:
                conn.execute(
                    sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(table)
                )


def table_sizes(conn: psycopg.Connection, schema: str) -> str:
    """'orders_order 5,626 MiB + 1,450 MiB indexes, …': B's big tables on disk."""
    parts = []
    for name in BIG_TABLES:
        heap, indexes = conn.execute(
            "SELECT pg_table_size(%(t)s::regclass), pg_indexes_size(%(t)s::regclass)",
            {"t": f"{schema}.{name}"},
        ).fetchone()
        parts.append(f"{name} {heap / 2**20:,.0f} MiB + {indexes / 2**20:,.0f} MiB indexes")
    return ", ".join(parts)
