"""The operator console's AdminSite: Django's, with "Recent actions" kept to the user's tenants
and a dashboard page (`admin:dashboard`, e2a_project.dashboard).

The index lists the user's own last actions. A staff user moved off a tenant
must not keep reading that tenant's order numbers and exception titles there,
so entries about rows of a tenant-scoped screen are kept only while the row is
one the user may still see (orders.admin_scoping); entries about screens with no
tenant (users, the reason-code catalogue) are the user's own and stay.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path


class ConsoleAdminSite(admin.AdminSite):
    site_header = "E²A operator console"
    site_title = "E²A"
    index_title = "Operations"

    def get_urls(self) -> list[URLPattern | URLResolver]:
        """Django's admin URLs, with the dashboard ahead of the catch-all app-index pattern."""
        return [
            path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        from e2a_project.dashboard.views import dashboard_view  # reads every app's models

        return dashboard_view(request, site=self)

    def get_log_entries(self, request: HttpRequest) -> QuerySet:
        from django.contrib.contenttypes.models import ContentType  # not at app loading

        from orders.admin_scoping import TenantScopedAdmin

        entries = super().get_log_entries(request)
        if request.user.is_superuser:
            return entries
        hidden = Q()
        visible = Q()
        for model, model_admin in self._registry.items():
            if not isinstance(model_admin, TenantScopedAdmin) or model_admin.tenant_field is None:
                continue
            content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
            rows = model_admin.get_queryset(request).annotate(
                pk_text=Cast("pk", output_field=CharField())
            )
            hidden |= Q(content_type=content_type)
            visible |= Q(content_type=content_type, object_id__in=rows.values("pk_text"))
        return entries.filter(~hidden | visible) if hidden else entries


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin with ConsoleAdminSite as the default `admin.site`."""

    default_site = "e2a_project.admin_site.ConsoleAdminSite"
