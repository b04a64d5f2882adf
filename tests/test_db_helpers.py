"""orders.db: the set-based statements ingestion relies on, on both SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.db import (
    COPY_THRESHOLD,
    PREPARE_MAX_ROWS,
    insert_new_returning,
    shapes_forget,
    update_fields,
    upsert_and_lock,
)
from orders.models import Order, OrderEvent

from .factories import TenantFactory

pytestmark = pytest.mark.django_db
SHIPPED = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


def _rows(tenant, ids):
    now = timezone.now()
    return [
        {
            "tenant": tenant.pk,
            "external_id": i,
            "source": "wms",
            "first_seen_at": now,
            "updated_at": now,
        }
        for i in ids
    ]


# Prepared VALUES statement, client-side bound VALUES statement, COPY.
@pytest.mark.parametrize("count", [1, PREPARE_MAX_ROWS + 1, COPY_THRESHOLD + 5])
def test_upsert_creates_missing_rows_and_returns_current_values_in_any_order(tenant, count):
    Order.objects.create(
        tenant=tenant,
        external_id="x-0",
        source="wms",
        shipped_at=SHIPPED,
        status="shipped",
        event_count=3,
    )
    ids = [f"x-{i}" for i in range(count)]
    orders = upsert_and_lock(
        Order,
        _rows(tenant, ids),
        conflict_fields=("tenant", "external_id"),
        returning=("shipped_at", "external_id", "event_count", "status"),
    )
    by_id = {o.external_id: o for o in orders}
    assert set(by_id) == set(ids)
    assert (by_id["x-0"].shipped_at, by_id["x-0"].status, by_id["x-0"].event_count) == (
        SHIPPED,
        "shipped",
        3,
    )
    assert Order.objects.filter(tenant=tenant).count() == count
    fresh = Order.objects.get(external_id=ids[-1]) if count > 1 else None
    if fresh is not None:  # new rows take the model's defaults
        assert (fresh.service_level, fresh.handling, fresh.event_count) == ("standard", [], 0)


@pytest.mark.parametrize("count", [1, COPY_THRESHOLD + 5])
def test_returned_json_columns_read_exactly_as_the_orm_reads_them(tenant, count):
    # orders.db decodes JSON columns itself (orjson); the values must be Django's.
    awkward = {
        "unicode": "Zoë ✓ \u2028",
        "big": 2**70,
        "float": 0.1,
        "nested": [{"a": None}, [], {}],
        "text": "{not json}",
    }
    Order.objects.create(
        tenant=tenant,
        external_id="j-0",
        source="wms",
        customer=awkward,
        handling=["fragile"],
        attribute_versions={"carrier": "2026-11-24T14:30:00+00:00"},
    )
    fields = ("external_id", "customer", "handling", "attribute_versions", "sla_clocks")
    orders = upsert_and_lock(
        Order,
        _rows(tenant, [f"j-{i}" for i in range(count)]),
        conflict_fields=("tenant", "external_id"),
        returning=fields,
    )
    stored = {o.external_id: o for o in Order.objects.filter(tenant=tenant)}
    for order in orders:
        for name in fields:
            assert getattr(order, name) == getattr(stored[order.external_id], name), name
    assert next(o for o in orders if o.external_id == "j-0").customer == awkward


@pytest.mark.parametrize("count", [2, PREPARE_MAX_ROWS + 1, COPY_THRESHOLD + 5])
def test_insert_returns_only_new_rows_and_update_saves_fields(tenant, count):
    [order] = upsert_and_lock(
        Order,
        _rows(tenant, ["o"]),
        conflict_fields=("tenant", "external_id"),
        returning=("external_id",),
    )
    now = timezone.now()

    def event(i):
        return {
            "tenant": tenant.pk,
            "order": order.pk,
            "source": "wms",
            "event_type": "x",
            "event_id": f"e{i}",
            "occurred_at": now,
            "received_at": now,
            "channel": "event",
            "payload": {"i": i, "nested": ["ü", None]},
            "correlation_id": "",
        }

    first = insert_new_returning(
        OrderEvent,
        [event(i) for i in range(count)],
        conflict_fields=("tenant", "source", "event_id"),
        returning=("id", "event_id"),
    )
    again = insert_new_returning(
        OrderEvent,
        [event(i) for i in range(count + 1)],
        conflict_fields=("tenant", "source", "event_id"),
        returning=("id", "event_id"),
    )
    assert len(first) == count
    assert [e for _, e in again] == [f"e{count}"]
    assert OrderEvent.objects.get(event_id="e1").payload == {"i": 1, "nested": ["ü", None]}

    order.carrier, order.handling, order.shipped_at = "DHL", ["rush"], SHIPPED
    update_fields(Order, [order], ("carrier", "handling", "shipped_at"))
    order.refresh_from_db()
    assert (order.carrier, order.handling, order.shipped_at) == ("DHL", ["rush"], SHIPPED)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_upsert_locks_existing_rows_without_rewriting_them():
    """The WHERE false upsert holds the row lock until commit, as SELECT … FOR UPDATE would."""
    import psycopg

    tenant = TenantFactory(slug="locks")
    Order.objects.create(tenant=tenant, external_id="held", source="wms")
    before = Order.objects.get(external_id="held").updated_at
    with transaction.atomic():
        upsert_and_lock(
            Order,
            _rows(tenant, ["held"]),
            conflict_fields=("tenant", "external_id"),
            returning=("external_id",),
        )
        other = _other_connection(connection)
        with other, pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute(
                "SELECT id FROM orders_order WHERE external_id = 'held' FOR UPDATE NOWAIT"
            )
    assert Order.objects.get(external_id="held").updated_at == before  # not rewritten


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_single_event_statements_are_prepared_and_still_pass_execute_wrappers(tenant):
    """A statement for one row is parsed and planned once per connection, not per event;
    statement counters (execute wrappers) still see every run."""
    connection.close()  # a fresh connection: nothing an earlier test ran is prepared on it
    connection.ensure_connection()
    threshold = connection.connection.prepare_threshold
    if threshold is None:
        pytest.skip("DB_PREPARE_THRESHOLD=0 turns preparing off")
    runs = threshold + 1
    with CaptureQueriesContext(connection) as captured:
        for i in range(runs):
            [order] = upsert_and_lock(
                Order,
                _rows(tenant, [f"p-{i}"]),
                conflict_fields=("tenant", "external_id"),
                returning=("external_id",),
            )
            assert order.external_id == f"p-{i}"
    assert len(captured) == runs
    created = Order.objects.get(tenant=tenant, external_id="p-0")
    assert (created.service_level, created.handling, created.sla_clocks, created.carrier) == (
        "standard",
        [],
        {},
        "",
    )
    assert (created.event_count, created.paid_at) == (0, None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any('INSERT INTO "orders_order"' in s for s in prepared)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_statements_keep_working_after_the_connection_is_replaced():
    """The kept binding cursor belongs to one connection; a new connection gets its own."""
    tenant = TenantFactory(slug="reconnect")

    def upsert(external_id: str) -> Order:
        [order] = upsert_and_lock(
            Order,
            _rows(tenant, [external_id]),
            conflict_fields=("tenant", "external_id"),
            returning=("external_id",),
        )
        return order

    first = upsert("r-1")
    connection.close()
    assert upsert("r-1").pk == first.pk
    assert upsert("r-2").external_id == "r-2"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reconnect_releases_the_previous_connection():
    """The kept binding cursor must not keep its closed connection alive: every
    CONN_MAX_AGE and every database outage would add one for the life of the process."""
    tenant = TenantFactory(slug="released")
    previous = []
    for i in range(3):
        upsert_and_lock(
            Order,
            _rows(tenant, [f"c-{i}"]),
            conflict_fields=("tenant", "external_id"),
            returning=("external_id",),
        )
        previous.append(weakref.ref(connection.connection))
        connection.close()
    upsert_and_lock(
        Order,
        _rows(tenant, ["on-a-fourth-connection"]),
        conflict_fields=("tenant", "external_id"),
        returning=("external_id",),
    )
    gc.collect()
    assert [ref() for ref in previous] == [None, None, None]


def _other_connection(django_connection, **kwargs):
    """A plain psycopg connection to the test database, outside Django's transaction."""
    import psycopg

    settings_dict = django_connection.settings_dict
    return psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
        autocommit=True,
        **kwargs,
    )


