"""Follow-up handlers run by the worker for the orders' newly stored events.

Apps that sit above `orders` (slas, exceptions, ai) register a handler from their
AppConfig.ready(), so `orders` never imports them and dependencies keep pointing
one way. Handlers must be idempotent: a sweep may run an event's follow-up
again after a lost acknowledgement.

A handler is called once per batch with every order of the batch, each locked and
paired with its new events, so it can read and write for all of them in a few
set-based statements: a follow-up costs a fixed number of queries per message, not
per order. If any handler raises, the worker rolls the batch back and runs it again
one order at a time, so a failure stays with the order that caused it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import FollowUpFailure, Order, OrderEvent

# One locked order and its new events, oldest first.
OrderEvents = tuple["Order", Sequence["OrderEvent"]]
FollowUp = Callable[[Sequence[OrderEvents]], None]

# The order handlers run in, whatever order the apps were loaded in: the SLA
# clocks first (detection reads their rows' explanations into its evidence),
# then detection, then what explains and acts on its exceptions.
CLOCKS = 10
DETECTION = 20
ANALYSIS = 30


@dataclass(frozen=True, slots=True)
class _Registered:
    name: str
    handler: FollowUp
    rank: int


_handlers: list[_Registered] = []


def register(name: str, handler: FollowUp, *, rank: int) -> None:
    """Register a handler once under a name (re-registering replaces it).

    Handlers run by ascending `rank` (CLOCKS, DETECTION, ANALYSIS), then by name.
    """
    unregister(name)
    _handlers.append(_Registered(name, handler, rank))
    _handlers.sort(key=lambda r: (r.rank, r.name))


def unregister(name: str) -> None:
    _handlers[:] = [r for r in _handlers if r.name != name]


def handlers() -> list[tuple[str, FollowUp]]:
    return [(r.name, r.handler) for r in _handlers]


# --- parked follow-ups ------------------------------------------------------------
# Called, in the transaction that parks it, for each event whose follow-up gave up:
# the order's clocks and exceptions are stale from then on, and `exceptions`
# registers a listener that puts that in front of an operator.
Parked = Callable[["Order", "FollowUpFailure"], None]

_parked_listeners: list[tuple[str, Parked]] = []


def register_parked_listener(name: str, listener: Parked) -> None:
    _parked_listeners[:] = [(n, fn) for n, fn in _parked_listeners if n != name]
    _parked_listeners.append((name, listener))


def parked_listeners() -> list[tuple[str, Parked]]:
    return list(_parked_listeners)
