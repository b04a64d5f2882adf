"""The OpenAPI schema documents every answer an operation can give, not only its successes.

drf-spectacular describes what a view's `extend_schema` names. The error answers,
though, mostly come from layers around the view, and the same ones apply to
every operation, so writing them by hand on each view is how they went missing
(Schemathesis found undocumented 400/401 on the SLA and order endpoints). This
AutoSchema adds them from what the view is actually wired with:

* 400, 406 and 503 everywhere. Any request can be malformed (a bad query value,
  an unparsable `Content-Length`, a refused `Host`), any `Accept` can be
  unsatisfiable, and any request can meet an outage (`e2a_project.outage`), whose
  answer carries `Retry-After`.
* 401 with `WWW-Authenticate` where the view authenticates callers (DRF sends
  that header with every 401 of an authenticator that names one, and turns the
  401 into 403 otherwise); 403 where a permission class other than AllowAny, or a
  tenant check, can refuse.
* 404 where the path has parameters: the path converters refuse what does not
  match them, and the views answer 404 for what does not exist for the tenant.
* 413 and 415 where the operation takes a body (`BodySizeLimitMiddleware`, the
  JSON-only parser).
* 429 with `Retry-After` only where throttles apply.
* `X-Correlation-ID` on every answer: `CorrelationIdMiddleware` sets it on all of them.
* The API-key scope an operation needs (`orders.authentication.HasScope`): named
  in an `x-required-scope` extension for programs, in a sentence of the
  description for people, and in the 403's description, whose body then carries
  `code: missing_scope` and `required_scope`.

A status the view documents itself keeps its schema and description (it knows
better, e.g. a 409's body); it only gains the headers above that it lacks.
A 5xx other than 503 is a bug, so it is never documented.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from orders.authentication import required_scope
from orders.scopes import ApiKeyScope

from .middleware import CORRELATION_HEADER

JSON = "application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PATH_PARAMETER = re.compile(r"{[^}]+}")


class ErrorSchema(serializers.Serializer):
    """Every error answer: `detail` and `code` always, the other fields where they apply."""

    # Rendered by api_errors.json_exception_handler, machine_errors, outage and the
    # ingest views; the docstring above is the component's description in /docs.

    detail = serializers.CharField(help_text="What went wrong, for a person.")
    code = serializers.CharField(
        help_text="What went wrong, for a program: e.g. invalid, parse_error, not_authenticated, "
        "permission_denied, not_found, payload_too_large, unsupported_media_type, "
        "service_unavailable."
    )
    errors = serializers.DictField(
        required=False,
        help_text="400: each field name (or non_field_errors) → its problems; items of a list "
        "field are reported by position.",
    )
    dead_letter_id = serializers.IntegerField(
        required=False, help_text="Ingest 400: the dead letter the refused body was kept as."
    )
    correlation_id = serializers.CharField(required=False)
    limit_bytes = serializers.IntegerField(required=False, help_text="413: the body limit.")
    dependency = serializers.ChoiceField(
        choices=["database", "redis"], required=False, help_text="503: what is unreachable."
    )
    required_scope = serializers.ChoiceField(
        choices=ApiKeyScope.values,
        required=False,
        help_text="403 `missing_scope`: the scope the API key needs for this operation.",
    )


def _header(description: str, schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {"schema": schema, "required": required, "description": description}


CORRELATION = _header(
    "The request's X-Correlation-ID if it sent a usable one, else a new id; logs carry it.",
    {"type": "string"},
    required=True,
)
RETRY_AFTER_503 = _header(
    "Seconds to wait before retrying; the dependency is expected back by then.",
    {"type": "integer", "minimum": 0},
    required=True,
)
RETRY_AFTER_429 = _header(
    "Seconds until the throttle lets the next request through.",
    {"type": "integer", "minimum": 0},
    required=False,
)
WWW_AUTHENTICATE = _header(
    'How to authenticate: Bearer realm="e2a".', {"type": "string"}, required=True
)

_DESCRIPTIONS = {
    "400": "Malformed request: invalid fields (named in `errors`), a body that is not JSON, "
    "or a bad header.",
    "401": "No credentials, or credentials that are not valid.",
    "403": "Authenticated, but not allowed: e.g. a tenant named in X-Tenant-Id or the body "
    "that is not the API key's own.",
    "404": "Nothing here for this tenant, or a path parameter the route does not accept.",
    "406": "The Accept header asks for a media type other than application/json.",
    "413": "The body is larger than the limit (`limit_bytes`).",
    "415": "The body is not application/json.",
    "429": "Too many requests; retry after Retry-After seconds.",
    "503": "A dependency (database or Redis) is unreachable; retry after Retry-After "
    "seconds. Nothing sent was stored.",
}


SCOPE_EXTENSION = "x-required-scope"


def scope_sentence(scope: str) -> str:
    return f"API keys need the `{scope}` scope."


def scope_refusal(scope: str) -> str:
    return (
        f"An API key without the `{scope}` scope is refused with `code: missing_scope` "
        f"and `required_scope: {scope}`."
    )


class E2AAutoSchema(AutoSchema):
    """AutoSchema that adds the error answers each operation can give (see the module doc)."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        scope = self._required_scope()
        if operation is None or scope is None:
            return operation
        operation[SCOPE_EXTENSION] = scope
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\n{scope_sentence(scope)}".strip()
        return operation

    def _required_scope(self) -> str | None:
        """The scope API keys need here: only where keys authenticate and HasScope judges."""
        if not self._authenticates():
            return None
        scope = required_scope(self.view, self.method)
        return None if scope is None else str(scope.value)

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        headers_for = self._error_headers()
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSchema, description=_DESCRIPTIONS[code]),
                    code,
                    media_types=[JSON],
                    direction=direction,
                )
        scope = self._required_scope()
        if scope is not None and "403" in responses:
            refused = responses["403"]
            said = refused.get("description", "")
            refused["description"] = f"{said} {scope_refusal(scope)}".strip()
        for code, response in responses.items():
            headers = response.setdefault("headers", {})
            for name, header in [(CORRELATION_HEADER, CORRELATION), *headers_for.get(code, [])]:
                headers.setdefault(name, dict(header))  # a copy: YAML would alias shared dicts
        return dict(sorted(responses.items()))

    def _authenticates(self) -> bool:
        return bool(self.view.get_authenticators())

    def _checks_permissions(self) -> bool:
        return any(not isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _error_codes(self) -> list[str]:
        codes = ["400", "406", "503"]
        if self._authenticates():
            codes.append("401")
        if self._checks_permissions():
            codes.append("403")
        if _PATH_PARAMETER.search(self.path):
            codes.append("404")
        if self.method in BODY_METHODS:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return sorted(codes)

    def _error_headers(self) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        headers: dict[str, list[tuple[str, dict[str, Any]]]] = {
            "503": [("Retry-After", RETRY_AFTER_503)],
            "429": [("Retry-After", RETRY_AFTER_429)],
        }
        if self._authenticates():
            headers["401"] = [("WWW-Authenticate", WWW_AUTHENTICATE)]
        return headers


# --- OpenAPI links ---------------------------------------------------------------
# Where one operation's answer names a record another operation takes, the schema
# says so with an OpenAPI link, so clients (and Schemathesis' stateful run, which
# chains calls along them) can follow it. drf-spectacular has no way to declare
# links on a view, so `add_links` (a POSTPROCESSING_HOOK) adds them from this
# table: (operationId, status) → {link name: (target operationId, parameter,
# runtime expression)}. A link is added where both operations are in the schema
# (a schema of a few views has fewer); tests/test_openapi.py checks that the full
# schema has every one.

_EXCEPTION_ACTIONS = ("acknowledge", "start", "resolve", "close", "reopen", "snooze", "assign")


def _exception_links(source: str) -> dict[str, tuple[str, str, str]]:
    links = {
        "GetException": ("exceptions_retrieve", "exception_id", source),
        "UpdateException": ("api_exceptions_partial_update", "exception_id", source),
    }
    for action in _EXCEPTION_ACTIONS:
        links[f"{action.title()}Exception"] = (
            f"api_exceptions_{action}_create",
            "exception_id",
            source,
        )
    return links


_FIRST = "$response.body#/results/0"
_INVOICE_LINKS_FIRST = {
    "GetInvoice": ("invoices_retrieve", "invoice_id", f"{_FIRST}/id"),
    "ExportInvoice": ("invoices_export_csv", "invoice_id", f"{_FIRST}/id"),
    "PrintInvoice": ("invoices_print", "invoice_id", f"{_FIRST}/id"),
}

LINKS: dict[tuple[str, str], dict[str, tuple[str, str, str]]] = {
    ("exceptions_list", "200"): {
        **_exception_links(f"{_FIRST}/id"),
        "GetOrder": ("api_orders_retrieve", "external_id", f"{_FIRST}/order_id"),
    },
    ("exceptions_retrieve", "200"): {
        **_exception_links("$response.body#/id"),
        "GetOrder": ("api_orders_retrieve", "external_id", "$response.body#/order_id"),
    },
    **{
        (f"api_exceptions_{action}_create", "200"): _exception_links("$response.body#/id")
        for action in _EXCEPTION_ACTIONS
    },
    ("invoices_list", "200"): _INVOICE_LINKS_FIRST,
    ("invoices_retrieve", "200"): {
        name: (target, parameter, "$response.body#/id")
        for name, (target, parameter, _) in _INVOICE_LINKS_FIRST.items()
    },
    ("api_sla_at_risk_retrieve", "200"): {
        "GetOrder": ("api_orders_retrieve", "external_id", f"{_FIRST}/order_id"),
    },
}


def add_links(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOK: put the `LINKS` table into the responses it names."""
    operations = {
        operation["operationId"]: operation
        for item in result.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for (operation_id, status), links in LINKS.items():
        response = operations.get(operation_id, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {"operationId": target, "parameters": {param: expression}}
            for name, (target, param, expression) in sorted(links.items())
            if target in operations
        }
    return result
