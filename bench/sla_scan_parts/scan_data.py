"""The scan scenarios' data for `bench/sla_scan.py`: a million open orders with one
running pick clock each (B, the app's own tables) and the same due orders alone in a
copy of the tables (A, schema `bench_scan_a`).

Built with `INSERT … SELECT generate_series` and secondary indexes rebuilt after the
load, because loading a million rows through the ORM would take longer than the
whole rest of the run; the memo entries still come from `ClockEntry`, so the rows
look exactly as ingestion leaves them.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
from common import BenchError, progress
from psycopg import sql

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
PICK_MINUTES = 120  # the default policy's pick allowance (fixtures/sla_default_policy.yaml)
WARN_MINUTES = 96  # its warn_percent, 80 %


# One running pick clock per open order, in the order's memo and deadline columns
# (`sla_clocks`, `sla_due_at`, `sla_warn_at`, `sla_stage`, as ingestion leaves them;
# the memo entry is `pick_entry_template`'s, with each row's own start, key and times)
# and in its clock row (as the worker's follow-up writes it). Order g (1..n) is due
# when g is a multiple of `stride`, so the due rows are spread evenly over B's table
# rather than packed into a few pages. A due clock's deadline passed 1 s to 10 min
# before `now`: it is LOW and does not rise in severity within the scan. Every other
# clock is due 30 to 120 minutes after `now` and not yet at risk (warn_at after `now`).
_ORDERS_SQL = """
INSERT INTO {orders} (
    tenant_id, external_id, source, channel, status, status_as_of, paid_at,
    failed_delivery_attempts, service_level, handling, items_count, currency,
    financial_status, carrier, tracking_number, warehouse, exception_reason, customer,
    shipping_address, line_items, shipping_lines, tags, attribute_versions, sla_clocks,
    sla_due_at, sla_warn_at, sla_stage, event_count, last_event_at, first_seen_at, updated_at)
SELECT %(tenant)s, 'SCAN-' || g, 'shopify', 'web', 'paid', paid, paid,
    0, 'standard', '[]', 1 + g %% 5, 'EUR',
    'paid', '', '', 'BER-1', '', '{{"id": "C1"}}',
    '{{"city": "Berlin", "country": "DE"}}', '[]', '[]', '[]', '{{}}',
    jsonb_build_object('pick', %(entry)s::jsonb || jsonb_build_object(
        %(key_s)s::text, paid, %(key_k)s::text, md5('SCAN-' || g),
        %(key_d)s::text, due, %(key_w)s::text, warn)),
    due, warn, 'pick', 1, paid, paid, paid
FROM (
    SELECT g, due, due - make_interval(mins => %(allowed)s) AS paid,
        due - make_interval(mins => %(allowed)s - %(warn)s) AS warn, due <= %(now)s AS is_due
    FROM (
        SELECT g, CASE
            WHEN g %% %(stride)s = 0 AND g / %(stride)s <= %(due)s
            THEN %(now)s - make_interval(secs => 1 + (g / %(stride)s * 7) %% 600)
            ELSE %(now)s + make_interval(mins => 30, secs => g %% 5400)
        END AS due
        FROM generate_series(1, %(n)s) AS g
    ) AS d
) AS o
WHERE is_due OR NOT %(only_due)s
ORDER BY g
"""


_CLOCKS_SQL = """
INSERT INTO {clocks} (
    tenant_id, order_id, stage, policy_id, calendar_id, business_time, started_at,
    allowed_minutes, due_at, warn_at, explanation, explanation_detail, high_volume,
    inputs_key, stopped_by, updated_at)
SELECT o.tenant_id, o.id, 'pick', %(policy)s, NULL, false, o.paid_at,
    %(allowed)s, o.paid_at + make_interval(mins => %(allowed)s),
    o.paid_at + make_interval(mins => %(warn)s),
    'pick due ' || to_char(o.paid_at + make_interval(mins => %(allowed)s), 'Dy DD Mon HH24:MI')
        || ' = 120 min, 24×7 (no warehouse calendar)',
    '{{"base_minutes": 120, "factors": [], "calendar": "24×7"}}', false,
    md5(o.external_id), '', o.paid_at