def _wait_until_a_backend_waits_for_a_lock(timeout: float = 5.0) -> bool:
    with _other_connection(connection) as watcher:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting:
                return True
            time.sleep(0.01)
    return False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_upsert_returns_a_row_a_concurrent_transaction_inserted_while_it_waited():
    """The statement's snapshot predates the other insert: the row is read once it is ours."""
    tenant = TenantFactory(slug="race")
    inserted = threading.Event()
    saw_wait: list[bool] = []

    def insert_then_commit_once_the_upsert_waits() -> None:
        try:
            with transaction.atomic():
                Order.objects.create(
                    tenant=tenant, external_id="raced", source="wms", event_count=7
                )
                inserted.set()
                saw_wait.append(_wait_until_a_backend_waits_for_a_lock())
        finally:
            connection.close()

    other = threading.Thread(target=insert_then_commit_once_the_upsert_waits)
    other.start()
    assert inserted.wait(5)
    with CaptureQueriesContext(connection) as captured:
        [order] = upsert_and_lock(
            Order,
            _rows(tenant, ["raced"]),
            conflict_fields=("tenant", "external_id"),
            returning=("external_id", "event_count"),
        )
    other.join(10)
    assert saw_wait == [True]
    assert (order.external_id, order.event_count) == ("raced", 7)
    assert len(captured) == 2  # the upsert, then the SELECT that only a race needs
    assert Order.objects.filter(tenant=tenant).count() == 1


