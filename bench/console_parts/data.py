"""The console bench's data: tenants, orders, exceptions and what the dashboard reads,
loaded with `INSERT … SELECT generate_series` (as `bench/billing.py` and
`bench/sla_scan_parts/scan_data.py` do), every row relative to the moment of loading.

Shape (n orders, e exceptions; every spread is a fixed scramble of the row number, so
a load is reproducible):

* 4 tenants: `bench-big` holds 70 % of the orders, `bench-b`, `bench-c`, `bench-d`
  10 % each; orders paid evenly over the last 30 days, then picked, packed, shipped and
  delivered as their times come (the orders of the last days are still in progress).
* one `order_paid` event per order (received as it was paid), plus `RECENT` events
  (`pick_completed`) received evenly over the last hour, 1 in 100 not processed yet;
  refreshed on `--reuse`, so "the last hour" is always the last hour.
* a scrambled tenth of the orders have 3 stage clocks (pick, pack, ship): met when the
  next stage came, breached when that was after the deadline, running otherwise.
* e exceptions, each on its own order and the order's tenant: 8 % OPEN, 4 %
  ACKNOWLEDGED, 3 % IN_PROGRESS, 20 % RESOLVED, 65 % CLOSED; severities 40/35/18/7 %
  LOW/MEDIUM/HIGH/CRITICAL; reason codes from the catalogue the migrations seed, the SLA
  delays weighted up (they carry late_minutes); first seen over the 30 days; a third of
  the active ones assigned; every timestamp as the model's check constraints require.
* the audit trail for each: `opened`, `acknowledged`, `resolved`, `closed` as far as it went;
  an Explanation for 6 in 10 (85 % the catalogue's notes kept for no model, 15 % used).
* 300 dead letters (a third not replayed) and 60 follow-up failures (a third parked).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from common import BenchError, progress

TENANTS = ("bench-big", "bench-b", "bench-c", "bench-d")
RECENT_EVENTS = 4000  # received in the last hour, besides the orders paid in it
DAYS = 30
# Reason codes (when the catalogue has them) and how many times each is drawn in 24.
WEIGHTS = {"PICK_DELAY": 5, "PACK_DELAY": 3, "SHIP_DELAY": 3, "DELIVERY_DELAY": 2}
STAGE_OF = {"PICK_DELAY": "pick", "PACK_DELAY": "pack", "SHIP_DELAY": "ship"}
STAGE_OF["DELIVERY_DELAY"] = "delivery"
META_TABLE = "bench_console_meta"


@dataclass(frozen=True, slots=True)
class Loaded:
    orders: int
    exceptions: int
    tenants: dict[str, int]  # slug → id
    loaded_at: datetime
    seconds: float  # how long the load took (from the run that loaded it)


# The tenant of order g (1..n): index into %(tenants)s (1-based).
_TENANT_OF = "(%(tenants)s::bigint[])[CASE WHEN g %% 10 < 7 THEN 1 ELSE g %% 10 - 5 END]"
# A fixed scramble of g, 0 … 2³²-1.
_H = "((g::bigint * 2654435761) %% 4294967296)"

_ORDERS_SQL = f"""
INSERT INTO orders_order (
    id, tenant_id, external_id, source, channel, status, status_as_of, placed_at, paid_at,
    picked_at, packed_at, shipped_at, delivered_at, failed_delivery_attempts, service_level,
    handling, items_count, currency, financial_status, carrier, tracking_number, warehouse,
    exception_reason, customer, shipping_address, line_items, shipping_lines, tags,
    attribute_versions, sla_clocks, sla_stage, event_count, last_event_at, first_seen_at,
    updated_at)
SELECT %(first_id)s + g - 1, tenant_id, 'C-' || g, 'shopify', 'web',
    CASE WHEN delivered <= %(now)s THEN 'delivered' WHEN shipped <= %(now)s THEN 'shipped'
         WHEN packed <= %(now)s THEN 'packed' WHEN picked <= %(now)s THEN 'picked'
         ELSE 'paid' END,
    GREATEST(paid, CASE WHEN delivered <= %(now)s THEN delivered WHEN shipped <= %(now)s
         THEN shipped WHEN packed <= %(now)s THEN packed WHEN picked <= %(now)s THEN picked
         END),
    paid, paid,
    CASE WHEN picked <= %(now)s THEN picked END, CASE WHEN packed <= %(now)s THEN packed END,
    CASE WHEN shipped <= %(now)s THEN shipped END,
    CASE WHEN delivered <= %(now)s THEN delivered END,
    0, 'standard', '[]', 1 + h %% 5, 'USD', 'paid',
    CASE WHEN shipped <= %(now)s THEN 'UPS' ELSE '' END, '', 'NYC-1', '', '{{}}',
    '{{"city": "New York", "country": "US"}}', '[]', '[]', '[]', '{{}}', '{{}}', '',
    1, paid, paid, paid
