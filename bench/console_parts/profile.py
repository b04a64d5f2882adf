"""Where a page's time goes, in this process: one request through django.test.Client
(the whole middleware stack and template, no HTTP), every statement it runs with its
wall time (an execute wrapper), and `EXPLAIN (ANALYZE, BUFFERS)` of the slowest ones, so
that a missed ratio names its query and plan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from common import label, plan_summary, short

EXPLAINED = 2  # the slowest statements of each page that are explained


@dataclass(slots=True)
class Statement:
    sql: str
    params: Any
    seconds: float


@dataclass(slots=True)
class PageProfile:
    title: str
    user: str
    status: int
    seconds: float = 0.0
    statements: list[Statement] = field(default_factory=list)
    plans: list[tuple[Statement, list[str]]] = field(default_factory=list)

    @property
    def in_sql(self) -> float:
        return sum(s.seconds for s in self.statements)


def profile_page(
    user: Any, path: str, *, title: str, who: str, cold: bool = False, explain: bool = True
) -> PageProfile:
    """One request to `path` as `user`, after a first one that warms this process (and
    the cache); `cold` empties Django's cache between the two, so the page computes."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(user)
    client.get(path)
    if cold:
        cache.clear()
    statements: list[Statement] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append(Statement(sql, params, time.perf_counter() - started))

    with connection.execute_wrapper(record):
        started = time.perf_counter()
        response = client.get(path)
        seconds = time.perf_counter() - started
    result = PageProfile(title, who, response.status_code, seconds, statements)
    if response.status_code == 200 and explain:
        slowest = sorted(
            (s for s in statements if s.sql.lstrip().upper().startswith(("SELECT", "WITH"))),
            key=lambda s: s.seconds,
            reverse=True,
        )[:EXPLAINED]
        with connection.cursor() as cursor:
            for statement in slowest:
                try:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.params)
                    plan = [row[0] for row in cursor.fetchall()]
                except Exception as exc:
                    plan = [f"(EXPLAIN failed: {exc})"]
                result.plans.append((statement, plan))
    return result


# What a console page's plan needs beside its nodes: why rows were read and sorted.
PLAN_DETAILS = (
    "Index Cond",
    "Filter",
    "Sort Method",
    "Execution Time",
    "Planning Time",
    "(EXPLAIN",
)


def print_profile(p: PageProfile, *, top: int = 5) -> None:
    print(
        f"{p.title} as {p.user}: status {p.status}, {len(p.statements)} statements,"
        f" {p.in_sql * 1000:,.1f} ms in SQL of {p.seconds * 1000:,.1f} ms (in-process)"
    )
    for s in sorted(p.statements, key=lambda s: s.seconds, reverse=True)[:top]:
        print(f"  {s.seconds * 1000:>9,.2f} ms  {short(label(s.sql), 96)}")
    for statement, plan in p.plans:
        print(f"  EXPLAIN ANALYZE ({statement.seconds * 1000:,.1f} ms in the request):")
        print(f"    {short(' '.join(statement.sql.split()), 112)}")
        for line in plan_summary(plan, details=PLAN_DETAILS, width=116):
            print(f"    {line}")
