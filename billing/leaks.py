"""Read side of the revenue-leak list: shipped orders that billing cannot charge in
full because their pick or pack scan never arrived (see `models.leak`). It reads the
orders table alone, not the events."""

from __future__ import annotations

from datetime import date

from django.db.models import Case, CharField, Q, QuerySet, Value, When

from orders.models import Order, Tenant

from .models.leak import LEAKING, MISSING_PACK, MISSING_PICK
from .periods import month_bounds


def missing_evidence() -> Case:
    return Case(
        When(MISSING_PICK & MISSING_PACK, then=Value("pick and pack")),
        When(MISSING_PICK, then=Value("pick")),
        default=Value("pack"),
        output_field=CharField(),
    )


def revenue_leaks(
    *, tenants: QuerySet[Tenant] | list[Tenant], period: date | None = None
) -> QuerySet[Order]:
    """The shipped orders of `tenants` lacking pick or pack evidence, latest shipped
    first, with `missing` ("pick", "pack", "pick and pack"); optionally only those
    shipped in `period`, each tenant's calendar month in its own time zone."""
    rows = Order.objects.filter(LEAKING, tenant__in=tenants)
    if period is not None:
        in_month = Q(pk__in=[])
        for tenant in tenants:
            start, end = month_bounds(period, tenant.timezone)
            in_month |= Q(tenant=tenant, shipped_at__gte=start, shipped_at__lt=end)
        rows = rows.filter(in_month)
    return (
        rows.select_related("tenant")
        .annotate(missing=missing_evidence())
        .order_by("-shipped_at", "pk")
    )
