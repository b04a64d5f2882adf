"""Django settings for E²A.

Everything is configured by environment variables (optionally read from a `.env`
file at the repository root); `.env.example` lists each one with its default.
The defaults give the embedded mode: a SQLite file and a filesystem Celery broker
under `var/`, so web, worker and beat run as separate processes on a laptop that
has nothing but Python.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from .broker import use_for_filesystem_urls
from .production import refuse_unsafe_production
from .redis_broker import use_for_redis_urls

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

APP_ENV = env.str("APP_ENV", default="development")
IS_PRODUCTION = APP_ENV == "production"
if IS_PRODUCTION:
    # No SQLite file, filesystem broker or generated key may stand in for the
    # shared services: every process stops here, naming what is missing.
    refuse_unsafe_production(os.environ)
SERVICE_NAME = env.str("SERVICE_NAME", default="e2a")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="json")


def _development_secret_key(path: Path) -> str:
    """One generated key per checkout, shared by every process that `make run` starts.

    A key generated per process would sign each gunicorn worker's sessions and CSRF
    tokens differently, logging operators out at random.
    """
    path.parent.mkdir(exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # another process may still be writing it
            if key := path.read_text().strip():
                return key
            time.sleep(0.01)
        raise
    with os.fdopen(fd, "w") as handle:
        handle.write("dev-" + secrets.token_urlsafe(48))
    return path.read_text().strip()


if IS_PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _development_secret_key(
        VAR_DIR / "secret_key"
    )
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin, with the console's AdminSite (e2a_project/admin_site.py).
    "e2a_project.admin_site.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "orders",
    "slas",
    "exceptions",
    "ai",
    "billing",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "e2a_project.middleware.CorrelationIdMiddleware",
    "e2a_project.machine_errors.MachineErrorsMiddleware",
    # 503 + Retry-After instead of 500 while the database or Redis is unreachable;
    # outside everything below that can touch either (sessions, auth, messages).
    "e2a_project.outage.DependencyOutageMiddleware",
    "e2a_project.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from STATIC_ROOT in every process gunicorn runs: no CDN, no
    # separate web server to keep in step with the code.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "e2a_project.urls"
WSGI_APPLICATION = "e2a_project.wsgi.application"
ASGI_APPLICATION = "e2a_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The console's base_site.html (it names the time zone of the page's times).
        "DIRS": [BASE_DIR / "e2a_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'e2a.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions let web, worker and beat share one SQLite file
    # without "database is locked" errors under ordinary laptop load.
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    _db.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    # A health check is a SELECT 1 round trip per request; a broken connection is
    # dropped at the end of the request that hit the error anyway.
    _db.setdefault("CONN_HEALTH_CHECKS", env.bool("DB_CONN_HEALTH_CHECKS", default=False))
    # orders.db runs each ingest statement on a server-side binding cursor, which
    # psycopg prepares after this many runs on a connection. 0 turns preparing off
    # (Django's own default), e.g. behind a transaction-pooling PgBouncer < 1.21.
    # The ORM binds client-side and never prepares.
    _db.setdefault("OPTIONS", {}).setdefault(
        "prepare_threshold", env.int("DB_PREPARE_THRESHOLD", default=5) or None
    )
    # libpq waits forever for a server that does not answer (a dead host, a dropped
    # route); bounded, such a request answers 503 well inside gunicorn's timeout.
    _db["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=3))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis (optional: cache and AI breaker) ---------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Prepended to every key E²A writes to Redis (cache, AI breaker, and the broker's when it
# is Redis), so installations sharing one Redis server stay apart.
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Dependency outages (e2a_project.outage) ------------------------------------
# While the database (or Redis, where a request needs it) is unreachable, requests
# are answered 503 with this many seconds in Retry-After instead of 500.
UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

# --- Auth, i18n, static -------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# 24-hour, year-first dates and times in the console (e2a_project/formats/en).
FORMAT_MODULE_PATH = "e2a_project.formats"
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or VAR_DIR / "static").resolve()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (cached for a year by browsers) and gzip copies, from a manifest
    # that `collectstatic` writes; a page naming a file that was never collected
    # fails loudly instead of rendering unstyled. The test suite swaps in plain
    # storage (conftest.py), so it needs no collectstatic.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Request limits -----------------------------------------------------------
# Bodies above these sizes are refused with 413 before they are read.
INGEST_MAX_BODY_BYTES = env.int("INGEST_MAX_BODY_BYTES", default=1024 * 1024)
INGEST_BATCH_MAX_BODY_BYTES = env.int("INGEST_BATCH_MAX_BODY_BYTES", default=16 * 1024 * 1024)
INGEST_BATCH_MAX_EVENTS = env.int("INGEST_BATCH_MAX_EVENTS", default=1000)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(INGEST_MAX_BODY_BYTES, INGEST_BATCH_MAX_BODY_BYTES)
# Events whose follow-up task was not confirmed after this long are re-queued by beat.
INGEST_SWEEP_AFTER_SECONDS = env.int("INGEST_SWEEP_AFTER_SECONDS", default=120)
# A web process gathers the follow-ups of this many milliseconds into one broker
# message (orders.followup_publisher); 0 publishes each request's at its commit.
FOLLOWUP_COALESCE_MS = env.int("FOLLOWUP_COALESCE_MS", default=20)
# ...and, under sustained load, sends at most one such message per this many
# milliseconds: each costs the web process ~1 ms of CPU whatever it carries.
FOLLOWUP_MIN_INTERVAL_MS = env.int("FOLLOWUP_MIN_INTERVAL_MS", default=100)
# A worker whose message is older than this (it is behind) also takes up to
# FOLLOWUP_CATCH_UP_EVENTS other waiting events into the same transaction
# (orders.services.processing): a follow-up's cost is mostly per call, so a backlog
# is worked off in large batches instead of one small message at a time.
FOLLOWUP_CATCH_UP_AFTER_MS = env.int("FOLLOWUP_CATCH_UP_AFTER_MS", default=250)
FOLLOWUP_CATCH_UP_EVENTS = env.int("FOLLOWUP_CATCH_UP_EVENTS", default=64)
# A follow-up that raises is retried by the sweep after 1, 2, 4… minutes (capped),
# and parked for an operator's replay after this many failed attempts.
FOLLOWUP_MAX_ATTEMPTS = env.int("FOLLOWUP_MAX_ATTEMPTS", default=5)
FOLLOWUP_RETRY_BASE_SECONDS = env.int("FOLLOWUP_RETRY_BASE_SECONDS", default=60)
FOLLOWUP_RETRY_MAX_SECONDS = env.int("FOLLOWUP_RETRY_MAX_SECONDS", default=3600)
# How long a web process trusts a verified API key before asking the database again;
# a revocation takes up to this long to bite everywhere. 0 checks every request.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=10.0)
# Escalation stops at this level: the exception stays at the top (CRITICAL, on every
# dashboard) instead of paging again every few hours for as long as nobody acts.
EXCEPTION_MAX_ESCALATION_LEVEL = env.int("EXCEPTION_MAX_ESCALATION_LEVEL", default=3)
# How long a process trusts its copy of a tenant's SLA policies and calendars;
# saving them in the admin refreshes that process at once, others within this.
SLA_CONFIG_CACHE_SECONDS = env.float("SLA_CONFIG_CACHE_SECONDS", default=5.0)
# Rows the SLA scan claims per transaction; it loops until nothing is due.
SLA_SCAN_CHUNK = env.int("SLA_SCAN_CHUNK", default=500)
# Events dated further ahead than this are refused (a sender's clock is broken).
INGEST_MAX_FUTURE_SKEW_SECONDS = env.int("INGEST_MAX_FUTURE_SKEW_SECONDS", default=24 * 3600)

# --- Exceptions: escalation and Slack ---------------------------------------------
# A resolved exception closes (and can no longer reopen) after this many hours.
EXCEPTION_CLOSE_AFTER_HOURS = env.float("EXCEPTION_CLOSE_AFTER_HOURS", default=72.0)
# Each escalation also raises the severity one step (LOW → MEDIUM → HIGH → CRITICAL).
EXCEPTION_ESCALATION_RAISES_SEVERITY = env.bool(
    "EXCEPTION_ESCALATION_RAISES_SEVERITY", default=True
)
# How long a process trusts its copy of the reason-code catalogue and tenants' alerting
# settings; saving them in the admin refreshes that process at once, others within this.
EXCEPTION_CONFIG_CACHE_SECONDS = env.float("EXCEPTION_CONFIG_CACHE_SECONDS", default=5.0)
# Exceptions beat escalates or closes per transaction; it loops until nothing is due.
EXCEPTION_BEAT_CHUNK = env.int("EXCEPTION_BEAT_CHUNK", default=200)
# --- Exceptions: automated actions (playbooks) ----------------------------------
# Beat's resolution pass handles at most this many records per run.
ACTION_PASS_LIMIT = env.int("ACTION_PASS_LIMIT", default=200)
# After a failed attempt, the next one waits this long (the receiver may be down).
ACTION_RETRY_AFTER_SECONDS = env.int("ACTION_RETRY_AFTER_SECONDS", default=900)
# A run left choosing, ready or running this long (its worker died) is run again,
# with the same webhook-id so the receiver can tell it is the same action.
ACTION_RUN_LEASE_SECONDS = env.int("ACTION_RUN_LEASE_SECONDS", default=300)
# Outbound action webhooks: each request's timeout, and how many requests in all
# (connection errors, 408, 429 and 5xx are tried again with backoff; nothing above
# the HTTP layer retries).
ACTION_HTTP_TIMEOUT_SECONDS = env.float("ACTION_HTTP_TIMEOUT_SECONDS", default=10.0)
ACTION_HTTP_MAX_ATTEMPTS = env.int("ACTION_HTTP_MAX_ATTEMPTS", default=3)
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
# --- AI: the model client ---
# Any OpenAI-compatible API (OpenRouter, OpenAI, Ollama's /v1, vLLM, llama.cpp), e.g.
# https://openrouter.ai/api/v1. Empty or "disabled": no model is asked, notes come from
# the rules. The key is optional: a local Ollama needs none (no Authorization header).
AI_PROVIDER_BASE_URL = env.str("AI_PROVIDER_BASE_URL", default="")
AI_API_KEY = env.str("AI_API_KEY", default="")
AI_MODEL = env.str("AI_MODEL", default="openai/gpt-4o-mini")
# The whole call, retries and their waits included, ends within this budget.
AI_TIMEOUT_SECONDS = env.float("AI_TIMEOUT_SECONDS", default=20.0)
# Total HTTP attempts per call (the client is the one retry layer): 429, 408, 5xx and
# connection errors are tried again, other 4xx never.
AI_RETRY_MAX_ATTEMPTS = env.int("AI_RETRY_MAX_ATTEMPTS", default=2)
AI_MAX_REPLY_TOKENS = env.int("AI_MAX_REPLY_TOKENS", default=800)
SLACK_DEFAULT_CHANNEL = env.str("SLACK_DEFAULT_CHANNEL", default="")
SLACK_NOTIFICATION_ENABLED = env.bool("SLACK_NOTIFICATION_ENABLED", default=True)
# New exceptions at or above this severity get their own message; the rest, the digest.
SLACK_MIN_SEVERITY = env.str("SLACK_MIN_SEVERITY", default="HIGH")
# Slack's Web API; tests point it at a local server.
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
# Messages per second per channel (Slack allows about one).
SLACK_MESSAGES_PER_SECOND = env.float("SLACK_MESSAGES_PER_SECOND", default=1.0)
# Minutes between digests of the exceptions below SLACK_MIN_SEVERITY.
SLACK_DIGEST_MINUTES = env.int("SLACK_DIGEST_MINUTES", default=60)

# --- AI: the analyst's gate ---------------------------------------------------------
# A model's notes replace the catalogue's only at or above this confidence.
AI_MIN_CONFIDENCE = env.float("AI_MIN_CONFIDENCE", default=0.55)
# "all", or "important_only": only HIGH and CRITICAL exceptions go to the model.
AI_SAMPLING_SEVERITY = env.str("AI_SAMPLING_SEVERITY", default="all")
# Exceptions whose current state has no analysis (a publish lost) wait this long
# before beat's sweep queues them.
AI_SWEEP_AFTER_SECONDS = env.int("AI_SWEEP_AFTER_SECONDS", default=120)
# The model may choose among a playbook's actions only when it is at least this
# sure of its choice and gives it at least this chance of success; otherwise the
# rules' choice (the playbook's order) stands.
AI_ACTION_MIN_CONFIDENCE = env.float("AI_ACTION_MIN_CONFIDENCE", default=0.7)
AI_ACTION_MIN_SUCCESS = env.float("AI_ACTION_MIN_SUCCESS", default=0.6)

# --- DRF / OpenAPI -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["orders.authentication.ApiKeyAuthentication"],
    # HasScope: each view declares the scope an API key needs per method (issue 11).
    "DEFAULT_PERMISSION_CLASSES": [
        "orders.authentication.IsTenantAuthenticated",
        "orders.authentication.HasScope",
    ],
    "DEFAULT_PARSER_CLASSES": ["e2a_project.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["e2a_project.renderers.ORJSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "e2a_project.openapi.E2AAutoSchema",
    "EXCEPTION_HANDLER": "e2a_project.api_errors.json_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "E²A API",
    "DESCRIPTION": "Order-lifecycle ingestion and operations API of E²A.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # OpenAPI links between operations (a list's ids → the detail and actions), from
    # the table in e2a_project/openapi.py; the first hook is drf-spectacular's default.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "e2a_project.openapi.add_links",
    ],
    # Several models have a `status`; the invoice's gets a readable component name.
    "ENUM_NAME_OVERRIDES": {"InvoiceStatusEnum": "billing.models.InvoiceStatus"},
    # What Django's path converters accept, so generated clients (and Schemathesis)
    # know a value outside them is a 404 from the router, not a valid request.
    "PATH_CONVERTER_OVERRIDES": {
        "int": {"type": "integer", "minimum": 0},
        "slug": {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$"},
        "path": {"type": "string", "minLength": 1},
    },
}

# --- Celery ----------------------------------------------------------------------
# The embedded broker's folder; every process of one `make run` must name the same one.
BROKER_DIR = Path(env.str("CELERY_BROKER_DIR", default="") or VAR_DIR / "broker").resolve()
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# kombu's own filesystem transport loses messages a worker reads while they are
# being written; e2a_project.broker writes each one atomically (see there).
use_for_filesystem_urls()
# kombu's Redis transport stops a worker that Redis went away under; see there.
use_for_redis_urls()
if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "processed").mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Exchange tables; kombu's default is ./control, i.e. wherever a process started.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # kombu's virtual transports sleep polling_interval (1 s by default)
        # whenever the worker's prefetch is full or the folder is empty; a burst
        # of 600 events then took minutes to follow up under `make run`.
        # Listing a local folder ten times a second costs next to nothing.
        "polling_interval": 0.1,
    }
else:
    # Redis redelivers unacknowledged messages after this; no task runs that long.
    # The worker-kill proofs (tests/reliability/) shorten it so a message whose
    # worker was killed comes back within seconds; production keeps the hour.
    BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=3600)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
    if BROKER_VISIBILITY_TIMEOUT < 60:
        # kombu looks for overdue messages only every 10 x 10 s by default: a short
        # timeout needs the sweep every second to mean anything.
        CELERY_BROKER_TRANSPORT_OPTIONS |= {
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
    if REDIS_KEY_PREFIX and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = REDIS_KEY_PREFIX
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish that cannot reach the broker fails fast: the event is already stored and
# the beat sweep re-queues it (orders.tasks.sweep_unprocessed_events).
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Declared up front so a worker started without -Q consumes every one of them.
CELERY_TASK_QUEUES = [
    Queue(name) for name in ("default", "ingest", "notifications", "ai", "billing")
]
CELERY_TASK_ROUTES = {
    "orders.*": {"queue": "ingest"},
    "slas.*": {"queue": "ingest"},
    # Slack sends wait on the rate limit: they get their own queue so they never
    # hold up ingest follow-ups.
    "exceptions.send_*": {"queue": "notifications"},
    # Action webhooks wait on other systems (up to their timeout and retries), like
    # Slack sends: never in front of ingest follow-ups.
    "exceptions.run_action": {"queue": "notifications"},
    "exceptions.automate": {"queue": "notifications"},
    "exceptions.*": {"queue": "ingest"},
    "ai.*": {"queue": "ai"},
    "billing.*": {"queue": "billing"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep E²A's JSON log format in the worker
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "orders-sweep-unprocessed-events": {
        "task": "orders.sweep_unprocessed_events",
        "schedule": 60.0,
    },
    "slas-scan": {
        "task": "slas.scan",
        "schedule": 60.0,
        # A scan still queued after a minute is superseded by the next one.
        "options": {"expires": 55},
    },
    "exceptions-escalate": {
        "task": "exceptions.escalate",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "exceptions-send-pending-notifications": {
        "task": "exceptions.send_pending_notifications",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "exceptions-send-digests": {
        "task": "exceptions.send_digests",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "exceptions-resolution-pass": {
        "task": "exceptions.resolution_pass",
        "schedule": 120.0,
        "options": {"expires": 110},
    },
    "ai-sweep-unexplained": {
        "task": "ai.sweep_unexplained",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    # Hourly, so every tenant's local 02:00 is met within the hour it falls in.
    "billing-nightly": {
        "task": "billing.nightly",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}

# --- AI: budget and circuit breaker -------------------------------------------------
# The day's model spend is capped for the whole installation (UTC days, kept in the
# database so every worker sees the same total and a Redis restart resets nothing).
# A limit of 0 stops every model call: notes come from the rules.


def _env_usd(name: str, default: str | None) -> Decimal | None:
    """A dollar amount from the environment as Decimal (django-environ offers only float)."""
    raw = env.str(name, default=default)
    if raw is None or raw == "":
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name} is not a number: {raw!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise ImproperlyConfigured(f"{name} must be a finite amount not below 0: {raw!r}")
    return amount


AI_MAX_DAILY_TOKENS = env.int("AI_MAX_DAILY_TOKENS", default=200_000)
AI_MAX_DAILY_COST_USD = _env_usd("AI_MAX_DAILY_COST_USD", "20")
# Optional caps per tenant, so one merchant's storm of exceptions cannot use up the
# whole day's budget; unset = only the installation's limits apply.
AI_MAX_DAILY_TOKENS_PER_TENANT = env.int("AI_MAX_DAILY_TOKENS_PER_TENANT", default=None)
AI_MAX_DAILY_COST_USD_PER_TENANT = _env_usd("AI_MAX_DAILY_COST_USD_PER_TENANT", None)
# The breaker shared by all workers (state in Redis; in-process without REDIS_URL):
# this many consecutive failed model calls open it, and after the cool-down exactly
# one call probes the model.
AI_BREAKER_FAILURES = env.int("AI_BREAKER_FAILURES", default=5)
AI_BREAKER_COOLDOWN_SECONDS = env.float("AI_BREAKER_COOLDOWN_SECONDS", default=60.0)
# USD per million (input, output) tokens. Used for the budget check before a call
# and for the charge when the provider does not report the call's cost (OpenRouter
# does). A name missing here costs the "*" entry, deliberately on the high side; a
# pattern such as "*:free" matches OpenRouter's free variants. Models you run
# yourself cost nothing: add them, e.g. AI_MODEL_PRICES='{"llama3.1:8b": [0, 0]}'.
_AI_DEFAULT_MODEL_PRICES = {
    "*": ("1.00", "3.00"),
    "*:free": ("0", "0"),
    "gpt-4o-mini": ("0.15", "0.60"),
    "openai/gpt-4o-mini": ("0.15", "0.60"),
    "gpt-4o": ("2.50", "10.00"),
    "openai/gpt-4o": ("2.50", "10.00"),
    "gpt-4.1-mini": ("0.40", "1.60"),
    "openai/gpt-4.1-mini": ("0.40", "1.60"),
    "claude-3-5-haiku-latest": ("0.80", "4.00"),
    "anthropic/claude-3.5-haiku": ("0.80", "4.00"),
    "anthropic/claude-3.5-sonnet": ("3.00", "15.00"),
    "google/gemini-2.0-flash-001": ("0.10", "0.40"),
    "llama3.1:8b": ("0", "0"),
    "llama3.2:3b": ("0", "0"),
    "qwen2.5:7b": ("0", "0"),
    "mistral:7b": ("0", "0"),
}


def _ai_model_prices(raw: str) -> dict[str, tuple[Decimal, Decimal]]:
    """The default price table with AI_MODEL_PRICES (JSON) laid over it.

    Numbers are parsed straight to Decimal (never through float); a malformed value
    stops start-up with its name rather than pricing calls wrongly all day.
    """
    table = {name: (Decimal(i), Decimal(o)) for name, (i, o) in _AI_DEFAULT_MODEL_PRICES.items()}
    if not raw.strip():
        return table
    try:
        overrides = json.loads(raw, parse_float=Decimal, parse_int=Decimal)
        if not isinstance(overrides, dict):
            raise ValueError("expected an object of model name -> [input, output]")
        for name, pair in overrides.items():
            price_in, price_out = (Decimal(str(p)) for p in pair)
            if not all(p.is_finite() and p >= 0 for p in (price_in, price_out)):
                raise ValueError(f"{name}: prices must be finite and not negative")
            table[str(name)] = (price_in, price_out)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise ImproperlyConfigured(f"AI_MODEL_PRICES is not valid: {exc}") from exc
    return table


AI_MODEL_PRICES = _ai_model_prices(env.str("AI_MODEL_PRICES", default=""))

# --- Logging ----------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "e2a_project.logging.structured_formatter",
            "renderer": LOG_FORMAT,
            "service": SERVICE_NAME,
        },
    },
    "filters": {
        # A dependency outage is logged once at WARNING by e2a_project.outage, not
        # also as Django's ERROR line (with a traceback, if raised in a middleware).
        "drop_outage_tracebacks": {"()": "e2a_project.outage.DropOutageTracebacks"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "structured"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"filters": ["drop_outage_tracebacks"]},
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
        # httpx logs every request at INFO: one line per event a generator sends, per
        # model call; failures are logged by E²A's own callers, with context.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Security in production ---------------------------------------------------------
# TLS ends at the load balancer, which says so in X-Forwarded-Proto. In production
# plain HTTP is redirected and browsers are told to stay on HTTPS (HSTS), except on
# the probes and metrics, which load balancers, orchestrators and Prometheus call
# over plain HTTP inside the network and which must not answer 301.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if IS_PRODUCTION else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=IS_PRODUCTION)
# Preloading is a promise to the browser makers that only the domain's owner can
# make; it stays off unless asked for, and Django's reminder about it is silenced.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=IS_PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=IS_PRODUCTION)
