"""The dashboard page of the console (`/admin/dashboard/`, URL name `admin:dashboard`).

Thin: work out the tenants in scope, ask `figures` for their (cached) dashboard,
add the links to the lists behind each tile and render. The AdminSite wraps it in
`admin_view`, so only active staff reach it; which tenants they see is
`orders.selectors.tenants_for_user` (a superuser sees every tenant).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.admin import AdminSite
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from exceptions.models import FallbackCause
from orders.models import Tenant
from orders.selectors import tenants_for_user
from slas.models import Severity

from .figures import CACHE_SECONDS, Dashboard, dashboard_for
from .windows import UTC, Zones, zone_name


def _changelist(
    request: HttpRequest,
    model: str,
    params: dict[str, Any],
    *,
    tenant_param: str,
    tenant: Tenant | None,
) -> str | None:
    """The admin list behind a tile, filtered like the tile; None if the user may not open it."""
    app_label, model_name = model.split(".")
    if not request.user.has_perm(f"{app_label}.view_{model_name}"):
        return None
    if tenant is not None:
        params = {**params, tenant_param: tenant.pk}
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _links(request: HttpRequest, tenant: Tenant | None) -> dict[str, Any]:
    def exceptions(**params: Any) -> str | None:
        return _changelist(
            request,
            "exceptions.orderexception",
            {"status": "active", **params},
            tenant_param="tenant__id__exact",
            tenant=tenant,
        )

    return {
        "open": exceptions(),
        "severity": {s: exceptions(severity__exact=s) for s in Severity.values},
        "dead_letters": _changelist(
            request,
            "orders.deadletter",
            {"replayed_at__isempty": "1"},
            tenant_param="tenant__id__exact",
            tenant=tenant,
        ),
        "parked": _changelist(
            request,
            "orders.followupfailure",
            {"state": "parked"},
            tenant_param="event__tenant__id__exact",
            tenant=tenant,
        ),
        "events": _changelist(
            request, "orders.orderevent", {}, tenant_param="tenant__id__exact", tenant=tenant
        ),
    }


def duration_text(minutes: float | None) -> str:
    """Minutes as an operator says them: "42 min", "3.5 h", "2.1 d"; "–" when unknown."""
    if minutes is None:
        return "–"
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def _presented(dashboard: Dashboard | None) -> dict[str, Any]:
    """What the template shows but cannot work out itself."""
    if dashboard is None:
        return {}
    ai = dashboard.ai
    cause = next(iter(ai.causes), None)
    spent = ai.spend_percent or 0.0
    return {
        "mtta_text": duration_text(dashboard.response.mtta_minutes),
        "mttr_text": duration_text(dashboard.response.mttr_minutes),
        "top_cause": dict(FallbackCause.choices).get(cause, cause) if cause else None,
        "spend_width": f"{min(spent, 100.0):.0f}",
        "spend_over": spent >= 100.0,
        # Drawn by e2a_project.dashboard.charts, which escapes every text it writes.
        "exceptions_chart": mark_safe(dashboard.exceptions_chart),  # noqa: S308
        "on_time_chart": mark_safe(dashboard.on_time_chart),  # noqa: S308
    }


def dashboard_view(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    """The page for the user's tenants, or for the one `?tenant=<slug>` names.

    A slug the user may not see answers 404 exactly like one that does not exist,
    so the page never tells whether another merchant is a customer.
    """
    tenants = list(tenants_for_user(user=request.user).only("pk", "slug", "name", "timezone"))
    selected = None
    slug = request.GET.get("tenant", "")
    if slug:
        selected = next((t for t in tenants if t.slug == slug), None)
        if selected is None:
            raise Http404("No such tenant.")
    scope = [selected] if selected is not None else tenants
    zones = {zone_name(t.timezone) for t in scope}
    shown_zone = zones.pop() if len(zones) == 1 else UTC
    dashboard = None
    if scope:
        refresh = request.GET.get("refresh") == "1" and request.user.is_superuser
        dashboard = dashboard_for(
            zones=Zones.of(tenants=[(t.pk, t.timezone) for t in scope], now=timezone.now()),
            refresh=refresh,
        )
    links = _links(request, selected)
    severity_tiles = (
        [
            (label, dashboard.open_by_severity.get(value, 0), links["severity"][value])
            for value, label in Severity.choices
        ]
        if dashboard
        else []
    )
    context = {
        **site.each_context(request),
        "title": "Dashboard",
        "subtitle": selected.slug if selected else None,
        "tenants": tenants,
        "selected": selected,
        "scope": scope,
        "dashboard": dashboard,
        "links": links,
        "severity_tiles": severity_tiles,
        "cache_seconds": CACHE_SECONDS,
        "admin_time_zone": shown_zone,
        **_presented(dashboard),
    }
    response = TemplateResponse(request, "admin/dashboard.html", context)
    # Times on the page (the "as of" stamp) read in the tenants' zone, named in the header.
    with timezone.override(ZoneInfo(shown_zone)):
        response.render()
    return response
