"""Set-based SQL that the ORM does not offer, for PostgreSQL and SQLite (≥ 3.35).

Ingestion stores up to a thousand events per request; doing that through
per-row ORM calls, or `bulk_update`'s CASE WHEN per row and field, costs far more
than the database work itself. Each helper here is one statement per chunk, and on
PostgreSQL a large chunk travels by COPY into a transaction-scoped staging table
(`ON COMMIT DELETE ROWS`) instead of a statement with tens of thousands of
parameters. Only identifiers taken from model metadata are interpolated into SQL;
every value is a parameter or COPY data.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models

# Above this many rows PostgreSQL gets COPY + INSERT/UPDATE … SELECT.
COPY_THRESHOLD = 32
# Rows per VALUES statement: SQLite allows 32,766 parameters per statement.
MAX_PARAMETERS = 30_000


def _chunk_rows(column_count: int) -> int:
    return max(1, min(1000, MAX_PARAMETERS // column_count))


_staged: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _prep(fields: Sequence[models.Field], obj: models.Model) -> list[Any]:
    return [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]


def _stage(cursor: Any, model: type[models.Model]) -> str:
    """A per-connection temporary copy of the table's shape, emptied at each commit."""
    table = model._meta.db_table
    stage = f"e2a_stage_{table}"
    raw_connection = connection.connection
    done = _staged.setdefault(raw_connection, set())
    if stage not in done:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_qn(stage)} ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT * FROM {_qn(table)} WITH NO DATA"
        )
        done.add(stage)
    return stage