@pytest.fixture
def currency_default(monkeypatch):
    """Order.currency with another constant default while a test runs (SQL caches cleared)."""
    from orders import db

    def set_default(value: str) -> None:
        monkeypatch.setattr(Order._meta.get_field("currency"), "default", value)
        db._default_literals.cache_clear()
        db._shape_with_defaults.cache_clear()

    yield set_default
    monkeypatch.undo()
    db._default_literals.cache_clear()
    db._shape_with_defaults.cache_clear()


@pytest.mark.parametrize("count", [1, PREPARE_MAX_ROWS + 1, COPY_THRESHOLD + 5])
def test_constant_defaults_are_written_verbatim_even_with_quotes_and_percent(
    tenant, currency_default, count
):
    """Defaults are spelled in the SQL itself: quoting and % must survive every path."""
    currency_default("'%")
    ids = [f"d-{i}" for i in range(count)]
    upsert_and_lock(
        Order,
        _rows(tenant, ids),
        conflict_fields=("tenant", "external_id"),
        returning=("external_id",),
    )
    assert set(Order.objects.filter(tenant=tenant).values_list("currency", flat=True)) == {"'%"}


def _trace_id() -> str:
    return "trace-42"


@contextlib.contextmanager
def _field_added(model, name: str, field) -> Iterator[None]:
    """`field` on `model` and in its table, as a release adding it would leave them.

    Django's AddField fills existing rows from the default, then drops the column's
    database default: a raw INSERT that leaves the column out fails NOT NULL.
    """
    field.contribute_to_class(model, name)
    with connection.schema_editor() as editor:
        editor.add_field(model, field)
    shapes_forget()
    try:
        yield
    finally:
        with connection.schema_editor() as editor:
            editor.remove_field(model, field)
        model._meta.local_fields.remove(field)
        model._meta._expire_cache()
        delattr(model, field.attname)
        shapes_forget()


@pytest.mark.django_db(transaction=True)
def test_a_new_not_null_field_with_a_callable_default_cannot_break_ingestion(client):
    from django.db import models

    from .conftest import ApiClient
    from .factories import api_key_for, event_body

    api = ApiClient(client, api_key_for(TenantFactory(slug="later", timezone="UTC")))
    with (
        _field_added(OrderEvent, "trace", models.CharField(max_length=16, default=_trace_id)),
        _field_added(Order, "region", models.CharField(max_length=8, default="EU")),
        _field_added(Order, "trace", models.CharField(max_length=16, default=_trace_id)),
    ):
        single = api.post("/ingest/events", event_body(order_id="#N1"))
        batch = api.post(
            "/ingest/v2/events/batch",
            {"events": [event_body(order_id=f"#N{i}") for i in range(2, 2 + COPY_THRESHOLD + 3)]},
        )
        assert single.status_code == 202, single.content
        statuses = {r["status"] for r in batch.json()["results"]}
        assert batch.status_code == 200 and statuses == {"accepted"}, batch.content
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT trace FROM orders_orderevent")
            assert cursor.fetchall() == [("trace-42",)]
            cursor.execute("SELECT DISTINCT region, trace FROM orders_order")
            assert cursor.fetchall() == [("EU", "trace-42")]


def test_djangos_private_cursor_hook_still_wraps_as_orders_db_expects():
    """orders.db wraps its kept binding cursor with Django's private `_prepare_cursor`.

    Should a Django release rename it or change what it returns, preparing stops
    silently (orders.db falls back to plain cursors): this test says so first.
    """
    from django.db.backends.utils import CursorWrapper

    hook = getattr(connection, "_prepare_cursor", None)
    assert callable(hook), "Django removed BaseDatabaseWrapper._prepare_cursor: see orders/db.py"
    connection.ensure_connection()
    raw = connection.connection.cursor()
    try:
        wrapped = hook(raw)
        assert isinstance(wrapped, CursorWrapper) and wrapped.cursor is raw
        seen = []
        with connection.execute_wrapper(
            lambda execute, sql, *a: seen.append(sql) or execute(sql, *a)
        ):
            wrapped.execute("SELECT 1")
        assert seen == ["SELECT 1"]
    finally:
        raw.close()
