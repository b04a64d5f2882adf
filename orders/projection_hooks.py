"""Hooks that run inside the ingest transaction, right after the projection.

The SLA clocks must change in the same transaction as the event that moves
them (a crash can never leave an order projected but its deadline stale), yet
`orders` must not import the apps above it. Those apps register a hook from
their AppConfig.ready(), naming the Order fields it reads so that the ingest
upsert returns them along with its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Order, Tenant


@dataclass(frozen=True, slots=True)
class Projected:
    """The orders that got new events in one ingest call, as projected.

    The orders are saved after the hooks ran: a hook that changes an order field
    says so with `mark_changed`, and the ingest UPDATE writes it with the rest.
    """

    tenant: Tenant
    orders: Sequence[Order]
    received_at: datetime
    changed_fields: dict[str, set[str]] = field(default_factory=dict)

    def mark_changed(self, order: Order, *names: str) -> None:
        self.changed_fields.setdefault(order.external_id, set()).update(names)


ProjectionHook = Callable[[Projected], None]

_hooks: list[tuple[str, ProjectionHook, tuple[str, ...]]] = []
_fields_read: tuple[str, ...] = ()


def register(name: str, hook: ProjectionHook, *, reads: Sequence[str] = ()) -> None:
    """Register a hook once under a name (re-registering replaces it)."""
    unregister(name)
    _hooks.append((name, hook, tuple(reads)))
    _remember_fields()


def unregister(name: str) -> None:
    _hooks[:] = [entry for entry in _hooks if entry[0] != name]
    _remember_fields()


def _remember_fields() -> None:
    # Worked out when hooks change, not on every ingested event.
    global _fields_read
    _fields_read = tuple(sorted({name for _, _, reads in _hooks for name in reads}))


def run(projected: Projected) -> None:
    for _, hook, _ in _hooks:
        hook(projected)


def fields_read() -> tuple[str, ...]:
    return _fields_read
