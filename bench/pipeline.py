"""E²A pipeline benchmark: web and worker together, as a sender loads them.

    .venv/bin/python bench/pipeline.py            # full run, about 8 minutes
    .venv/bin/python bench/pipeline.py --quick    # smoke run, about 2 minutes

It recreates the PostgreSQL database named by DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/e2a_bench_pipeline; the name must contain "bench"),
starts gunicorn as the Procfile does, and measures two ratios in one run:

* sustained pipeline rate ÷ single-event ingestion alone                 (goal ≥ 0.5)
  Ingestion alone: wrk (32 connections) posts single events for 20 s with no worker
  running. Then the Procfile's worker starts beside gunicorn on the same cores, and
  wrk posts the same stream at a set pace: a pace is sustained when, 5 s after wrk
  stops, every event of it has been followed up (SLA clock rows, detection) and every
  exception it opened has its notes. The pace is searched (up, then halved between
  the last sustained and the first not); the figure is the highest rate sustained.
* POST → exception opened, p95 ÷ a no-op Celery task's round trip, p95    (goal ≤ 5)
  At half the sustained rate, probes are sent one at a time among the stream: events
  that open an exception through a content rule (`exception_reported`) or a late
  completion (a pick 8.5 h after payment), and no-op tasks. Each latency is the
  effect's own timestamp (the exception's created_at; the no-op's time of running)
  minus the moment the client sent it. The probes are half a second apart, so about
  one order in seven opens an exception, near a warehouse's share of problem orders;
  0.15 s apart they tripled the exceptions and measured a worker buried in them.

No timed assertion: exit 1 only with --check and a missed goal; 2 on a setup failure.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from celery import Celery
from common import (
    BenchError,
    Ratio,
    machine_notes,
    print_ratios,
    progress,
    require_loopback,
    run,
)
from ingest_parts.config import Config
from ingest_parts.server import bench_server
from pipeline_parts import database
from pipeline_parts.paces import (
    DRAIN_LIMIT,
    SETTLE_LIMIT,
    PipelineLoad,
    Trial,
    pipeline_config,
)
from pipeline_parts.stream import late_pick, reported
from pipeline_parts.worker import celery_worker
from wrk import WrkRun

GOAL_RATE = 0.5
GOAL_P95 = 5.0
PROBES = 40  # of each kind
WORKER_LOG = Path(__file__).resolve().parents[1] / "var" / "bench" / "pipeline-worker.log"


@dataclass(slots=True)
class Latencies:
    content: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    noted: list[float] = field(default_factory=list)  # to the exception's first notes
    # From E²A's receipt of the probe (its received_at) to the exception: the same
    # path without the wait at the HTTP door.
    inside: list[float] = field(default_factory=list)
    noop: list[float] = field(default_factory=list)

    @property
    def exceptions(self) -> list[float]:
        return self.content + self.late


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench(PipelineLoad):
    """The shared paced load plus this bench's latency phase (probes and no-op tasks)."""

    def __init__(self, cfg: Config, opts: argparse.Namespace, port: int, key: str) -> None:
        super().__init__(cfg, port, key, worker_log=WORKER_LOG, max_rate=opts.max_rate)
        self.opts = opts

    def latencies(self, rate: float, paid: list[str]) -> tuple[Latencies, WrkRun]:
        """Probes among the stream at `rate`; the no-op task through the same broker."""
        gap = self.opts.gap
        seconds = 4 + 3 * PROBES * gap
        background: dict[str, tuple[str, WrkRun]] = {}
        thread = threading.Thread(
            target=lambda: background.update(run=self.stream("l", seconds, rate)), daemon=True
        )
        celery = Celery(broker=self.cfg.broker_url)
        noop_key = f"bench:noop:{self.run_id}"
        results = redis.Redis.from_url(self.cfg.redis_url)
        sent: dict[str, float] = {}
        thread.start()
        time.sleep(2)
        with httpx.Client(timeout=30) as client:
            for i, order in enumerate(paid):
                content = f"#q{self.run_id}-c{i}"
                for body in (reported(content), late_pick(order)):
                    sent[body["order_id"]] = time.time()
                    self.post(client, body)
                    time.sleep(gap)
                celery.send_task("bench.noop", args=[noop_key, time.time()], queue="default")
                time.sleep(gap)
        thread.join()
        found: dict[str, tuple[float, float]] = {}
        deadline = time.monotonic() + SETTLE_LIMIT
        while len(found) < len(sent) or any(math.isnan(n) for _, n in found.values()):
            if time.monotonic() > deadline:
                raise BenchError(f"only {len(found)} of {len(sent)} probes opened an exception")
            time.sleep(0.5)
            found = database.exception_times(self.db, list(sent))
        out = Latencies()
        received = database.received_times(self.db, list(sent))
        for order, at in sent.items():
            made, noted = found[order]
            (out.content if "-c" in order else out.late).append(made - at)
            out.noted.append(noted - at)
            out.inside.append(made - received[order])
        for raw in results.lrange(noop_key, 0, -1):
            was_sent, ran = (float(x) for x in raw.split())
            out.noop.append(ran - was_sent)
        results.close()
        if len(out.noop) < PROBES:
            raise BenchError(f"only {len(out.noop)} of {PROBES} no-op tasks ran")
        return out, background["run"][1]