FROM (
    SELECT g, h, tenant_id, paid, picked, packed, shipped,
        shipped + make_interval(hours => (20 + (h >> 20) %% 50)::int) AS delivered
    FROM (
        SELECT g, h, tenant_id, paid, picked, packed,
            packed + make_interval(mins => (60 + (h >> 16) %% 250)::int) AS shipped
        FROM (
            SELECT g, h, tenant_id, paid, picked,
                picked + make_interval(mins => (10 + (h >> 8) %% 70)::int) AS packed
            FROM (
                SELECT g, h, tenant_id, paid,
                    paid + make_interval(mins => (20 + h %% 130)::int) AS picked
                FROM (
                    SELECT g, {_H} AS h, {_TENANT_OF} AS tenant_id,
                        %(now)s - make_interval(secs => %(span)s * (%(n)s - g)::float8 / %(n)s)
                            AS paid
                    FROM generate_series(1, %(n)s) AS g
                ) AS a
            ) AS b
        ) AS c
    ) AS d
) AS e
ORDER BY g
"""

_EVENTS_SQL = """
INSERT INTO orders_orderevent (
    tenant_id, order_id, source, event_type, event_id, occurred_at, received_at, channel,
    payload, correlation_id, processed_at)
SELECT tenant_id, id, 'shopify', 'order_paid', 'P-' || external_id, paid_at,
    paid_at + interval '5 seconds', 'event',
    jsonb_build_object('event_type', 'order_paid', 'order_id', external_id), '',
    paid_at + interval '6 seconds'
FROM orders_order WHERE id BETWEEN %(first_id)s AND %(first_id)s + %(n)s - 1
ORDER BY paid_at, id
"""

# RECENT_EVENTS events received evenly over the hour before now, on orders spread
# over the table; 1 in 100 not processed yet (the worker still owes its follow-up).
_RECENT_SQL = """
INSERT INTO orders_orderevent (
    tenant_id, order_id, source, event_type, event_id, occurred_at, received_at, channel,
    payload, correlation_id, processed_at)
SELECT o.tenant_id, o.id, 'wms', 'pick_completed', 'RECENT-' || %(stamp)s || '-' || i,
    at - interval '30 seconds', at, 'event',
    jsonb_build_object('event_type', 'pick_completed', 'order_id', o.external_id), '',
    CASE WHEN i %% 100 = 0 THEN NULL ELSE at + interval '1 second' END
FROM (
    SELECT i, %(now)s - make_interval(secs => 3599.0 * i / %(count)s) AS at,
        %(first_id)s + (i::bigint * 7919) %% %(n)s AS order_id
    FROM generate_series(1, %(count)s) AS i
) AS r JOIN orders_order AS o ON o.id = r.order_id
ORDER BY at
"""

# Pick, pack and ship clocks of every tenth order, from its own stage times (the
# default policy's 120 / 60 / 240 minutes, 24×7). Met when the next stage is recorded,
# breached at the deadline when that came after it; otherwise still running.
_CLOCKS_SQL = """
INSERT INTO slas_stageclock (
    tenant_id, order_id, stage, policy_id, calendar_id, business_time, started_at,
    allowed_minutes, due_at, warn_at, explanation, explanation_detail, high_volume,
    inputs_key, met_at, stopped_by, breached_at, updated_at)
SELECT tenant_id, id, stage, %(policy)s, NULL, false, started, allowed,
    started + make_interval(mins => allowed),
    started + make_interval(mins => allowed * 4 / 5),
    stage || ' due ' || to_char(started + make_interval(mins => allowed), 'Dy DD Mon HH24:MI')
        || ' = ' || allowed || ' min, 24×7 (no warehouse calendar)',
    '{}', false, md5(id || stage), ended, '',
    CASE WHEN coalesce(ended, %(now)s) > started + make_interval(mins => allowed)
         THEN started + make_interval(mins => allowed) END,
    coalesce(ended, started)
