"""E²A ingest benchmark: throughput ratios measured side by side in one run.

    .venv/bin/python bench/ingest.py            # full run (~3 min)
    .venv/bin/python bench/ingest.py --quick    # smoke run (a few seconds)

It recreates the PostgreSQL database named by DATABASE_URL (it must contain
"bench"), migrates it, creates a tenant and an API key through the project's
services, starts gunicorn exactly as the Procfile does (2 gthread workers of 4 threads,
the JSON access log written to a file), and measures:

* single events: POST /ingest/events req/s  ÷  GET /healthz req/s, both loaded by
  wrk (32 connections, 20 s per round after a warm-up)            (goal ≥ 0.25)
* batches: POST /ingest/v2/events/batch events/s  ÷  PostgreSQL COPY of the
  same rows into a copy of orders_orderevent, rows/s              (goal ≥ 0.12)
* the bound: both again on a second gunicorn, identical but for the SLA clocks'
  projection hook, switched off (bench/ingest_parts/gunicorn_without_clocks.py).
  The product never runs so; the two lines say how far ingestion would get if
  keeping the clocks in the event's transaction cost nothing (information only).

Every ingest response is checked (202 for a single event, processed_count ==
batch size for a batch); anything else is counted and reported as an error.
This file holds the options, the order of the measurements and the verdict; the
parts live in bench/ingest_parts/. See bench/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from common import (
    LoadResult,
    Ratio,
    libpq_url,
    machine_notes,
    print_ratios,
    progress,
    require_loopback,
    run,
)
from ingest_parts.bound import BOUND_NOTE, Bound
from ingest_parts.config import Config
from ingest_parts.copy_baseline import (
    CopyResult,
    copy_median,
    copy_rows,
    create_copy_table,
    fetch_rows,
)
from ingest_parts.measure import Measurer, cpu_meter
from ingest_parts.report import print_measurements, stored_notes
from ingest_parts.server import WITHOUT_CLOCKS_CONF, bench_server, second_server
from ingest_parts.traffic import HEALTH_NAME, SINGLE_NAME, Traffic, batch_name

GOAL_SINGLE = 0.25
GOAL_BATCH = 0.12  # issue 19's goal (the foundation's 0.2 was never within reach)
REFERENCE = "earlier E²A: ~264 single events/s with 2 workers on this kind of machine (0.19x)"


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: ~2 s per measurement")
    parser.add_argument(
        "--seconds", type=float, default=None, help="per wrk run, each round (20; 2 with --quick)"
    )
    parser.add_argument("--warmup", type=float, default=None, help="warm-up per endpoint (5)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=4,
        help="threads per gunicorn worker (4, gunicorn.conf.py's default; 1: sync workers)",
    )
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="serve without gunicorn's JSON access log (the Procfile writes one)",
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--batch-size", type=int, default=1000, help="events per batch (1000)")
    parser.add_argument("--batch-rounds", type=int, default=None, help="measured batches (30)")
    parser.add_argument(
        "--batch-concurrency",
        type=int,
        default=None,
        help="concurrent batch requests and COPY connections (default: the worker count)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleave the measurements in this many rounds, so that background load"
        " hits both sides of a ratio alike (2; 1 with --quick)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a ratio misses its goal")
    parser.add_argument(
        "--no-bound",
        action="store_true",
        help="skip the second server without the SLA clocks' hook (the bound)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="sample the gunicorn workers with py-spy during each measurement and write"
        " collapsed stacks to DIR (py-spy must be installed; it skews the numbers a little)",
    )
    args = parser.parse_args(argv)
    workers = max(1, args.workers)
    quick = args.quick
    return Config(
        database_url=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/e2a_bench"),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
        broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/4"),
        workers=workers,
        threads=max(1, args.threads),
        access_log=not args.no_access_log,
        seconds=args.seconds if args.seconds is not None else (2.0 if quick else 20.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if quick else 5.0),
        connections=max(1, args.connections),
        wrk_threads=max(1, args.wrk_threads),
        workdir=Path(tempfile.mkdtemp(prefix="e2a-ingest-bench-")),
        batch_size=max(1, args.batch_size),
        batch_rounds=max(1, args.batch_rounds or (2 if quick else 30)),
        batch_concurrency=max(1, args.batch_concurrency or workers),
        rounds=max(1, args.rounds or (1 if quick else 2)),
        check=args.check,
        py_spy=args.py_spy,
        bound=not args.no_bound,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        return measure_all(cfg)
    finally:
        shutil.rmtree(cfg.workdir, ignore_errors=True)


def measure_all(cfg: Config) -> int:
    for url, what in (
        (cfg.database_url, "DATABASE_URL"),
        (cfg.redis_url, "REDIS_URL"),
        (cfg.broker_url, "CELERY_BROKER_URL"),
    ):
        require_loopback(url, what)
    notes = machine_notes()
    run_id = uuid.uuid4().hex[:8]
    dbname = urlsplit(cfg.database_url).path.lstrip("/")
    slice_seconds = cfg.seconds
    per_round = [
        cfg.batch_rounds // cfg.rounds + (1 if r < cfg.batch_rounds % cfg.rounds else 0)
        for r in range(cfg.rounds)
    ]

    with contextlib.ExitStack() as servers:
        server, key = servers.enter_context(bench_server(cfg))
        bare = (
            servers.enter_context(second_server(server, WITHOUT_CLOCKS_CONF)) if cfg.bound else None
        )
        traffic = Traffic(cfg, server.port, key, run_id)
        health = LoadResult(HEALTH_NAME)
        single = LoadResult(SINGLE_NAME)
        batch = LoadResult(batch_name(cfg.batch_size), unit_per_request=cfg.batch_size)
        bound = Bound(cfg)
        copy = CopyResult()
        with psycopg.connect(libpq_url(cfg.database_url), autocommit=True) as monitor:
            measure = Measurer(cpu_meter(server, monitor, dbname), server, cfg.py_spy)
            create_copy_table(monitor)

            progress(f"warm-up: {cfg.warmup:g} s per endpoint, {cfg.batch_concurrency} batches")
            warm = [traffic.health(cfg.warmup), traffic.single(cfg.warmup)]
            warm_prefix = f"w{run_id}"
            warm.append(traffic.batch(traffic.batch_requests(warm_prefix, cfg.batch_concurrency)))
            copy_rows(
                cfg.database_url,
                fetch_rows(monitor, warm_prefix),
                chunk=cfg.batch_size,
                streams=cfg.batch_concurrency,
            )
            if bare is not None:
                bound.start(
                    bare, key, run_id, Measurer(cpu_meter(bare, monitor, dbname), bare, cfg.py_spy)
                )
                warm += bound.warm_up()

            # Interleaved rounds: background load hits both sides of each ratio alike.
            for r in range(cfg.rounds):
                progress(
                    f"round {r + 1}/{cfg.rounds}: {slice_seconds:.3g} s healthz,"
                    f" {slice_seconds:.3g} s single events, {per_round[r]} batches, COPY"
                    + (", the same without clocks" if bare is not None else "")
                )
                tag = f"r{r + 1}"
                health.merge(measure(f"health-{tag}", lambda: traffic.health(slice_seconds)))
                single.merge(measure(f"single-{tag}", lambda: traffic.single(slice_seconds)))
                if per_round[r]:
                    prefix = f"b{run_id}r{r}"
                    requests = traffic.batch_requests(prefix, per_round[r])  # built off the clock
                    batch.merge(measure(f"batch-{tag}", lambda q=requests: traffic.batch(q)))
                    rows = fetch_rows(monitor, prefix)
                    copy.seconds += copy_median(monitor, cfg, rows)
                    copy.rows += len(rows)
                if bare is not None:
                    bound.measure_round(tag, per_round[r])

            notes += stored_notes(
                monitor, cfg, warm, [single, *bound.singles()], [batch, *bound.batches()]
            )

    r_single = single.rate / health.rate if health.rate else 0.0
    r_batch = batch.rate / copy.rate if copy.rate else 0.0
    print_measurements(cfg, health, single, batch, copy, notes, bound.results() or None)
    print()
    ratios = [
        Ratio("single-event ingest / trivial JSON view", r_single, GOAL_SINGLE, at_least=True),
        Ratio("batch ingest events/s / COPY rows/s", r_batch, GOAL_BATCH, at_least=True),
    ]
    if bare is not None:
        bound_single, bound_batch = bound.ratios(health, copy, (GOAL_SINGLE, GOAL_BATCH))
        ratios = [ratios[0], bound_single, ratios[1], bound_batch]
    print_ratios(ratios, width=50)
    print()
    if bare is not None:
        print(BOUND_NOTE)
    print(f"reference: {REFERENCE}")
    everything = (health, single, batch, *bound.results())
    for res in everything:
        for label, count in res.errors.items():
            print(f"ERROR {res.name}: {count} x {label}: {res.samples.get(label, '')!r}")
    errors = sum(sum(r.errors.values()) for r in everything)
    if errors:
        return 1
    if cfg.check and (r_single < GOAL_SINGLE or r_batch < GOAL_BATCH):
        return 1
    return 0


if __name__ == "__main__":
    run(main, interrupted="bench interrupted; gunicorn stopped")
