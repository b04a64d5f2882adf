"""APP_ENV=production refuses the laptop defaults and passes Django's deploy checks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from e2a_project.production import production_problems

from .test_served_by_gunicorn import ROOT

GOOD = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 20 + "-production-secret-for-the-deploy-check-" + "x" * 20,
    "DATABASE_URL": "postgres://e2a:e2a@db.internal:5432/e2a",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/1",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "ops.example.com",
}


def _manage(env_changes: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    for name in ("E2A_REQUIRE_SERVICES", "DEBUG", *GOOD):
        env.pop(name, None)
    env.update({k: v for k, v in env_changes.items() if v is not None})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"DATABASE_URL": None}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "sqlite:////tmp/e2a.sqlite3"}, "DATABASE_URL names SQLite"),
        ({"CELERY_BROKER_URL": None}, "CELERY_BROKER_URL is not set"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "broker local to one machine (filesystem)"),
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        ({"DEBUG": "true"}, "DEBUG is on"),
    ],
)
def test_production_refuses_to_start_without_its_services(missing, named):
    result = _manage({**GOOD, **missing}, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr


def test_every_missing_piece_is_named_at_once():
    problems = production_problems({"APP_ENV": "production"})
    assert [p.split(" ", 1)[0] for p in problems] == [
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
    ]


def test_development_keeps_its_embedded_defaults():
    result = _manage({"APP_ENV": "development"}, "check")
    assert result.returncode == 0, result.stderr


def test_the_deploy_checks_pass_with_production_settings():
    result = _manage(GOOD, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
@override_settings(
    SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
)
def test_plain_http_is_redirected_except_probes_and_metrics(client):
    assert client.get("/admin/").status_code == 301
    assert client.post("/ingest/events").status_code == 301
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)  # never a redirect
    assert client.get("/metrics").status_code == 200
    # Behind the load balancer, HTTPS requests are served.
    https = client.get("/admin/", headers={"x-forwarded-proto": "https"})
    assert https.status_code == 302  # on to the login page
