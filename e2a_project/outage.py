"""503 with Retry-After, never 500, while the database or Redis cannot be reached.

Senders retry on any non-2xx, and nothing they send is lost while PostgreSQL is
down; what they, the API clients and the operators need is an answer that says
"come back in a few seconds", not a 500 that pages someone for a bug that is
not there. So a request that fails because a dependency is unreachable gets

    503  Retry-After: <UNAVAILABLE_RETRY_AFTER_SECONDS>
    {"detail": "...", "code": "service_unavailable", "dependency": "database" | "redis"}

under the machine-facing prefixes, and a short HTML page with the same status
and header elsewhere (the admin). Each such failure is logged once, at WARNING,
naming the dependency, instead of as an "Internal Server Error" traceback.

Where the failure surfaces decides how it is caught:
* In a view (DRF re-raises what its handler does not know; the admin and plain
  views raise), `process_exception` answers the 503 before Django's 500 path.
* In a middleware (a session saved on the way out), Django has already turned
  the exception into a 500 response by the time any outer middleware sees it;
  `got_request_exception` fires with the exception while that happens, so the
  request is marked there and the outer middleware swaps the 500 for the 503.
  Django's own ERROR lines for such a request are dropped by `DropOutageTracebacks`.

Only genuine unavailability counts (see `unavailable_dependency`); a bad SQL
statement or any other bug stays a 500, so it is seen. A connection that broke
is closed at once, so the next request connects again and service resumes by
itself when the dependency is back: Django would only drop it at the end of the
request when the error passed through its own cursor wrapper, which the raw
COPY in orders.db does not, and never inside the test client.

No request path needs Redis today, so the "redis" answer is the rule for one
that will (a view that cannot work without the Django cache). Every current use
can do without it, and so degrades instead of answering 503:
* the Celery broker, when it is Redis (orders.dispatch, exceptions.dispatch):
  the work is committed first and beat's sweeps queue what a failed publish missed;
* the Django cache, used only by the Slack sender's wake-up dedup
  (exceptions.notify.sender) in the worker: without it tasks re-queue, nothing is lost.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Literal

import psycopg
import redis
from django.conf import settings
from django.core.signals import got_request_exception
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import AuthorizationError

from .machine_errors import is_machine_path

log = logging.getLogger(__name__)

Dependency = Literal["database", "redis"]

UNAVAILABLE_CODE = "service_unavailable"

# SQLSTATEs that mean "the server cannot serve you right now", not "your statement
# is wrong": class 08 (connection exception) is matched by its prefix.
_UNAVAILABLE_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown: "terminating connection due to administrator command"
        "57P02",  # crash_shutdown: another backend crashed, the server is resetting
        "57P03",  # cannot_connect_now: starting up, shutting down, in recovery
        "53300",  # too_many_connections: full now, free again when others finish
        # read_only_sql_transaction: the server refuses writes for now (a failover in
        # progress, a primary demoted, maintenance); the same write succeeds later.
        "25006",
    }
)

# Redis refusing our credentials is a configuration error, not an outage.
_REDIS_MISCONFIGURED = (redis.AuthenticationError, AuthorizationError)

_NAMES: dict[Dependency, str] = {"database": "database", "redis": "Redis cache and lock store"}

# The request attribute that carries a dependency failure from the signal to the middleware.
_MARK = "_e2a_unavailable_dependency"


def _database_unavailable(error: psycopg.Error) -> bool:
    """True for a psycopg error that says the server is unreachable or going away.

    psycopg reports every client-side connection failure (refused, reset, lost,
    "the connection is closed", "connection timeout expired") as a bare
    OperationalError without a SQLSTATE; errors the server sends carry one.
    InterfaceError is left out: psycopg 3 raises it for misuse (a closed cursor,
    a connection left in COPY), while a closed or lost connection is an
    OperationalError.
    """
    sqlstate = error.sqlstate
    if sqlstate is None:
        return isinstance(error, psycopg.OperationalError)
    return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


def unavailable_dependency(exc: BaseException | None) -> Dependency | None:
    """The dependency whose unavailability `exc` reports, or None for anything else.

    Django's database errors carry the driver's error as their `__cause__`, so the
    explicit cause chain is followed; an implicit `__context__` is not, so a bug
    raised while handling an outage error is still reported as a bug. SQLite's
    errors never count: an embedded file has no server to be down, and its
    OperationalError is mostly a bad statement ("no such table").
    """
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, psycopg.Error):
            return "database" if _database_unavailable(exc) else None
        if isinstance(exc, _REDIS_MISCONFIGURED):
            return None
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return "redis"
        exc = exc.__cause__
        seen += 1
    return None


def unavailable_response(request: HttpRequest, dependency: Dependency) -> HttpResponse:
    """The 503 for `request` while `dependency` is down: JSON for programs, a page for people."""
    seconds = settings.UNAVAILABLE_RETRY_AFTER_SECONDS
    name = _NAMES[dependency]
    detail = f"The {name} is unreachable at the moment. Try again in {seconds} seconds."
    response: HttpResponse
    if is_machine_path(request.path):
        response = JsonResponse(
            {"detail": detail, "code": UNAVAILABLE_CODE, "dependency": dependency}, status=503
        )
    else:
        response = HttpResponse(
            "<!doctype html><html lang=en><meta charset=utf-8>"
            "<title>Service unavailable | E²A</title>"
            f"<h1>Service unavailable</h1><p>The {name} is unreachable at the moment. "
            f"This page works again once it is back; reload it in {seconds} seconds.</p></html>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(seconds)
    return response


def drop_broken_connections() -> None:
    """Close this thread's database connections that the failure left broken.

    psycopg marks a connection whose server went away as closed; Django keeps the
    wrapper around it (CONN_MAX_AGE) until something closes it, and every query on
    it fails meanwhile, even after the server is back. Closed here, the next
    query connects afresh (and gets a fresh binding cursor in orders.db).
    """
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is not None and getattr(raw, "closed", False):
            conn.close()


def _note(request: HttpRequest, dependency: Dependency, exc: BaseException) -> None:
    if getattr(request, _MARK, None) is not None:
        return  # already logged for this request
    setattr(request, _MARK, dependency)
    if dependency == "database":
        drop_broken_connections()
    log.warning(
        "dependency unavailable, answered 503",
        extra={
            "dependency": dependency,
            "method": request.method,
            "path": request.path,
            "error": f"{type(exc).__name__}: {str(exc).strip()[:300]}",
        },
    )


class DependencyOutageMiddleware:
    """Answer 503 + Retry-After when the database or Redis cannot be reached.

    It must sit outside every middleware that can touch either (sessions,
    authentication, messages) for the signal path to reach it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        dependency = getattr(request, _MARK, None)
        if dependency is not None and response.status_code == 500:
            return unavailable_response(request, dependency)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        dependency = unavailable_dependency(exception)
        if dependency is None:
            return None
        _note(request, dependency, exception)
        return unavailable_response(request, dependency)


def _mark_failed_request(sender: object, request: HttpRequest | None = None, **_: object) -> None:
    """Django is turning an exception raised outside a view into a 500 for `request`."""
    exc = sys.exc_info()[1]
    dependency = unavailable_dependency(exc)
    if dependency is not None and request is not None and exc is not None:
        _note(request, dependency, exc)


got_request_exception.connect(_mark_failed_request, dispatch_uid="e2a-dependency-outage")


class DropOutageTracebacks(logging.Filter):
    """Drop django.request's records of a request answered 503 for an outage.

    Django logs every 5xx it serves at ERROR ("Service Unavailable: /path"), and
    an exception raised outside a view as "Internal Server Error" with its
    traceback. The failure is already logged once, at WARNING, naming the
    dependency; the rest, once per retry of every sender, would bury everything else.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return getattr(request, _MARK, None) is None
