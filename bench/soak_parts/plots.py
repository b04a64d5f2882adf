"""The soak drawn over time as PNGs: latency, memory, backlog.

Figures are made with matplotlib's object API (`Figure`, saved through its Agg canvas):
no pyplot, so no global state and no display is needed. Every figure shades the
warm-up; the memory figure also shades the two windows the verdict compares and the
band the goal allows above the first one (+5 %), so a reader sees the verdict and
the noise it was judged against. `bench/publish.py` shows each file under the soak's
section of docs/PERFORMANCE.md (the `E2A_IMAGE` lines `bench/soak.py` prints).
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .hold import Soak
from .report import GOAL_GROWTH, Windows, growth

WARMUP = "0.88"  # grey
WINDOW = "#dbe9f6"  # light blue


def _minutes(seconds: float) -> float:
    return seconds / 60


def _frame(ax: Axes, windows: Windows, ylabel: str) -> None:
    ax.axvspan(0, _minutes(windows.warmup), color=WARMUP, label="warm-up", zorder=0)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, _minutes(windows.end))
    ax.grid(True, alpha=0.3)


def _legend(ax: Axes, *more: Axes) -> None:
    """Beside the plot, never over a line."""
    handles, labels = ax.get_legend_handles_labels()
    for other in more:
        h, lab = other.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    right = 1.08 if more else 1.01  # past a second y axis' labels
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(right, 1), fontsize="small")


def latency(soak: Soak, windows: Windows, path: Path) -> None:
    fig = Figure(figsize=(10, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    mid = [_minutes((s.start + s.end) / 2) for s in soak.segments]
    for name, values, style in (
        ("p50", [s.run.p50 for s in soak.segments], "o-"),
        ("p95", [s.run.p95 for s in soak.segments], "s-"),
        ("p99", [s.run.p99 for s in soak.segments], "^-"),
    ):
        top.plot(mid, values, style, label=name, markersize=4)
    _frame(top, windows, "ms")
    top.set_ylim(bottom=0)
    top.set_title(f"HTTP latency per {_segment_name(soak)} segment (wrk, 32 connections)")
    _legend(top)
    for kind, marker, label in (
        ("content", "o", "content rule"),
        ("late", "s", "late completion"),
    ):
        probes = [p for p in soak.probes if p.kind == kind]
        bottom.plot(
            [_minutes(p.t) for p in probes],
            [p.opened for p in probes],
            marker,
            label=label,
            markersize=4,
            alpha=0.8,
        )
    _frame(bottom, windows, "seconds")
    bottom.set_ylim(bottom=0)
    waiting = sum(1 for p in soak.probes if math.isnan(p.opened))
    bottom.set_title(
        "POST → exception opened, each probe"
        + (f" ({waiting} not opened when the bench stopped waiting)" if waiting else "")
    )
    bottom.set_xlabel("minutes since the soak started")
    _legend(bottom)
    fig.suptitle(f"Soak at {soak.rate:.0f} events/s: latency")
    fig.savefig(path, dpi=100)


def memory(soak: Soak, windows: Windows, path: Path) -> None:
    fig = Figure(figsize=(10, 6), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    t = [_minutes(s.t) for s in soak.samples]
    for ax, side, title in zip(
        axes,
        ("web", "worker"),
        ("web: gunicorn master + workers", "worker: Celery worker + its pool"),
        strict=True,
    ):
        first, last, ratio = growth(soak, windows, side)
        spans = (windows.first, windows.last)  # what the verdict compares
        for span, label in zip(spans, ("windows compared", None), strict=True):
            ax.axvspan(_minutes(span[0]), _minutes(span[1]), color=WINDOW, zorder=0, label=label)
        ax.axhspan(first, first * GOAL_GROWTH, color="#e3f3e0", zorder=0, label="goal: ≤ +5 %")
        ax.plot(t, [getattr(s, side) for s in soak.samples], "-", color="C0", label=side)
        ax.hlines(
            [first, last],
            [_minutes(w[0]) for w in spans],
            [_minutes(w[1]) for w in spans],
            colors="C3",
            linestyles="--",
            label="window medians",
        )
        _frame(ax, windows, f"{soak.memory_kind}, MiB")
        ax.set_title(f"{title}: {(ratio - 1) * 100:+.1f} % last ÷ first window")
        _legend(ax)
    axes[-1].set_xlabel("minutes since the soak started")
    fig.suptitle(f"Soak at {soak.rate:.0f} events/s: memory ({soak.memory_kind}, summed per side)")
    fig.savefig(path, dpi=100)


def backlog(soak: Soak, windows: Windows, path: Path) -> None:
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    t = [_minutes(s.t) for s in soak.samples]
    ax.plot(t, [s.events for s in soak.samples], "-", label="events not followed up")
    ax.plot(t, [s.unexplained for s in soak.samples], "-", label="exceptions without notes")
    _frame(ax, windows, "count")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("minutes since the soak started")
    rate = ax.twinx()
    rate.step(
        [_minutes(s.start) for s in soak.segments] + [_minutes(soak.segments[-1].end)],
        [s.run.rate for s in soak.segments] + [soak.segments[-1].run.rate],
        where="post",
        color="0.5",
        linestyle=":",
        label="events/s accepted (right)",
    )
    rate.set_ylim(0, max(s.run.rate for s in soak.segments) * 1.25)
    rate.set_ylabel("events/s")
    _legend(ax, rate)
    drained = (
        f"all followed up {soak.drained_after:.0f} s after the stop"
        if soak.drained_after is not None
        else "not all followed up 3 min after the stop"
    )
    fig.suptitle(f"Soak at {soak.rate:.0f} events/s: the worker's backlog ({drained})")
    fig.savefig(path, dpi=100)


def _segment_name(soak: Soak) -> str:
    longest = max(s.end - s.start for s in soak.segments)
    return f"{longest:.0f} s"


def draw(soak: Soak, windows: Windows, out: Path) -> list[tuple[Path, str]]:
    """Write the three figures into `out`; (file, caption) of each, in reading order."""
    out.mkdir(parents=True, exist_ok=True)
    figures = (
        ("soak-latency.png", "Latency over the soak: wrk per segment, probes", latency),
        ("soak-memory.png", "Memory over the soak, web and worker", memory),
        ("soak-backlog.png", "The worker's backlog over the soak", backlog),
    )
    written = []
    for name, caption, draw_one in figures:
        draw_one(soak, windows, out / name)
        written.append((out / name, caption))
    return written
