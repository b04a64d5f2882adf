"""When each stage's clock starts, is met, or stops, read off the order projection.

The clocks are a function of the order's stage times, which the projection keeps
independent of arrival order (earliest report wins), so out-of-order events give
the same clocks as in-order ones.

- A clock starts at the first of its start fields (pick: payment; pack: pick
  completed; ship: pack completed; delivery: handover, or the first carrier scan
  when the handover itself was never reported).
- It is met by the stage's own event (for ship, the handover scan or, when the
  handover itself was not reported, the carrier's first in-transit scan, which
  proves it).
- Without its own event it stops at the first event of a later stage (the work
  must have been done by then; the missing scan is flagged after a buffer) or
  at cancellation, whichever came first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orders.models import Order

from .models import Stage, StopReason

_AFTER_SHIP = ("in_transit_at", "out_for_delivery_at", "delivery_failed_at", "delivered_at")
_AFTER_TRANSIT = ("out_for_delivery_at", "delivery_failed_at", "delivered_at")


@dataclass(frozen=True, slots=True)
class StageSpec:
    stage: Stage
    start: tuple[str, ...]
    met: tuple[str, ...]
    later: tuple[str, ...]


STAGE_SPECS: tuple[StageSpec, ...] = (
    StageSpec(
        Stage.PICK,
        ("paid_at",),
        ("picked_at",),
        (
            "pack_started_at",
            "packed_at",
            "label_printed_at",
            "manifested_at",
            "shipped_at",
            *_AFTER_SHIP,
        ),
    ),
    StageSpec(
        Stage.PACK,
        ("picked_at",),
        ("packed_at",),
        ("label_printed_at", "manifested_at", "shipped_at", *_AFTER_SHIP),
    ),
    StageSpec(Stage.SHIP, ("packed_at",), ("shipped_at", "in_transit_at"), _AFTER_TRANSIT),
    StageSpec(
        Stage.DELIVERY,
        ("shipped_at", "in_transit_at", "out_for_delivery_at"),
        ("delivered_at",),
        (),
    ),
)

# Order fields the clocks read (the ingest upsert must return them).
ORDER_FIELDS: tuple[str, ...] = tuple(
    sorted(
        {f for spec in STAGE_SPECS for f in (*spec.start, *spec.met, *spec.later)}
        | {"cancelled_at", "warehouse", "service_level", "handling", "sla_clocks"}
    )
)


@dataclass(frozen=True, slots=True)
class StageTimes:
    started_at: datetime
    met_at: datetime | None
    stopped_at: datetime | None
    stopped_by: str


def _first(order: Order, names: tuple[str, ...]) -> datetime | None:
    # A plain loop: this runs for every stage of every order an ingest call touches,
    # and a generator plus min() cost it several times more (a batch spent 5% here).
    first = None
    for name in names:
        at = getattr(order, name)
        if at is not None and (first is None or at < first):
            first = at
    return first


def stage_times(order: Order) -> dict[str, StageTimes]:
    """The stages whose clock has started, with how far each has got."""
    result: dict[str, StageTimes] = {}
    for spec in STAGE_SPECS:
        start = _first(order, spec.start)
        if start is None:
            continue
        met = _first(order, spec.met)
        stopped_at, stopped_by = None, ""
        if met is None:
            later = _first(order, spec.later)
            cancelled = order.cancelled_at
            if later is not None and (cancelled is None or later <= cancelled):
                stopped_at, stopped_by = later, StopReason.LATER_STAGE.value
            elif cancelled is not None:
                stopped_at, stopped_by = cancelled, StopReason.CANCELLED.value
        result[spec.stage.value] = StageTimes(start, met, stopped_at, stopped_by)
    return result
