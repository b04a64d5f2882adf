"""The clock memo on the order row (`Order.sla_clocks`) and the deadlines derived from it.

The memo is the truth about each stage's clock: ingestion keeps it in the
transaction that stores the event, with the order row locked, and everything
else that changes a clock (the scan breaching a stuck stage, sla_recompute)
changes it with the order row locked too. One entry per started stage, a
`ClockEntry`; on disk (JSON) each entry keeps the compact keys it has always had,
so rows written before the type existed read back unchanged (see `KEYS`):

    s start, hv high volume, k inputs key, p policy id, c calendar id,
    bt business time, a allowed minutes, d due, w warning (the deadline);
    m met, x stopped, xb stopped by, ms missing-scan deadline (the progress);
    lb a late completion's breach is on record; b when the scan (or
    sla_recompute) breached the stage while it ran.

`ms`, `lb` and `b` are absent until set; every other key is always written.

From it follow the order's deadline columns (`sla_due_at`, `sla_warn_at`,
`sla_stage`): the earliest deadline among the stages that still run and are
not breached. The stage chain (each stage starts when the one before completes,
and a later stage's event stops every earlier one) lets at most one stage run
at a time, so these columns describe that stage exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from orders.models import Order

from .deadlines import DeadlinePlan

DEADLINE_FIELDS = ("sla_due_at", "sla_warn_at", "sla_stage")

# ClockEntry field → its key on disk. Writers outside Python (the benchmark's bulk
# SQL) take the keys from here rather than spelling them.
KEYS: dict[str, str] = {
    "started_at": "s",
    "high_volume": "hv",
    "inputs_key": "k",
    "policy_id": "p",
    "calendar_id": "c",
    "business_time": "bt",
    "allowed_minutes": "a",
    "due_at": "d",
    "warn_at": "w",
    "met_at": "m",
    "stopped_at": "x",
    "stopped_by": "xb",
    "missing_scan_due_at": "ms",
    "late_breach_recorded": "lb",
    "breached_at": "b",
}

_parse = datetime.fromisoformat  # bound once: from_json runs per event on the ingest path


@dataclass(frozen=True, slots=True)
class ClockEntry:
    """One stage's clock as the memo holds it: an immutable value.

    Changes go through the named transitions, each returning a new entry, so a
    writer can compare the entry it started from with the one it ends with (the
    ingest hook writes nothing when they are equal). Times are aware datetimes;
    `to_json` writes them with `isoformat()`, which gives back the very string
    `from_json` read (every writer has always used `isoformat()`).
    """

    # The deadline (planned when the clock starts, again when its inputs change).
    started_at: datetime
    high_volume: bool  # judged once, when the clock starts
    inputs_key: str  # deadlines.inputs_key: what the deadline was computed from
    policy_id: int
    calendar_id: int | None
    business_time: bool
    allowed_minutes: int
    due_at: datetime
    warn_at: datetime
    # The progress.
    met_at: datetime | None = None
    stopped_at: datetime | None = None
    stopped_by: str = ""  # StopReason value, or "" while not stopped
    missing_scan_due_at: datetime | None = None
    # Breaches.
    late_breach_recorded: bool = False
    breached_at: datetime | None = None

    # ------------------------------------------------------------------ disk form

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ClockEntry:
        """The entry of one stage as stored (compact keys, ISO 8601 strings)."""
        get = raw.get
        met, stopped, scan_due, breached = get("m"), get("x"), get("ms"), get("b")
        return cls(
            _parse(raw["s"]),
            raw["hv"],
            raw["k"],
            raw["p"],
            raw["c"],
            raw["bt"],
            raw["a"],
            _parse(raw["d"]),
            _parse(raw["w"]),
            _parse(met) if met else None,
            _parse(stopped) if stopped else None,
            get("xb", ""),
            _parse(scan_due) if scan_due else None,
            get("lb", False),
            _parse(breached) if breached else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form, `b`, `ms` and `lb` only when set. Keys come in the order
        the dict-writing code left them (`b` can only be set while the clock runs,
        `ms` when it stops, `lb` when it is met), so a rewritten row's JSON text is
        the same even where the order is kept (SQLite; PostgreSQL's jsonb sorts)."""
        met, stopped = self.met_at, self.stopped_at
        raw: dict[str, Any] = {
            "s": self.started_at.isoformat(),
            "hv": self.high_volume,
            "k": self.inputs_key,
            "p": self.policy_id,
            "c": self.calendar_id,
            "bt": self.business_time,
            "a": self.allowed_minutes,
            "d": self.due_at.isoformat(),
            "w": self.warn_at.isoformat(),
            "m": met.isoformat() if met is not None else None,
            "x": stopped.isoformat() if stopped is not None else None,
            "xb": self.stopped_by,
        }
        if self.breached_at is not None:
            raw["b"] = self.breached_at.isoformat()
        if self.missing_scan_due_at is not None:
            raw["ms"] = self.missing_scan_due_at.isoformat()
        if self.late_breach_recorded:
            raw["lb"] = True
        return raw

    # ---------------------------------------------------------------- transitions

    @classmethod
    def start(
        cls,
        *,
        started_at: datetime,
        high_volume: bool,
        plan: DeadlinePlan,
        policy_id: int,
        calendar_id: int | None,
        inputs_key: str,
    ) -> ClockEntry:
        """A clock that has just started, running towards `plan`'s deadline."""
        return cls(
            started_at=started_at,
            high_volume=high_volume,
            inputs_key=inputs_key,
            policy_id=policy_id,
            calendar_id=calendar_id,
            business_time=plan.business_time,
            allowed_minutes=plan.allowed_minutes,
            due_at=plan.due_at,
            warn_at=plan.warn_at,
        )

    def replan(
        self,
        *,
        plan: DeadlinePlan,
        policy_id: int,
        calendar_id: int | None,
        inputs_key: str,
        started_at: datetime | None = None,
        high_volume: bool | None = None,
    ) -> ClockEntry:
        """The deadline planned again (its inputs changed, or sla_recompute moved it);
        the progress and the breaches on record stay: whether a breach still stands
        is the caller's judgement (`breach`, `withdraw`)."""
        return replace(
            self,
            started_at=self.started_at if started_at is None else started_at,
            high_volume=self.high_volume if high_volume is None else high_volume,
            inputs_key=inputs_key,
            policy_id=policy_id,
            calendar_id=calendar_id,
            business_time=plan.business_time,
            allowed_minutes=plan.allowed_minutes,
            due_at=plan.due_at,
            warn_at=plan.warn_at,
        )

    def meet(self, at: datetime) -> ClockEntry:
        """The stage's own event came (at `at`): met, and no longer stopped by a
        later stage's event that arrived before it."""
        if self.met_at == at and self.stopped_at is None and not self.stopped_by:
            return self
        return replace(self, met_at=at, stopped_at=None, stopped_by="")

    def stop(self, at: datetime, *, by: str) -> ClockEntry:
        """Stopped without its own event: a later stage's event or a cancellation."""
        if self.stopped_at == at and self.stopped_by == by and self.met_at is None:
            return self
        return replace(self, met_at=None, stopped_at=at, stopped_by=by)

    def breach(self, at: datetime) -> ClockEntry:
        """Breached while it ran (the scan, or sla_recompute moving the deadline into
        the past). A breach already on record keeps its time."""
        if self.breached_at is not None:
            return self
        return replace(self, breached_at=at)

    def withdraw(self) -> ClockEntry:
        """The breach no longer stands (sla_recompute moved the deadline ahead)."""
        if self.breached_at is None:
            return self
        return replace(self, breached_at=None)

    def flag_missing_scan(self, due_at: datetime) -> ClockEntry:
        """Stopped by a later stage without its own scan: the scan flags it missing at
        `due_at` unless it still comes. The first deadline stands."""
        if self.missing_scan_due_at is not None:
            return self
        return replace(self, missing_scan_due_at=due_at)

    def record_late_breach(self) -> ClockEntry:
        """A late completion's breach is now on record (the ingest hook wrote it), so a
        later event does not count it again."""
        if self.late_breach_recorded:
            return self
        return replace(self, late_breach_recorded=True)

    # ------------------------------------------------------------------- reading

    @property
    def waiting(self) -> bool:
        """Running (not met, not stopped) and not breached yet: its deadline is ahead of it."""
        return self.met_at is None and self.stopped_at is None and self.breached_at is None


Memo = dict[str, ClockEntry]


def read_memo(order: Order) -> Memo:
    """The order's clocks by stage, as its row stores them."""
    return {stage: ClockEntry.from_json(raw) for stage, raw in (order.sla_clocks or {}).items()}


def next_deadline(memo: Memo) -> tuple[datetime | None, datetime | None, str]:
    """(due, warn, stage) of the waiting stage due first, or (None, None, "")."""
    best: tuple[datetime | None, datetime | None, str] = (None, None, "")
    for stage, entry in memo.items():
        if entry.waiting and (best[0] is None or entry.due_at < best[0]):
            best = (entry.due_at, entry.warn_at, stage)
    return best


def set_deadlines(order: Order, memo: Memo) -> None:
    """Store `memo` on the order with the deadline columns it implies (not saved)."""
    order.sla_clocks = {stage: entry.to_json() for stage, entry in memo.items()}
    order.sla_due_at, order.sla_warn_at, order.sla_stage = next_deadline(memo)
