"""Follow-up handlers run by the worker for each order's newly stored events.

Apps that sit above `orders` (slas, exceptions, ai) register a handler from their
AppConfig.ready(), so `orders` never imports them and dependencies keep pointing
one way. Handlers must be idempotent: a sweep may run an event's follow-up
again after a lost acknowledgement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Order, OrderEvent

FollowUp = Callable[["Order", Sequence["OrderEvent"]], None]

_handlers: list[tuple[str, FollowUp]] = []


def register(name: str, handler: FollowUp) -> None:
    """Register a handler once under a name (re-registering replaces it)."""
    for i, (existing, _) in enumerate(_handlers):
        if existing == name:
            _handlers[i] = (name, handler)
            return
    _handlers.append((name, handler))


def unregister(name: str) -> None:
    _handlers[:] = [(n, h) for n, h in _handlers if n != name]


def handlers() -> list[tuple[str, FollowUp]]:
    return list(_handlers)
