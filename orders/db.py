"""Set-based SQL that the ORM does not offer, for PostgreSQL and SQLite (≥ 3.35).

Ingestion stores up to a thousand events per request; doing that through
per-row ORM calls, or `bulk_update`'s CASE WHEN per row and field, costs far more
than the database work itself. Each helper here is one statement per chunk, and on
PostgreSQL a large chunk travels by COPY into a transaction-scoped staging table
(`ON COMMIT DELETE ROWS`) instead of a statement with tens of thousands of
parameters. The SQL text for a (model, fields) shape is built once per process.
Only identifiers from model metadata are interpolated; every value is a parameter
or COPY data.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models

# Above this many rows PostgreSQL gets COPY + INSERT/UPDATE … SELECT.
COPY_THRESHOLD = 32
# Rows per VALUES statement: SQLite allows 32,766 parameters per statement.
MAX_PARAMETERS = 30_000

_staged: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _db() -> Any:
    return connections[DEFAULT_DB_ALIAS]


def _chunk_rows(column_count: int) -> int:
    return max(1, min(1000, MAX_PARAMETERS // column_count))


@dataclass(frozen=True)
class _Shape:
    """The fields of one statement and their SQL spellings, for one vendor."""

    table: str
    fields: tuple[models.Field, ...]
    columns: str  # "col1", "col2", …
    row: str  # (%s, %s, …)
    preps: tuple[Callable[[Any, Any], Any], ...]

    def values(self, objs: Sequence[models.Model], conn: Any) -> list[Any]:
        out: list[Any] = []
        for obj in objs:
            for field, prep in zip(self.fields, self.preps, strict=True):
                out.append(prep(getattr(obj, field.attname), conn))
        return out

    def rows(self, objs: Iterable[models.Model], conn: Any) -> Iterable[list[Any]]:
        for obj in objs:
            yield [
                prep(getattr(obj, f.attname), conn)
                for f, prep in zip(self.fields, self.preps, strict=True)
            ]


@cache
def _shape(vendor: str, model: type[models.Model], names: tuple[str, ...]) -> _Shape:
    conn = _db()
    qn = conn.ops.quote_name
    opts = model._meta
    fields = tuple(opts.pk if n == "pk" else opts.get_field(n) for n in names)
    return _Shape(
        table=qn(opts.db_table),
        fields=fields,
        columns=", ".join(qn(f.column) for f in fields),
        row="(" + ", ".join(["%s"] * len(fields)) + ")",
        preps=tuple((lambda value, c, f=f: f.get_db_prep_save(value, c)) for f in fields),
    )


@cache
def _converters(vendor: str, model: type[models.Model], names: tuple[str, ...]) -> tuple:
    conn = _db()
    table = model._meta.db_table
    out = []
    for name in names:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        column = field.get_col(table)
        out.append((column, (*conn.ops.get_db_converters(column), *field.get_db_converters(conn))))
    return tuple(out)


def _from_db(model: type[models.Model], names: tuple[str, ...], rows: list[tuple]) -> list:
    """Model instances from raw rows, with the backend's and the fields' converters applied."""
    conn = _db()
    converters = _converters(conn.vendor, model, names)
    attnames = [column.target.attname for column, _ in converters]
    instances = []
    for row in rows:
        values = []
        for (column, column_converters), value in zip(converters, row, strict=True):
            for convert in column_converters:
                value = convert(value, column, conn)
            values.append(value)
        instances.append(model.from_db(conn.alias, attnames, values))
    return instances


def _stage(cursor: Any, conn: Any, shape: _Shape, model: type[models.Model]) -> str:
    """A per-connection temporary copy of the table's shape, emptied at each commit."""
    qn = conn.ops.quote_name
    stage = qn(f"e2a_stage_{model._meta.db_table}")
    done = _staged.setdefault(conn.connection, set())
    if stage not in done:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT * FROM {shape.table} WITH NO DATA"
        )
        done.add(stage)
    return stage


def _copy_into_stage(
    cursor: Any, conn: Any, model: type[models.Model], shape: _Shape, objs: Sequence[models.Model]
) -> str:
    stage = _stage(cursor, conn, shape, model)
    cursor.execute(f"TRUNCATE {stage}")
    with cursor.cursor.copy(f"COPY {stage} ({shape.columns}) FROM STDIN") as copy:
        for row in shape.rows(objs, conn):
            copy.write_row(row)
    return stage


def _returning_all(model: type[models.Model]) -> tuple[str, ...]:
    return ("pk", *(f.name for f in model._meta.concrete_fields if not f.primary_key))


