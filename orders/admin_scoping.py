"""The one place the operator console is scoped to the staff user's tenants.

Every `ModelAdmin` of orders, slas and exceptions derives from `TenantScopedAdmin`
and names its model's path to the tenant (`tenant_field = "event__tenant"`).
Django's admin reads every list, change page, history, delete page, bulk action
(the selected ids are looked up in the list's queryset), date hierarchy and
autocomplete (through the target model's admin) through `get_queryset`, so
filtering there once scopes all of them. What does not go through it is handled
here too: foreign-key pickers and list filters list their choices themselves,
and a missing object answers 404 rather than Django's redirect, so another
tenant's row by URL looks exactly like one that does not exist.

Superusers are not scoped. Models with no tenant say `tenant_field = None`: what
a role may do there is left to its permissions (orders/roles.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest

from .admin_time_zone import TenantTimeZoneMixin
from .models import Tenant, TenantMembership
from .selectors import tenant_ids_for_user, tenants_for_user


def _is_unscoped(request: HttpRequest) -> bool:
    return bool(request.user.is_superuser)


class TenantScopedAdmin(TenantTimeZoneMixin, admin.ModelAdmin):
    """A ModelAdmin that shows a staff user only their tenants' rows.

    `tenant_field` is the lookup path from the model to its `Tenant` ("tenant",
    "event__tenant"); "" when the row is the tenant itself; None for a model
    that belongs to no tenant (the reason-code catalogue, Slack settings).
    `shared_without_tenant` makes rows with no tenant (the default SLA policy)
    visible to every staff user, changeable by superusers only, since a change
    there reaches every tenant.
    """

    tenant_field: str | None = "tenant"
    shared_without_tenant: bool = False

    # --- rows ---------------------------------------------------------------------
    def tenant_q(self, request: HttpRequest) -> Q | None:
        """The filter that keeps `request.user`'s tenants' rows; None when nothing is filtered."""
        if self.tenant_field is None or _is_unscoped(request):
            return None
        ids = tenant_ids_for_user(user=request.user)
        if self.tenant_field == "":
            return Q(pk__in=ids)
        scoped = Q(**{f"{self.tenant_field}_id__in": ids})
        if self.shared_without_tenant:
            scoped |= Q(**{f"{self.tenant_field}__isnull": True})
        return scoped

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        condition = self.tenant_q(request)
        return queryset if condition is None else queryset.filter(condition)

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        # Django redirects to the index for a missing object; another tenant's row
        # must not be told apart from one that does not exist, and a 404 says both.
        # The page's time zone (admin_time_zone) needs the row before Django's view
        # asks for it: one lookup per request serves both.
        key = (self.model, str(object_id), from_field)
        fetched = request.__dict__.setdefault("_e2a_admin_objects", {})
        if key not in fetched:
            fetched[key] = super().get_object(request, object_id, from_field)
        obj = fetched[key]
        if obj is None:
            raise Http404("No such object.")
        return obj

    def _is_shared_row(self, obj: Any) -> bool:
        return bool(
            self.shared_without_tenant
            and obj is not None
            and self.tenant_field
            and getattr(obj, f"{self.tenant_field}_id", None) is None
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self._is_shared_row(obj) and not _is_unscoped(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self._is_shared_row(obj) and not _is_unscoped(request):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if self.tenant_field == "" and not change and not _is_unscoped(request):
            # A tenant an Admin adds is one they work for; else it would vanish from their list.
            TenantMembership.objects.get_or_create(user=request.user, tenant=obj)

    # --- pickers and filters ------------------------------------------------------------
    def choices_for(self, model: type[Model], request: HttpRequest) -> QuerySet | None:
        """The rows of `model` a picker may offer `request.user`; None: no limit."""
        if _is_unscoped(request):
            return None
        if model is Tenant:
            return tenants_for_user(user=request.user)
        if model is get_user_model():
            return staff_colleagues(request)
        related = self.admin_site._registry.get(model)
        if isinstance(related, TenantScopedAdmin) and related.tenant_field is not None:
            condition = related.tenant_q(request)
            return model._default_manager.filter(condition) if condition else None
        return None

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if "queryset" not in kwargs:
            choices = self.choices_for(db_field.related_model, request)
            if choices is not None:
                kwargs["queryset"] = choices
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Tenant and not _is_unscoped(request):
            # "No tenant" means "every tenant" (the default policy): not for a scoped user.
            field.required = True
        return field

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if "queryset" not in kwargs:
            choices = self.choices_for(db_field.related_model, request)
            if choices is not None:
                kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> Any:
        # A related-field filter lists every row of the related table (every tenant's
        # slug); the "related only" one lists those in the scoped list.
        filters = super().get_list_filter(request)
        if _is_unscoped(request):
            return filters
        return [self._scoped_filter(entry) for entry in filters]

    def _scoped_filter(self, entry: Any) -> Any:
        if not isinstance(entry, str):
            return entry
        try:
            field = get_fields_from_path(self.model, entry)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return entry
        related = getattr(field, "related_model", None)
        if related is None:
            return entry
        if related is Tenant or related is get_user_model():
            return (entry, admin.RelatedOnlyFieldListFilter)
        scoped = self.admin_site._registry.get(related)
        if isinstance(scoped, TenantScopedAdmin) and scoped.tenant_field is not None:
            return (entry, admin.RelatedOnlyFieldListFilter)
        return entry


def staff_colleagues(request: HttpRequest) -> QuerySet:
    """Active staff who share a tenant with `request.user` (assignee pickers)."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True)
    if _is_unscoped(request):
        return users
    return users.filter(
        tenant_memberships__tenant_id__in=tenant_ids_for_user(user=request.user)
    ).distinct()