FROM (
    SELECT o.tenant_id, o.id, s.stage, s.allowed,
        CASE s.stage WHEN 'pick' THEN o.paid_at WHEN 'pack' THEN o.picked_at
             ELSE o.packed_at END AS started,
        CASE s.stage WHEN 'pick' THEN o.picked_at WHEN 'pack' THEN o.packed_at
             ELSE o.shipped_at END AS ended
    FROM orders_order AS o
    CROSS JOIN (VALUES ('pick', 120), ('pack', 60), ('ship', 240)) AS s (stage, allowed)
    WHERE o.id BETWEEN %(first_id)s AND %(first_id)s + %(n)s - 1
      AND (o.id::bigint * 2654435761) %% 4294967296 %% 10 = 0
) AS c
WHERE started IS NOT NULL
ORDER BY id, stage
"""

# Exception k (1..e) is on order g = (k-1)·stride + 1 + 7k mod stride: one order each.
_EXCEPTIONS_SQL = """
INSERT INTO exceptions_orderexception (
    id, tenant_id, order_id, reason_code, stage, severity, status, occurrence_count,
    first_seen_at, last_seen_at, late_minutes, ops_note, client_note, explanation_source,
    explanation_label, explanation_cause, acknowledged_by, acknowledged_at, assignee_id,
    snoozed_until, escalation_level, next_escalation_at, resolved_by, resolved_at,
    resolution_code, resolution_text, resolution_attempts, max_resolution_attempts,
    blocked, blocked_reason, correlation_id, evidence, closed_at, created_at, updated_at)
SELECT %(first_exc)s + k - 1, o.tenant_id, o.id, reason, stage, severity, status,
    1 + (h >> 24) %% 3, seen, seen + make_interval(mins => (h %% 240)::int),
    CASE WHEN stage <> '' THEN (h >> 4) %% 600 + ((h >> 12) %% 100) / 100.0 END,
    'Bench exception ' || k || ': ' || reason || ' on ' || o.external_id, '',
    CASE WHEN (h >> 6) %% 10 < 6 AND (h >> 10) %% 100 < 15 THEN 'ai' ELSE 'rules' END, '',
    CASE WHEN (h >> 6) %% 10 < 6 AND (h >> 10) %% 100 >= 15 THEN 'no_model' ELSE '' END,
    CASE WHEN acked IS NOT NULL THEN 'bench-operator' ELSE '' END, acked,
    CASE WHEN status IN ('OPEN', 'ACKNOWLEDGED', 'IN_PROGRESS') AND h %% 3 = 0
         THEN %(operator)s END,
    CASE WHEN status = 'OPEN' AND h %% 50 = 1 THEN %(now)s + interval '1 hour' END,
    CASE WHEN status IN ('OPEN', 'ACKNOWLEDGED', 'IN_PROGRESS') THEN (h >> 20) %% 4 ELSE 0 END,
    CASE WHEN status IN ('OPEN', 'ACKNOWLEDGED', 'IN_PROGRESS')
         THEN %(now)s + make_interval(mins => (h %% 120)::int) END,
    CASE WHEN resolved IS NOT NULL THEN 'bench-operator' ELSE '' END, resolved,
    CASE WHEN resolved IS NOT NULL THEN 'FIXED' ELSE '' END,
    CASE WHEN resolved IS NOT NULL THEN 'Handled in the bench.' ELSE '' END, 0, 2,
    false, '', '', '{}',
    CASE WHEN status = 'CLOSED' THEN LEAST(%(now)s, resolved + interval '72 hours') END,
    seen, seen + make_interval(mins => (h %% 240)::int)