def report(
    alone: WrkRun, worker_alone: float, trials: list[Trial], lat: Latencies, background: WrkRun
) -> None:
    print()
    print("Single-event ingestion alone (no worker), wrk flat out:")
    print(
        f"  {alone.rate:,.0f} events/s, p50 {alone.p50:.0f} ms, p99 {alone.p99:.0f} ms,"
        f" {alone.unexpected} not 202"
    )
    print(f"The worker alone (no ingestion), on that backlog: {worker_alone:,.0f} events/s")
    print()
    print("Pipeline trials (web and worker; sustained = caught up within"
          f" {DRAIN_LIMIT:.0f} s of the stop):")  # fmt: skip
    print(f"  {'asked/s':>8} {'reached/s':>10} {'p99 ms':>7} {'backlog at stop':>24}  result")
    for t in trials:
        lag = f"caught up in {t.drained_after:.1f} s" if t.sustained else "NOT sustained"
        print(
            f"  {t.asked:>8.0f} {t.run.rate:>10.0f} {t.run.p99:>7.0f}"
            f" {f'{t.backlog_at_stop[0]} ev, {t.backlog_at_stop[1]} unexplained':>24}  {lag}"
        )
    print()
    probes = f"{len(lat.content)} + {len(lat.late)} probes and {len(lat.noop)} no-op tasks"
    stream = f"the stream at {background.rate:.0f}/s"
    print(f"Latency from the POST (or the send), seconds; {probes}; {stream}:")
    print(f"  {'':<38} {'p50':>7} {'p95':>7} {'p99':>7}")
    for name, values in (
        ("exception opened: content rule", lat.content),
        ("exception opened: late completion", lat.late),
        ("exception opened: both", lat.exceptions),
        ("its notes written (rules or model)", lat.noted),
        ("exception opened, from E²A's receipt", lat.inside),
        ("no-op Celery task ran", lat.noop),
    ):
        print(
            f"  {name:<38} {pct(values, 0.5):>7.3f} {pct(values, 0.95):>7.3f}"
            f" {pct(values, 0.99):>7.3f}"
        )


