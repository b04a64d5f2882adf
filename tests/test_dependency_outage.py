"""While the database or Redis is unreachable every endpoint answers 503 with Retry-After.

The outages here are real, only small: the default database alias pointed at a
PostgreSQL port nobody listens on (on SQLite runs too: psycopg is always
installed), a real connection terminated by the server, a port that accepts and
never answers, a private redis-server that the test stops. The whole cluster
stopped under gunicorn is in test_database_outage_served.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from urllib.parse import urlencode

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from django.http import HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.urls import path

from e2a_project.outage import unavailable_dependency
from e2a_project.urls import urlpatterns as project_urls
from orders.models import OrderEvent

from .factories import TenantFactory, api_key_for, event_body
from .private_services import PrivateRedis

RETRY_AFTER = 7  # not the default, so the answers are seen to follow the setting


@pytest.fixture(autouse=True)
def _retry_after(settings):
    settings.UNAVAILABLE_RETRY_AFTER_SECONDS = RETRY_AFTER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_settings(port: int) -> dict:
    """The default alias's settings aimed at 127.0.0.1:`port`, as a PostgreSQL alias.

    On PostgreSQL runs the project's own OPTIONS (connect timeout, preparing) come
    along; on SQLite runs its SQLite options cannot, so libpq's are used.
    """
    current = connections.settings["default"]
    is_postgres = current["ENGINE"] == "django.db.backends.postgresql"
    return {
        **current,
        "ENGINE": "django.db.backends.postgresql",
        "NAME": current["NAME"] if is_postgres else "e2a",
        "USER": current["USER"] or "postgres",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "OPTIONS": dict(current["OPTIONS"]) if is_postgres else {"connect_timeout": 2},
        "CONN_MAX_AGE": 60,
    }


@contextmanager
def database_at(port: int) -> Iterator[PostgresWrapper]:
    """This thread's default database connection goes to `port` for the block."""
    real = connections["default"]
    elsewhere = PostgresWrapper(_postgres_settings(port), alias="default")
    connections["default"] = elsewhere
    try:
        yield elsewhere
    finally:
        connections["default"] = real
        elsewhere.close()


def database_unreachable() -> AbstractContextManager[PostgresWrapper]:
    """Connection refused: the database server is stopped."""
    return database_at(_free_port())


def _assert_503(response, dependency: str = "database") -> dict:
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == str(RETRY_AFTER)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "code", "dependency"}
    assert body["code"] == "service_unavailable"
    assert body["dependency"] == dependency
    assert f"{RETRY_AFTER} seconds" in body["detail"]
    return body


def _outage_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "e2a_project.outage"]


def _server_errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django.request" and r.levelno >= logging.ERROR]


# --- every endpoint ----------------------------------------------------------------


def _slack_click(client: Client) -> object:
    body = urlencode(
        {
            "payload": json.dumps(
                {
                    "type": "block_actions",
                    "user": {"id": "U0ANNA"},
                    "team": {"id": "T0E2A"},
                    "response_url": "http://127.0.0.1:9/actions",
                    "actions": [{"action_id": "exception_acknowledge", "value": "1"}],
                }
            )
        }
    )
    timestamp = str(int(time.time()))
    digest = hmac.new(b"slack-secret", f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return client.post(
        "/slack/interactions",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_SLACK_SIGNATURE=f"v0={digest.hexdigest()}",
    )


REQUESTS = {
    "ingest": lambda c, auth: c.post(
        "/ingest/events", json.dumps(event_body()), content_type="application/json", **auth
    ),
    "ingest batch": lambda c, auth: c.post(
        "/ingest/v2/events/batch",
        json.dumps({"events": [event_body(), event_body()]}),
        content_type="application/json",
        **auth,
    ),
    "shopify webhook": lambda c, auth: c.post(
        "/webhooks/shopify/acme", "{}", content_type="application/json"
    ),
    "standard webhook": lambda c, auth: c.post(
        "/webhooks/standard/acme", "{}", content_type="application/json"
    ),
    "exceptions list": lambda c, auth: c.get("/api/exceptions", **auth),
    "exception action": lambda c, auth: c.post(
        "/api/exceptions/1/acknowledge", "{}", content_type="application/json", **auth
    ),
    "order with its SLA": lambda c, auth: c.get("/api/orders/%231001", **auth),
    "SLA at risk": lambda c, auth: c.get("/api/sla/at-risk", **auth),
    "slack button": lambda c, auth: _slack_click(c),
}


@pytest.fixture
def known_sender(db, client) -> dict[str, str]:
    """A tenant's key that this process has already verified, as a busy sender's is:
    requests get past authentication without the database and fail deeper in."""
    key = api_key_for(TenantFactory(slug="acme"))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.get("/api/exceptions", **auth).status_code == 200
    return auth


@pytest.mark.parametrize("name", REQUESTS)
def test_every_machine_endpoint_answers_503_while_the_database_is_down(
    client, known_sender, settings, caplog, name
):
    settings.SLACK_SIGNING_SECRET = "slack-secret"
    with database_unreachable(), caplog.at_level(logging.WARNING):
        response = REQUESTS[name](client, known_sender)

    body = _assert_503(response)
    assert "database" in body["detail"]
    [record] = _outage_records(caplog)  # once, at WARNING, naming the dependency
    assert (record.levelno, record.dependency) == (logging.WARNING, "database")
    assert not _server_errors(caplog)


def test_an_api_key_seen_for_the_first_time_gets_503_not_401(client, db):
    """Authentication itself needs the database: not knowing is not refusing."""
    with database_unreachable():
        response = client.get("/api/exceptions", HTTP_AUTHORIZATION="Bearer e2a_unknown")
    _assert_503(response)


def test_the_console_answers_a_503_page_while_the_database_is_down(client, db, caplog):
    operator = get_user_model().objects.create_user("anna", is_staff=True, is_superuser=True)
    client.force_login(operator)
    assert client.get("/admin/orders/order/").status_code == 200

    with database_unreachable(), caplog.at_level(logging.WARNING):
        response = client.get("/admin/orders/order/")

    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER)
    assert response["Content-Type"].startswith("text/html")
    assert b"database is unreachable" in response.content
    assert not _server_errors(caplog)