FROM (
    SELECT k, g, h, reason, stage, severity, status, seen,
        CASE WHEN status IN ('ACKNOWLEDGED', 'IN_PROGRESS')
               OR (status IN ('RESOLVED', 'CLOSED') AND (h >> 3) %% 5 <> 0)
             THEN seen + make_interval(mins => (5 + (h >> 7) %% 90)::int) END AS acked,
        CASE WHEN status IN ('RESOLVED', 'CLOSED')
             THEN LEAST(%(now)s - interval '1 minute',
                        seen + make_interval(mins => (100 + (h >> 9) %% 2000)::int)) END AS resolved
    FROM (
        SELECT k, g, h,
            (%(codes)s::text[])[1 + (h >> 16) %% %(ncodes)s] AS reason,
            (%(stages)s::text[])[1 + (h >> 16) %% %(ncodes)s] AS stage,
            CASE WHEN (h >> 8) %% 100 < 40 THEN 'LOW' WHEN (h >> 8) %% 100 < 75 THEN 'MEDIUM'
                 WHEN (h >> 8) %% 100 < 93 THEN 'HIGH' ELSE 'CRITICAL' END AS severity,
            CASE WHEN h %% 100 < 8 THEN 'OPEN' WHEN h %% 100 < 12 THEN 'ACKNOWLEDGED'
                 WHEN h %% 100 < 15 THEN 'IN_PROGRESS' WHEN h %% 100 < 35 THEN 'RESOLVED'
                 ELSE 'CLOSED' END AS status,
            LEAST(%(now)s - interval '6 hours',
                  %(now)s - make_interval(secs => %(span)s * (%(n)s - g)::float8 / %(n)s)
                      + make_interval(mins => (120 + h %% 300)::int)) AS seen
        FROM (
            SELECT k, g, (k::bigint * 2654435761) %% 4294967296 AS h FROM (
                SELECT k, (k - 1) * %(stride)s + 1 + (7 * k) %% %(stride)s AS g
                FROM generate_series(1, %(e)s) AS k
            ) AS kk
        ) AS hh
    ) AS x
) AS y
JOIN (SELECT id, tenant_id, external_id FROM orders_order) AS o ON o.id = %(first_id)s + y.g - 1
ORDER BY k
"""

_ACTIVITY_SQL = """
INSERT INTO exceptions_exceptionactivity (
    tenant_id, exception_id, action, actor_type, actor_user_id, actor_label, from_status,
    to_status, before, after, note, created_at)
SELECT tenant_id, id, action, actor_type, actor_user, actor_label, from_status, to_status,
    '{}', '{}', '', at
FROM (
    SELECT x.tenant_id, x.id, a.*
    FROM exceptions_orderexception AS x
    CROSS JOIN LATERAL (VALUES
        ('opened', 'system', NULL::integer, 'E²A', '', 'OPEN', x.first_seen_at),
        ('acknowledged', 'user', %(operator)s, 'bench-operator', 'OPEN', 'ACKNOWLEDGED',
            x.acknowledged_at),
        ('resolved', 'user', %(operator)s, 'bench-operator',
            CASE WHEN x.acknowledged_at IS NULL THEN 'OPEN' ELSE 'ACKNOWLEDGED' END,
            'RESOLVED', x.resolved_at),
        ('closed', 'system', NULL, 'E²A', 'RESOLVED', 'CLOSED', x.closed_at)
    ) AS a (action, actor_type, actor_user, actor_label, from_status, to_status, at)
    WHERE x.id BETWEEN %(first_exc)s AND %(first_exc)s + %(e)s - 1 AND a.at IS NOT NULL
) AS rows
ORDER BY at, id
"""

# 6 in 10 exceptions were analysed: the catalogue's notes kept (no model) for 85 % of
# them, the model's used for 15 % (as explanation_cause on the exception says).
_EXPLANATIONS_SQL = """
INSERT INTO exceptions_explanation (
    prompt_name, prompt_version, prompt_hash, model, reply, confidence, prompt_tokens,
    completion_tokens, cost_usd, latency_ms, decision, cause, detail, created_at, tenant_id,
    exception_id, key, trigger, label)
SELECT CASE WHEN used THEN 'explain' ELSE '' END, CASE WHEN used THEN 1 END, '',
    CASE WHEN used THEN 'openai/gpt-4o-mini' ELSE '' END, '{}',
    CASE WHEN used THEN 0.8 END, CASE WHEN used THEN 900 ELSE 0 END,
    CASE WHEN used THEN 200 ELSE 0 END, CASE WHEN used THEN 0.0003 ELSE 0 END,
    CASE WHEN used THEN 1800 END, CASE WHEN used THEN 'used' ELSE 'kept_rules' END,
    CASE WHEN used THEN '' ELSE 'no_model' END, '', first_seen_at + interval '1 minute',
    tenant_id, id, id || ':' || severity || ':' || occurrence_count, 'auto',
    CASE WHEN used THEN reason_code ELSE '' END
