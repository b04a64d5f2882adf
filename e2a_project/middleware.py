"""Cross-cutting request middleware: correlation ids and body size limits."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from django.core.handlers.wsgi import LimitedStream
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse, JsonResponse

from .body_limits import body_limit_for
from .logging import bind_correlation_id, new_correlation_id, unbind_correlation_id
from .machine_errors import is_machine_path

CORRELATION_HEADER = "X-Correlation-ID"
# Accept what senders commonly use (UUIDs, ULIDs, trace ids) but nothing that could
# break a log line or a header: printable, no spaces, bounded.
_CORRELATION_RE = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


class CorrelationIdMiddleware:
    """Accept `X-Correlation-ID` (or make one), bind it for logs, echo it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(CORRELATION_HEADER, "")
        correlation_id = incoming if _CORRELATION_RE.match(incoming) else new_correlation_id()
        request.correlation_id = correlation_id
        bind_correlation_id(correlation_id)
        response = self.get_response(request)
        response[CORRELATION_HEADER] = correlation_id
        return response


def _unbind_after_response(**_: object) -> None:
    # Unbound when the response is finished, not when the middleware returns, so
    # Django's own request log line ("Bad Request: …") still carries the id.
    unbind_correlation_id()


request_finished.connect(_unbind_after_response, dispatch_uid="e2a-unbind-correlation-id")


class BodySizeLimitMiddleware:
    """Refuse oversized bodies with 413 before anything reads them.

    Django's own DATA_UPLOAD_MAX_MEMORY_SIZE answers 400; senders and proxies
    understand 413, and the limit differs between single events and batches.

    A chunked body has no Content-Length, and Django reads such a body as
    empty, so a valid event sent chunked would be refused for a body it never
    saw. When the server says the stream ends by itself (gunicorn sets
    `wsgi.input_terminated`), the body is read here, at most limit + 1 bytes,
    and handed on with its length.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_limit_for(request.path)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                {"detail": "Content-Length is not a number.", "code": "bad_content_length"},
                status=400,
            )
        if length > limit:
            return payload_too_large(limit)
        if not length and request.META.get("wsgi.input_terminated"):
            body = request.META["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return payload_too_large(limit)
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))
        elif length and is_machine_path(request.path) and len(request.body) < length:
            # The client stopped sending before the length it announced: a cut
            # message. What arrived may still parse (a whole event, then silence),
            # and storing it would accept a request the sender never finished.
            return JsonResponse(
                {
                    "detail": f"The body ended after {len(request.body)} of the"
                    f" {length} bytes its Content-Length announced.",
                    "code": "incomplete_body",
                },
                status=400,
            )
        return self.get_response(request)


def payload_too_large(limit: int) -> JsonResponse:
    return JsonResponse(
        {
            "detail": f"Request body is larger than the limit of {limit} bytes.",
            "code": "payload_too_large",
            "limit_bytes": limit,
        },
        status=413,
    )
