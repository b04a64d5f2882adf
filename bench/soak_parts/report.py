"""The soak's verdict and tables: memory growth per side, the segments, the probes.

Growth compares the median of the samples in the last window of the soak with the
median of the first window after the warm-up (a minute each). Medians, because a
single sample can catch a worker mid-request with a transient buffer; a leak moves
every sample. A run too short for two separate minutes after its warm-up (a smoke run)
uses two halves of what follows the warm-up instead, and says so.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from common import Ratio
from pipeline_parts.paces import DRAIN_LIMIT, SETTLE_LIMIT

from .hold import Soak
from .probes import Probe
from .sampling import Sample

GOAL_GROWTH = 1.05  # last window ÷ first window after warm-up: at most 5 % more
WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class Windows:
    """Where the verdict looks: [warmup, warmup + width) and [end - width, end]."""

    warmup: float
    end: float
    width: float

    @classmethod
    def of(cls, soak: Soak, warmup: float) -> Windows:
        return cls(warmup, soak.seconds, min(WINDOW, max(0.0, soak.seconds - warmup) / 2))

    @property
    def first(self) -> tuple[float, float]:
        return self.warmup, self.warmup + self.width

    @property
    def last(self) -> tuple[float, float]:
        return self.end - self.width, self.end

    def name(self) -> str:
        return "minute" if self.width == WINDOW else f"{self.width:.0f} s"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def median_in(samples: list[Sample], side: str, span: tuple[float, float]) -> float:
    return _median([getattr(s, side) for s in samples if span[0] <= s.t <= span[1]])


def growth(soak: Soak, windows: Windows, side: str) -> tuple[float, float, float]:
    """(first window's median, last window's median, their ratio) of `side`'s memory."""
    first = median_in(soak.samples, side, windows.first)
    last = median_in(soak.samples, side, windows.last)
    return first, last, last / first if first else math.nan


def ratios(soak: Soak, windows: Windows) -> list[Ratio]:
    span = f"last {windows.name()} ÷ first after warm-up"
    return [
        Ratio(
            f"{side} memory ({soak.memory_kind}), {span}",
            growth(soak, windows, side)[2],
            GOAL_GROWTH,
            at_least=False,
        )
        for side in ("web", "worker")
    ]


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def print_segments(soak: Soak, windows: Windows) -> None:
    kind = soak.memory_kind
    print("Segments (w: warm-up): wrk's HTTP latency; probes: POST → exception opened, seconds;")
    print(f"memory: {kind} per side, the segment's median sample; backlog: its largest sample")
    print("(events not followed up / exceptions without notes)")
    print(
        f"  {'':>1} {'from':>5} {'to':>5} {'events/s':>8} {'not 202':>7} {'p50 ms':>7}"
        f" {'p95 ms':>7} {'p99 ms':>7} {'probes':>6} {'p50 s':>6} {'max s':>6}"
        f" {'web MiB':>8} {'wkr MiB':>8} {'backlog':>10}"
    )
    for seg in soak.segments:
        inside = [s for s in soak.samples if seg.start <= s.t < seg.end]
        opened = [p.opened for p in soak.probes if seg.start <= p.t < seg.end]
        backlog = max(((s.events, s.unexplained) for s in inside), default=(0, 0))
        run = seg.run
        print(
            f"  {'w' if seg.start < windows.warmup else ' '} {_clock(seg.start):>5}"
            f" {_clock(seg.end):>5} {run.rate:>8.1f} {run.unexpected:>7} {run.p50:>7.1f}"
            f" {run.p95:>7.1f} {run.p99:>7.1f} {len(opened):>6} {pct(opened, 0.5):>6.2f}"
            f" {max(opened, default=math.nan):>6.2f}"
            f" {_median([s.web for s in inside]):>8.1f} {_median([s.worker for s in inside]):>8.1f}"
            f" {f'{backlog[0]}/{backlog[1]}':>10}"
        )


