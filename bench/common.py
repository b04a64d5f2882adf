"""What both benchmarks need around their measurements: safety checks on the
targets they wipe, the database they recreate, progress lines and the machine
line, and an entry point that always unwinds through their clean-up."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
_STARTED = time.monotonic()


class BenchError(RuntimeError):
    """The benchmark cannot run (setup failed); the message says why."""


def require_loopback(url: str, what: str) -> None:
    """A benchmark flushes and drops what it is pointed at: only ever a local server."""
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise BenchError(f"{what} must point at a loopback address, not {host!r}")


def libpq_url(url: str, dbname: str | None = None) -> str:
    """django-environ accepts postgres://; psycopg wants postgresql://. `dbname` swaps the
    database (e.g. "postgres" to drop and create the benchmark's own)."""
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme in {"postgres", "postgresql", "pgsql"} else parts.scheme
    path = "/" + dbname if dbname is not None else parts.path
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def bench_database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        raise BenchError(f"refusing to drop database {name!r}: its name must contain 'bench'")
    return name


def recreate_database(url: str) -> None:
    """Drop and create the database in `url`; its name must contain "bench"."""
    ident = sql.Identifier(bench_database_name(url))
    with psycopg.connect(libpq_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def progress(msg: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {msg}", file=sys.stderr, flush=True)


def machine_notes() -> list[str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return [
        f"machine: {os.cpu_count()} cores ({model or platform.machine()}),"
        f" load average before the run {load[0]:.2f}, Python {platform.python_version()}",
    ]


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the benchmark's finally blocks


def run(main: Callable[[], int], *, interrupted: str) -> None:
    """Run `main` as the script's entry: exit 2 on a setup failure, 130 on Ctrl-C,
    and let SIGTERM unwind like Ctrl-C so servers stop and Redis is flushed."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        sys.exit(130)
