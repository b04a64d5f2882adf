"""Who hears about breach changes: the apps above `slas` (exceptions) register here.

The scan and sla_recompute call `breaches_changed` with the orders concerned,
inside the transaction that wrote the breaches, so what hangs on a breach (the
exception an operator works on) changes atomically with it. The ingest request
does not: a late event's breach is stored with the event, and the worker's
follow-up for that event reconciles the order's breaches (the exceptions app's
follow-up handler), which keeps that work off the request a sender waits for and
loses nothing (follow-ups are swept until they run). `slas` never imports those
apps; they register from AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

Listener = Callable[[set[int], datetime], None]

_listeners: dict[str, Listener] = {}


def register(name: str, listener: Listener) -> None:
    """Register under a name; registering the same name again replaces it."""
    _listeners[name] = listener


def unregister(name: str) -> None:
    _listeners.pop(name, None)


def breaches_changed(order_ids: Iterable[int], at: datetime) -> None:
    """Tell every listener that these orders' breaches were written at `at`."""
    orders = set(order_ids)
    if not orders:
        return
    for listener in list(_listeners.values()):
        listener(orders, at)
