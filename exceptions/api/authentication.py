"""Who may call the exceptions API, and for which tenant.

Two kinds of caller work exceptions: a tenant's API key (its own tenant only,
like ingest) and an operator in the admin's browser session (a staff user, who
may work for several tenants and so names the one meant in `X-Tenant-Id`). Both
end up as the same pair the views need: the tenant every query is scoped by, and
the actor the audit trail records.

A session is held to what the console would allow the same user: only a tenant
they belong to (`orders.TenantMembership`; superusers: any), reading with
`exceptions.view_orderexception` and changing anything (actions, notes) with
`exceptions.act_on_exception`, so a Viewer's or Finance's POST is a 403.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from orders.authentication import ApiClient, ApiKeyAuthentication, HasScope, check_tenant_claims
from orders.models import Tenant
from orders.selectors import user_is_member

from ..actors import Actor

TENANT_HEADER = "X-Tenant-Id"
READ_PERMISSION = "exceptions.view_orderexception"
ACT_PERMISSION = "exceptions.act_on_exception"


class IsTenantKeyOrStaff(BasePermission):
    """An API key, or a staff user's session; anyone else is refused before any lookup."""

    message = "Only a tenant's API key or a staff operator's session may use this API."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if isinstance(user, ApiClient):
            return True
        if not (user is not None and user.is_authenticated and user.is_staff):
            return False
        needed = READ_PERMISSION if request.method in SAFE_METHODS else ACT_PERMISSION
        if not user.has_perm(needed):
            # DRF sends this as the 403's detail: say what the role lacks.
            self.message = f"Your role does not allow this ({needed} is needed)."
            return False
        return True


def tenant_for_request(request: Request) -> Tenant:
    """The tenant the caller acts for; raises a 400/403/404 APIException if it cannot be told."""
    if isinstance(request.user, ApiClient):
        # A key acts for its own tenant; naming another one is refused, not ignored.
        check_tenant_claims(request, None)
        return request.user.tenant
    claim = (request.headers.get(TENANT_HEADER) or "").strip()
    if not claim:
        raise exceptions.ValidationError(
            {TENANT_HEADER: [f"Operators name the tenant in the {TENANT_HEADER} header."]}
        )
    tenant = Tenant.objects.filter(slug=claim).first()
    if tenant is None and claim.isdigit() and len(claim) < 19:  # within a bigint
        tenant = Tenant.objects.filter(pk=int(claim)).first()
    if request.user.is_superuser:
        if tenant is None:
            raise exceptions.NotFound(f"No tenant {claim!r}.")
        return tenant
    # A non-member hears the same whether the tenant exists or not.
    if tenant is None or not user_is_member(user=request.user, tenant=tenant):
        raise exceptions.PermissionDenied(f"You do not work for tenant {claim!r}.")
    return tenant


def actor_for_request(request: Request) -> Actor:
    if isinstance(request.user, ApiClient):
        return Actor.for_api_key(request.user.api_key)
    return Actor.for_user(request.user)


class TenantScopedView(APIView):
    """Base of every exceptions API view: sets `self.tenant` and `self.actor` before the handler.

    Session callers keep Django's CSRF protection (SessionAuthentication checks
    the token on unsafe methods); API-key callers have no cookie to forge.
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    # HasScope judges keys only: a staff session is not a key and has no scopes.
    permission_classes = [IsTenantKeyOrStaff, HasScope]

    tenant: Tenant
    actor: Actor

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.tenant = tenant_for_request(request)
        self.actor = actor_for_request(request)
