"""E²A operator console benchmark: the dashboard and the triage list against the admin's
plain exception changelist, on the same data, server and load.

    .venv/bin/python bench/console.py                                  # 1,000,000 orders
    .venv/bin/python bench/console.py --reuse                          # keep the loaded data
    .venv/bin/python bench/console.py --orders 20000 --exceptions 2000 # a smoke run

It recreates the PostgreSQL database named by DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/e2a_console_bench; the name must contain "bench"),
migrates it and loads, with bulk SQL, `--orders` orders over 4 tenants and
`--exceptions` exceptions with their trail, explanations, clocks, events and dead
letters (bench/console_parts/data.py). gunicorn serves the project with the bench's
settings module, which only adds the plain admin site at /plain-admin/. For a superuser
and an Operator of the big tenant, each logged in through /admin/login/, every page is
checked (200, the page itself, not the login form) and then loaded with wrk
(`--connections` 32, `--seconds` 20 after `--warmup` 5):

* the triage list, /admin/exceptions/orderexception/        ÷ the plain changelist
* the dashboard, /admin/dashboard/, warm (its cached figures) ÷ the plain changelist
* the dashboard cold: `--cold-requests` single requests, Django's cache emptied before
  each, ÷ the plain changelist requested the same way

Each ratio is of the mean latency (goal ≤ 1.5). Then the statements each page runs, the
slowest ones, and their plans. No timed assertion: exit 1 on a failed request, or with
`--check` when a ratio misses its goal; 2 on a setup failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from common import (
    BenchError,
    Ratio,
    bench_database_name,
    flush_redis,
    libpq_url,
    machine_notes,
    print_ratios,
    progress,
    recreate_database,
    require_loopback,
    run,
)
from console_parts import data
from console_parts.config import Config
from console_parts.environment import bench_environment, configure_django
from console_parts.load import Page, Timing, check_page, cold_sequence, gunicorn, run_wrk
from console_parts.profile import print_profile, profile_page
from console_parts.users import Login, ensure_tenants, ensure_users, login

GOAL = 1.5
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/e2a_console_bench"
PLAIN = Page(
    "plain",
    "plain changelist",
    "/plain-admin/exceptions/orderexception/",
    ('id="result_list"', "Select exception to change"),
)
TRIAGE = Page("triage", "triage list", "/admin/exceptions/orderexception/", ('id="result_list"',))
DASHBOARD = Page("dashboard", "dashboard", "/admin/dashboard/", ())


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders loaded (1M)")
    parser.add_argument("--exceptions", type=int, default=100_000, help="exceptions (100,000)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database when it holds these sizes"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="wrk per page (20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="wrk warm-up per page (5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--threads", type=int, default=4, help="gunicorn WEB_THREADS (4, as gunicorn.conf.py)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="wrk passes over the pages, in reverse order every other pass (2)",
    )
    parser.add_argument(
        "--cold-requests", type=int, default=10, help="single cold requests per page (10)"
    )
    parser.add_argument(
        "--no-operator", action="store_true", help="measure the superuser only (half the time)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a ratio misses")
    args = parser.parse_args(argv)
    if args.orders < 1000 or not 10 <= args.exceptions <= args.orders // 2:
        raise BenchError("--orders ≥ 1,000 and 10 ≤ --exceptions ≤ half the orders")
    return Config(
        database_url=os.environ.get("DATABASE_URL", DEFAULT_URL),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"),
        broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13"),
        orders=args.orders,
        exceptions=args.exceptions,
        reuse=args.reuse,
        workers=max(1, args.workers),
        connections=max(1, args.connections),
        threads=max(1, args.threads),
        wrk_threads=max(1, args.wrk_threads),
        seconds=args.seconds,
        warmup=args.warmup,
        cold_requests=max(1, args.cold_requests),
        rounds=max(1, args.rounds),
        operator=not args.no_operator,
        check=args.check,
    )


# ------------------------------------------------------------------------ the data


def ensure_data(cfg: Config, env: dict[str, str]) -> tuple[dict, tuple[Login, Login]]:
    """The database as the options ask: loaded again unless `--reuse` finds the same
    sizes. Returns the load's record and the two logins (new passwords each run)."""
    dbname = bench_database_name(cfg.database_url)
    with psycopg.connect(libpq_url(cfg.database_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
    meta = None
    if cfg.reuse and exists:
        with psycopg.connect(libpq_url(cfg.database_url), autocommit=True) as conn:
            meta = data.read_meta(conn)
        if meta and (meta["orders"], meta["exceptions"]) != (cfg.orders, cfg.exceptions):
            progress(f"--reuse: {dbname} holds other sizes ({meta['orders']:,} orders): reloading")
            meta = None
    if meta is None:
        progress(f"recreating database {dbname}")
        recreate_database(cfg.database_url)
    configure_django(env)
    from django.core.management import call_command
    from django.db import connection

    progress("migrating")
    call_command("migrate", interactive=False, verbosity=0)
    tenants = ensure_tenants()
    logins = ensure_users()
    with psycopg.connect(libpq_url(cfg.database_url), autocommit=True) as conn:
        if meta is None:
            from slas.models import SlaPolicy

            policy = SlaPolicy.objects.filter(tenant__isnull=True).order_by("pk").first()
            if policy is None:
                raise BenchError("no default SLA policy: migrations should have created it")
            progress(f"loading {cfg.orders:,} orders and {cfg.exceptions:,} exceptions")
            data.load(
                conn,
                orders=cfg.orders,
                exceptions=cfg.exceptions,
                tenants=tenants,
                operator=logins[1].user_id,
                policy=policy.pk,
            )
            meta = data.read_meta(conn)
        else:
            rows = data.refresh_recent(conn, orders=cfg.orders)
            progress(f"--reuse: {rows:,} events received in the last hour added again")
    progress("collecting static files (the manifest storage the pages name)")
    call_command("collectstatic", interactive=False, verbosity=0)
    connection.close()
    return meta, logins


def data_notes(cfg: Config, meta: dict) -> list[str]:
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for name, query in (
            ("orders", "SELECT count(*) FROM orders_order"),
            ("events", "SELECT count(*) FROM orders_orderevent"),
            (
                "events in the last hour",
                "SELECT count(*) FROM orders_orderevent WHERE received_at > now() - interval '1h'",
            ),
            ("stage clocks", "SELECT count(*) FROM slas_stageclock"),
            ("exceptions", "SELECT count(*) FROM exceptions_orderexception"),
            (
                "active",
                "SELECT count(*) FROM exceptions_orderexception"
                " WHERE status IN ('OPEN', 'ACKNOWLEDGED', 'IN_PROGRESS')",
            ),
            ("activity rows", "SELECT count(*) FROM exceptions_exceptionactivity"),
            ("explanations", "SELECT count(*) FROM exceptions_explanation"),
            ("dead letters", "SELECT count(*) FROM orders_deadletter"),
            ("follow-up failures", "SELECT count(*) FROM orders_followupfailure"),
        ):
            cursor.execute(query)
            counts[name] = cursor.fetchone()[0]
    loaded_at = datetime.fromisoformat(meta["loaded_at"])
    age = (time.time() - loaded_at.timestamp()) / 3600
    return [
        ", ".join(f"{v:,} {k}" for k, v in counts.items()),
        f"loaded in {meta['seconds']:,.0f} s at {loaded_at:%Y-%m-%d %H:%M} UTC"
        f" ({age:,.1f} h before this run)",
    ]


# ------------------------------------------------------------------- measurements


def profiles(logins: list[Login]) -> list:
    """Each page once in-process per login: statements, their time, the slowest plans."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    out = []
    for who in logins:
        user = users.get(pk=who.user_id)
        for page in (PLAIN, TRIAGE):
            out.append(profile_page(user, page.path, title=page.title, who=who.label))
        cold = profile_page(user, DASHBOARD.path, title="dashboard, cold", who=who.label, cold=True)
        if cold.status != 404:
            out.append(cold)
            out.append(profile_page(user, DASHBOARD.path, title="dashboard, warm", who=who.label))
    return out


def measure(cfg: Config, port: int, who: Login, session: str) -> tuple[list[Timing], list[str]]:
    """wrk on each page that answers, then the cold sequences; notes on what was skipped."""
    timings: list[Timing] = []
    notes: list[str] = []
    pages = []
    for page in (PLAIN, TRIAGE, DASHBOARD):
        status, note = check_page(port, page, session)
        if status == 404 and page is DASHBOARD:
            notes.append(f"dashboard: not available on this checkout ({page.path} answers 404)")
            continue
        if status != 200:
            raise BenchError(f"{page.path} as {who.label}: {status or 'wrong page'} {note}")
        notes.append(f"{page.title} as {who.label}: 200, {note}")
        pages.append(page)
    # Rounds in alternating order (A B C, C B A, …), so that a load that comes and goes
    # on the machine meets every page alike.
    for r in range(cfg.rounds):
        for page in pages if r % 2 == 0 else pages[::-1]:
            progress(
                f"{who.label}, round {r + 1}/{cfg.rounds}: {page.title}: wrk warm-up"
                f" {cfg.warmup:g} s, then {cfg.seconds:g} s"
            )
            run_wrk(cfg, port, page.path, session, cfg.warmup, page=page.key, user=who.label)
            timing = run_wrk(
                cfg, port, page.path, session, cfg.seconds, page=page.key, user=who.label
            )
            timing.round = r + 1
            timings.append(timing)
    if DASHBOARD in pages:
        for page in (PLAIN, DASHBOARD):
            progress(f"{who.label}: {page.title}: {cfg.cold_requests} cold single requests")
            timings.append(
                cold_sequence(cfg, port, page.path, session, page=page.key, user=who.label)
            )
    return timings, notes


# ------------------------------------------------------------------------ the report

TITLES = {"plain": PLAIN.title, "triage": TRIAGE.title, "dashboard": DASHBOARD.title}


def print_timings(timings: list[Timing]) -> None:
    header = (
        f"{'page':<18} {'user':<10} {'how':<8} {'requests':>8} {'req/s':>8} {'mean':>9}"
        f" {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9}  errors"
    )
    print(header)
    print("-" * len(header))
    for t in timings:
        how = f"wrk r{t.round}" if t.how == "wrk" else "cold"
        errors = ", ".join(f"{k} {v}" for k, v in t.errors.items()) or "-"
        print(
            f"{TITLES[t.page]:<18} {t.user:<10} {how:<8} {t.requests:>8,} {t.rate:>8.1f}"
            f" {t.mean:>7.1f}ms {t.p50:>7.1f}ms {t.p95:>7.1f}ms {t.p99:>7.1f}ms"
            f" {t.max:>7.1f}ms  {errors}"
        )


def ratios(timings: list[Timing], users: list[str]) -> list[Ratio]:
    def find(page: str, user: str, how: str) -> Timing | None:
        """The page's figure over all rounds: the mean of every request's latency."""
        found = [t for t in timings if (t.page, t.user, t.how) == (page, user, how)]
        requests = sum(t.requests for t in found)
        if not requests:
            return None
        mean = sum(t.mean * t.requests for t in found) / requests
        return Timing(page=page, user=user, how=how, requests=requests, mean=mean)

    out = []
    for user in users:
        base, base_cold = find("plain", user, "wrk"), find("plain", user, "cold")
        for page, how, base_t, text in (
            ("triage", "wrk", base, "triage list ÷ plain changelist"),
            ("dashboard", "wrk", base, "dashboard warm ÷ plain changelist"),
            ("dashboard", "cold", base_cold, "dashboard cold ÷ plain changelist, cold"),
        ):
            subject = find(page, user, how)
            if subject and base_t and base_t.mean and subject.mean:
                out.append(Ratio(f"{text} ({user})", subject.mean / base_t.mean, GOAL, False))
    return out


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    for url, what in (
        (cfg.database_url, "DATABASE_URL"),
        (cfg.redis_url, "REDIS_URL"),
        (cfg.broker_url, "CELERY_BROKER_URL"),
    ):
        require_loopback(url, what)
    if not Path("/usr/bin/wrk").exists():
        raise BenchError("wrk is missing: apt-get install wrk (Debian's package)")
    notes = machine_notes()
    env = bench_environment(cfg)
    flush_redis(cfg.redis_url, cfg.broker_url)
    started = time.perf_counter()
    meta, (admin, operator) = ensure_data(cfg, env)
    logins = [admin, operator] if cfg.operator else [admin]
    notes += data_notes(cfg, meta)
    progress(f"data ready in {time.perf_counter() - started:,.0f} s; profiling the pages")
    profiled = profiles(logins)
    from django.db import connection

    connection.close()
    flush_redis(cfg.redis_url, cfg.broker_url)
    timings: list[Timing] = []
    try:
        with gunicorn(cfg, env) as server:
            for who in logins:
                session = login(server.port, who)
                got, page_notes = measure(cfg, server.port, who, session)
                timings += got
                notes += page_notes
    finally:
        flush_redis(cfg.redis_url, cfg.broker_url)
    notes.append(
        f"load average after the measurements {os.getloadavg()[0]:.2f} (anything else running"
        " shares the cores with gunicorn, PostgreSQL and wrk: both sides of a ratio alike)"
    )

    print()
    print(f"E²A console benchmark, database {urlsplit(cfg.database_url).path.lstrip('/')}")
    for note in notes:
        print("  " + note)
    print(
        f"  gunicorn: {cfg.workers} workers × {cfg.threads} thread(s); wrk: {cfg.wrk_threads}"
        f" threads, {cfg.connections} connections, {cfg.seconds:g} s after {cfg.warmup:g} s;"
        f" cold: {cfg.cold_requests} single requests, cache emptied before each"
    )
    print()
    print_timings(timings)
    print()
    judged = ratios(timings, [who.label for who in logins])
    print(
        "ratio of mean latencies (the same statistic on every line; wrk: the mean over every"
        " request of every round)"
    )
    print_ratios(judged, width=58)
    print()
    print("Statements per page (one request in-process, django.test.Client, after a warm one)")
    for p in profiled:
        print()
        print_profile(p)
    errors = sum(sum(t.errors.values()) for t in timings)
    if errors:
        print(f"\nERROR: {errors} requests failed or were not 200 (see the table)")
        return 1
    return 1 if cfg.check and not all(r.met for r in judged) else 0


if __name__ == "__main__":
    # The repository before bench/: this directory's billing.py must not hide the app.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    run(main, interrupted="console bench interrupted; gunicorn stopped")
