"""The order list's stage cells: each stage's clock at a glance, read from the memo.

One column per stage (pick, pack, ship, delivery) on the orders list, added
through `orders.admin.ORDER_LIST_COLUMNS` so `orders` need not know the SLA
engine. A cell is decided from the order row's own memo (`Order.sla_clocks`,
the truth about its clocks) by the rule the clock rows use (`clock_state`), so
the list costs no query per row and never disagrees with the order page.

A cell says its state in words as well as in colour (colour-blind operators,
printouts): "due 14:05", "late 1 h 20 min", "met 11:30", "met, 35 min late",
"no scan", "cancelled", "—" (not started). Times are in the page's time zone
(the one the console activated, named in its header). Lateness is counted in
calendar time from the due time; a clock that runs in business time says
"late since 14:05" instead, since its lateness in working minutes (the breach's
figure) is a calendar question this cell does not ask. (A business-time clock
with no calendar runs 24×7: its minutes are calendar minutes.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from orders.admin import ORDER_ADMIN_CSS, ORDER_LIST_COLUMNS, ORDER_LIST_FILTERS
from orders.models import Order

from . import clock_state as cs
from .memo import ClockEntry
from .models import Stage

CSS = "slas/admin/clock_cells.css"
NBSP = "\u00a0"


def _duration(minutes: int) -> str:
    """35 min, 1 h 20 min, 2 d 3 h: as short as an operator reads it. A number keeps
    its unit on its line (the cells wrap to fit the list on a laptop screen)."""
    if minutes < 60:
        return f"{minutes}{NBSP}min"
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}{NBSP}h {mins}{NBSP}min" if mins else f"{hours}{NBSP}h"
    days, hours = divmod(hours, 24)
    return f"{days}{NBSP}d {hours}{NBSP}h" if hours else f"{days}{NBSP}d"


def _late_minutes(since: datetime, until: datetime) -> int:
    """Whole calendar minutes, rounded up: 20 s late is late, not "0 min late"."""
    return max(1, math.ceil((until - since).total_seconds() / 60))


def _short(when: datetime, now: datetime) -> str:
    """14:05 today, Thu 14:05 within the week, 12 Jun 14:05 further off."""
    local, today = timezone.localtime(when), timezone.localtime(now).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if abs((local.date() - today).days) < 7:
        return f"{local:%a}{NBSP}{local:%H:%M}"
    return f"{local.day}{NBSP}{local:%b}{NBSP}{local:%H:%M}"


def _full(when: datetime) -> str:
    local = timezone.localtime(when)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} {local.tzname()}"


def _working_hours(entry: ClockEntry) -> bool:
    """The clock counts a calendar's working hours only: its calendar minutes are not
    its minutes. A business-time clock without a calendar runs 24×7 (`c` blank)."""
    return entry.business_time and entry.calendar_id is not None


def cell_parts(stage: str, entry: ClockEntry | None, now: datetime) -> tuple[str, str, str]:
    """(state, text, tooltip) of one stage's cell; the state is a `clock_state` word,
    or "not_started"."""
    name = Stage(stage).label
    if entry is None:
        return "not_started", "—", f"{name}: not started"
    state = cs.state_at(entry, now)
    due, short_due = _full(entry.due_at), _short(entry.due_at, now)
    working_hours = _working_hours(entry)
    basis = "business-time clock" if working_hours else "calendar-time clock"
    if state == cs.ON_TIME:
        text = f"due {short_due}"
        tip = f"{name} due {due}: on time ({basis}; at risk from {_full(entry.warn_at)})"
    elif state == cs.AT_RISK:
        text = f"due {short_due}"
        tip = f"{name} due {due}: at risk, past its warning time {_full(entry.warn_at)}"
    elif state == cs.BREACHED:
        if working_hours:
            text = f"late since {short_due}"
            tip = (
                f"{name} due {due}: late, still running "
                f"({basis}: its breach counts the working minutes late)"
            )
        else:
            text = f"late {_duration(_late_minutes(entry.due_at, now))}"
            tip = f"{name} due {due}: late, still running ({basis})"
    elif state == cs.MET:
        assert entry.met_at is not None
        text = f"met {_short(entry.met_at, now)}"
        tip = f"{name} met {_full(entry.met_at)}, on time (due {due})"
    elif state == cs.MET_LATE:
        assert entry.met_at is not None
        if working_hours:
            text = f"met {_short(entry.met_at, now)}, late"
        else:
            text = f"met, {_duration(_late_minutes(entry.due_at, entry.met_at))} late"
        tip = f"{name} met {_full(entry.met_at)}, late (due {due}; {basis})"
    elif state == cs.SCAN_MISSING:
        assert entry.stopped_at is not None
        text = "no scan"
        tip = (
            f"{name}: no scan of its own; a later stage was reported "
            f"{_full(entry.stopped_at)} (due {due})"
        )
    else:  # cancelled
        text = "cancelled"
        stopped = f" {_full(entry.stopped_at)}" if entry.stopped_at else ""
        tip = f"{name}: stopped by the order's cancellation{stopped} (due {due})"
    return state, text, tip


def stage_cell(stage: str, order: Order, now: datetime) -> str:
    """The cell's HTML: a coloured span with its words and a tooltip."""
    raw = (order.sla_clocks or {}).get(stage)
    entry = ClockEntry.from_json(raw) if raw else None
    state, text, tip = cell_parts(stage, entry, now)
    return format_html(
        '<span class="e2a-clock e2a-clock--{}" title="{}">{}</span>',
        state.replace("_", "-"),
        tip,
        text,
    )


def _column(stage: Stage) -> Callable[[Order], str]:
    def column(order: Order) -> str:
        return stage_cell(stage.value, order, timezone.now())

    column.__name__ = f"sla_{stage.value}"  # the cells' CSS class: field-sla_pick
    return admin.display(description=stage.label)(column)


STAGE_COLUMNS = [_column(stage) for stage in Stage]


class SlaNowFilter(admin.SimpleListFilter):
    """Orders with a stage at risk now, by the at-risk list's definition
    (`selectors.at_risk_stages`: warning passed, not yet due), read from the same
    indexed deadline columns, so the filter costs what is at risk.

    There is no "late now" beside it: a running stage the scan has breached
    leaves the deadline columns, and finding it would read every order's memo.
    The exceptions list is where late stages are worked.
    """

    title = "SLA now"
    parameter_name = "sla_now"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [("at_risk", "At risk (past warning, not yet due)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "at_risk":
            now = timezone.now()
            return queryset.filter(sla_warn_at__lte=now, sla_due_at__gt=now)
        return queryset


ORDER_LIST_COLUMNS.extend(STAGE_COLUMNS)
ORDER_LIST_FILTERS.append(SlaNowFilter)
ORDER_ADMIN_CSS.append(CSS)