def print_summary(soak: Soak, windows: Windows, sample_every: float) -> None:
    first, last = windows.first, windows.last
    print()
    print(
        f"Memory ({soak.memory_kind} summed per side, MiB, a sample every {sample_every:g} s;"
        f" first window {_clock(first[0])}–{_clock(first[1])},"
        f" last {_clock(last[0])}–{_clock(last[1])}):"
    )
    print(f"  {'side':<8} {'first':>8} {'last':>8} {'growth':>8} {'min':>8} {'max':>8}")
    for side, what in (("web", "gunicorn master + workers"), ("worker", "Celery worker + pool")):
        a, b, r = growth(soak, windows, side)
        values = [getattr(s, side) for s in soak.samples if s.t >= windows.warmup]
        print(
            f"  {side:<8} {a:>8.1f} {b:>8.1f} {(r - 1) * 100:>+7.1f}%"
            f" {min(values, default=math.nan):>8.1f} {max(values, default=math.nan):>8.1f}"
            f"   {what}"
        )
    _print_backlog(soak, windows)
    after = [seg.run for seg in soak.segments if seg.start >= windows.warmup]
    reached = sum(r.ok for r in after) / max(1e-9, sum(r.seconds for r in after))
    p50 = _median([r.p50 for r in after])
    p95 = _median([r.p95 for r in after])
    p99 = max((r.p99 for r in after), default=math.nan)
    accepted = sum(seg.run.ok for seg in soak.segments)
    refused = sum(seg.run.unexpected for seg in soak.segments)
    print(
        f"HTTP (wrk, after the warm-up): {reached:.1f} events/s of {soak.rate:.1f} asked;"
        f" {accepted:,} events accepted over the whole soak, {refused} not 202"
    )
    print(
        f"  per segment: p50 median {p50:.1f} ms, p95 median {p95:.1f} ms, p99 worst {p99:.1f} ms"
    )
    _print_probes(soak.probes, soak.probe_failures, windows)


def _print_backlog(soak: Soak, windows: Windows) -> None:
    """Whether the worker kept up, by the pipeline bench's rule for a sustained pace."""
    peak = max(soak.samples, key=lambda s: s.events, default=None)
    drained = (
        f"all followed up {soak.drained_after:.1f} s after the stop"
        if soak.drained_after is not None
        else f"NOT all followed up {SETTLE_LIMIT:.0f} s after the stop"
    )
    print(
        f"Backlog: at most {peak.events if peak else 0} events not followed up"
        f" (at {_clock(peak.t) if peak else '-'}), {soak.backlog_at_stop[0]} at the stop;"
        f" {drained}"
    )
    if soak.drained_after is not None and soak.drained_after <= DRAIN_LIMIT:
        print(f"  the worker kept up (followed up within {DRAIN_LIMIT:g} s, as pipeline.py)")
        return
    start = next((s.events for s in soak.samples if s.t >= windows.warmup), 0)
    print(
        f"  the worker did NOT keep up (pipeline.py's rule: within {DRAIN_LIMIT:g} s of the stop);"
        f" {start} events queued at the end of the warm-up, {soak.backlog_at_stop[0]} at the stop;"
    )
    print("  the memory figures are an overloaded worker's, not half the sustainable rate's")


def _print_probes(probes: list[Probe], failures: list[str], windows: Windows) -> None:
    after = [p for p in probes if p.t >= windows.warmup]
    waiting = sum(1 for p in probes if math.isnan(p.opened))
    print(f"Probes after the warm-up, seconds from the POST ({len(after)} of {len(probes)} sent;")
    print(f"  {len(failures)} not accepted, {waiting} not opened when the bench stopped waiting):")
    print(f"  {'':<36} {'n':>4} {'p50':>7} {'p95':>7} {'p99':>7}")
    for name, values in (
        ("exception opened: content rule", [p.opened for p in after if p.kind == "content"]),
        ("exception opened: late completion", [p.opened for p in after if p.kind == "late"]),
        ("exception opened: both", [p.opened for p in after]),
        ("its notes written", [p.noted for p in after]),
    ):
        print(
            f"  {name:<36} {len(values):>4} {pct(values, 0.5):>7.3f} {pct(values, 0.95):>7.3f}"
            f" {pct(values, 0.99):>7.3f}"
        )
    for failure in failures[:5]:
        print(f"  not accepted: {failure}")
