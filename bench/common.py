"""What the benchmarks need around their measurements: safety checks on the
targets they wipe, the database they recreate, progress lines and the machine
line, an entry point that always unwinds through their clean-up, the `/proc` CPU
meter, the HTTP load client, a per-statement profile of Django's queries, and the
ratio table they end with. Kept here so each
script holds only what it measures and how it reports it."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import selectors
import signal
import socket
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
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


def app_settings(*, database_url: str, redis_url: str, broker_url: str) -> dict[str, str]:
    """The environment both benchmarks run E²A under: their own services, real
    (not eager) Celery publishing, production-like DEBUG off, quiet logs."""
    return {
        "DJANGO_SETTINGS_MODULE": "e2a_project.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "APP_ENV": "development",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
    }


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


# ------------------------------------------------------------------- CPU accounting


ProcessCpu = dict[int, tuple[str, float]]  # pid → (command name, CPU seconds so far)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far; 0 once it is gone."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def children_of(ppid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and int(fields[1]) == ppid:
                pids.append(int(entry))
    return pids


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(values) / CLK_TCK
    idle = (values[3] + values[4]) / CLK_TCK
    return total - idle, total


def all_process_cpu() -> ProcessCpu:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                text = Path(f"/proc/{entry}/stat").read_text()
                comm = text[text.find("(") + 1 : text.rfind(")")]
                fields = text[text.rfind(")") + 2 :].split()
                out[int(entry)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


@dataclass(slots=True)
class CpuSnapshot:
    groups: dict[str, dict[int, float]]
    everyone: dict[int, tuple[str, float]]
    machine: tuple[float, float]


class CpuMeter:
    """CPU seconds used during a measurement by named groups of processes (the script
    says which pids make up each group), and by whatever else ran on the machine."""

    def __init__(
        self, names: tuple[str, ...], find: Callable[[ProcessCpu], dict[str, list[int]]]
    ) -> None:
        self.names = names
        self.find = find  # every process's CPU so far → the pids of each group now

    def snapshot(self) -> CpuSnapshot:
        everyone = all_process_cpu()
        pids = self.find(everyone)
        groups = {
            name: {pid: everyone[pid][1] for pid in found if pid in everyone}
            for name, found in pids.items()
        }
        return CpuSnapshot(groups, everyone, machine_busy())

    def delta(self, before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
        """CPU seconds per group, the machine's busy/total seconds, and per other
        process name (key "other:<name>") what it used meanwhile."""
        out: dict[str, float] = {}
        ours: set[int] = set()
        for name in self.names:
            b, a = before.groups[name], after.groups[name]
            out[name] = sum(v - b.get(pid, 0.0) for pid, v in a.items())
            ours.update(a)
        out["machine_busy"] = after.machine[0] - before.machine[0]
        out["machine_total"] = after.machine[1] - before.machine[1]
        for pid, (comm, cpu) in after.everyone.items():
            used = cpu - before.everyone.get(pid, (comm, 0.0))[1]
            if pid not in ours and used > 0:
                label = "other:" + (_describe(pid, comm) if used > 0.05 else comm)
                out[label] = out.get(label, 0.0) + used
        return out


def _describe(pid: int, comm: str) -> str:
    """`comm`, plus the script a Python process runs (python is not telling)."""
    if not comm.startswith("python"):
        return comm
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return comm
    words = [a.decode(errors="replace") for a in argv[1:4] if a and not a.startswith(b"-")]
    return f"{comm} {Path(words[0]).name}" if words else comm


# -------------------------------------------------------------------- load client


@dataclass(slots=True)
class LoadResult:
    name: str
    unit_per_request: int = 1
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    # Where the load tool reports percentiles instead of every latency (wrk): one
    # {quantile: seconds} per measurement.
    quantile_rounds: list[dict[float, float]] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())

    @property
    def rate(self) -> float:
        """Successful units (requests or events) per second."""
        return self.ok * self.unit_per_request / self.elapsed if self.elapsed else 0.0

    def merge(self, other: LoadResult) -> None:
        self.ok += other.ok
        self.errors.update(other.errors)
        for label, sample in other.samples.items():
            self.samples.setdefault(label, sample)
        self.latencies.extend(other.latencies)
        self.elapsed += other.elapsed
        for key, value in other.cpu.items():
            self.cpu[key] = self.cpu.get(key, 0.0) + value
        self.quantile_rounds.extend(other.quantile_rounds)

    def pct(self, q: float) -> float:
        """The q-quantile latency in seconds. From percentiles per measurement: the
        median's median, and for any higher quantile the worst measurement's."""
        if not self.latencies and self.quantile_rounds:
            values = [r[q] for r in self.quantile_rounds if q in r]
            if not values:
                return 0.0
            return statistics.median(values) if q <= 0.5 else max(values)
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Conn:
    __slots__ = ("buf", "out", "sock", "started")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.out = memoryview(b"")
        self.buf = bytearray()
        self.started = 0.0


def _parse_response(buf: bytearray) -> tuple[int, bytes, bool] | None:
    """(status, body, server_closes) once `buf` holds a whole response, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length = None
    closes = head[0].startswith("HTTP/1.0")
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            closes = value.strip().lower() == "close"
        elif name == "transfer-encoding" and "chunked" in value.lower():
            raise ValueError("chunked responses are not supported by the bench client")
    if length is None:
        raise ValueError("response without Content-Length")
    if len(buf) < end + 4 + length:
        return None
    return status, bytes(buf[end + 4 : end + 4 + length]), closes


