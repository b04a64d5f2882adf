"""The tables `bench/sla_scan.py` prints above its ratios, and the "What was
measured" note below them.

The ratio table (the verdict) stays in the script; these are the numbers behind it
(medians with their spread, time in SQL, plans, statements, CPU) that let a reader
tell a real regression from a noisy machine.
"""

from __future__ import annotations

import statistics

from common import short

from .config import Config
from .ingest_measure import IngestRun
from .ingest_sides import INGEST_PATH, Side
from .scan_data import SCHEMA_A
from .scan_measure import Scenario


def print_scan(a: Scenario, b: Scenario, cfg: Config, notes: dict[str, str]) -> float:
    ratio = b.median / a.median if a.median else float("inf")
    print()
    print(
        f"1. SLA scan: sla_scan(now=fixed) breaching {cfg.due:,} due pick clocks;"
        f" median of {cfg.repeats} scans per scenario, A and B alternating"
    )
    header = f"{'scenario':<46} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'in SQL ms':>10}"
    print(header)
    print("-" * len(header))
    for sc in (a, b):
        print(
            f"{sc.label:<46} {1000 * sc.median:>10.1f} {1000 * min(sc.times):>8.1f}"
            f" {1000 * max(sc.times):>8.1f} {1000 * statistics.median(sc.db_seconds):>10.1f}"
        )
    print("  (in SQL: wall time inside the scan's statements; the rest is Python in this process)")
    for sc in (a, b):
        print(f"  EXPLAIN ANALYZE due query, {sc.key}: {sc.explain}")
    for sc in (a, b):
        print(f"  EXPLAIN ANALYZE at-risk gauge at now, {sc.key}: {sc.explain_gauge}")
    print(f"  B built in {notes['build']}")
    print(f"  B's tables: {notes['sizes']}")
    print(
        f"  at-risk gauge query on B with now + 60 min ({notes['at_risk_rows']}):"
        f" {notes['at_risk']}"
    )
    print("  statements per scan, median ms A → B, median calls (A and B run the same ones):")
    shapes = {shape for sc in (a, b) for scan in sc.statements for shape in scan}
    ranked = sorted(shapes, key=lambda shape: -b.statement_median(shape)[1])
    for shape in ranked[:6]:
        calls, mb = b.statement_median(shape)
        ma = a.statement_median(shape)[1]
        print(f"    {1000 * ma:7.2f} → {1000 * mb:7.2f}  {calls:>3g}×  {short(shape)}")
    return ratio


def ratio(with_sla: Side, without: Side) -> float:
    return with_sla.median / without.median if without.median else float("inf")


