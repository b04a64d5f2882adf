"""Set-based SQL that the ORM does not offer, for PostgreSQL and SQLite (≥ 3.35).

Ingestion stores up to a thousand events per request; doing that through
per-row ORM calls, or `bulk_update`'s CASE WHEN per row and field, costs far more
than the database work itself. Each helper here is one statement per chunk, and on
PostgreSQL a large chunk travels by COPY into a transaction-scoped staging table
(`ON COMMIT DELETE ROWS`) instead of a statement with tens of thousands of
parameters. The SQL text and value conversions for a (model, fields) shape are
worked out once per process. Only identifiers from model metadata are
interpolated; every value is a parameter or COPY data, except the models' own
constant column defaults, which are quoted literals (`_default_literals`).

On PostgreSQL a statement for a few rows (a single event's) is a prepared
statement: the same few shapes run for every event, and parsing, analysing and
planning them again each time was about a third of the database's CPU per
event. Larger statements vary in length and run once, so they are sent as
before. Prepared statements live on the connection, so a pooler in front of
PostgreSQL must keep a session per client connection (or track protocol-level
prepared statements, as PgBouncer ≥ 1.21 does with max_prepared_statements).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache, cached_property
from typing import Any
from weakref import WeakKeyDictionary

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models.fields import NOT_PROVIDED
from psycopg.types.json import Jsonb

# Above this many rows PostgreSQL gets COPY + INSERT/UPDATE … SELECT.
COPY_THRESHOLD = 32
# Rows per VALUES statement: SQLite allows 32,766 parameters per statement.
MAX_PARAMETERS = 30_000
# Statements for at most this many rows are prepared on PostgreSQL (module docstring):
# few enough shapes per statement kind that the connection's cache keeps them all.
PREPARE_MAX_ROWS = 4

# Field types whose database value is the Python value itself, on every backend.
_PLAIN_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "ForeignKey",
        "IntegerField",
        "PositiveIntegerField",
        "SlugField",
        "TextField",
    }
)

Prep = Callable[[Any, Any], Any]


def _db() -> Any:
    return connections[DEFAULT_DB_ALIAS]


def _chunk_rows(column_count: int) -> int:
    return max(1, min(1000, MAX_PARAMETERS // column_count))


@contextmanager
def _cursor(*, rows: int) -> Iterator[Any]:
    """A Django cursor for a statement about `rows` rows; a preparing one when that is few.

    On PostgreSQL a small statement goes through the connection's server-side
    binding cursor, which psycopg prepares once the connection has run it
    `prepare_threshold` times (settings.py sets it; the ORM's client-side binding
    cursors never prepare). It is wrapped the way `connection.cursor()` wraps its
    own (`_prepare_cursor`), so execute wrappers, query logging and error
    translation all still apply, and it stays open for the next statement.
    """
    conn = _db()
    # `_prepare_cursor` is Django's private hook (5.2); without it, no preparing.
    # tests/test_db_helpers.py fails loudly on a release that changed it.
    prepare = getattr(conn, "_prepare_cursor", None)
    if conn.vendor != "postgresql" or rows > PREPARE_MAX_ROWS or prepare is None:
        with conn.cursor() as cursor:
            yield cursor
        return
    conn.ensure_connection()
    with conn.wrap_database_errors:
        cursor = prepare(_binding_cursor(conn))
    yield cursor


# One server-side binding cursor per connection, kept: its adapters remember the
# dumper of each parameter type, which a new cursor looks up again per statement.
# Kept per Django connection wrapper (one per thread and alias, living as long as
# the thread), not per psycopg connection: a cursor holds its psycopg connection,
# so a weak key on that connection was never released, and each reconnect (every
# CONN_MAX_AGE, every outage) kept the closed connection alive for good.
_binding_cursors: WeakKeyDictionary[Any, psycopg.Cursor] = WeakKeyDictionary()


def _binding_cursor(conn: Any) -> psycopg.Cursor:
    """The kept binding cursor of `conn`'s current psycopg connection.

    A new one after a reconnect: the previous cursor (and with it the previous,
    closed connection and its prepared statements) is dropped.
    """
    raw = conn.connection
    cursor = _binding_cursors.get(conn)
    if cursor is None or cursor.closed or cursor.connection is not raw:
        cursor = _binding_cursors[conn] = psycopg.Cursor(raw)
    return cursor


def _run_chunks(
    rows: Sequence[Any],
    params_per_row: int,
    statement: Callable[[Sequence[Any]], tuple[str, list[Any]]],
    *,
    fetch: bool,
) -> list[tuple]:
    """Run `statement(chunk)` (its SQL and parameters) once per chunk of rows.

    Chunks keep every statement under SQLite's parameter limit. `fetch` says the
    statement returns rows (asking the cursor for its description instead costs
    more than a small statement's execution).
    """
    fetched: list[tuple] = []
    step = _chunk_rows(params_per_row)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        sql, params = statement(chunk)
        with _cursor(rows=len(chunk)) as cursor:
            cursor.execute(sql, params)
            if fetch:
                fetched.extend(cursor.fetchall())
    return fetched


def _values(row_sql: str, count: int, first_row_sql: str | None = None) -> str:
    """A VALUES list body of `count` rows; `first_row_sql` lets the first carry casts
    (PostgreSQL types a VALUES list by its first row)."""
    return ", ".join([first_row_sql or row_sql] + [row_sql] * (count - 1))


def _execute_values(
    rows: Sequence[Sequence[Any]],
    row_sql: str,
    statement: Callable[[str], str],
    *,
    fetch: bool,
    first_row_sql: str | None = None,
) -> list[tuple]:
    """Run `statement(values_sql)` with the rows as its VALUES list, chunk by chunk."""
    return _run_chunks(
        rows,
        len(rows[0]) if rows else 1,
        lambda chunk: (
            statement(_values(row_sql, len(chunk), first_row_sql)),
            [value for row in chunk for value in row],
        ),
        fetch=fetch,
    )


def _identity(value: Any, _conn: Any) -> Any:
    return value


def _jsonb(value: Any, _conn: Any) -> Any:
    return None if value is None else Jsonb(value, dumps=orjson.dumps)


def _prep_function(vendor: str, field: models.Field) -> Prep:
    """How a value of this field goes to the database; identity where Django's is.

    Django's get_db_prep_save per value and field cost more than the SQL for a
    batch. Most columns here are strings and integers that the driver takes as
    they are; jsonb goes through orjson (these values were parsed by orjson).
    """
    kind = field.get_internal_type()
    if kind in _PLAIN_TYPES or (vendor == "postgresql" and kind == "DateTimeField"):
        return _identity
    if vendor == "postgresql" and kind == "JSONField":
        return _jsonb
    return lambda value, conn: field.get_db_prep_save(value, conn)


@dataclass(frozen=True)
class _Shape:
    """The fields of one statement, their SQL spellings and conversions, for one vendor."""

    table: str
    fields: tuple[models.Field, ...]
    names: tuple[str, ...]
    columns: str  # "col1", "col2", … (then any constant columns)
    row: str  # (%s, %s, …) (then the constants' literals)
    preps: tuple[Prep, ...]
    # COPY carries only the parameter columns; INSERT … SELECT adds the constants.
    copy_columns: str
    select_list: str
    # The names a row must carry; `names` may end with fields whose callable
    # default is called for every row instead (`_shape_with_defaults`).
    row_names: tuple[str, ...] = ()
    row_defaults: tuple[Callable[[], Any], ...] = ()

    def row_values(self, row: Mapping[str, Any], conn: Any) -> list[Any]:
        values = [row[n] for n in self.row_names]
        if self.row_defaults:
            values += [default() for default in self.row_defaults]
        return self._prepared(values, conn)

    def object_values(self, obj: models.Model, conn: Any) -> list[Any]:
        return self._prepared([getattr(obj, f.attname) for f in self.fields], conn)

    def _prepared(self, values: list[Any], conn: Any) -> list[Any]:
        # Most values go as they are: only the positions with a real conversion are
        # visited (a batch prepares ~35 values per event, 30 of them identities).
        for index in self.converting:
            values[index] = self.preps[index](values[index], conn)
        return values

    @cached_property
    def converting(self) -> tuple[int, ...]:
        return tuple(i for i, prep in enumerate(self.preps) if prep is not _identity)


@cache
def _shape(vendor: str, model: type[models.Model], names: tuple[str, ...]) -> _Shape:
    conn = _db()
    qn = conn.ops.quote_name
    opts = model._meta
    fields = tuple(opts.pk if n == "pk" else opts.get_field(n) for n in names)
    columns = ", ".join(qn(f.column) for f in fields)
    return _Shape(
        table=qn(opts.db_table),
        fields=fields,
        names=names,
        columns=columns,
        row="(" + ", ".join(["%s"] * len(fields)) + ")",
        preps=tuple(_prep_function(vendor, f) for f in fields),
        copy_columns=columns,
        select_list=columns,
        row_names=names,
    )


@cache
def _shape_with_defaults(vendor: str, model: type[models.Model], given: tuple[str, ...]) -> _Shape:
    """The shape of an INSERT of the `given` fields that writes every other field's
    default too: a constant spelled as a literal in the statement, a callable
    called for each row.

    A prepared statement carries the constants for free; as parameters, an order's
    three dozen defaults were dumped and sent again for every event. Every field
    is written, so a NOT NULL column added later with a default (which the
    migration leaves without a database default) cannot fail these inserts.
    """
    callables = {
        name: default for name, default in _callable_defaults(model).items() if name not in given
    }
    shape = _shape(vendor, model, (*given, *callables))
    if callables:
        shape = replace(shape, row_names=given, row_defaults=tuple(callables.values()))
    literals = {
        name: lit for name, lit in _default_literals(vendor, model).items() if name not in given
    }
    if not literals:
        return shape
    qn = _db().ops.quote_name
    constant_columns = ", ".join(qn(model._meta.get_field(n).column) for n in literals)
    values = ", ".join(literals.values())
    return replace(
        shape,
        columns=f"{shape.columns}, {constant_columns}",
        # A VALUES row always goes out with parameters: a literal % must be doubled.
        row=f"{shape.row[:-1]}, {values.replace('%', '%%')})",
        select_list=f"{shape.columns}, {values}",
    )


@cache
def _converters(vendor: str, model: type[models.Model], names: tuple[str, ...]) -> tuple:
    conn = _db()
    table = model._meta.db_table
    out = []
    for name in names:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        column = field.get_col(table)
        converters = tuple(
            _fast_json(field) if convert == getattr(field, "from_db_value", None) else convert
            for convert in (*conn.ops.get_db_converters(column), *field.get_db_converters(conn))
        )
        out.append((column, converters))
    return tuple(out)


def _fast_json(field: models.Field) -> Callable[[Any, Any, Any], Any]:
    """JSONField.from_db_value with orjson, for a field without a custom decoder.

    A batch converts three JSON columns of a thousand order rows, and the standard
    library's decoder was 3% of its time. Anything orjson refuses goes to the
    field's own converter, so the values are the same as Django's.
    """
    if not isinstance(field, models.JSONField) or field.decoder is not None:
        return field.from_db_value

    def from_db_value(value: Any, expression: Any, connection: Any) -> Any:
        if not isinstance(value, str | bytes):
            return field.from_db_value(value, expression, connection)
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return field.from_db_value(value, expression, connection)

    return from_db_value


def _from_db(model: type[models.Model], names: tuple[str, ...], rows: list[tuple]) -> list:
    """Model instances from raw rows, with the backend's and the fields' converters applied.

    `names` must follow the model's field order (Model.from_db maps partial rows by it).
    """
    conn = _db()
    attnames = [column.target.attname for column, _ in _converters(conn.vendor, model, names)]
    return [
        model.from_db(conn.alias, attnames, list(values))
        for values in _converted(model, names, rows)
    ]


def _stage(cursor: Any, conn: Any, model: type[models.Model], shape: _Shape) -> str:
    """A temporary copy of the table's shape for this connection, emptied at each commit.

    Asked for on every use (IF NOT EXISTS) rather than remembered: a transaction
    that created it and then rolled back took the table with it.
    """
    stage = conn.ops.quote_name(f"e2a_stage_{model._meta.db_table}")
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608
        f"SELECT * FROM {shape.table} WITH NO DATA"
    )
    return stage


def _copy_into_stage(
    cursor: Any, conn: Any, model: type[models.Model], shape: _Shape, rows: Iterable[list]
) -> str:
    stage = _stage(cursor, conn, model, shape)
    cursor.execute(f"TRUNCATE {stage}")
    with cursor.cursor.copy(f"COPY {stage} ({shape.copy_columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return stage


def _by_key(rows: Sequence[Mapping[str, Any]], fields: tuple[str, ...]) -> list:
    """Rows in conflict-key order, so two transactions writing shared rows lock them in
    the same order and cannot deadlock (the COPY path sorts in SQL; VALUES keeps this)."""
    return sorted(rows, key=lambda r: tuple(r[n] for n in fields))


def _insert(
    model: type[models.Model],
    shape: _Shape,
    rows: Sequence[list],
    *,
    order_by: str,
    tail: str,
    also_existing: tuple[_Shape, _Shape, Sequence[tuple]] | None = None,
) -> list[tuple]:
    """INSERT the prepared rows (VALUES, or COPY + SELECT when large) and fetch RETURNING.

    `also_existing` = (returned columns, key columns, each row's key values) makes it
    the statement of `upsert_and_lock`: the rows it did not insert come back too.
    """
    conn = _db()
    head = f"INSERT INTO {shape.table} ({shape.columns})"
    if conn.vendor == "postgresql" and len(rows) > COPY_THRESHOLD:
        with conn.cursor() as cursor:
            stage = _copy_into_stage(cursor, conn, model, shape, rows)
            sql = f"{head} SELECT {shape.select_list} FROM {stage} ORDER BY {order_by} {tail}"  # noqa: S608
            if also_existing is not None:
                out, key, _keys = also_existing
                sql = _with_existing(sql, out, key, f"SELECT {key.columns} FROM {stage}")  # noqa: S608
            cursor.execute(sql)
            return cursor.fetchall()
    if also_existing is None:
        return _execute_values(
            rows, shape.row, lambda values: f"{head} VALUES {values} {tail}", fetch=True
        )
    out, key, keys = also_existing
    keyed = list(zip(rows, keys, strict=True))
    return _run_chunks(
        keyed,
        len(shape.fields) + len(key.fields),
        lambda chunk: (
            _with_existing(
                f"{head} VALUES {_values(shape.row, len(chunk))} {tail}",
                out,
                key,
                _values(key.row, len(chunk)),
            ),
            [v for row, _ in chunk for v in row]
            + [v for _, key_values in chunk for v in key_values],
        ),
        fetch=True,
    )


@cache
def _callable_defaults(model: type[models.Model]) -> dict[str, Callable[[], Any]]:
    """Fields whose default is computed (timezone.now, uuid4…), by name."""
    return {
        field.name: field.default
        for field in model._meta.concrete_fields
        if not field.primary_key
        and field.default is not NOT_PROVIDED  # a class, so callable too
        and callable(field.default)
        and field.default not in (dict, list)
    }


@cache
def _default_literals(vendor: str, model: type[models.Model]) -> dict[str, str]:
    """Each field's default when it is a constant (or an empty dict/list), as an SQL literal.

    Quoted the way migrations quote column defaults (the schema editor's
    quote_value). The values come from the model's definition, never from a request.
    """
    conn = _db()
    conn.ensure_connection()
    quote = conn.schema_editor().quote_value
    out: dict[str, str] = {}
    for field in model._meta.concrete_fields:
        default = field.default
        if field.primary_key:
            continue
        if default is NOT_PROVIDED:
            if field.null:
                value = None
            elif field.empty_strings_allowed:
                value = ""
            else:
                continue  # anything else without a default: the caller must give it
        elif callable(default) and default not in (dict, list):
            continue  # e.g. timezone.now: called per row (_callable_defaults)
        else:
            value = default() if callable(default) else default
        prepared = _prep_function(vendor, field)(value, conn)
        out[field.name] = "NULL" if prepared is None else quote(prepared)
    return out


def upsert_and_lock(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_fields: tuple[str, ...],
    returning: tuple[str, ...],
) -> list[models.Model]:
    """Create the missing rows and lock all of them; return their current values.

    One statement (per chunk): INSERT … ON CONFLICT DO UPDATE … WHERE false
    creates the missing rows and locks every conflicting one as a DO UPDATE
    would, without writing a new row version; its RETURNING hands back the rows
    it inserted, and a SELECT … FOR UPDATE in the same statement hands back the
    existing ones in their latest committed version (READ COMMITTED re-reads a
    row that changed while the statement waited for its lock). Rows go in sorted
    by the conflict key, so two transactions lock shared rows in the same order
    and cannot deadlock.

    A row that a concurrent transaction inserted after the statement began is
    locked by the INSERT but visible to neither part; it is read by a second
    SELECT, which only such a race needs. SQLite has no INSERT inside WITH: there
    the second SELECT reads every existing row (its one writer at a time holds
    the database lock throughout). Fields a row leaves out take their constant
    default; the instances defer every field not in `returning`.
    """
    conn = _db()
    # Model.from_db maps partial values by the model's field order: return in that order.
    wanted = set(returning) | set(conflict_fields)
    names_out = (
        "pk",
        *(f.name for f in model._meta.concrete_fields if f.name in wanted and not f.primary_key),
    )
    out = _shape(conn.vendor, model, names_out)
    key = _shape(conn.vendor, model, conflict_fields)
    key_positions = [names_out.index(n) for n in conflict_fields]
    shape = _shape_with_defaults(conn.vendor, model, tuple(rows[0]) if rows else ())
    ordered = _by_key(rows, conflict_fields)
    keys = [tuple(r[n] for n in conflict_fields) for r in ordered]
    first_key = _shape(conn.vendor, model, conflict_fields[:1]).columns
    fetched = _insert(
        model,
        shape,
        [shape.row_values(r, conn) for r in ordered],
        order_by=key.columns,
        tail=(
            f"ON CONFLICT ({key.columns}) DO UPDATE SET {first_key} = EXCLUDED.{first_key} "
            f"WHERE FALSE RETURNING {out.columns}"
        ),
        also_existing=(out, key, keys) if conn.vendor == "postgresql" else None,
    )
    found = {tuple(row[i] for i in key_positions) for row in fetched}
    raced = [k for k in keys if k not in found]
    if raced:
        fetched += _execute_values(
            raced,
            key.row,
            lambda values: (
                f"SELECT {out.columns} FROM {out.table} "  # noqa: S608
                f"WHERE ({key.columns}) IN ({values})"
            ),
            fetch=True,
        )
    return _from_db(model, names_out, fetched)


def _with_existing(insert_sql: str, out: _Shape, key: _Shape, keys_sql: str) -> str:
    """The INSERT's returned rows plus the existing rows whose keys `keys_sql` lists, locked."""
    return (
        f"WITH ins AS ({insert_sql}) SELECT {out.columns} FROM ins UNION ALL "  # noqa: S608
        f"SELECT {out.columns} FROM (SELECT {out.columns} FROM {out.table} "
        f"WHERE ({key.columns}) IN ({keys_sql}) FOR UPDATE) AS existing"
    )


def insert_new_returning(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_fields: tuple[str, ...],
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: only the rows this call inserted.

    Rows that already existed, or that a concurrent transaction inserted first,
    are absent from the result: exactly the "which of these are new" answer that
    exactly-once needs and `bulk_create(ignore_conflicts=True)` cannot give.
    """
    if not rows:
        return []
    conn = _db()
    shape = _shape_with_defaults(conn.vendor, model, tuple(rows[0]))
    key = _shape(conn.vendor, model, conflict_fields).columns
    returning_columns = _shape(conn.vendor, model, returning).columns
    return _insert(
        model,
        shape,
        [shape.row_values(r, conn) for r in rows],
        order_by=key,
        tail=f"ON CONFLICT ({key}) DO NOTHING RETURNING {returning_columns}",
    )


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
    rows = [shape.object_values(o, conn) for o in objs]
    if conn.vendor == "postgresql" and len(rows) > COPY_THRESHOLD:
        with conn.cursor() as cursor:
            stage = _copy_into_stage(cursor, conn, model, shape, rows)
            qn = conn.ops.quote_name
            sets = ", ".join(f"{qn(f.column)} = s.{qn(f.column)}" for f in shape.fields[1:])
            pk = qn(shape.fields[0].column)
            cursor.execute(
                f"UPDATE {shape.table} AS t SET {sets} FROM {stage} AS s "  # noqa: S608
                f"WHERE t.{pk} = s.{pk}"
            )
        return
    head, first, tail = _update_sql(conn.vendor, model, fields)
    _execute_values(
        rows, shape.row, lambda values: head + values + tail, fetch=False, first_row_sql=first
    )


def upsert_returning(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_fields: tuple[str, ...],
    update_fields: tuple[str, ...],
    keep_unless: Mapping[str, str] | None = None,
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT (key) DO UPDATE SET each of `update_fields` … RETURNING.

    `keep_unless` maps a field to a guard field: on conflict the field keeps its
    stored value when the incoming guard is empty. A caller that knows a row's
    cheap columns but not a bulky one (say, a long explanation it did not
    recompute) sends the bulky one empty and it survives, all in one statement.
    """
    if not rows:
        return []
    conn = _db()
    shape = _shape_with_defaults(conn.vendor, model, tuple(rows[0]))
    key, tail = _upsert_tail(
        conn.vendor,
        model,
        conflict_fields,
        update_fields,
        tuple(sorted((keep_unless or {}).items())),
        returning,
    )
    fetched = _insert(
        model,
        shape,
        [shape.row_values(r, conn) for r in _by_key(rows, conflict_fields)],
        order_by=key,
        tail=tail,
    )
    return _converted(model, returning, fetched)


@cache
def _upsert_tail(
    vendor: str,
    model: type[models.Model],
    conflict_fields: tuple[str, ...],
    update_fields: tuple[str, ...],
    guards: tuple[tuple[str, str], ...],
    returning: tuple[str, ...],
) -> tuple[str, str]:
    """(conflict columns, "ON CONFLICT … DO UPDATE SET … RETURNING …"), built once per shape."""
    conn = _db()
    qn = conn.ops.quote_name
    table = qn(model._meta.db_table)
    guard_of = dict(guards)
    sets = []
    for name in update_fields:
        column = qn(model._meta.get_field(name).column)
        if name in guard_of:
            guard = qn(model._meta.get_field(guard_of[name]).column)
            sets.append(
                f"{column} = CASE WHEN EXCLUDED.{guard} = '' THEN {table}.{column} "
                f"ELSE EXCLUDED.{column} END"
            )
        else:
            sets.append(f"{column} = EXCLUDED.{column}")
    key = _shape(vendor, model, conflict_fields).columns
    returning_columns = _shape(vendor, model, returning).columns
    return key, f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(sets)} RETURNING {returning_columns}"


def _converted(
    model: type[models.Model], names: tuple[str, ...], rows: list[tuple]
) -> list[tuple[Any, ...]]:
    """Raw RETURNING rows with the backend's and fields' converters applied (SQLite
    hands back datetimes as text, for one). Only the columns that have converters
    are visited: on PostgreSQL an order row has three (its JSON fields) of 27, and
    a stage clock's RETURNING none, which a batch returns a thousand rows of."""
    conn = _db()
    converting = _converting_columns(conn.vendor, model, names)
    if not converting:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for index, column, column_converters in converting:
            value = values[index]
            for convert in column_converters:
                value = convert(value, column, conn)
            values[index] = value
        out.append(tuple(values))
    return out


@cache
def _converting_columns(
    vendor: str, model: type[models.Model], names: tuple[str, ...]
) -> tuple[tuple[int, Any, tuple], ...]:
    """(position, column, converters) of each returned column that has converters."""
    return tuple(
        (index, column, converters)
        for index, (column, converters) in enumerate(_converters(vendor, model, names))
        if converters
    )


def shapes_forget() -> None:
    """Forget every statement shape worked out so far.

    Shapes follow the models' fields, which change only with a new release (a new
    process); a test that adds a field at run time calls this.
    """
    for cached in (
        _shape,
        _shape_with_defaults,
        _converters,
        _callable_defaults,
        _default_literals,
        _update_sql,
        _upsert_tail,
        _converting_columns,
    ):
        cached.cache_clear()
