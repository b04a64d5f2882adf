"""Charts drawn on the server as SVG strings: no JavaScript, no CDN, nothing to vendor.

Pure functions of the numbers they are given. Every text that reaches the SVG is
escaped (reason codes come from an editable catalogue), each chart carries a
`<title>` and `<desc>` for screen readers and each bar or point its own `<title>`
(shown as a tooltip). Colours of text and lines come from classes the page styles
with the admin's CSS variables, so the charts follow its light and dark themes;
the SVG stays a well-formed standalone document all the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from xml.sax.saxutils import escape

# Distinguishable in light and dark themes (Okabe-Ito, colour-blind safe), then grey.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#D55E00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
OTHER_COLOUR = "#999999"
OTHER = "Other"
MAX_SERIES = len(PALETTE) - 1  # the rest are summed as "Other"

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 28


def _text(value: object) -> str:
    return escape(str(value))


def _nice_max(value: int) -> int:
    """A round top for the y axis at or above `value` (1, 2, 5 × 10ⁿ)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _ticks(top: int) -> list[int]:
    """About five evenly spaced whole ticks from 0 to `top`."""
    step = max(1, _nice_max(max(1, top // 5)))
    while top // step > 5:
        step *= 2
    return list(range(0, top + 1, step))


def _open(chart_id: str, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="e2a-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{_text(title)}</title>',
        f'<desc id="{chart_id}-desc">{_text(desc)}</desc>',
    ]


def _x_axis(days: Sequence[date], slot: float) -> list[str]:
    """The baseline and a date label under every fifth day and the last one."""
    base = HEIGHT - BOTTOM
    parts = [f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>']
    for i, day in enumerate(days):
        if i % 5 == 0 or i == len(days) - 1:
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text class="label" x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
                f"{_text(day.strftime('%m-%d'))}</text>"
            )
    return parts


def _y_axis(ticks: Sequence[int], top: int, suffix: str = "") -> list[str]:
    plot = HEIGHT - BOTTOM - TOP
    parts = []
    for tick in ticks:
        y = HEIGHT - BOTTOM - plot * tick / top
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="label" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick}{_text(suffix)}</text>"
        )
    return parts


def series_order(per_day: Mapping[date, Mapping[str, int]]) -> list[str]:
    """Reasons by total, largest first; past MAX_SERIES the rest fold into "Other"."""
    totals: dict[str, int] = {}
    for counts in per_day.values():
        for reason, n in counts.items():
            totals[reason] = totals.get(reason, 0) + n
    ranked = sorted(totals, key=lambda r: (-totals[r], r))
    if len(ranked) > MAX_SERIES + 1:
        return [*ranked[:MAX_SERIES], OTHER]
    return ranked


def stacked_bars(
    *, days: Sequence[date], per_day: Mapping[date, Mapping[str, int]], chart_id: str, title: str
) -> str:
    """Exceptions per day, one bar per day stacked by reason, with a legend below the title."""
    series = series_order(per_day)
    colours = {
        name: (OTHER_COLOUR if name == OTHER else PALETTE[i]) for i, name in enumerate(series)
    }
    kept = set(series) - {OTHER}

    def folded(counts: Mapping[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for reason, n in counts.items():
            key = reason if reason in kept else OTHER
            out[key] = out.get(key, 0) + n
        return out

    stacks = {day: folded(per_day.get(day, {})) for day in days}
    total = sum(sum(s.values()) for s in stacks.values())
    top = _nice_max(max((sum(s.values()) for s in stacks.values()), default=0))
    desc = (
        f"{total} exceptions first seen from {days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}"
        if days
        else "No days"
    )
    parts = _open(chart_id, title, desc)
    parts += _y_axis(_ticks(top), top)
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bar = max(slot * 0.72, 1)
    plot = HEIGHT - BOTTOM - TOP
    for i, day in enumerate(days):
        y = HEIGHT - BOTTOM
        x = LEFT + slot * i + (slot - bar) / 2
        for name in series:
            n = stacks[day].get(name, 0)
            if not n:
                continue
            h = plot * n / top
            y -= h
            label = f"{day:%Y-%m-%d} {name}: {n}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colours[name]}"><title>{_text(label)}</title></rect>'
            )
    return _finished(parts, days, slot, empty="" if total else "No exceptions in these days")


def _finished(parts: list[str], days: Sequence[date], slot: float, *, empty: str) -> str:
    """The chart's x axis, a line in its middle when it has nothing to show, its end."""
    parts += _x_axis(days, slot)
    if empty:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" '
            f'text-anchor="middle">{_text(empty)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def legend(per_day: Mapping[date, Mapping[str, int]]) -> list[tuple[str, str]]:
    """(name, colour) of each series of `stacked_bars`, for a legend the page lays out."""
    series = series_order(per_day)
    return [(name, OTHER_COLOUR if name == OTHER else PALETTE[i]) for i, name in enumerate(series)]


def percent_line(
    *,
    days: Sequence[date],
    per_day: Mapping[date, tuple[int, int]],
    chart_id: str,
    title: str,
) -> str:
    """On-time % per day as a line with a dot per day; a day with nothing ended is a gap.

    `per_day` maps a date to (on time, ended). A day without ended clocks has no
    percentage at all, so the line breaks there instead of dropping to 0 %,
    which would read as "everything late".
    """
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    plot = HEIGHT - BOTTOM - TOP
    parts = _open(
        chart_id,
        title,
        "Share of stage clocks that ended on time, per day; "
        "days with no ended clocks are left as gaps.",
    )
    parts += _y_axis([0, 25, 50, 75, 100], 100, "%")
    path: list[str] = []
    dots: list[str] = []
    pen_down = False
    for i, day in enumerate(days):
        on_time, ended = per_day.get(day, (0, 0))
        if not ended:
            pen_down = False
            continue
        pct = 100 * on_time / ended
        x = LEFT + slot * (i + 0.5)
        y = HEIGHT - BOTTOM - plot * pct / 100
        path.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
        pen_down = True
        label = f"{day:%Y-%m-%d}: {pct:.1f}% on time ({on_time} of {ended})"
        dots.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
            f"<title>{_text(label)}</title></circle>"
        )
    if path:
        parts.append(f'<path class="line" fill="none" d="{" ".join(path)}"/>')
    parts += dots
    return _finished(parts, days, slot, empty="" if dots else "No stage clocks ended in these days")
