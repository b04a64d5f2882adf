"""Times in the operator console in the tenant's time zone, with the zone named.

Stored times stay UTC; what an operator reads is the warehouse's local time. A
change page shows its row's zone: the zone of the row's business calendar where
it has one, else its tenant's. A list shows the zone its rows share: the tenant
chosen in its filter, or the one zone of all the user's tenants; rows of tenants
in different zones are shown in UTC. The zone is named in the page header
(e2a_project/templates/admin/base_site.html), so a time is never read without it.

Django renders aware datetimes in the active time zone, so the views below only
activate the zone, and keep it active while their template response renders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .selectors import tenants_for_user

UTC = "UTC"


def _follow(obj: Any, path: str) -> Any:
    """obj.event.tenant for "event__tenant"; None where a link is missing."""
    for part in path.split("__"):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _valid(zone: Any) -> str | None:
    if not isinstance(zone, str) or not zone:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return zone


class TenantTimeZoneMixin:
    """For ModelAdmins that know their model's `tenant_field` (see TenantScopedAdmin)."""

    tenant_field: str | None

    def row_time_zone(self, obj: Any) -> str:
        """The zone a row's times are read in: its own (a calendar, a tenant), its
        calendar's, else its tenant's, else UTC."""
        zone = _valid(getattr(obj, "timezone", None)) or _valid(
            getattr(getattr(obj, "calendar", None), "timezone", None)
        )
        if zone is None and self.tenant_field is not None:
            tenant = obj if self.tenant_field == "" else _follow(obj, self.tenant_field)
            zone = _valid(getattr(tenant, "timezone", None))
        return zone or UTC

    def list_time_zone(self, request: HttpRequest) -> str:
        """The zone a list's rows share, or UTC when they do not."""
        if self.tenant_field is None:
            return UTC
        tenants = tenants_for_user(user=request.user)
        chosen = [
            value
            for key, value in request.GET.items()
            if key.endswith("tenant__id__exact") or (self.tenant_field == "" and key == "id")
        ]
        if chosen and all(value.isdigit() for value in chosen):
            tenants = tenants.filter(pk__in=[int(value) for value in chosen])
        zones = set(tenants.values_list("timezone", flat=True)[:2_000])
        zone = _valid(zones.pop()) if len(zones) == 1 else None
        return zone or UTC

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        zone = self.list_time_zone(request)
        view = super().changelist_view  # type: ignore[misc]
        return _rendered_in(zone, view, request, {**(extra_context or {}), "admin_time_zone": zone})

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        zone = self._object_zone(request, object_id)
        context = {**(extra_context or {}), "admin_time_zone": zone}
        view = super().changeform_view  # type: ignore[misc]
        return _rendered_in(zone, view, request, object_id, form_url, context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None):
        zone = self._object_zone(request, object_id)
        context = {**(extra_context or {}), "admin_time_zone": zone}
        return _rendered_in(zone, super().history_view, request, object_id, context)  # type: ignore[misc]

    def _object_zone(self, request: HttpRequest, object_id: str | None) -> str:
        if object_id is None:
            return self.list_time_zone(request)
        from django.contrib.admin.utils import unquote

        # get_object answers 404 for a row the user may not see (TenantScopedAdmin).
        return self.row_time_zone(self.get_object(request, unquote(object_id)))  # type: ignore[attr-defined]


def _rendered_in(zone: str, view: Callable[..., HttpResponse], *args: Any) -> HttpResponse:
    with timezone.override(ZoneInfo(zone)):
        response = view(*args)
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
    return response