def run_load(
    name: str,
    port: int,
    make_request: Callable[[], bytes],
    check: Callable[[int, bytes], str | None],
    *,
    concurrency: int,
    seconds: float,
    max_requests: int,
    unit_per_request: int = 1,
    stall_timeout: float = 60.0,
) -> LoadResult:
    """Keep `concurrency` requests in flight for `seconds` (or `max_requests`).

    One thread, non-blocking sockets: the client costs little CPU, which matters
    when it shares the machine with the server. Connections are kept alive when
    the server allows it (gunicorn's sync workers close after each response).
    """
    result = LoadResult(name=name, unit_per_request=unit_per_request)
    sel = selectors.DefaultSelector()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    issued = 0
    last_done = t0
    last_progress = t0

    def send(conn: _Conn) -> bool:
        nonlocal issued
        if time.perf_counter() >= deadline or issued >= max_requests:
            return False
        if conn.sock is None:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            except OSError as exc:
                result.errors["connect failed"] += 1
                result.samples.setdefault("connect failed", repr(exc))
                return False
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            conn.sock = sock
            sel.register(sock, selectors.EVENT_WRITE, conn)
        else:
            sel.modify(conn.sock, selectors.EVENT_WRITE, conn)
        issued += 1
        conn.out = memoryview(make_request())
        conn.buf.clear()
        conn.started = time.perf_counter()
        return True

    def close(conn: _Conn) -> None:
        sock, conn.sock = conn.sock, None
        if sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(sock)
            sock.close()

    def fail(conn: _Conn, label: str, detail: str = "") -> None:
        result.errors[label] += 1
        result.samples.setdefault(label, detail[:300])
        close(conn)

    conns = [_Conn() for _ in range(concurrency)]
    active = sum(send(c) for c in conns)
    try:
        while active:
            now = time.perf_counter()
            if now - last_progress > stall_timeout:
                for conn in conns:
                    if conn.sock is not None:
                        fail(conn, "no response", f"nothing for {stall_timeout:.0f} s")
                break
            for key, _events in sel.select(timeout=1.0):
                conn: _Conn = key.data
                sock = conn.sock
                assert sock is not None
                try:
                    if conn.out:
                        sent = sock.send(conn.out)
                        conn.out = conn.out[sent:]
                        if not conn.out:
                            sel.modify(sock, selectors.EVENT_READ, conn)
                        continue
                    chunk = sock.recv(262144)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    fail(conn, "socket error", repr(exc))
                    active -= 0 if send(conn) else 1
                    continue
                if not chunk:
                    fail(conn, "closed early", bytes(conn.buf[:200]).decode("latin-1"))
                    active -= 0 if send(conn) else 1
                    continue
                conn.buf += chunk
                try:
                    parsed = _parse_response(conn.buf)
                except ValueError as exc:
                    fail(conn, "bad response", str(exc))
                    active -= 0 if send(conn) else 1
                    continue
                if parsed is None:
                    continue
                status, body, closes = parsed
                done = time.perf_counter()
                last_done = last_progress = done
                problem = check(status, body)
                if problem is None:
                    result.ok += 1
                    result.latencies.append(done - conn.started)
                else:
                    result.errors[problem] += 1
                    result.samples.setdefault(problem, body[:300].decode("utf-8", "replace"))
                if closes:
                    close(conn)
                if not send(conn):
                    close(conn)
                    active -= 1
    finally:
        for conn in conns:
            close(conn)
        sel.close()
    result.elapsed = last_done - t0
    return result


