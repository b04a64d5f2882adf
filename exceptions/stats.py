"""The `stats` report: a few tables per tenant, built by section providers in a registry.

The command lives in `exceptions`, the highest app that reads orders, slas and
exceptions today. Apps above it (ai: usage; billing: invoice totals) must not be
imported from here, so they add their sections from their `AppConfig.ready()`
with `register()`, as they do with the other registries lower apps own.

A provider is asked once for all the tenants in the report and answers per tenant
id, so the report's query count is fixed by the number of providers, not by the
number of tenants or rows: a provider must batch its reads across tenants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from orders.models import OrderStatus, Tenant
from orders.selectors import event_counts_by_tenant, order_status_counts_by_tenant
from slas.models import Stage
from slas.selectors import at_risk_stage_counts_by_tenant

from .models import ExceptionStatus
from .selectors import exception_matrix_by_tenant

Cell = str | int


@dataclass(frozen=True, slots=True)
class StatsTable:
    """One section of a tenant's report: a titled table, or a line saying it is empty."""

    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[Cell, ...]] = field(default_factory=tuple)
    empty: str = "none"


class SectionProvider(Protocol):
    def __call__(
        self, *, tenants: Sequence[Tenant], now: datetime
    ) -> Mapping[int, Sequence[StatsTable]]: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    rank: int
    provider: SectionProvider


# Ranks of the built-in sections; later apps slot in after them (AI, BILLING).
EVENTS, ORDERS, EXCEPTIONS, AT_RISK, AI, BILLING = 100, 200, 300, 400, 500, 600

_providers: dict[str, _Entry] = {}


def register(name: str, provider: SectionProvider, *, rank: int) -> None:
    """Add a section under a name, shown in rank order; the same name again replaces it."""
    _providers[name] = _Entry(rank, provider)


def unregister(name: str) -> None:
    _providers.pop(name, None)


def _sorted_providers() -> list[SectionProvider]:
    return [e.provider for _, e in sorted(_providers.items(), key=lambda kv: (kv[1].rank, kv[0]))]


def stats_report(*, tenants: Sequence[Tenant], now: datetime) -> dict[int, list[StatsTable]]:
    """Every registered section for every tenant, keyed by tenant id, sections in rank order."""
    report: dict[int, list[StatsTable]] = {t.pk: [] for t in tenants}
    if not tenants:
        return report
    for provider in _sorted_providers():
        answered = provider(tenants=tenants, now=now)
        for tenant in tenants:
            report[tenant.pk].extend(answered.get(tenant.pk, ()))
    return report


# Built-in sections (registered in ExceptionsConfig.ready()).

RECENT = timedelta(hours=24)


def events_section(*, tenants: Sequence[Tenant], now: datetime) -> dict[int, list[StatsTable]]:
    counts = event_counts_by_tenant(tenant_ids=[t.pk for t in tenants], since=now - RECENT)
    tables = {}
    for tenant in tenants:
        entry = counts.get(tenant.pk)
        rows: list[tuple[Cell, ...]] = []
        if entry is not None:
            rows = [(src, n, recent) for src, (n, recent) in sorted(entry.by_source.items())]
            rows.append(("total", entry.total, entry.recent))
        tables[tenant.pk] = [
            StatsTable("Events", ("source", "total", "received last 24 h"), rows, "no events")
        ]
    return tables


def orders_section(*, tenants: Sequence[Tenant], now: datetime) -> dict[int, list[StatsTable]]:
    counts = order_status_counts_by_tenant(tenant_ids=[t.pk for t in tenants])
    # Lifecycle order reads better than alphabetical; a status no event has set is last.
    order = [*OrderStatus.values, ""]
    tables = {}
    for tenant in tenants:
        by_status = counts.get(tenant.pk, {})
        rows: list[tuple[Cell, ...]] = [
            (status or "(not set)", by_status[status]) for status in order if status in by_status
        ]
        rows += [(s, n) for s, n in sorted(by_status.items()) if s not in order]
        if rows:
            rows.append(("total", sum(by_status.values())))
        tables[tenant.pk] = [
            StatsTable("Orders by status", ("status", "orders"), rows, "no orders")
        ]
    return tables


def exceptions_section(*, tenants: Sequence[Tenant], now: datetime) -> dict[int, list[StatsTable]]:
    matrix = exception_matrix_by_tenant(tenant_ids=[t.pk for t in tenants])
    statuses = ExceptionStatus.values
    headers = ("reason", *(s.lower() for s in statuses), "total")
    tables = {}
    for tenant in tenants:
        cells = matrix.get(tenant.pk, {})
        rows: list[tuple[Cell, ...]] = []
        for reason in sorted({r for r, _ in cells}):
            counts = [cells.get((reason, s), 0) for s in statuses]
            rows.append((reason, *counts, sum(counts)))
        if rows:
            totals = [sum(n for (_, st), n in cells.items() if st == s) for s in statuses]
            rows.append(("total", *totals, sum(totals)))
        tables[tenant.pk] = [
            StatsTable("Exceptions by reason and status", headers, rows, "no exceptions")
        ]
    return tables


def at_risk_section(*, tenants: Sequence[Tenant], now: datetime) -> dict[int, list[StatsTable]]:
    counts = at_risk_stage_counts_by_tenant(tenant_ids=[t.pk for t in tenants], now=now)
    order = Stage.values
    tables = {}
    for tenant in tenants:
        by_stage = counts.get(tenant.pk, {})
        rows: list[tuple[Cell, ...]] = [(s, by_stage[s]) for s in order if s in by_stage]
        rows += [(s, n) for s, n in sorted(by_stage.items()) if s not in order]
        if rows:
            rows.append(("total", sum(by_stage.values())))
        tables[tenant.pk] = [
            StatsTable(
                "At-risk stages (warning passed, not yet due)",
                ("stage", "running"),
                rows,
                "nothing at risk",
            )
        ]
    return tables


BUILTIN_SECTIONS: tuple[tuple[str, SectionProvider, int], ...] = (
    ("exceptions.events", events_section, EVENTS),
    ("exceptions.orders", orders_section, ORDERS),
    ("exceptions.exceptions", exceptions_section, EXCEPTIONS),
    ("exceptions.at_risk", at_risk_section, AT_RISK),
)


def render_table(table: StatsTable) -> list[str]:
    """Plain-text lines with aligned columns: text left, numbers right (they compare by eye)."""
    lines = [table.title]
    if not table.rows:
        return [*lines, f"  ({table.empty})"]
    cells = [tuple(str(c) for c in row) for row in (table.headers, *table.rows)]
    numeric = [
        all(isinstance(row[i], int) for row in table.rows) for i in range(len(table.headers))
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.headers))]

    def line(row: tuple[str, ...]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        return ("  " + "  ".join(parts)).rstrip()

    lines.append(line(cells[0]))
    lines.append("  " + "  ".join("-" * w for w in widths))
    lines.extend(line(row) for row in cells[1:])
    return lines
