"""Who may read invoices, and whose.

Two kinds of caller, as for the exceptions API: a tenant's API key with the
`finance` scope (an accounting system; its own tenant only), and a staff user's
admin session holding `billing.view_invoice` (the Finance and Admin roles;
Operator and Viewer hold no billing permission), who reads the invoices of the
tenants they belong to (`orders.TenantMembership`; superusers: every tenant).

Unlike the exceptions API a session names no tenant in a header: an invoice
carries its tenant, and the print page is a link a browser opens, which cannot
send one. So every query is scoped by the set of tenants the caller may read,
and another tenant's invoice answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.authentication import ApiClient, ApiKeyAuthentication, HasScope, check_tenant_claims
from orders.models import Tenant
from orders.selectors import tenants_for_user

from ..models import Invoice

READ_PERMISSION = "billing.view_invoice"


class IsFinanceKeyOrStaff(BasePermission):
    """An API key (its scope is HasScope's to judge), or a staff session allowed to read
    invoices; anyone else is refused before any lookup."""

    message = "Only a tenant's API key or a Finance staff member's session may read invoices."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if isinstance(user, ApiClient):
            return True
        if not (user is not None and user.is_authenticated and user.is_staff):
            return False
        if not user.has_perm(READ_PERMISSION):
            # DRF sends this as the 403's detail: say what the role lacks.
            self.message = f"Your role does not allow this ({READ_PERMISSION} is needed)."
            return False
        return True


def readable_tenants(request: Request) -> QuerySet[Tenant]:
    """The tenants whose invoices the caller may read, as a queryset (a subquery, no query)."""
    if isinstance(request.user, ApiClient):
        # A key reads for its own tenant; naming another one is refused, not ignored.
        check_tenant_claims(request, None)
        return Tenant.objects.filter(pk=request.user.tenant.pk)
    return tenants_for_user(user=request.user)


class InvoiceApiView(APIView):
    """Base of every invoice view: sets `self.tenants` before the handler runs.

    Reads only, so a session needs no CSRF token; API keys have no cookie to forge.
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    # HasScope judges keys only: a staff session is not a key and has no scopes.
    permission_classes = [IsFinanceKeyOrStaff, HasScope]

    tenants: QuerySet[Tenant]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.tenants = readable_tenants(request)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Invoice.DoesNotExist):
            exc = exceptions.NotFound("No such invoice for this tenant.")
        return super().handle_exception(exc)