def upsert_and_lock(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    conflict_fields: tuple[str, ...],
    touch_field: str,
) -> list[models.Model]:
    """Create the missing rows and lock all of them, in one statement.

    INSERT … ON CONFLICT DO UPDATE SET touch = EXCLUDED.touch RETURNING *: the
    DO UPDATE takes the row lock that SELECT … FOR UPDATE would, and RETURNING
    hands back the current rows. Rows go in sorted by the conflict key so two
    transactions always lock shared rows in the same order (no deadlock).
    """
    conn = _db()
    all_names = _returning_all(model)
    insert = _shape(conn.vendor, model, all_names[1:])
    returning = _shape(conn.vendor, model, all_names)
    key = _shape(conn.vendor, model, conflict_fields)
    touch = _shape(conn.vendor, model, (touch_field,)).columns
    objs = sorted(objs, key=lambda o: tuple(getattr(o, f.attname) for f in key.fields))
    tail = (
        f"ON CONFLICT ({key.columns}) DO UPDATE SET {touch} = EXCLUDED.{touch} "
        f"RETURNING {returning.columns}"
    )
    rows: list[tuple] = []
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql" and len(objs) > COPY_THRESHOLD:
            stage = _copy_into_stage(cursor, conn, model, insert, objs)
            cursor.execute(
                f"INSERT INTO {insert.table} ({insert.columns}) SELECT {insert.columns} "  # noqa: S608
                f"FROM {stage} ORDER BY {key.columns} {tail}"
            )
            rows = cursor.fetchall()
        else:
            step = _chunk_rows(len(insert.fields))
            for start in range(0, len(objs), step):
                chunk = objs[start : start + step]
                cursor.execute(
                    f"INSERT INTO {insert.table} ({insert.columns}) VALUES "  # noqa: S608
                    f"{', '.join([insert.row] * len(chunk))} {tail}",
                    insert.values(chunk, conn),
                )
                rows.extend(cursor.fetchall())
    return _from_db(model, all_names, rows)


def insert_new_returning(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    fields: tuple[str, ...],
    conflict_fields: tuple[str, ...],
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: only the rows this call inserted.

    Rows that already existed, or that a concurrent transaction inserted first,
    are absent from the result: exactly the "which of these are new" answer that
    exactly-once needs and `bulk_create(ignore_conflicts=True)` cannot give.
    """
    conn = _db()
    shape = _shape(conn.vendor, model, fields)
    key = _shape(conn.vendor, model, conflict_fields).columns
    tail = (
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {_shape(conn.vendor, model, returning).columns}"
    )
    inserted: list[tuple[Any, ...]] = []
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql" and len(objs) > COPY_THRESHOLD:
            stage = _copy_into_stage(cursor, conn, model, shape, objs)
            cursor.execute(
                f"INSERT INTO {shape.table} ({shape.columns}) SELECT {shape.columns} "  # noqa: S608
                f"FROM {stage} ORDER BY {key} {tail}"
            )
            inserted = cursor.fetchall()
        else:
            step = _chunk_rows(len(shape.fields))
            for start in range(0, len(objs), step):
                chunk = objs[start : start + step]
                cursor.execute(
                    f"INSERT INTO {shape.table} ({shape.columns}) VALUES "  # noqa: S608
                    f"{', '.join([shape.row] * len(chunk))} {tail}",
                    shape.values(chunk, conn),
                )
                inserted.extend(cursor.fetchall())
    return inserted


@cache
def _update_sql(
    vendor: str, model: type[models.Model], names: tuple[str, ...]
) -> tuple[str, str, str]:
    """(head, first row, tail) of a VALUES-based UPDATE for this field set."""
    conn = _db()
    shape = _shape(vendor, model, ("pk", *names))
    qn = conn.ops.quote_name
    aliases = [f"c{i}" for i in range(len(shape.fields))]
    if vendor == "postgresql":  # VALUES rows are untyped: cast the columns of the first
        first = "(" + ", ".join(f"%s::{f.db_type(conn)}" for f in shape.fields) + ")"
    else:
        first = shape.row
    sets = ", ".join(
        f"{qn(f.column)} = v.{a}" for f, a in zip(shape.fields[1:], aliases[1:], strict=True)
    )
    head = f"WITH v ({', '.join(aliases)}) AS (VALUES "
    pk = qn(shape.fields[0].column)
    tail = f") UPDATE {shape.table} AS t SET {sets} FROM v WHERE t.{pk} = v.c0"  # noqa: S608
    return head, first, tail


def update_fields(
    model: type[models.Model], objs: Sequence[models.Model], fields: tuple[str, ...]
) -> None:
    """Save `fields` of `objs` by primary key: UPDATE … FROM a VALUES list or a COPY stage.

    What `bulk_update` does without its CASE WHEN per row and field, whose
    construction alone dominated a batch.
    """
    if not objs or not fields:
        return
    conn = _db()
    shape = _shape(conn.vendor, model, ("pk", *fields))
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql" and len(objs) > COPY_THRESHOLD:
            stage = _copy_into_stage(cursor, conn, model, shape, objs)
            qn = conn.ops.quote_name
            sets = ", ".join(f"{qn(f.column)} = s.{qn(f.column)}" for f in shape.fields[1:])
            pk = qn(shape.fields[0].column)
            cursor.execute(
                f"UPDATE {shape.table} AS t SET {sets} FROM {stage} AS s "  # noqa: S608
                f"WHERE t.{pk} = s.{pk}"
            )
            return
        head, first, tail = _update_sql(conn.vendor, model, fields)
        step = _chunk_rows(len(shape.fields))
        for start in range(0, len(objs), step):
            chunk = objs[start : start + step]
            rows = ", ".join([first] + [shape.row] * (len(chunk) - 1))
            cursor.execute(head + rows + tail, shape.values(chunk, conn))