def http_request(port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --------------------------------------------------------------- statement profile


_SPACES = re.compile(r"\s+")
_PARAM_LISTS = re.compile(r"(%s(::\w+)?,\s*)+%s(::\w+)?")
_LABEL_RULES = (
    (re.compile(r"\b[a-z_]+\.(?=[a-z_])"), ""),  # table qualifiers
    (re.compile(r"^SELECT (DISTINCT )?.*? FROM "), "SELECT … FROM "),
    (re.compile(r"( (?:INNER|LEFT OUTER) JOIN \S+) ON \([^()]*\)"), r"\1"),
    (re.compile(r"^INSERT INTO (\S+) \([^)]*\)"), r"INSERT INTO \1 (…)"),
    (re.compile(r" RETURNING .*$"), " RETURNING …"),
    (re.compile(r"DO UPDATE SET .*?( WHERE .*| RETURNING …)?$"), r"DO UPDATE SET …\1"),
    (re.compile(r"^UPDATE (\S+) SET (\w+) = CASE .*? WHERE "), r"UPDATE \1 SET \2 = CASE … WHERE "),
    (re.compile(r" ORDER BY .*$"), ""),
)


def label(statement: str) -> str:
    """A statement's shape without column lists and parameter lists."""
    text = _PARAM_LISTS.sub("%s…", _SPACES.sub(" ", statement.replace('"', "")).strip())
    for pattern, repl in _LABEL_RULES:
        text = pattern.sub(repl, text)
    return text


class StatementLog:
    """A Django execute wrapper: wall time and calls per (scope, statement label).

    `scope` names the part of the code running (sla_scan.py sets "hook" while the SLA
    projection hook runs), else "main".
    """

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.scope = "main"
        self.hook_seconds = 0.0

    def __call__(self, execute: Callable, statement: str, params: Any, many: bool, context: Any):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            key = (self.scope, label(statement))
            self.seconds[key] += time.perf_counter() - started
            self.calls[key] += 1

    def total(self, scope: str | None = None) -> tuple[int, float]:
        """(statements, seconds) in one scope, or in all."""
        keys = [k for k in self.calls if scope is None or k[0] == scope]
        return sum(self.calls[k] for k in keys), sum(self.seconds[k] for k in keys)


@contextlib.contextmanager
def statement_log() -> Iterator[StatementLog]:
    from django.db import connection

    log = StatementLog()
    with connection.execute_wrapper(log):
        yield log


def short(text: str, width: int = 84) -> str:
    """`text` cut to `width` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def plan_summary(plan: Sequence[str], *, details: tuple[str, ...], width: int = 110) -> list[str]:
    """An EXPLAIN ANALYZE's nodes with their actual times (costs dropped), and the lines
    that start with one of `details` ("Sort Method", "Execution Time", …)."""
    kept = []
    for line in plan:
        text = line.rstrip()
        if "actual time=" in text:
            actual = text.split("actual time=", 1)[1].split(")", 1)[0]
            kept.append(short(f"{text.split(' (cost=')[0]}  [actual {actual}]", width))
        elif text.strip().startswith(details):
            kept.append(short(text, width))
    return kept


def flush_redis(*urls: str) -> None:
    """Empty the bench's own Redis databases (the cache, the broker) between runs."""
    import redis

    for url in urls:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()


# --------------------------------------------------------------------- ratio table


@dataclass(frozen=True, slots=True)
class Ratio:
    """One line of a benchmark's verdict: a ratio measured in the run against its goal."""

    label: str
    value: float
    goal: float
    at_least: bool  # the goal is a floor (≥), else a ceiling (≤)
    judged: bool = True  # False: shown for information ("info"), never a MISS

    @property
    def met(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal

    @property
    def verdict(self) -> str:
        if not self.judged:
            return "info"
        return "PASS" if self.met else "MISS"


def print_ratios(ratios: Sequence[Ratio], *, width: int) -> None:
    """The ratio table both benchmarks end with, labels `width` characters wide."""
    header = f"{'ratio':<{width}} {'value':>8} {'goal':>8}  result"
    print(header)
    print("-" * len(header))
    for r in ratios:
        goal = (">= " if r.at_least else "<= ") + format(r.goal, "g")
        print(f"{r.label:<{width}} {r.value:>7.3f}x {goal:>8}  {r.verdict}")


def in_process_django(database_url: str, *, model_from_environment: bool = False) -> None:
    """Django set up in this process against `database_url`, with everything that could
    reach shared state (Redis, a broker, Slack) forced to private embedded defaults.

    Only the AI settings may come from the shell (`model_from_environment`): the model
    configured there is the one an evaluation judges; otherwise no model is used.
    """
    os.environ.update(
        DJANGO_SETTINGS_MODULE="e2a_project.settings",
        DATABASE_URL=database_url,
        REDIS_URL="",
        CELERY_BROKER_URL="memory://",  # tasks run eagerly; nothing is ever published
        APP_ENV="development",
        DEBUG="false",
        LOG_LEVEL="ERROR",
        SLACK_BOT_TOKEN="",
    )
    if model_from_environment:
        os.environ.setdefault("AI_PROVIDER_BASE_URL", "")
    else:
        os.environ["AI_PROVIDER_BASE_URL"] = ""
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    import django

    django.setup()
