"""The soak itself: one pace held for minutes, as consecutive paced wrk runs.

One wrk run of ten minutes would give one set of percentiles; consecutive segments
(30 s by default) give p50/p95/p99 per segment, so the latency can be drawn over time
and a slow drift told apart from a bad minute. Each segment posts new orders (its own
prefix), so a segment never re-sends what an earlier one sent. While the segments run,
the sampler reads memory and the backlog and the prober posts its probes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from common import BenchError, progress
from pipeline_parts import database
from pipeline_parts.paces import SETTLE_LIMIT, PipelineLoad
from wrk import WrkRun

from .probes import Probe, Prober
from .sampling import Sample, Sampler

TAG = "s"  # the soak's streams; PipelineLoad.orders_like(TAG) matches all of them
SHORTEST = 5.0  # seconds: a remainder shorter than this is not run as a segment


@dataclass(frozen=True, slots=True)
class Segment:
    start: float  # seconds since the soak started
    end: float
    run: WrkRun


@dataclass(slots=True)
class Soak:
    rate: float  # events/s asked of wrk
    seconds: float  # how long it ran
    segments: list[Segment]
    samples: list[Sample]
    memory_kind: str  # "PSS" or "RSS"
    probes: list[Probe] = field(default_factory=list)
    probe_failures: list[str] = field(default_factory=list)
    backlog_at_stop: tuple[int, int] = (0, 0)
    drained_after: float | None = None  # seconds after the stop; None: not in SETTLE_LIMIT


def hold(
    load: PipelineLoad,
    *,
    rate: float,
    seconds: float,
    segment: float,
    web_pid: int,
    worker_pid: int,
    sample_every: float,
    probe_every: float,
    paid: list[str],
) -> Soak:
    """Post the order stream at `rate`/s for `seconds`, sampling and probing meanwhile;
    then wait for the worker to finish what was sent, and read the probes back."""
    t0 = time.monotonic()
    sampler = Sampler(
        web_pid, worker_pid, load.cfg.database_url, load.orders_like(TAG), t0, sample_every
    )
    prober = Prober(load, paid, t0, probe_every)
    segments: list[Segment] = []
    sampler.start()
    prober.start()
    try:
        while (left := seconds - (time.monotonic() - t0)) >= SHORTEST:
            start = time.monotonic() - t0
            length = math.floor(min(segment, left))  # wrk takes whole seconds
            _prefix, run = load.stream(TAG, length, rate)
            segments.append(Segment(start, time.monotonic() - t0, run))
            progress(
                f"  {start / 60:5.2f} min: {run.rate:.0f}/s reached, p50 {run.p50:.0f} ms,"
                f" p99 {run.p99:.0f} ms, {run.unexpected} not 202;"
                f" {_memory_line(sampler)}"
            )
            if sampler.error is not None:
                raise BenchError(f"the sampler failed: {sampler.error!r}")
    finally:
        prober.stop()
        sampler.stop()
    ran = time.monotonic() - t0
    soak = Soak(rate, ran, segments, sampler.samples, sampler.kind)
    soak.backlog_at_stop = database.backlog_like(load.db, load.orders_like(TAG))
    progress(
        f"stopped after {ran / 60:.1f} min; backlog {soak.backlog_at_stop[0]} events,"
        f" {soak.backlog_at_stop[1]} exceptions without notes"
    )
    stopped = time.monotonic()
    while time.monotonic() - stopped <= SETTLE_LIMIT:
        if database.backlog_like(load.db, load.orders_like(TAG)) == (0, 0):
            soak.drained_after = time.monotonic() - stopped
            break
        time.sleep(0.25)
    # Behind a backlog that did not clear, the probes still queued would not open
    # their exceptions in a second wait either: what has opened is read once.
    soak.probes = prober.collect(load.db, SETTLE_LIMIT if soak.drained_after is not None else 0)
    soak.probe_failures = prober.failures
    return soak


def _memory_line(sampler: Sampler) -> str:
    if not sampler.samples:
        return "no memory sample yet"
    last = sampler.samples[-1]
    return (
        f"{sampler.kind} web {last.web:.0f} MiB, worker {last.worker:.0f} MiB;"
        f" backlog {last.events} events"
    )
