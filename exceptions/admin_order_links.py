"""The order page's link to its exceptions ("3 exceptions (1 open) →").

Registered into `orders.admin.ORDER_LINKS` from `ExceptionsConfig.ready()`, so the
order page, which `orders` owns, can point at a screen of an app above it. The
link opens the exceptions list filtered to the order; it is shown only to users
who may view exceptions, and also when there are none (that is worth knowing too).
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse

from orders.admin import ORDER_LINKS, OrderLink
from orders.models import Order

from .models import OrderException
from .models.record import ACTIVE_STATUSES


def exceptions_link(request: HttpRequest, order: Order) -> list[OrderLink]:
    """One count query: all of the order's exceptions and those still to act on."""
    if not request.user.has_perm("exceptions.view_orderexception"):
        return []
    counts = OrderException.objects.filter(order=order).aggregate(
        total=Count("pk"), active=Count("pk", filter=Q(status__in=ACTIVE_STATUSES))
    )
    total, active = counts["total"], counts["active"]
    label = f"{total} exception{'' if total == 1 else 's'}"
    if total:
        label += f" ({active} open)"
    url = reverse("admin:exceptions_orderexception_changelist")
    # Every one of them, not only those still to act on (the list's default).
    return [(label, f"{url}?order__id__exact={order.pk}&status=all")]


def register() -> None:
    if exceptions_link not in ORDER_LINKS:
        ORDER_LINKS.append(exceptions_link)
