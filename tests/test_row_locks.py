"""A service's row lock holds its own row only, never the rows it reads alongside.

`select_for_update()` over a `select_related` join locks every joined row. Locking an
exception locked its tenant too, and every insert of that tenant's rows checks the
tenant foreign key with a share lock on it: ingestion waited for follow-ups, and two
follow-ups deadlocked through the tenant's row (found by `bench/pipeline.py` under
load). Each lock below is held in one transaction while another connection asks for
the share lock an insert would take on the rows read with it: it must be granted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction

from billing.services import _locked as locked_invoice
from billing.services import invoice_refresh
from exceptions.services.lifecycle import locked_exception
from orders.selectors import locked_order, locked_orders

from .exception_helpers import make_order, raise_exception
from .factories import TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def holding(lock: Callable[[], Any], then: Callable[[], Any]) -> Any:
    """Take `lock` in a transaction of another thread, run `then` here while it is held."""
    taken, done = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                lock()
                taken.set()
                done.wait(10)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            taken.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert taken.wait(10)
        assert not failure, failure
        return then()
    finally:
        done.set()
        thread.join()


def share_lock_free(table: str, pk: Any) -> bool:
    """Whether an insert's foreign-key check on this row would go ahead now."""
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(f"SELECT 1 FROM {table} WHERE {pk[0]} = %s FOR KEY SHARE NOWAIT",
                               [pk[1]])  # fmt: skip
            return True
        except OperationalError:  # could not obtain lock: LockNotAvailable
            return False


def test_locking_an_order_leaves_its_tenant_free():
    tenant = TenantFactory()
    order = make_order(tenant)

    free = holding(
        lambda: locked_order(order.pk),
        lambda: (
            share_lock_free("orders_tenant", ("id", tenant.pk)),
            share_lock_free("orders_order", ("id", order.pk)),
        ),
    )

    assert free == (True, False)  # the tenant free; the order itself held


def test_locking_a_batch_of_orders_leaves_their_tenant_free():
    tenant = TenantFactory()
    first, second = make_order(tenant, "#A"), make_order(tenant, "#B")

    free = holding(
        lambda: locked_orders([first.pk, second.pk]),
        lambda: (
            share_lock_free("orders_tenant", ("id", tenant.pk)),
            share_lock_free("orders_order", ("id", first.pk)),
            share_lock_free("orders_order", ("id", second.pk)),
        ),
    )

    assert free == (True, False, False)


def test_locking_an_exception_leaves_its_tenant_order_and_reason_free():
    tenant = TenantFactory()
    order = make_order(tenant)
    exception = raise_exception(order)

    free = holding(
        lambda: locked_exception(exception_id=exception.pk, tenant_id=None),
        lambda: (
            share_lock_free("orders_tenant", ("id", tenant.pk)),
            share_lock_free("orders_order", ("id", order.pk)),
            share_lock_free("exceptions_reasoncode", ("code", "PICK_DELAY")),
            share_lock_free("exceptions_orderexception", ("id", exception.pk)),
        ),
    )

    assert free == (True, True, True, False)


def test_billing_an_invoice_leaves_its_tenant_free():
    tenant = TenantFactory()
    invoice = invoice_refresh(tenant=tenant, period=date(2026, 11, 1)).invoice

    free = holding(
        lambda: locked_invoice(invoice),
        lambda: share_lock_free("orders_tenant", ("id", tenant.pk)),
    )

    assert free is True
