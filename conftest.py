"""Test-suite wiring shared by every test package.

Where the suite runs decides what it runs against:
* CI (`.ci/run` sets E2A_REQUIRE_SERVICES=1, DATABASE_URL and REDIS_URL): the real
  PostgreSQL and Redis. If either cannot be reached the run stops with a failure,
  never a skip.
* A laptop with only Python: SQLite, no Redis. Tests marked `postgres` (real row
  locks and concurrent connections) or `redis` are skipped, each saying why.
"""

from __future__ import annotations

import glob
import os
import shutil

import pytest
import redis
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("E2A_REQUIRE_SERVICES") == "1"


def _is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _redis_problem() -> str | None:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        return "REDIS_URL is not set"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} unreachable: {exc}"
    return None


def _postgres_problem() -> str | None:
    if not _is_postgres():
        return "DATABASE_URL is not a PostgreSQL URL"
    import psycopg

    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable: {exc}"
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Static files come from the apps' folders in tests: no `collectstatic` needed.

    Production storage (hashed names from a manifest) is what `make run` and the
    tests that start gunicorn use; they run `collectstatic` themselves.
    """
    from django.test.utils import override_settings

    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        WHITENOISE_USE_FINDERS=True,
        WHITENOISE_AUTOREFRESH=True,
    ).enable()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not REQUIRE_SERVICES:
        return
    problems = [p for p in (_postgres_problem(), _redis_problem()) if p]
    if problems:
        pytest.exit("E2A_REQUIRE_SERVICES=1 but: " + "; ".join(problems), returncode=3)


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_problem() -> str | None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return "needs Debian's chromium and chromium-driver (missing: " + ", ".join(missing) + ")"
    return None


def postgres_server_bin() -> str | None:
    """The folder holding initdb and pg_ctl, for tests that run a private cluster."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pg = _is_postgres()
    redis_problem = _redis_problem()
    # In CI (E2A_REQUIRE_SERVICES=1) these tests run and fail loudly if their tools
    # are missing; on a laptop without them they are skipped, saying why.
    browser_problem = None if REQUIRE_SERVICES else _browser_problem()
    pg_server_problem = (
        None
        if REQUIRE_SERVICES or postgres_server_bin()
        else "needs PostgreSQL's server binaries (initdb, pg_ctl) to start a private cluster"
    )
    for item in items:
        if "browser" in item.keywords and browser_problem:
            item.add_marker(pytest.mark.skip(reason=browser_problem))
        if "pg_server" in item.keywords and pg_server_problem:
            item.add_marker(pytest.mark.skip(reason=pg_server_problem))
        if "postgres" in item.keywords and not pg:
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (.ci/run does)")
            )
        if "redis" in item.keywords and redis_problem:
            item.add_marker(pytest.mark.skip(reason=f"needs Redis: {redis_problem}"))


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run in-process in tests unless a test sets up a broker itself."""
    from e2a_project.celery import app

    # Register every app's tasks (a worker does this at start-up), so tasks sent by
    # name run eagerly here instead of going to a broker nobody consumes.
    app.loader.import_default_modules()
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Per-process memories (verified API keys, SLA configuration, the
    embedded AI breaker) start empty each test."""
    from ai import breaker
    from exceptions.config import forget_config as forget_exception_config
    from orders.selectors import forget_verified_keys
    from slas.config import forget_config

    breaker.reset_state()
    forget_verified_keys()
    forget_config()
    forget_exception_config()
    yield
    breaker.reset_state()
    forget_verified_keys()
    forget_config()
    forget_exception_config()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After a run that exercised faults, rewrite docs/RELIABILITY.md from their rows."""
    from tests.reliability import matrix

    if matrix.RECORDED:
        matrix.write_report()