FROM (
    SELECT x.*, explanation_cause = '' AS used FROM exceptions_orderexception AS x
    WHERE x.id BETWEEN %(first_exc)s AND %(first_exc)s + %(e)s - 1
      AND (((x.id - %(first_exc)s + 1)::bigint * 2654435761 %% 4294967296) >> 6) %% 10 < 6
) AS analysed
ORDER BY first_seen_at, id
"""

_CURRENT_EXPLANATION_SQL = """
UPDATE exceptions_orderexception AS x SET current_explanation_id = e.id
FROM exceptions_explanation AS e
WHERE e.exception_id = x.id AND x.id BETWEEN %(first_exc)s AND %(first_exc)s + %(e)s - 1
"""

_DEAD_LETTERS_SQL = """
INSERT INTO orders_deadletter (
    tenant_id, kind, source, reason, errors, raw_body, body_sha256, headers, correlation_id,
    received_at, last_received_at, times_received, replay_attempts, last_replay_at,
    replayed_at, replay_result)
SELECT (%(tenants)s::bigint[])[1 + i %% 4], 'event', 'shopify',
    'order C-' || i || ' is unknown to this tenant', '{"order_id": ["unknown order"]}',
    '{"event_type": "pick_completed", "order_id": "X-' || i || '"}',
    md5('dead-' || i) || md5('letter-' || i), '{}', '', at, at, 1 + i %% 3,
    CASE WHEN i %% 3 = 0 THEN 0 ELSE 1 END,
    CASE WHEN i %% 3 = 0 THEN NULL ELSE at + interval '1 hour' END,
    CASE WHEN i %% 3 = 0 THEN NULL ELSE at + interval '1 hour' END,
    CASE WHEN i %% 3 = 0 THEN '' ELSE 'stored' END
FROM (
    SELECT i, %(now)s - make_interval(secs => 7 * 86400.0 * i / 300) AS at
    FROM generate_series(1, 300) AS i
) AS d
"""

_FOLLOWUP_SQL = """
INSERT INTO orders_followupfailure (
    event_id, attempts, handler, last_error, first_failed_at, last_failed_at,
    next_attempt_at, parked_at, replays)
SELECT id, CASE WHEN n %% 3 = 0 THEN 5 ELSE 1 + n %% 4 END, 'slas.clocks',
    'OperationalError: bench', received_at, received_at + interval '10 minutes',
    %(now)s + interval '15 minutes',
    CASE WHEN n %% 3 = 0 THEN received_at + interval '2 hours' END, 0
FROM (
    SELECT id, received_at, row_number() OVER (ORDER BY id) AS n
    FROM orders_orderevent WHERE event_id LIKE 'P-%%' AND id %% 997 = 0
    ORDER BY id DESC LIMIT 60
) AS f
"""


def reserve_ids(conn: psycopg.Connection, table: str, count: int) -> int:
    """The first id of a block of `count` ids taken from `table`'s sequence."""
    seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table]).fetchone()[0]
    first = conn.execute("SELECT nextval(%s)", [seq]).fetchone()[0]
    conn.execute("SELECT setval(%s, %s)", [seq, first + count])
    return first


