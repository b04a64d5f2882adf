"""Who hears about breach changes: the apps above `slas` (exceptions) register here.

Every service that inserts, updates or clears `Breach` rows calls
`breaches_changed` with the orders concerned, inside the same transaction, so
what hangs on a breach (the exception an operator works on) changes atomically
with it. `slas` never imports those apps; they register from AppConfig.ready().
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