FROM {orders} AS o
WHERE o.tenant_id = %(tenant)s
ORDER BY o.id
"""


def pick_entry_template(policy: int, now: datetime) -> dict[str, Any]:
    """The memo entry of a running pick clock on the default policy, built by ClockEntry as
    ingestion builds it; _ORDERS_SQL puts each row's start, inputs key, due and warning
    times (under the keys `slas.memo.KEYS` names) over its placeholders."""
    from slas.deadlines import DeadlinePlan
    from slas.memo import ClockEntry

    plan = DeadlinePlan(
        stage="pick", started_at=now, business_time=False, allowed_minutes=PICK_MINUTES,
        due_at=now, warn_at=now, explanation="",
    )  # fmt: skip
    return ClockEntry.start(
        started_at=now, high_volume=False, plan=plan, policy_id=policy, calendar_id=None,
        inputs_key="",
    ).to_json()  # fmt: skip


def memo_keys() -> dict[str, str]:
    """The memo keys the bench's SQL reads or overwrites, by their ClockEntry field."""
    from slas.memo import KEYS

    return {
        f"key_{KEYS[name]}": KEYS[name]
        for name in ("started_at", "inputs_key", "due_at", "warn_at", "breached_at")
    }


def tables(schema: str) -> dict[str, sql.Composable]:
    return {name: sql.Identifier(schema, name) for name in SCAN_TABLES}


def load_scenario(
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
    """Insert the scenario's orders and clocks; return the ids of the due clocks."""
    t = tables(schema)
    params = {
        "tenant": tenant,
        "policy": policy,
        "now": now,
        "n": open_orders,
        "stride": open_orders // due,
        "due": due,
        "only_due": only_due,
        "allowed": PICK_MINUTES,
        "warn": WARN_MINUTES,
        "entry": json.dumps(pick_entry_template(policy, now)),
        **memo_keys(),
    }
    started = time.perf_counter()
    # The rows are consistent by construction: skip the per-row foreign-key triggers
    # (checked once below instead) and the WAL flush at commit.
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET TimeZone = 'UTC'")  # the memo's ISO times, as Python writes them
    try:
        conn.execute(sql.SQL(_ORDERS_SQL).format(orders=t["orders_order"]), params)
        conn.execute(
            sql.SQL(_CLOCKS_SQL).format(clocks=t["slas_stageclock"], orders=t["orders_order"]),
            params,
        )
    finally:
        conn.execute("RESET session_replication_role")
        conn.execute("RESET synchronous_commit")
        conn.execute("RESET TimeZone")
    orphans = conn.execute(
        sql.SQL(
            "SELECT count(*) FROM {} AS c LEFT JOIN {} AS o ON o.id = c.order_id"
            " WHERE c.tenant_id = %s AND (o.id IS NULL OR o.tenant_id <> c.tenant_id)"
        ).format(t["slas_stageclock"], t["orders_order"]),
        [tenant],
    ).fetchone()[0]
    if orphans:
        raise BenchError(f"{orphans} clocks in {schema} without their order")
    progress(f"  {schema}: orders and clocks inserted in {time.perf_counter() - started:.1f} s")
    rows = conn.execute(
        sql.SQL("SELECT id FROM {} WHERE tenant_id = %s AND due_at <= %s ORDER BY id").format(
            t["slas_stageclock"]
        ),
        [tenant, now],
    ).fetchall()
    return [row[0] for row in rows]


@contextlib.contextmanager
def secondary_indexes_dropped(conn: psycopg.Connection, schema: str) -> Iterator[None]:
    """Drop the indexes that back no constraint on the scan tables for a bulk load,
    and build them again, under the same names and definitions, afterwards."""
    definitions = [
        row[0]
        for name in SCAN_TABLES
        for row in conn.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i"
            " WHERE i.indrelid = %s::regclass AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)",
            [f"{schema}.{name}"],
        ).fetchall()
    ]
    names = [re.match(r"CREATE (?:UNIQUE )?INDEX (\S+) ", d).group(1) for d in definitions]
    for name in names:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
    yield
    started = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '256MB'")
    for definition in definitions:
        conn.execute(sql.SQL(definition))  # from pg_get_indexdef, not user input
    conn.execute("RESET maintenance_work_mem")
    progress(f"  {schema}: {len(names)} indexes built in {time.perf_counter() - started:.1f} s")


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


def relation_size(conn: psycopg.Connection, schema: str, name: str) -> int:
    return conn.execute(
        "SELECT pg_total_relation_size(%s::regclass)", [f"{schema}.{name}"]
    ).fetchone()[0]