def reason_codes(conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    """24 draws over the catalogue's active codes (SLA delays weighted up), each with
    its stage ('' for codes that are not an SLA delay)."""
    codes = [r[0] for r in conn.execute("SELECT code FROM exceptions_reasoncode WHERE active")]
    if not codes:
        raise BenchError("the reason-code catalogue is empty: migrations should have seeded it")
    drawn: list[str] = []
    for code in sorted(codes):
        drawn += [code] * WEIGHTS.get(code, 1)
    return drawn, [STAGE_OF.get(code, "") for code in drawn]


def load(
    conn: psycopg.Connection,
    *,
    orders: int,
    exceptions: int,
    tenants: dict[str, int],
    operator: int,
    policy: int,
) -> float:
    """Insert everything above into the freshly migrated database; returns seconds."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    codes, stages = reason_codes(conn)
    params = {
        "now": now,
        "n": orders,
        "e": exceptions,
        "span": DAYS * 86400.0,
        "stride": orders // exceptions,
        "tenants": [tenants[slug] for slug in TENANTS],
        "operator": operator,
        "policy": policy,
        "codes": codes,
        "stages": stages,
        "ncodes": len(codes),
        "stamp": now.strftime("%Y%m%d%H%M%S"),
        "count": RECENT_EVENTS,
    }
    params["first_id"] = reserve_ids(conn, "orders_order", orders)
    params["first_exc"] = reserve_ids(conn, "exceptions_orderexception", exceptions)
    # Consistent by construction: skip the per-row foreign-key triggers (checked once
    # below instead) and the WAL flush at each commit.
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET TimeZone = 'UTC'")
    try:
        for name, statement in (
            ("orders", _ORDERS_SQL),
            ("order events", _EVENTS_SQL),
            ("recent events", _RECENT_SQL),
            ("stage clocks", _CLOCKS_SQL),
            ("exceptions", _EXCEPTIONS_SQL),
            ("activity", _ACTIVITY_SQL),
            ("explanations", _EXPLANATIONS_SQL),
            ("current explanations", _CURRENT_EXPLANATION_SQL),
            ("dead letters", _DEAD_LETTERS_SQL),
            ("follow-up failures", _FOLLOWUP_SQL),
        ):
            t0 = time.perf_counter()
            rows = conn.execute(statement, params).rowcount
            progress(f"  {name}: {rows:,} rows in {time.perf_counter() - t0:.1f} s")
    finally:
        conn.execute("RESET session_replication_role")
        conn.execute("RESET synchronous_commit")
        conn.execute("RESET TimeZone")
    check_references(conn)
    t0 = time.perf_counter()
    conn.execute("VACUUM ANALYZE")
    progress(f"  VACUUM ANALYZE in {time.perf_counter() - t0:.1f} s")
    seconds = time.perf_counter() - started
    write_meta(conn, orders=orders, exceptions=exceptions, loaded_at=now, seconds=seconds)
    return seconds


_REFERENCES = (
    ("orders_orderevent", "order_id", "orders_order"),
    ("slas_stageclock", "order_id", "orders_order"),
    ("exceptions_orderexception", "order_id", "orders_order"),
    ("exceptions_exceptionactivity", "exception_id", "exceptions_orderexception"),
    ("exceptions_explanation", "exception_id", "exceptions_orderexception"),
    ("orders_followupfailure", "event_id", "orders_orderevent"),
)


def check_references(conn: psycopg.Connection) -> None:
    """What the skipped foreign-key triggers would have checked, once per table (and
    that each row's tenant is its parent's, where both have one)."""
    for table, column, parent in _REFERENCES:
        tenant_check = "" if table == "orders_followupfailure" else " OR p.tenant_id <> c.tenant_id"
        bad = conn.execute(
            f"SELECT count(*) FROM {table} AS c LEFT JOIN {parent} AS p ON p.id = c.{column}"
            f" WHERE p.id IS NULL{tenant_check}"
        ).fetchone()[0]
        if bad:
            raise BenchError(f"{bad} rows of {table} without their {parent} (or another tenant)")


def refresh_recent(conn: psycopg.Connection, *, orders: int) -> int:
    """On --reuse: the last hour's events again, relative to now (the old ones stay,
    older). Returns the rows inserted."""
    now = datetime.now(UTC)
    first_id = conn.execute(
        "SELECT min(id) FROM orders_order WHERE external_id = 'C-1'"
    ).fetchone()[0]
    params = {
        "now": now,
        "n": orders,
        "first_id": first_id,
        "stamp": now.strftime("%Y%m%d%H%M%S"),
        "count": RECENT_EVENTS,
    }
    conn.execute("SET TimeZone = 'UTC'")
    rows = conn.execute(_RECENT_SQL, params).rowcount
    conn.execute("RESET TimeZone")
    conn.execute("ANALYZE orders_orderevent")
    return rows


def write_meta(
    conn: psycopg.Connection, *, orders: int, exceptions: int, loaded_at: datetime, seconds: float
) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key text PRIMARY KEY, value jsonb)")
    value = {
        "orders": orders,
        "exceptions": exceptions,
        "loaded_at": loaded_at.isoformat(),
        "seconds": seconds,
    }
    conn.execute(
        f"INSERT INTO {META_TABLE} VALUES ('load', %s)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [json.dumps(value)],
    )


def read_meta(conn: psycopg.Connection) -> dict | None:
    exists = conn.execute("SELECT to_regclass(%s)", [META_TABLE]).fetchone()[0]
    if exists is None:
        return None
    row = conn.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'load'").fetchone()
    return row[0] if row else None
