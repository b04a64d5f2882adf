"""Set-based SQL the ORM does not offer directly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def insert_returning_new(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    fields: Sequence[str],
    conflict_fields: Sequence[str],
    returning: Sequence[str],
    chunk_size: int = 500,
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING, for PostgreSQL and SQLite ≥ 3.35.

    Returns the `returning` columns of the rows this statement inserted: rows that
    already existed (or that a concurrent transaction inserted first) are absent.
    That is exactly the "which of these events are new" answer exactly-once needs;
    `bulk_create(ignore_conflicts=True)` cannot give it.
    """
    opts = model._meta
    qn = connection.ops.quote_name
    columns = [opts.get_field(name) for name in fields]
    column_sql = ", ".join(qn(c.column) for c in columns)
    conflict_sql = ", ".join(qn(opts.get_field(n).column) for n in conflict_fields)
    returning_sql = ", ".join(qn(opts.get_field(n).column) for n in returning)
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    inserted: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(objs), chunk_size):
            chunk = objs[start : start + chunk_size]
            # Only identifiers from model metadata are interpolated; values are parameters.
            sql = (
                f"INSERT INTO {qn(opts.db_table)} ({column_sql}) VALUES "  # noqa: S608
                f"{', '.join([row_sql] * len(chunk))} "
                f"ON CONFLICT ({conflict_sql}) DO NOTHING RETURNING {returning_sql}"
            )
            params = [
                column.get_db_prep_save(getattr(obj, column.attname), connection)
                for obj in chunk
                for column in columns
            ]
            cursor.execute(sql, params)
            inserted.extend(cursor.fetchall())
    return inserted
