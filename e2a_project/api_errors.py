"""One JSON error shape for every API failure.

DRF already answers validation errors with a field → messages mapping; this
handler adds a stable `code` and turns the few non-DRF failures that reach a view
(an oversized chunked body, a malformed JSON document) into 4xx instead of 500.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .body_limits import body_limit_for


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        request = context.get("request")
        limit = body_limit_for(request.path) if request else settings.INGEST_MAX_BODY_BYTES
        return Response(
            {
                "detail": f"Request body is larger than the limit of {limit} bytes.",
                "code": "payload_too_large",
                "limit_bytes": limit,
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data
        response.data = {
            "detail": "The request has invalid fields.",
            "code": "invalid",
            "errors": errors,
        }
    elif isinstance(exc, exceptions.APIException) and isinstance(response.data, dict):
        response.data.setdefault(
            "code", exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        )
    return response
