"""What the bench reads back from the database: the backlog and the exceptions opened."""

from __future__ import annotations

import psycopg


def backlog(db: psycopg.Connection, prefix: str) -> tuple[int, int]:
    """(events not yet followed up, exceptions without notes) of the orders `prefix` names."""
    return backlog_like(db, f"#{prefix}-%")


def backlog_like(db: psycopg.Connection, like: str) -> tuple[int, int]:
    """The same for every order whose external id matches `like` (the soak's many streams
    at once: `PipelineLoad.orders_like`)."""
    events = db.execute(
        "SELECT count(*) FROM orders_orderevent e JOIN orders_order o ON o.id = e.order_id"
        " WHERE o.external_id LIKE %s AND e.processed_at IS NULL",
        [like],
    ).fetchone()[0]
    unexplained = db.execute(
        "SELECT count(*) FROM exceptions_orderexception x JOIN orders_order o ON o.id = x.order_id"
        " WHERE o.external_id LIKE %s AND x.current_explanation_id IS NULL",
        [like],
    ).fetchone()[0]
    return int(events), int(unexplained)


def opened(db: psycopg.Connection, prefix: str) -> int:
    return int(
        db.execute(
            "SELECT count(*) FROM exceptions_orderexception x JOIN orders_order o"
            " ON o.id = x.order_id WHERE o.external_id LIKE %s",
            [f"#{prefix}-%"],
        ).fetchone()[0]
    )


def exception_times(db: psycopg.Connection, order_ids: list[str]) -> dict[str, tuple[float, float]]:
    """order id → (exception created, its first notes created), as epoch seconds."""
    rows = db.execute(
        "SELECT o.external_id, extract(epoch FROM x.created_at),"
        " extract(epoch FROM (SELECT min(e.created_at) FROM exceptions_explanation e"
        "  WHERE e.exception_id = x.id))"
        " FROM exceptions_orderexception x JOIN orders_order o ON o.id = x.order_id"
        " WHERE o.external_id = ANY(%s)",
        [order_ids],
    ).fetchall()
    return {ext: (float(made), float(noted or "nan")) for ext, made, noted in rows}


def received_times(db: psycopg.Connection, order_ids: list[str]) -> dict[str, float]:
    """order id → when E²A received its latest event (the view's `received_at`), epoch s."""
    rows = db.execute(
        "SELECT o.external_id, extract(epoch FROM max(e.received_at))"
        " FROM orders_order o JOIN orders_orderevent e ON e.order_id = o.id"
        " WHERE o.external_id = ANY(%s) GROUP BY o.external_id",
        [order_ids],
    ).fetchall()
    return {ext: float(at) for ext, at in rows}


def unprocessed(db: psycopg.Connection, order_ids: list[str]) -> int:
    return int(
        db.execute(
            "SELECT count(*) FROM orders_orderevent e JOIN orders_order o ON o.id = e.order_id"
            " WHERE o.external_id = ANY(%s) AND e.processed_at IS NULL",
            [order_ids],
        ).fetchone()[0]
    )
