"""API-key authentication (Authorization: Bearer <key>) and the tenant checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .models import ApiKey, Tenant
from .scopes import ApiKeyScope
from .selectors import api_key_for_token

# last_used_at is informational; writing it on every request would double the
# writes of a busy sender, so it is refreshed at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ApiClient:
    """The authenticated caller of an API-key request (DRF's request.user)."""

    tenant: Tenant
    api_key: ApiKey
    is_authenticated: bool = True
    is_active: bool = True

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != self.keyword or len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Use 'Authorization: Bearer <api key>'.", code="bad_authorization_header"
            )
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed API key.", code="bad_key") from exc
        key = api_key_for_token(raw)
        if key is None:
            raise exceptions.AuthenticationFailed(
                "Unknown, revoked or inactive API key.", code="invalid_key"
            )
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return ApiClient(tenant=key.tenant, api_key=key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="e2a"'


class IsTenantAuthenticated(BasePermission):
    """Any API-key caller; views scope every query by `request.user.tenant`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, ApiClient)


class MissingScope(exceptions.APIException):
    """403 for an API key without the scope an operation needs; the body names the scope."""

    status_code = status.HTTP_403_FORBIDDEN
    default_code = "missing_scope"

    def __init__(self, scope: str) -> None:
        name = str(getattr(scope, "value", scope))  # an ApiKeyScope's repr is not its name
        super().__init__(
            {
                "detail": f"This API key lacks the '{name}' scope.",
                "code": self.default_code,
                "required_scope": name,
            }
        )


class NoKeyAccess(exceptions.PermissionDenied):
    """403 for a method an API-key view implements but declares no scope for."""

    default_detail = "API keys may not call this operation."
    default_code = "key_not_allowed"


# HEAD is answered by the GET handler, so it needs what GET needs.
_SAME_AS = {"HEAD": "GET"}


def required_scope(view: Any, method: str) -> ApiKeyScope | None:
    """The scope `view` declares for `method` (in `required_scopes`), or None."""
    declared: Mapping[str, ApiKeyScope] = getattr(view, "required_scopes", {})
    method = method.upper()
    return declared.get(_SAME_AS.get(method, method))


class HasScope(BasePermission):
    """An API key may call a method only with the scope the view declares for it.

    Views declare `required_scopes = {"GET": ApiKeyScope.READ, …}`; the check is
    a dict and a set lookup on the key authentication already loaded (and cached),
    so ingestion pays no query for it. A method the view implements without
    declaring a scope is refused to keys (fail closed: a new endpoint is not open
    to every key by accident); a method it does not implement is left to the 405.
    Callers that are not keys (a staff session) are not judged here.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return True
        method = request.method or ""
        if method == "OPTIONS":
            # It only describes the view, but a key that may use none of the view's
            # methods has no business there either: outside its scopes, only 403.
            declared = list(getattr(view, "required_scopes", {}).values())
            if declared and not client.api_key.scope_set.intersection(declared):
                raise MissingScope(declared[0])
            return True
        scope = required_scope(view, method)
        if scope is None:
            if getattr(view, method.lower(), None) is None:
                return True  # not implemented: the view answers 405
            raise NoKeyAccess()
        if scope not in client.api_key.scope_set:
            raise MissingScope(scope)
        return True


def check_tenant_claims(request: Request, body: Any) -> None:
    """Older senders name their tenant in X-Tenant-Id or a `tenant` field.

    That is allowed but must be the key's own tenant: a key never acts for another.
    """
    tenant: Tenant = request.user.tenant
    accepted = {tenant.slug, str(tenant.pk)}
    header = request.headers.get("X-Tenant-Id")
    if header is not None and header.strip() not in accepted:
        raise exceptions.PermissionDenied(
            "X-Tenant-Id does not match the API key's tenant.", code="tenant_mismatch"
        )
    claims = []
    if isinstance(body, dict):
        claims.append(body.get("tenant"))
        claims.append(body.get("tenant_id"))
        for event in body.get("events", []) if isinstance(body.get("events"), list) else []:
            if isinstance(event, dict):
                claims.extend((event.get("tenant"), event.get("tenant_id")))
    for claim in claims:
        if claim is not None and str(claim).strip() not in accepted:
            raise exceptions.PermissionDenied(
                "The body's tenant does not match the API key's tenant.", code="tenant_mismatch"
            )