def _ingest_table(title: str, with_sla: Side, without: Side, cfg: Config) -> None:
    print(title)
    header = (
        f"{'side':<44} {'events/s':>9} {'ms/event':>9} {'py CPU':>7} {'pg CPU':>7}"
        f" {'stmts':>6} {'SQL ms':>7} {'hook ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for side in (without, with_sla):
        per = side.median / cfg.events
        prof = side.profile
        calls, seconds = prof.total() if prof else (0, 0.0)
        n = max(side.profile_events, 1)
        hook = f"{1000 * prof.hook_seconds / n:.2f}" if prof and side.with_sla else "-"
        print(
            f"{side.label:<44} {1 / per:>9.0f} {1000 * per:>9.2f}"
            f" {1000 * side.cpu_py / side.events:>7.2f} {1000 * side.cpu_pg / side.events:>7.2f}"
            f" {calls / n:>6.1f} {1000 * seconds / n:>7.2f} {hook:>8}"
        )
    per_round = [w / o for w, o in zip(with_sla.seconds, without.seconds, strict=True)]
    print(
        f"  with ÷ without: {ratio(with_sla, without):.3f} (median rounds); per round "
        + ", ".join(f"{r:.2f}" for r in per_round)
    )


def print_ingest(ing: IngestRun, cfg: Config) -> tuple[float, float]:
    """Both ingest tables; returns the endpoint ratio and the service ratio."""
    print()
    print(
        f"2. Ingest, one event per request or call: {cfg.events} events per side in each of"
        f" {cfg.rounds} rounds, the four sides interleaved (order rotated every round,"
        " balanced over 4 rounds);"
        " median round"
    )
    _ingest_table(
        f"2a. POST {INGEST_PATH} through django.test.Client in-process (middleware, API-key"
        " auth, JSON parsing,\n    validation, events_ingest, JSON response); bodies encoded"
        " off the clock",
        ing.ep_with, ing.ep_without, cfg,
    )  # fmt: skip
    print()
    _ingest_table(
        "2b. events_ingest(events=[(0, event)]) alone, own transaction; events validated off"
        " the clock",
        ing.svc_with, ing.svc_without, cfg,
    )  # fmt: skip
    print(
        "  py CPU: this process (all threads), pg CPU: its PostgreSQL backend, ms per event over"
        " the rounds;\n  stmts, SQL ms, hook ms: statements, their wall time and the SLA hook's"
        " wall time per event,\n  from the warm-up pass (the timed rounds run without the"
        " execute wrapper)"
    )
    prof, n = ing.svc_with.profile, max(ing.svc_with.profile_events, 1)
    if prof is not None:
        calls, seconds = prof.total("hook")
        print(
            "  SLA hook (slas.clocks → on_projected), service warm-up pass:"
            f" {1000 * prof.hook_seconds / n:.2f} ms per event, of which"
            f" {1000 * seconds / n:.2f} ms in {calls / n:.1f} statements:"
        )
        hook = sorted(
            ((k[1], c) for k, c in prof.calls.items() if k[0] == "hook"),
            key=lambda kc: -prof.seconds[("hook", kc[0])],
        )
        for shape, c in hook:
            mean = prof.seconds[("hook", shape)] / c
            print(f"    {c / n:5.2f}× {1000 * mean:6.3f} ms  {short(shape)}")
    if ing.followup_events:
        print(
            "  Not in the request, by design: the worker's follow-up writes the clock rows"
            " (slas.clock_rows);\n  done here after the rounds, untimed in the ratios:"
            f" {1000 * ing.followup_seconds / ing.followup_events:.2f} ms per event"
            f" ({ing.followup_events} events of the two SLA sides)"
        )
    return ratio(ing.ep_with, ing.ep_without), ratio(ing.svc_with, ing.svc_without)


EXPLANATION = """\
What was measured
* Scan: one database holds both scenarios. B is in the app's own tables: {b_orders:,}
  open orders, each with one running pick clock; {due:,} of them (every {stride:,}th
  row, spread over the table) were due 1 s to 10 min before the fixed `now`, the
  others are due 30 to 120 min after it and not at risk yet. A is in the schema
  {schema}: copies of the tables a scan writes (orders, clocks, breaches, exceptions; same columns,
  checks, index names and definitions, foreign keys) holding only those {due:,}
  orders and clocks, row for row the same. The scan runs unchanged in this process;
  `SET search_path` selects the scenario, so A and B alternate on the same machine
  state. Before each scan the due clocks are made running again (breached_at,
  severity_next_at = NULL), their breaches deleted and both tables vacuumed
  (autovacuum is off for them meanwhile); each scan must breach exactly {due:,}
  clocks into its own schema. One warm-up scan each. The data was built with
  INSERT … SELECT generate_series joined to a table of the 6,000 deadlines (memo
  entries from ClockEntry), a million orders and their clocks per statement, with
  B's indexes built after the load, then VACUUM ANALYZE and CHECKPOINT.
* Ingest: a second tenant, in the same tables as B's {b_orders:,} orders and clocks.
  Each order gets order_paid, pick_completed (every tenth one 8 h late, so a breach is
  recorded), pack_completed, consecutive events touching different orders. Four
  sides, each on its own orders, take turns in every round, in an order rotated each
  round (over 4 rounds each side runs once in each position and once after each other):
  - endpoint: each event's JSON body, encoded to bytes before the clock starts, is
    posted to POST /ingest/events through django.test.Client in this process with
    the tenant's API key: the full middleware stack, DRF, API-key authentication,
    JSON parsing, validation (and the dead-letter path, not taken), events_ingest,
    the 202 JSON response. Only 202 counts as accepted. No HTTP server, no network:
    a deployment adds their time to both sides alike.
  - service: events validated before the clock starts, then
    events_ingest(events=[(0, event)], channel="event") per event.
  Both: one transaction per event (cache in {redis}),
  follow-ups handed to the process's coalescing publisher (FOLLOWUP_COALESCE_MS=
  {coalesce}, broker {broker}, no worker). With SLA: the
  "slas.clocks" projection hook as SlasConfig.ready() registers it; without: the same
  process after projection_hooks.unregister("slas.clocks"). Each ratio is the median
  round time with SLA ÷ the median round time without. The hook keeps the clocks on
  the order row and writes a clock row only when a breach must be on record; the
  other rows are written by the worker's follow-up, which is not part of the request
  and not in the ratios (its cost is printed above, measured after the rounds).
  The goal (≤ {goal_ingest:g}) is judged on the endpoint ratio: what the SLA bookkeeping
  adds to the request a sender makes. The service ratio puts the same hook over the
  smaller cost of events_ingest alone, so it is normally the higher, stricter figure
  (round-to-round noise can swap the two in a run); it is printed for information."""


def print_explanation(cfg: Config, *, coalesce: int, goal_ingest: float) -> None:
    """The "What was measured" note, with this run's sizes, URLs and settings filled in."""
    print(
        EXPLANATION.format(
            b_orders=cfg.open_orders,
            due=cfg.due,
            stride=cfg.open_orders // cfg.due,
            schema=SCHEMA_A,
            repeats=cfg.repeats,
            redis=cfg.redis_url,
            broker=cfg.broker_url,
            coalesce=coalesce,
            goal_ingest=goal_ingest,
        )
    )
