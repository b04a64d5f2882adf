"""The tariff preview page: what a version would have billed last month, line by line
against what was billed (`billing.preview`), linked from each version's page."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from orders.currencies import format_amount
from orders.models import Order

from .models import Tariff
from .preview import SHOWN_DIFFERENCES, tariff_preview


def tariff_preview_view(
    modeladmin: admin.ModelAdmin, request: HttpRequest, object_id: str
) -> TemplateResponse:
    if not modeladmin.has_view_permission(request):
        raise PermissionDenied
    if not object_id.isdigit():
        raise Http404
    tariff = get_object_or_404(
        modeladmin.get_queryset(request).select_related("tenant"), pk=int(object_id)
    )
    preview = tariff_preview(tariff=tariff)
    money = preview.invoice.currency if preview.invoice else tariff.tenant.currency
    names = dict(
        Order.objects.filter(pk__in=[c.order_id for c in preview.changes]).values_list(
            "pk", "external_id"
        )
    )
    rows = [
        {
            "order_id": change.order_id,
            "order": names.get(change.order_id, change.order_id),
            "billed": format_amount(change.billed_cents, money),
            "preview": format_amount(change.preview_cents, money),
            "difference": format_amount(change.difference_cents, money),
        }
        for change in preview.changes
    ]
    summary = [
        (label, format_amount(billed, money), format_amount(would, money))
        for label, billed, would in preview.summary()
    ]
    return TemplateResponse(
        request,
        "admin/billing/tariff_preview.html",
        {
            **modeladmin.admin_site.each_context(request),
            "opts": Tariff._meta,
            "original": tariff,
            "title": f"Preview: {tariff}",
            "preview": preview,
            "summary": summary,
            "difference": format_amount(preview.difference_cents, money),
            "rows": rows,
            "shown": SHOWN_DIFFERENCES,
        },
    )