def parse_args(argv: list[str] | None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: shorter, fewer trials")
    parser.add_argument("--seconds", type=float, default=None, help="per trial (30; 8 quick)")
    parser.add_argument("--trials", type=int, default=None, help="paces tried (6; 3 quick)")
    parser.add_argument(
        "--start", type=float, default=0.8, help="first pace ÷ the worker's rate alone (0.8)"
    )
    parser.add_argument(
        "--drain", type=float, default=None, help="seconds the worker alone is timed (60; 20)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--threads",
        type=int,
        default=4,
        help="threads per gunicorn worker (4, gunicorn.conf.py's default; 1: sync workers)",
    )
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between probes (0.5)")
    parser.add_argument("--max-rate", type=int, default=3000, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    opts = parser.parse_args(argv)
    opts.seconds = opts.seconds or (8.0 if opts.quick else 30.0)
    opts.trials = opts.trials or (3 if opts.quick else 6)
    opts.drain = opts.drain or (20.0 if opts.quick else 60.0)
    cfg = pipeline_config(
        name="pipeline",
        redis_dbs=(3, 4),
        threads=opts.threads,
        seconds=4.0 if opts.quick else 20.0,
        warmup=2.0 if opts.quick else 5.0,
        connections=opts.connections,
        check=opts.check,
    )
    return cfg, opts


def main(argv: list[str] | None = None) -> int:
    cfg, opts = parse_args(argv)
    try:
        return measure(cfg, opts)
    finally:
        shutil.rmtree(cfg.workdir, ignore_errors=True)


def measure(cfg: Config, opts: argparse.Namespace) -> int:
    for url, what in (
        (cfg.database_url, "DATABASE_URL"),
        (cfg.redis_url, "REDIS_URL"),
        (cfg.broker_url, "CELERY_BROKER_URL"),
    ):
        require_loopback(url, what)
    notes = machine_notes()
    with bench_server(cfg) as (server, key):
        bench = Bench(cfg, opts, server.port, key)
        progress(f"ingestion alone: warm-up {cfg.warmup:g} s, then {cfg.seconds:g} s")
        bench.stream("w", cfg.warmup)
        alone_prefix, alone = bench.stream("a", cfg.seconds)
        WORKER_LOG.parent.mkdir(parents=True, exist_ok=True)
        with celery_worker(server.env, WORKER_LOG):
            progress(f"the worker alone: following up the queued events for {opts.drain:g} s")
            worker_alone = bench.worker_alone(alone_prefix, opts.drain, cfg.broker_url)
            paid = bench.probe_orders(PROBES)
            progress(f"pipeline: {opts.trials} paces of {opts.seconds:g} s each")
            trials = bench.search(
                worker_alone * opts.start, trials=opts.trials, seconds=opts.seconds
            )
            best = max((t.run.rate for t in trials if t.sustained), default=0.0)
            if not best:
                raise BenchError("no pace was sustained")
            progress(f"latency: probes among the stream at {best / 2:.0f}/s")
            lat, background = bench.latencies(best / 2, paid)
        bench.db.close()
    print()
    web = "sync" if cfg.threads == 1 else f"gthread, {cfg.threads} threads each"
    print(f"E²A pipeline benchmark: gunicorn {cfg.workers} workers ({web}) and the Procfile's"
          " Celery worker")  # fmt: skip
    for note in notes:
        print("  " + note)
    report(alone, worker_alone, trials, lat, background)
    r_rate = best / alone.rate if alone.rate else 0.0
    noop95 = pct(lat.noop, 0.95)
    r_latency = pct(lat.exceptions, 0.95) / noop95 if noop95 else math.inf
    print()
    print_ratios(
        [
            Ratio("sustained pipeline / ingestion alone", r_rate, GOAL_RATE, at_least=True),
            Ratio("POST → exception p95 / no-op task p95", r_latency, GOAL_P95, at_least=False),
        ],
        width=46,
    )
    print(f"\nmedian no-op round trip {statistics.median(lat.noop) * 1000:.1f} ms")
    if opts.check and (r_rate < GOAL_RATE or r_latency > GOAL_P95):
        return 1
    return 0


if __name__ == "__main__":
    run(main, interrupted="pipeline bench interrupted; gunicorn and the worker stopped")
