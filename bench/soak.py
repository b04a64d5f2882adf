"""E²A soak benchmark: half the sustainable pipeline rate, held for ten minutes.

    .venv/bin/python bench/soak.py                # full run, about 13 minutes
    .venv/bin/python bench/soak.py --minutes 2 --warmup-minutes 0.5 --rate 40   # smoke run

It recreates the PostgreSQL database named by DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/e2a_bench_soak; the name must contain "bench"),
starts gunicorn and the Procfile's worker as `bench/pipeline.py` does, and posts the
same order stream at one pace for `--minutes`:

* the pace: `--rate`, or half the highest pace sustained in a short search
  (`pipeline_parts.paces`, the pipeline bench's search with fewer, shorter trials);
* the load: paced wrk (32 connections) in consecutive segments, each giving its
  HTTP latency p50/p95/p99, and a POST → exception probe every few seconds;
* the samples: every few seconds the PSS of the web's and the worker's processes,
  summed per side, and the backlog of events not yet followed up.

One ratio per side: memory, median of the last minute ÷ median of the first minute
after the warm-up (goal ≤ 1.05, at most 5 % growth). Latency, memory and backlog over
time are drawn as PNGs and named on `E2A_IMAGE` lines, which `bench/publish.py` shows
as images. They go to var/bench/soak/ unless --plots says otherwise: only publish.py
passes `--plots docs/perf`, so a smoke run never replaces the published figures.

No timed assertion: exit 1 only with --check and a missed goal; 2 on a setup failure.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from common import (
    BenchError,
    machine_notes,
    print_ratios,
    progress,
    require_loopback,
    run,
)
from ingest_parts.config import Config
from ingest_parts.server import ROOT, bench_server
from pipeline_parts.paces import DRAIN_LIMIT, PipelineLoad, Trial, pipeline_config
from pipeline_parts.worker import celery_worker
from soak_parts import plots, report
from soak_parts.hold import Soak, hold
from soak_parts.probes import late_orders_needed

WORKER_LOG = ROOT / "var" / "bench" / "soak-worker.log"
SEARCH_START = 0.8  # the first pace tried ÷ the worker's rate alone, as pipeline.py


def find_rate(
    load: PipelineLoad, cfg: Config, opts: argparse.Namespace, alone: str
) -> tuple[float, list[str]]:
    """Half the highest pace web and worker sustain together (the worker is running),
    and how it was found."""
    progress(f"the worker alone: following up the queued events for {opts.search_drain:g} s")
    worker_alone = load.worker_alone(alone, opts.search_drain, cfg.broker_url)
    progress(f"pace search: {opts.search_trials} paces of {opts.search_seconds:g} s each")
    trials: list[Trial] = load.search(
        worker_alone * SEARCH_START, trials=opts.search_trials, seconds=opts.search_seconds
    )
    best = max((t.run.rate for t in trials if t.sustained), default=0.0)
    if not best:
        raise BenchError("no pace was sustained in the search; give one with --rate")
    tried = ", ".join(f"{t.run.rate:.0f}/s {'sustained' if t.sustained else 'not'}" for t in trials)
    return best / 2, [
        f"pace: half of {best:.0f} events/s, the highest sustained in a search of"
        f" {len(trials)} paces of {opts.search_seconds:g} s (as pipeline.py: caught up within"
        f" {DRAIN_LIMIT:g} s of the stop)",
        f"  worker alone {worker_alone:.0f} events/s; paces reached: {tried}",
    ]


def measure(cfg: Config, opts: argparse.Namespace) -> int:
    for url, what in (
        (cfg.database_url, "DATABASE_URL"),
        (cfg.redis_url, "REDIS_URL"),
        (cfg.broker_url, "CELERY_BROKER_URL"),
    ):
        require_loopback(url, what)
    notes = machine_notes()
    seconds = opts.minutes * 60
    with bench_server(cfg) as (server, key):
        load = PipelineLoad(cfg, server.port, key, worker_log=WORKER_LOG, max_rate=opts.max_rate)
        alone = ""
        if opts.rate is None:  # the search starts near the worker's rate on a backlog
            progress(f"ingestion alone: {cfg.warmup:g} s warm-up, {cfg.seconds:g} s queued")
            load.stream("w", cfg.warmup)
            alone, _run = load.stream("a", cfg.seconds)
        WORKER_LOG.parent.mkdir(parents=True, exist_ok=True)
        with celery_worker(server.env, WORKER_LOG) as worker:
            rate, how = (
                (opts.rate, ["pace: --rate, as given"])
                if opts.rate
                else find_rate(load, cfg, opts, alone)
            )
            paid = load.probe_orders(late_orders_needed(seconds, opts.probe_seconds))
            progress(f"soak: {rate:.1f} events/s for {opts.minutes:g} min")
            soak = hold(
                load,
                rate=rate,
                seconds=seconds,
                segment=opts.segment_seconds,
                web_pid=server.proc.pid,
                worker_pid=worker.pid,
                sample_every=opts.sample_seconds,
                probe_every=opts.probe_seconds,
                paid=paid,
            )
        load.db.close()
    return publish(soak, opts, [*notes, *how])


def publish(soak: Soak, opts: argparse.Namespace, notes: list[str]) -> int:
    """The tables, the ratios and the figures; the exit status."""
    windows = report.Windows.of(soak, opts.warmup_minutes * 60)
    figures = plots.draw(soak, windows, opts.plots)
    print()
    print(
        "E²A soak benchmark: gunicorn as the Procfile runs it (2 gthread workers of 4"
        " threads) and the Procfile's Celery worker"
    )
    print(
        f"  {soak.rate:.1f} events/s for {soak.seconds / 60:.1f} min"
        f" ({opts.warmup_minutes:g} min warm-up), wrk {opts.connections} connections"
    )
    for note in notes:
        print("  " + note)
    print()
    report.print_segments(soak, windows)
    report.print_summary(soak, windows, opts.sample_seconds)
    print()
    ratios = report.ratios(soak, windows)
    print_ratios(ratios, width=58)
    print()
    for path, caption in figures:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"E2A_IMAGE {shown} {caption}")
    return 1 if opts.check and not all(r.met for r in ratios) else 0


def parse_args(argv: list[str] | None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate", type=float, help="events/s (default: half the pace a short search sustains)"
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="the soak's length (10)")
    parser.add_argument(
        "--warmup-minutes", type=float, default=1.0, help="left out of the verdict (1)"
    )
    parser.add_argument("--segment-seconds", type=int, default=30, help="per wrk run (30)")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="memory, backlog (5)")
    parser.add_argument("--probe-seconds", type=float, default=5.0, help="between probes (5)")
    parser.add_argument("--search-trials", type=int, default=4, help="paces searched (4)")
    parser.add_argument("--search-seconds", type=float, default=10.0, help="per pace (10)")
    parser.add_argument(
        "--search-drain", type=float, default=20.0, help="seconds the worker alone is timed (20)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--plots",
        type=Path,
        default=ROOT / "var" / "bench" / "soak",
        help="where the PNGs go (var/bench/soak; publish.py: docs/perf)",
    )
    parser.add_argument("--max-rate", type=int, default=3000, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    opts = parser.parse_args(argv)
    if opts.rate is not None and opts.rate <= 0:
        parser.error("--rate must be positive")
    if not 0 <= opts.warmup_minutes < opts.minutes:
        parser.error("--warmup-minutes must be shorter than --minutes")
    opts.plots = opts.plots.resolve()
    cfg = pipeline_config(
        name="soak",
        # Not pipeline.py's and ingest.py's 3 and 4, nor the test suite's 0, 1, 7 and 8.
        redis_dbs=(14, 15),
        threads=4,  # gunicorn.conf.py's default, as the Procfile runs it
        seconds=4.0,  # ingestion alone, for the search's backlog
        warmup=2.0,
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


if __name__ == "__main__":
    run(main, interrupted="soak bench interrupted; gunicorn and the worker stopped")
