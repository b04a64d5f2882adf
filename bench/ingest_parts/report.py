"""The measurement table `bench/ingest.py` prints above its ratios, with a CPU line per
measurement, and the checks of what the server stored against what it accepted.

The ratio table itself (the verdict) stays in the script; this is the evidence behind it.
"""

from __future__ import annotations

import psycopg
import redis
from common import LoadResult

from .config import Config
from .copy_baseline import COPY_REPEATS, CopyResult
from .measure import CPU_GROUPS


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def worker_kind(cfg: Config) -> str:
    return f"gthread, {cfg.threads} threads" if cfg.threads > 1 else "sync"


def cpu_line(result: LoadResult) -> str:
    """CPU ms per request or event by group, and how busy the rest of the machine was."""
    c, units = result.cpu, result.ok * result.unit_per_request
    if not c or not units or not result.elapsed:
        return ""
    per = {k: 1000 * c.get(k, 0.0) / units for k in CPU_GROUPS}
    busy = 100 * c["machine_busy"] / c["machine_total"] if c["machine_total"] else 0.0
    attributed = sum(c.get(k, 0.0) for k in CPU_GROUPS)
    others = sorted(
        ((k.removeprefix("other:"), v) for k, v in c.items() if k.startswith("other:")),
        key=lambda kv: -kv[1],
    )
    top = ", ".join(f"{name} {100 * v / result.elapsed:.0f}%" for name, v in others[:3] if v)
    return (
        f"    CPU ms per unit: gunicorn {per['gunicorn']:.3f}, postgres {per['postgres']:.3f},"
        f" redis {per['redis']:.3f}, client {per['client']:.3f}\n"
        f"    machine {busy:.0f}% busy; not ours (other processes, kernel):"
        f" {max(0.0, 100 * (c['machine_busy'] - attributed) / result.elapsed):.0f}% of a core"
        + (f" (top: {top})" if top else "")
    )


def stored_notes(
    monitor: psycopg.Connection,
    cfg: Config,
    warm: list[LoadResult],
    singles: list[LoadResult],
    batches: list[LoadResult],
) -> list[str]:
    """Notes comparing the events stored with those accepted (warm-up included), the
    follow-up messages queued, and any warm-up errors. An accepted event that was not
    stored would make the throughput a lie, so a mismatch is flagged. `warm` holds each
    server's single-event warm-up then its batch warm-up (after the health warm-up)."""
    stored = dict(
        monitor.execute(
            "SELECT channel, count(*) FROM orders_orderevent GROUP BY channel"
        ).fetchall()
    )
    # No worker runs, so every follow-up message published is still queued.
    queued = redis.Redis.from_url(cfg.broker_url).llen("ingest")
    warm_singles, warm_batches = warm[1::2], warm[2::2]
    expected = {
        "event": sum(r.ok for r in (*warm_singles, *singles)),
        "batch": sum(r.ok for r in (*warm_batches, *batches)) * cfg.batch_size,
    }
    notes = [
        f"events stored by channel: {stored} (answered {expected})",
        f"follow-up messages queued: {queued} for {sum(stored.values())} events "
        "(the web processes coalesce them, FOLLOWUP_COALESCE_MS)",
    ]
    if any(stored.get(k, 0) < v for k, v in expected.items()):
        notes.append("WARNING: fewer events stored than accepted")
    # wrk stops counting at its deadline, but the server still answers the requests in
    # flight then: at most one per connection and wrk run (warm-up and rounds, per server).
    in_flight = stored.get("event", 0) - expected["event"]
    if in_flight > cfg.connections * (cfg.rounds + 1) * len(singles):
        notes.append(f"WARNING: {in_flight} single events stored beyond those answered")
    elif in_flight > 0:
        notes.append(
            f"{in_flight} single events stored that wrk did not count: in flight when it"
            " stopped (at most one per connection and run)"
        )
    notes.append(
        f"client: wrk for /healthz and single events ({cfg.wrk_threads} threads, latency"
        " percentiles: p50 the median round's, p99 the worst round's); batches: the bench's"
        f" own client, {cfg.batch_concurrency} in flight, COPY on as many connections"
    )
    for res in warm:
        for label, count in res.errors.items():
            notes.append(f"warm-up {res.name}: {count} x {label}")
    return notes


def print_measurements(
    cfg: Config,
    health: LoadResult,
    single: LoadResult,
    batch: LoadResult,
    copy: CopyResult,
    notes: list[str],
    bound: list[LoadResult] | None = None,
) -> None:
    """The run's heading and notes, then one line per measurement with its CPU lines;
    `bound` (single, batch without the SLA clocks) each under its measured line."""
    print()
    print(
        f"E²A ingest benchmark: gunicorn {cfg.workers} workers ({worker_kind(cfg)}), access"
        f" log {'on' if cfg.access_log else 'off'}, on PostgreSQL; wrk {cfg.connections}"
        f" connections, {cfg.seconds:g} s per run; {cfg.rounds} interleaved round(s)"
    )
    for note in notes:
        print("  " + note)
    print()
    header = f"{'measurement':<50} {'value':>15} {'p50 ms':>8} {'p99 ms':>8} {'n':>7} {'errors':>6}"
    print(header)
    print("-" * len(header))
    rows = [(health, "req/s"), (single, "events/s")]
    rows += [(bound[0], "events/s")] if bound else []
    rows += [(batch, "events/s")]
    rows += [(bound[1], "events/s")] if bound else []
    for res, unit in rows:
        print(
            f"{res.name:<50} {_fmt_rate(res.rate) + ' ' + unit:>15}"
            f" {1000 * res.pct(0.5):>8.1f} {1000 * res.pct(0.99):>8.1f}"
            f" {res.requests:>7} {sum(res.errors.values()):>6}"
        )
        line = cpu_line(res)
        if line:
            print(line)
    copy_name = (
        f"PostgreSQL COPY, same rows ({cfg.batch_size}/commit, {cfg.batch_concurrency} conn)"
    )
    print(f"{copy_name:<50} {_fmt_rate(copy.rate) + ' rows/s':>15} {'':>8} {'':>8} {copy.rows:>7}")
    print(
        f"    {copy.rows} rows in {copy.seconds:.2f} s"
        f" (per round, the median of {COPY_REPEATS} COPYs into an emptied table)"
    )
