"""This process's Django, set up against the bench's database, cache and broker with the
bench's settings module (the project's settings plus the plain admin's URLs), and the
same environment for gunicorn, so that both serve the same configuration."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common import app_settings

from .config import Config

ROOT = Path(__file__).resolve().parents[2]  # the repository: manage.py, e2a_project
SETTINGS_MODULE = "bench.console_parts.settings"
STATIC_ROOT = ROOT / "var" / "console-bench-static"  # collected once, reused by later runs


def bench_environment(cfg: Config) -> dict[str, str]:
    env = app_settings(
        database_url=cfg.database_url, redis_url=cfg.redis_url, broker_url=cfg.broker_url
    )
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    env["STATIC_ROOT"] = str(STATIC_ROOT)
    env["SLACK_BOT_TOKEN"] = ""  # nothing leaves the machine
    env["AI_PROVIDER_BASE_URL"] = ""
    # django.test.Client (the query profile) sends Host: testserver.
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    hosts = hosts or ["localhost", "127.0.0.1", "[::1]"]
    if "testserver" not in hosts and "*" not in hosts:
        hosts.append("testserver")
    env["ALLOWED_HOSTS"] = ",".join(hosts)
    return env


def configure_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    # The repository before bench/: bench/billing.py must not hide the app `billing`.
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