def test_liveness_stays_ok_and_readiness_says_when_to_come_back(client, db):
    with database_unreachable():
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready["Retry-After"] == str(RETRY_AFTER)
    assert ready.json()["checks"]["database"] == "fail"


# --- failures outside the view, and what stays a bug ---------------------------------


def _session_write(request):
    # Saved by SessionMiddleware on the way out, after the view has answered.
    request.session["seen"] = True
    return HttpResponse("ok")


def _bad_sql(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM e2a_no_such_table")
    return HttpResponse("unreachable")


def _slow_sql(request):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '10ms'")
        cursor.execute("SELECT pg_sleep(1)")
    return HttpResponse("unreachable")


def _cache_read(request):
    return JsonResponse({"value": cache.get("e2a-test-key")})


def _redis_misuse(request):
    cache.set("e2a-test-string", "text")
    client = cache._cache.get_client("e2a-test-string", write=True)
    client.lpush(cache.make_and_validate_key("e2a-test-string"), "x")  # WRONGTYPE
    return HttpResponse("unreachable")


urlpatterns = [
    path("api/test-session", _session_write),
    path("test-session", _session_write),
    path("api/test-bad-sql", _bad_sql),
    path("api/test-slow-sql", _slow_sql),
    path("api/test-cache", _cache_read),
    path("api/test-redis-misuse", _redis_misuse),
    *project_urls,
]


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "content_type"), [("/api/test-session", "application/json"), ("/test-session", "text")]
)
def test_a_failure_in_a_middleware_after_the_view_is_a_503_too(caplog, url, content_type):
    """SessionMiddleware saves the session after the view: Django's 500 path, not the view's."""
    client = Client(raise_request_exception=False)  # as a real server does
    with database_unreachable(), caplog.at_level(logging.WARNING):
        response = client.get(url)

    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER)
    assert response["Content-Type"].startswith(content_type)
    [record] = _outage_records(caplog)
    assert record.dependency == "database"
    assert not _server_errors(caplog)  # no "Internal Server Error" traceback


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.django_db
def test_a_bad_statement_is_still_a_500(caplog):
    """On SQLite it is an OperationalError too; it is a bug, not an outage, and is logged so."""
    client = Client(raise_request_exception=False)
    response = client.get("/api/test-bad-sql")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "Retry-After" not in response
    assert _server_errors(caplog)
    assert not _outage_records(caplog)


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_timeout_is_still_a_500():
    """PostgreSQL's OperationalError for a cancelled statement is no outage."""
    client = Client(raise_request_exception=False)
    response = client.get("/api/test-slow-sql")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


# --- the connection recovers by itself ---------------------------------------------


