"""Who analyses an exception: the `ai` app registers here (exceptions never imports it).

An exception is analysed when it opens, reopens or its severity rises. The
services that do those call `analysis_requested` inside their transaction; the
listeners hear of it only after the commit, so a rolled-back change asks for
nothing and the analysis (a model call of seconds) never holds the row lock or
delays detection. A publish lost on the way is caught by the ai app's sweep.
Without a listener (the ai app not installed) the catalogue's notes stand.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

Listener = Callable[[int, str], None]  # (exception id, why: "opened", "severity", …)

_listeners: dict[str, Listener] = {}


def register(name: str, listener: Listener) -> None:
    """Register under a name; registering the same name again replaces it."""
    _listeners[name] = listener


def unregister(name: str) -> None:
    _listeners.pop(name, None)


def analysis_requested(exception_id: int, *, why: str) -> None:
    """After the current transaction commits, tell every listener."""
    for listener in list(_listeners.values()):
        transaction.on_commit(lambda listener=listener: listener(exception_id, why))
