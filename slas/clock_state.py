"""A stage clock's state at one instant: the one rule, for a row and for a memo entry.

The console reads a clock in two shapes: a `StageClock` row (the clock inlines,
the API) and a `ClockEntry` of the order's memo (the order list's stage cells,
which must not read a row per order). Both carry the same six facts under the
same names, so one pure function judges both, and a cell never disagrees with
the clock row below it on the order page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

ON_TIME = "on_time"
AT_RISK = "at_risk"
BREACHED = "breached"
MET = "met"
MET_LATE = "met_late"
CANCELLED = "cancelled"
SCAN_MISSING = "scan_missing"


class ClockFacts(Protocol):
    """What the state is decided from (`StageClock` and `ClockEntry` both have it)."""

    @property
    def due_at(self) -> datetime: ...
    @property
    def warn_at(self) -> datetime: ...
    @property
    def met_at(self) -> datetime | None: ...
    @property
    def stopped_at(self) -> datetime | None: ...
    @property
    def stopped_by(self) -> str: ...
    @property
    def breached_at(self) -> datetime | None: ...


def state_at(clock: ClockFacts, now: datetime) -> str:
    """One word an operator can sort by.

    A met clock is judged against its deadline; one stopped without its own event
    is cancelled or misses its scan; a running one is breached once the scan says
    so or its deadline has passed (the scan may be a minute behind), at risk from
    its warning time, else on time.
    """
    if clock.met_at is not None:
        return MET_LATE if clock.met_at > clock.due_at else MET
    if clock.stopped_at is not None:
        return CANCELLED if clock.stopped_by == "cancelled" else SCAN_MISSING
    if clock.breached_at is not None or clock.due_at <= now:
        return BREACHED
    if clock.warn_at <= now:
        return AT_RISK
    return ON_TIME