def _terminate(backend_pid: int) -> None:
    """What a server restart does to every open connection: 57P01 admin_shutdown."""
    import psycopg

    params = connection.settings_dict
    with psycopg.connect(
        host=params["HOST"],
        port=params["PORT"],
        user=params["USER"],
        dbname=params["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_by_the_next_request(client, caplog):
    """After a restart the kept connection (CONN_MAX_AGE) and its prepared statements are
    gone: that request gets a 503 and the next one works on a new connection."""
    tenant = TenantFactory(slug="acme")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(tenant)}"}

    def send(event_id: str):
        return client.post(
            "/ingest/events",
            json.dumps(event_body(event_id=event_id)),
            content_type="application/json",
            **auth,
        )

    for i in range(8):  # past DB_PREPARE_THRESHOLD: the single-event statements are prepared
        assert send(f"before-{i}").status_code == 202
    _terminate(connection.connection.info.backend_pid)

    with caplog.at_level(logging.WARNING):
        during = send("lost-reply")
    _assert_503(during)
    assert not _server_errors(caplog)

    for i in range(8):  # and prepared again on the new connection
        assert send(f"after-{i}").status_code == 202
    assert send("lost-reply").status_code == 202  # the sender's retry
    assert OrderEvent.objects.count() == 17

    # A read outside any transaction block leaves no rollback to notice the broken
    # connection: the 503 itself must let it go.
    _terminate(connection.connection.info.backend_pid)
    _assert_503(client.get("/api/orders/%231001", **auth))
    assert client.get("/api/orders/%231001", **auth).status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_server_that_never_answers_is_a_503_within_the_connect_timeout():
    """A dead host or dropped route: the TCP handshake completes (the kernel's backlog)
    but nothing answers. libpq would wait forever; DB_CONNECT_TIMEOUT bounds it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # never accepted
    port = listener.getsockname()[1]
    answers: list = []

    def request() -> None:
        with database_at(port):
            answers.append(Client().post("/webhooks/shopify/acme", "{}", "application/json"))

    started = time.monotonic()
    worker = threading.Thread(target=request, daemon=True)
    worker.start()
    worker.join(timeout=20)
    took = time.monotonic() - started
    listener.close()  # frees a hung client, if it came to that
    worker.join(timeout=5)
    assert answers, f"no answer after {took:.1f} s"
    _assert_503(answers[0])
    assert took < connection.settings_dict["OPTIONS"]["connect_timeout"] + 5


# --- Redis -----------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path, settings) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server to run a private Redis")
    server = PrivateRedis(tmp_path)
    server.start()
    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
        }
    }
    try:
        yield server
    finally:
        server.stop()


@override_settings(ROOT_URLCONF=__name__)
def test_a_request_that_needs_redis_answers_503_until_it_is_back(private_redis, caplog):
    client = Client()
    assert client.get("/api/test-cache").status_code == 200
    private_redis.stop()

    with caplog.at_level(logging.WARNING):
        _assert_503(client.get("/api/test-cache"), dependency="redis")
        _assert_503(client.get("/api/test-cache"), dependency="redis")
    assert [r.dependency for r in _outage_records(caplog)] == ["redis", "redis"]
    assert not _server_errors(caplog)

    private_redis.start()
    assert client.get("/api/test-cache").status_code == 200


@override_settings(ROOT_URLCONF=__name__)
def test_a_redis_command_error_is_still_a_500(private_redis):
    response = Client(raise_request_exception=False).get("/api/test-redis-misuse")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


def test_ingest_does_not_need_redis(private_redis, api, caplog):
    """Ingestion never touches Redis: with it down the unique constraint still keeps
    each event once, and senders are not turned away."""
    assert api.post("/ingest/events", event_body(event_id="with-redis")).status_code == 202
    private_redis.stop()

    with caplog.at_level(logging.WARNING):
        first = api.post("/ingest/events", event_body(event_id="without-redis"))
        again = api.post("/ingest/events", event_body(event_id="without-redis"))

    assert (first.status_code, again.status_code) == (202, 200)
    assert OrderEvent.objects.filter(event_id="without-redis").count() == 1
    assert not _outage_records(caplog)


# --- which database errors are an outage ---------------------------------------------


def _django_error(driver_error: Exception) -> Exception:
    """A driver error as Django's cursor wrapper raises it (the driver's as `__cause__`)."""
    from django.db import utils

    try:
        raise utils.DatabaseError(str(driver_error)) from driver_error
    except utils.DatabaseError as exc:
        return exc


@pytest.mark.parametrize(
    ("driver_error", "dependency"),
    [
        (
            psycopg.errors.ReadOnlySqlTransaction(
                "cannot execute INSERT in a read-only transaction"
            ),
            "database",
        ),
        (
            psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
            "database",
        ),
        (psycopg.OperationalError("connection is lost"), "database"),
        (psycopg.errors.UndefinedTable('relation "nope" does not exist'), None),
        (psycopg.errors.UniqueViolation("duplicate key value"), None),
    ],
    ids=["read-only", "admin-shutdown", "connection-lost", "bad-statement", "constraint"],
)
def test_a_refused_write_during_a_failover_is_an_outage_a_bad_statement_is_not(
    driver_error, dependency
):
    """A server refusing writes for now (read-only during a failover) answers 503 and the
    sender retries; a bad statement or a constraint is a bug or a conflict, never a 503."""
    assert unavailable_dependency(_django_error(driver_error)) == dependency
