"""Builders for exception tests: an order, an exception in a given status, its activity."""

from __future__ import annotations

from datetime import datetime

from exceptions.actors import Actor
from exceptions.models import ExceptionActivity, ExceptionStatus, OrderException
from exceptions.services import lifecycle
from exceptions.services.raising import Finding, exception_raise
from orders.models import Order, Tenant

OPERATOR = Actor.system("test-operator")


def make_order(tenant: Tenant, external_id: str = "#1001", **fields) -> Order:
    return Order.objects.create(tenant=tenant, external_id=external_id, source="shopify", **fields)


def raise_exception(
    order: Order,
    code: str = "PICK_DELAY",
    *,
    now: datetime | None = None,
    **finding,
) -> OrderException:
    evidence = finding.pop("evidence", {"allowed_minutes": 120})
    return exception_raise(
        order=order, finding=Finding(code, evidence, **finding), now=now
    ).exception


def exception_in(status: str, order: Order, code: str = "PICK_DELAY") -> OrderException:
    """An exception brought to `status` through the services (so its fields are coherent)."""
    exc = raise_exception(order, code)
    steps = {
        ExceptionStatus.OPEN: [],
        ExceptionStatus.ACKNOWLEDGED: ["acknowledge"],
        ExceptionStatus.IN_PROGRESS: ["start"],
        ExceptionStatus.RESOLVED: ["resolve"],
        ExceptionStatus.CLOSED: ["resolve", "close"],
    }[status]
    for step in steps:
        exc = apply(step, exc)
    assert exc.status == status
    return exc


def apply(action: str, exc: OrderException, **kwargs) -> OrderException:
    """Call the lifecycle service for `action` with sensible arguments."""
    from datetime import timedelta

    from django.utils import timezone

    calls = {
        "acknowledge": lambda: lifecycle.exception_acknowledge(exception_id=exc.pk, actor=OPERATOR),
        "start": lambda: lifecycle.exception_start(exception_id=exc.pk, actor=OPERATOR),
        "resolve": lambda: lifecycle.exception_resolve(
            exception_id=exc.pk, resolution="Re-picked from overflow.", actor=OPERATOR
        ),
        "reopen": lambda: lifecycle.exception_reopen(exception_id=exc.pk, actor=OPERATOR),
        "close": lambda: lifecycle.exception_close(exception_id=exc.pk, actor=OPERATOR),
        "assign": lambda: lifecycle.exception_assign(
            exception_id=exc.pk, assignee_id=kwargs["assignee_id"], actor=OPERATOR
        ),
        "snooze": lambda: lifecycle.exception_snooze(
            exception_id=exc.pk, until=timezone.now() + timedelta(hours=1), actor=OPERATOR
        ),
        "edit_notes": lambda: lifecycle.exception_update_notes(
            exception_id=exc.pk, ops_note="Checked the wave.", actor=OPERATOR
        ),
    }
    return calls[action]()


def actions_of(exc: OrderException) -> list[str]:
    return list(
        ExceptionActivity.objects.filter(exception=exc)
        .order_by("pk")
        .values_list("action", flat=True)
    )
