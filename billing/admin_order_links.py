"""The order page's link to its invoice lines ("2 invoice lines →").

Registered into `orders.admin.ORDER_LINKS` from `BillingConfig.ready()` (after
the exceptions link, which comes first on the page: apps are ready in
INSTALLED_APPS order). Only for
users who may view invoice lines (Finance, Admin): what a merchant pays is not
the floor's business (orders/roles.py), so an Operator or Viewer does not see
even the count. The link opens the invoice-line list filtered to the order.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from orders.admin import ORDER_LINKS, OrderLink
from orders.models import Order

from .models import InvoiceLine


def invoice_lines_link(request: HttpRequest, order: Order) -> list[OrderLink]:
    """One count query, served by the lines' index on the order."""
    if not request.user.has_perm("billing.view_invoiceline"):
        return []
    total = InvoiceLine.objects.filter(order=order).count()
    label = f"{total} invoice line{'' if total == 1 else 's'}"
    url = reverse("admin:billing_invoiceline_changelist")
    return [(label, f"{url}?order__id__exact={order.pk}")]


def register() -> None:
    if invoice_lines_link not in ORDER_LINKS:
        ORDER_LINKS.append(invoice_lines_link)
