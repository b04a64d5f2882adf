"""Errors that programs read: JSON under the machine-facing paths, whatever raised them.

Senders and API clients branch on the status and parse the body. Django answers an
unmatched path, a wrong method on a plain view, a refused host or an unhandled error
with an HTML page; under the machine-facing prefixes such an answer becomes the same
`{"detail", "code"}` document the API views render, keeping its status and headers
(`Allow`, `Retry-After`). The console and the docs keep Django's pages.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

MACHINE_PREFIXES = ("/api/", "/ingest/", "/webhooks/", "/slack/")

# Headers of the original answer that still mean something on the JSON one.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "X-Correlation-ID")

_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    500: "server_error",
}


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _detail(request: HttpRequest, response: HttpResponse) -> str:
    status = response.status_code
    if status == 404:
        return f"Nothing is served at {request.method} {request.path}."
    if status == 405:
        allowed = response.get("Allow", "")
        return f"{request.method} is not allowed on {request.path}; allowed: {allowed or 'none'}."
    if status >= 500:
        return "The server failed to handle the request; the failure is logged."
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "The request failed."


def json_error(request: HttpRequest, response: HttpResponse) -> JsonResponse:
    """The JSON twin of an error `response` Django rendered for people."""
    status = response.status_code
    body = {"detail": _detail(request, response), "code": _CODES.get(status, "error")}
    replacement = JsonResponse(body, status=status)
    for header in _KEPT_HEADERS:
        if header in response:
            replacement[header] = response[header]
    return replacement


class MachineErrorsMiddleware:
    """Turn non-JSON error answers under MACHINE_PREFIXES into JSON ones.

    It sits outside everything that can answer with an error page (the URL
    resolver, CommonMiddleware's host check, plain views, the 500 handler), so it
    sees each of those answers after Django has made it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_machine_path(request.path)
            and not _is_json(response)
            and not response.streaming
        ):
            return json_error(request, response)
        return response