def _copy_into_stage(
    cursor: Any, model: type[models.Model], fields: Sequence[models.Field], rows: Iterable[list]
) -> str:
    stage = _stage(cursor, model)
    cursor.execute(f"TRUNCATE {_qn(stage)}")
    columns = ", ".join(_qn(f.column) for f in fields)
    with cursor.cursor.copy(f"COPY {_qn(stage)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return stage


def _from_db(model: type[models.Model], fields: Sequence[models.Field], rows: list[tuple]) -> list:
    """Model instances from raw rows, with the backend's and the fields' converters applied."""
    table = model._meta.db_table
    converters = []
    for field in fields:
        column = field.get_col(table)
        converters.append(
            (
                column,
                [*connection.ops.get_db_converters(column), *field.get_db_converters(connection)],
            )
        )
    names = [f.attname for f in fields]
    instances = []
    for row in rows:
        values = []
        for (column, column_converters), value in zip(converters, row, strict=True):
            for convert in column_converters:
                value = convert(value, column, connection)
            values.append(value)
        instances.append(model.from_db(connection.alias, names, values))
    return instances


def upsert_and_lock(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    conflict_fields: Sequence[str],
    touch_field: str,
) -> list[models.Model]:
    """Create the missing rows and lock all of them, in one statement.

    INSERT … ON CONFLICT DO UPDATE SET touch = EXCLUDED.touch RETURNING *: the
    DO UPDATE takes the row lock that SELECT … FOR UPDATE would, and RETURNING
    hands back the current rows. Rows go in sorted by the conflict key so two
    transactions always lock shared rows in the same order (no deadlock).
    """
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    all_fields = [opts.pk, *fields]
    key = [opts.get_field(n) for n in conflict_fields]
    objs = sorted(objs, key=lambda o: tuple(getattr(o, f.attname) for f in key))
    columns = ", ".join(_qn(f.column) for f in fields)
    conflict = ", ".join(_qn(f.column) for f in key)
    touch = _qn(opts.get_field(touch_field).column)
    tail = (
        f"ON CONFLICT ({conflict}) DO UPDATE SET {touch} = EXCLUDED.{touch} "
        f"RETURNING {', '.join(_qn(f.column) for f in all_fields)}"
    )
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        if _is_postgres() and len(objs) > COPY_THRESHOLD:
            stage = _copy_into_stage(cursor, model, fields, (_prep(fields, o) for o in objs))
            cursor.execute(
                f"INSERT INTO {_qn(opts.db_table)} ({columns}) SELECT {columns} "  # noqa: S608
                f"FROM {_qn(stage)} ORDER BY {conflict} {tail}"
            )
            rows = cursor.fetchall()
        else:
            row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
            step = _chunk_rows(len(fields))
            for start in range(0, len(objs), step):
                chunk = objs[start : start + step]
                cursor.execute(
                    f"INSERT INTO {_qn(opts.db_table)} ({columns}) VALUES "  # noqa: S608
                    f"{', '.join([row_sql] * len(chunk))} {tail}",
                    [value for o in chunk for value in _prep(fields, o)],
                )
                rows.extend(cursor.fetchall())
    return _from_db(model, all_fields, rows)


def insert_new_returning(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    fields: Sequence[str],
    conflict_fields: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: only the rows this call inserted.

    Rows that already existed, or that a concurrent transaction inserted first,
    are absent from the result: exactly the "which of these are new" answer that
    exactly-once needs and `bulk_create(ignore_conflicts=True)` cannot give.
    """
    opts = model._meta
    columns_f = [opts.get_field(n) for n in fields]
    columns = ", ".join(_qn(f.column) for f in columns_f)
    conflict = ", ".join(_qn(opts.get_field(n).column) for n in conflict_fields)
    tail = (
        f"ON CONFLICT ({conflict}) DO NOTHING "
        f"RETURNING {', '.join(_qn(opts.get_field(n).column) for n in returning)}"
    )
    inserted: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if _is_postgres() and len(objs) > COPY_THRESHOLD:
            stage = _copy_into_stage(cursor, model, columns_f, (_prep(columns_f, o) for o in objs))
            cursor.execute(
                f"INSERT INTO {_qn(opts.db_table)} ({columns}) SELECT {columns} "  # noqa: S608
                f"FROM {_qn(stage)} ORDER BY {conflict} {tail}"
            )
            inserted = cursor.fetchall()
        else:
            row_sql = "(" + ", ".join(["%s"] * len(columns_f)) + ")"
            step = _chunk_rows(len(columns_f))
            for start in range(0, len(objs), step):
                chunk = objs[start : start + step]
                cursor.execute(
                    f"INSERT INTO {_qn(opts.db_table)} ({columns}) VALUES "  # noqa: S608
                    f"{', '.join([row_sql] * len(chunk))} {tail}",
                    [value for o in chunk for value in _prep(columns_f, o)],
                )
                inserted.extend(cursor.fetchall())
    return inserted


def update_fields(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]
) -> None:
    """Save `fields` of `objs` by primary key: UPDATE … FROM a VALUES list or a COPY stage.

    What `bulk_update` does without its CASE WHEN per row and field, whose
    construction alone dominated a batch.
    """
    if not objs or not fields:
        return
    opts = model._meta
    pk = opts.pk
    columns_f = [pk, *(opts.get_field(n) for n in fields)]
    table = _qn(opts.db_table)
    pk_col = _qn(pk.column)
    with connection.cursor() as cursor:
        if _is_postgres() and len(objs) > COPY_THRESHOLD:
            stage = _copy_into_stage(cursor, model, columns_f, (_prep(columns_f, o) for o in objs))
            sets = ", ".join(f"{_qn(f.column)} = s.{_qn(f.column)}" for f in columns_f[1:])
            cursor.execute(
                f"UPDATE {table} AS t SET {sets} FROM {_qn(stage)} AS s "  # noqa: S608
                f"WHERE t.{pk_col} = s.{pk_col}"
            )
            return
        names = [f"c{i}" for i in range(len(columns_f))]
        if _is_postgres():  # VALUES rows are untyped: cast the columns of the first
            first = ", ".join(f"%s::{f.db_type(connection)}" for f in columns_f)
        else:
            first = ", ".join(["%s"] * len(columns_f))
        other = ", ".join(["%s"] * len(columns_f))
        sets = ", ".join(
            f"{_qn(f.column)} = v.{n}" for f, n in zip(columns_f[1:], names[1:], strict=True)
        )
        step = _chunk_rows(len(columns_f))
        for start in range(0, len(objs), step):
            chunk = objs[start : start + step]
            values = ", ".join([f"({first})"] + [f"({other})"] * (len(chunk) - 1))
            cursor.execute(
                f"WITH v ({', '.join(names)}) AS (VALUES {values}) "  # noqa: S608
                f"UPDATE {table} AS t SET {sets} FROM v WHERE t.{pk_col} = v.c0",
                [value for o in chunk for value in _prep(columns_f, o)],
            )
