"""E²A ingest benchmark: throughput ratios measured side by side in one run.

    .venv/bin/python bench/ingest.py            # full run (~1 min)
    .venv/bin/python bench/ingest.py --quick    # smoke run (a few seconds)

It recreates the PostgreSQL database named by DATABASE_URL (it must contain
"bench"), migrates it, creates a tenant and an API key through the project's
services, starts gunicorn exactly as the Procfile does (2 sync workers), and
measures with one small HTTP load generator:

* single events: POST /ingest/events req/s  ÷  GET /healthz req/s   (goal ≥ 0.25)
* batches: POST /ingest/v2/events/batch events/s  ÷  PostgreSQL COPY of the
  same rows into a copy of orders_orderevent, rows/s               (goal ≥ 0.2)

Every ingest response is checked (202 for a single event, processed_count ==
batch size for a batch); anything else is counted and reported as an error.
See bench/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from common import (
    BenchError,
    CpuMeter,
    LoadResult,
    ProcessCpu,
    Ratio,
    children_of,
    http_request,
    libpq_url,
    machine_notes,
    print_ratios,
    progress,
    recreate_database,
    require_loopback,
    run,
    run_load,
)
from lifecycle import lifecycle_event

ROOT = Path(__file__).resolve().parent.parent
GOAL_SINGLE = 0.25
GOAL_BATCH = 0.2
REFERENCE = "earlier E²A: ~264 single events/s with 2 workers on this kind of machine (0.19x)"
COPY_COLUMNS = (
    "tenant_id",
    "order_id",
    "source",
    "event_type",
    "event_id",
    "occurred_at",
    "received_at",
    "channel",
    "payload",
    "correlation_id",
)


# --------------------------------------------------------------------------- config


@dataclass(slots=True)
class Config:
    database_url: str
    redis_url: str
    broker_url: str
    workers: int
    seconds: float
    warmup: float
    concurrency: int
    batch_size: int
    batch_rounds: int
    batch_concurrency: int
    rounds: int
    check: bool
    py_spy: Path | None


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: ~2 s per measurement")
    parser.add_argument("--seconds", type=float, default=None, help="per measurement (10)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up per endpoint (3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (8)")
    parser.add_argument("--batch-size", type=int, default=1000, help="events per batch (1000)")
    parser.add_argument("--batch-rounds", type=int, default=None, help="measured batches (30)")
    parser.add_argument(
        "--batch-concurrency",
        type=int,
        default=None,
        help="concurrent batch requests and COPY connections (default: the worker count)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleave the measurements in this many rounds, so that background load"
        " hits both sides of a ratio alike (3; 1 with --quick)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a ratio misses its goal")
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="sample the gunicorn workers with py-spy during each measurement and write"
        " collapsed stacks to DIR (py-spy must be installed; it skews the numbers a little)",
    )
    args = parser.parse_args(argv)
    workers = max(1, args.workers)
    quick = args.quick
    return Config(
        database_url=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/e2a_bench"),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
        broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/4"),
        workers=workers,
        seconds=args.seconds if args.seconds is not None else (2.0 if quick else 10.0),
        warmup=args.warmup if args.warmup is not None else (0.5 if quick else 3.0),
        concurrency=max(1, args.concurrency),
        batch_size=max(1, args.batch_size),
        batch_rounds=max(1, args.batch_rounds or (2 if quick else 30)),
        batch_concurrency=max(1, args.batch_concurrency or workers),
        rounds=max(1, args.rounds or (1 if quick else 3)),
        check=args.check,
        py_spy=args.py_spy,
    )


# ------------------------------------------------------------------------ database


def run_manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"manage.py {args[0]} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


_SETUP_TENANT = """
from orders.services.api_keys import api_key_create
from orders.services.tenants import tenant_create
tenant = tenant_create(slug="bench-3pl", name="Bench 3PL", timezone="Europe/Berlin")
print("E2A_BENCH", tenant.pk, api_key_create(tenant=tenant, name="bench").raw)
"""


def create_tenant_and_key(env: dict[str, str]) -> tuple[int, str]:
    out = run_manage(env, "shell", "-c", _SETUP_TENANT)
    for line in out.splitlines():
        if line.startswith("E2A_BENCH "):
            _, pk, key = line.split()
            return int(pk), key
    raise BenchError(f"tenant setup printed no key:\n{out}")


# ------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(cfg: Config, port: int, prom_dir: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="e2a_project.settings",
        DATABASE_URL=cfg.database_url,
        REDIS_URL=cfg.redis_url,
        CELERY_BROKER_URL=cfg.broker_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        APP_ENV="development",
        DEBUG="false",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        LOG_LEVEL="WARNING",
        ACCESS_LOG="",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(cfg.workers),
        PROMETHEUS_MULTIPROC_DIR=prom_dir,
    )
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


GUNICORN_ARGS = ["e2a_project.wsgi:application", "-c", "e2a_project/gunicorn.conf.py"]


class Server:
    """gunicorn as the Procfile starts it; always stopped by `stop()`."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env = env
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        exe = shutil.which("gunicorn", path=self.env["PATH"]) or "gunicorn"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [exe, *GUNICORN_ARGS],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            if self._healthy() and len(self.worker_pids()) >= int(self.env["WEB_CONCURRENCY"]):
                return
            time.sleep(0.2)
        raise BenchError(f"gunicorn not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                return sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        return children_of(self.proc.pid) if self.proc else []

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the master); then SIGKILL whatever is left of its
        process group (gunicorn runs in a session of its own, see start())."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


# ------------------------------------------------------------------- CPU accounting

CPU_GROUPS = ("gunicorn", "postgres", "redis", "client")


def cpu_meter(server: Server, monitor: psycopg.Connection, dbname: str) -> CpuMeter:
    """CPU seconds used during a measurement by gunicorn, the PostgreSQL backends of
    the bench database, redis-server, this client, and whatever else ran."""

    def find(everyone: ProcessCpu) -> dict[str, list[int]]:
        assert server.proc is not None
        backends = monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        ).fetchall()
        return {
            "gunicorn": [server.proc.pid, *server.worker_pids()],
            "postgres": [pid for (pid,) in backends],
            "redis": [pid for pid, (comm, _) in everyone.items() if comm == "redis-server"],
            "client": [os.getpid()],
        }

    return CpuMeter(CPU_GROUPS, find)


# ------------------------------------------------------------------------- events


ORDER_BLOCK = 100  # consecutive events touch different orders; each order gets 3 steps
BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def make_event(prefix: str, n: int) -> dict[str, object]:
    """Event number n of a realistic stream: paid → picked → packed per order."""
    return lifecycle_event(prefix, n, base_time=BASE_TIME, order_block=ORDER_BLOCK)


# -------------------------------------------------------------------- measurements


@contextlib.contextmanager
def py_spy(out_dir: Path | None, tag: str, pids: list[int]) -> Iterator[None]:
    """Sample `pids` with py-spy (collapsed stacks, one file per process) for the block."""
    if out_dir is None:
        yield
        return
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        raise BenchError("--py-spy needs py-spy: .venv/bin/pip install py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
             "--format", "raw", "--output", str(out_dir / f"{tag}-{pid}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]  # fmt: skip
    time.sleep(0.5)  # let py-spy attach before the clock starts
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def measure(
    meter: CpuMeter,
    server: Server,
    run: Callable[[], LoadResult],
    profile_dir: Path | None,
    tag: str,
) -> LoadResult:
    """Run one measurement with CPU accounting (and py-spy sampling if asked)."""
    with py_spy(profile_dir, tag, server.worker_pids()):
        before = meter.snapshot()
        result = run()
        result.cpu = meter.delta(before, meter.snapshot())
    return result


def copy_rows(
    url: str, rows: list[tuple], *, chunk: int, streams: int, timeout: float = 600.0
) -> float:
    """COPY the rows into bench_copy, committing every `chunk` rows, on `streams`
    connections in parallel; returns the wall-clock seconds."""
    chunks = [rows[i : i + chunk] for i in range(0, len(rows), chunk)]
    stmt = f"COPY bench_copy ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    conns = [psycopg.connect(libpq_url(url)) for _ in range(streams)]
    errors: list[BaseException] = []
    start = threading.Barrier(streams + 1)

    def work(conn: psycopg.Connection, mine: list[list[tuple]]) -> None:
        try:
            start.wait(timeout=30)
            with conn.cursor() as cur:
                for part in mine:
                    with cur.copy(stmt) as copy:
                        for row in part:
                            copy.write_row(row)
                    conn.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(conn, chunks[i::streams]), daemon=True)
        for i, conn in enumerate(conns)
    ]
    try:
        for thread in threads:
            thread.start()
        start.wait(timeout=30)
        t0 = time.perf_counter()
        for thread in threads:
            thread.join(timeout=timeout)
        elapsed = time.perf_counter() - t0
    finally:
        for conn in conns:
            conn.close()
    if errors or any(t.is_alive() for t in threads):
        raise BenchError(f"COPY failed: {errors[:1] or 'timed out'}")
    return elapsed


COPY_REPEATS = 3


def copy_median(monitor: psycopg.Connection, cfg: Config, rows: list[tuple]) -> float:
    """Median seconds of COPY_REPEATS COPYs of `rows` into an emptied bench_copy."""
    times = []
    for _ in range(COPY_REPEATS):
        monitor.execute("TRUNCATE bench_copy")
        times.append(
            copy_rows(cfg.database_url, rows, chunk=cfg.batch_size, streams=cfg.batch_concurrency)
        )
        copied = monitor.execute("SELECT count(*) FROM bench_copy").fetchone()[0]
        if copied != len(rows):
            raise BenchError(f"COPY stored {copied} rows, expected {len(rows)}")
    return statistics.median(times)


def fetch_rows(conn: psycopg.Connection, prefix: str) -> list[tuple]:
    cols = ", ".join("payload::text" if c == "payload" else c for c in COPY_COLUMNS)
    return conn.execute(
        f"SELECT {cols} FROM orders_orderevent WHERE event_id LIKE %s ORDER BY id",
        [prefix + "-%"],
    ).fetchall()


# ------------------------------------------------------------------------- report


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def cpu_line(result: LoadResult) -> str:
    c, units = result.cpu, result.ok * result.unit_per_request
    if not c or not units or not result.elapsed:
        return ""
    per = {k: 1000 * c.get(k, 0.0) / units for k in CPU_GROUPS}
    busy = 100 * c["machine_busy"] / c["machine_total"] if c["machine_total"] else 0.0
    attributed = sum(c.get(k, 0.0) for k in CPU_GROUPS)
    others = sorted(
        ((k.removeprefix("other:"), v) for k, v in c.items() if k.startswith("other:")),
        key=lambda kv: -kv[1],
    )
    top = ", ".join(f"{name} {100 * v / result.elapsed:.0f}%" for name, v in others[:3] if v)
    return (
        f"    CPU ms per unit: gunicorn {per['gunicorn']:.3f}, postgres {per['postgres']:.3f},"
        f" redis {per['redis']:.3f}, client {per['client']:.3f}\n"
        f"    machine {busy:.0f}% busy; not ours (other processes, kernel):"
        f" {max(0.0, 100 * (c['machine_busy'] - attributed) / result.elapsed):.0f}% of a core"
        + (f" (top: {top})" if top else "")
    )


@dataclass(slots=True)
class CopyResult:
    rows: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def print_report(
    cfg: Config,
    health: LoadResult,
    single: LoadResult,
    batch: LoadResult,
    copy: CopyResult,
    notes: list[str],
) -> tuple[float, float]:
    r_single = single.rate / health.rate if health.rate else 0.0
    r_batch = batch.rate / copy.rate if copy.rate else 0.0
    print()
    print(
        f"E²A ingest benchmark: gunicorn {cfg.workers} sync workers on PostgreSQL;"
        f" {cfg.concurrency} client connections; {cfg.rounds} interleaved round(s)"
    )
    for note in notes:
        print("  " + note)
    print()
    header = f"{'measurement':<50} {'value':>15} {'p50 ms':>8} {'p99 ms':>8} {'n':>7} {'errors':>6}"
    print(header)
    print("-" * len(header))
    for res, unit in ((health, "req/s"), (single, "events/s"), (batch, "events/s")):
        print(
            f"{res.name:<50} {_fmt_rate(res.rate) + ' ' + unit:>15}"
            f" {1000 * res.pct(0.5):>8.1f} {1000 * res.pct(0.99):>8.1f}"
            f" {res.requests:>7} {sum(res.errors.values()):>6}"
        )
        line = cpu_line(res)
        if line:
            print(line)
    copy_name = (
        f"PostgreSQL COPY, same rows ({cfg.batch_size}/commit, {cfg.batch_concurrency} conn)"
    )
    print(f"{copy_name:<50} {_fmt_rate(copy.rate) + ' rows/s':>15} {'':>8} {'':>8} {copy.rows:>7}")
    print(
        f"    {copy.rows} rows in {copy.seconds:.2f} s"
        f" (per round, the median of {COPY_REPEATS} COPYs into an emptied table)"
    )
    print()
    print_ratios(
        [
            Ratio("single-event ingest / trivial JSON view", r_single, GOAL_SINGLE, at_least=True),
            Ratio("batch ingest events/s / COPY rows/s", r_batch, GOAL_BATCH, at_least=True),
        ],
        width=50,
    )
    print()
    print(f"reference: {REFERENCE}")
    for res in (health, single, batch):
        for label, count in res.errors.items():
            print(f"ERROR {res.name}: {count} x {label}: {res.samples.get(label, '')!r}")
    return r_single, r_batch


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def bench_server(cfg: Config) -> Iterator[tuple[Server, str]]:
    workdir = Path(tempfile.mkdtemp(prefix="e2a-bench-"))
    prom_dir = workdir / "prometheus"
    prom_dir.mkdir()
    port = free_port()
    env = server_env(cfg, port, str(prom_dir))
    broker = redis.Redis.from_url(cfg.broker_url)
    server = Server(env, port, workdir / "gunicorn.log")
    try:
        broker.flushdb()
        progress(f"recreating database {urlsplit(cfg.database_url).path.lstrip('/')}, migrating")
        recreate_database(cfg.database_url)
        run_manage(env, "migrate", "--no-input", "--skip-checks")
        _tenant_id, key = create_tenant_and_key(env)
        progress(f"starting gunicorn on 127.0.0.1:{port} ({cfg.workers} workers)")
        server.start()
        progress("gunicorn is up")
        yield server, key
    finally:
        server.stop()
        with contextlib.suppress(redis.RedisError):
            broker.flushdb()
        shutil.rmtree(workdir, ignore_errors=True)


class Bench:
    """The requests and checks of one run, against one running server."""

    def __init__(self, cfg: Config, port: int, key: str, run_id: str) -> None:
        self.cfg = cfg
        self.port = port
        self.run_id = run_id
        self.auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.health_req = http_request(port, "GET", "/healthz", {}, b"")
        self.single_prefix = f"s{run_id}"
        self._single_counter = iter(range(10**9))

    def health(self, seconds: float) -> LoadResult:
        return run_load(
            "GET /healthz (trivial JSON view)",
            self.port,
            lambda: self.health_req,
            lambda status, _body: None if status == 200 else f"HTTP {status}",
            concurrency=self.cfg.concurrency,
            seconds=seconds,
            max_requests=MAX_REQUESTS,
        )

    def _single_request(self) -> bytes:
        event = make_event(self.single_prefix, next(self._single_counter))
        return http_request(
            self.port, "POST", "/ingest/events", self.auth, json.dumps(event).encode()
        )

    def single(self, seconds: float) -> LoadResult:
        return run_load(
            "POST /ingest/events (1 event per request)",
            self.port,
            self._single_request,
            lambda status, _body: None if status == 202 else f"HTTP {status}",
            concurrency=self.cfg.concurrency,
            seconds=seconds,
            max_requests=MAX_REQUESTS,
        )

    def batch_requests(self, prefix: str, count: int) -> list[bytes]:
        size = self.cfg.batch_size
        return [
            http_request(
                self.port,
                "POST",
                "/ingest/v2/events/batch",
                self.auth,
                json.dumps(
                    {
                        "batch_id": f"{prefix}-{b}",
                        "events": [make_event(prefix, b * size + i) for i in range(size)],
                    }
                ).encode(),
            )
            for b in range(count)
        ]

    def _check_batch(self, status: int, body: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}"
        try:
            processed = json.loads(body)["processed_count"]
        except (ValueError, KeyError, TypeError):
            return "batch response without processed_count"
        size = self.cfg.batch_size
        return None if processed == size else f"processed_count {processed} != {size}"

    def batch(self, requests: list[bytes]) -> LoadResult:
        pending = iter(requests)
        return run_load(
            f"POST /ingest/v2/events/batch ({self.cfg.batch_size} per request)",
            self.port,
            lambda: next(pending),
            self._check_batch,
            concurrency=self.cfg.batch_concurrency,
            seconds=BATCH_PHASE_LIMIT,
            max_requests=len(requests),
            unit_per_request=self.cfg.batch_size,
        )


MAX_REQUESTS = 200_000  # per HTTP measurement, whatever its duration
BATCH_PHASE_LIMIT = 600.0  # seconds; batches are counted, not timed, but bounded


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    for url, what in (
        (cfg.database_url, "DATABASE_URL"),
        (cfg.redis_url, "REDIS_URL"),
        (cfg.broker_url, "CELERY_BROKER_URL"),
    ):
        require_loopback(url, what)
    notes = machine_notes()
    run_id = uuid.uuid4().hex[:8]
    dbname = urlsplit(cfg.database_url).path.lstrip("/")
    slice_seconds = cfg.seconds / cfg.rounds
    per_round = [
        cfg.batch_rounds // cfg.rounds + (1 if r < cfg.batch_rounds % cfg.rounds else 0)
        for r in range(cfg.rounds)
    ]

    with bench_server(cfg) as (server, key):
        bench = Bench(cfg, server.port, key, run_id)
        health = LoadResult("GET /healthz (trivial JSON view)")
        single = LoadResult("POST /ingest/events (1 event per request)")
        batch = LoadResult(
            f"POST /ingest/v2/events/batch ({cfg.batch_size} per request)",
            unit_per_request=cfg.batch_size,
        )
        copy = CopyResult()
        with psycopg.connect(libpq_url(cfg.database_url), autocommit=True) as monitor:
            meter = cpu_meter(server, monitor, dbname)
            monitor.execute("CREATE TABLE bench_copy (LIKE orders_orderevent INCLUDING ALL)")

            progress(f"warm-up: {cfg.warmup:g} s per endpoint, {cfg.batch_concurrency} batches")
            warm = [bench.health(cfg.warmup), bench.single(cfg.warmup)]
            warm_prefix = f"w{run_id}"
            warm.append(bench.batch(bench.batch_requests(warm_prefix, cfg.batch_concurrency)))
            copy_rows(
                cfg.database_url,
                fetch_rows(monitor, warm_prefix),
                chunk=cfg.batch_size,
                streams=cfg.batch_concurrency,
            )

            for r in range(cfg.rounds):
                progress(
                    f"round {r + 1}/{cfg.rounds}: {slice_seconds:.3g} s healthz,"
                    f" {slice_seconds:.3g} s single events, {per_round[r]} batches, COPY"
                )
                tag = f"r{r + 1}"
                health.merge(
                    measure(
                        meter,
                        server,
                        lambda: bench.health(slice_seconds),
                        cfg.py_spy,
                        f"health-{tag}",
                    )
                )
                single.merge(
                    measure(
                        meter,
                        server,
                        lambda: bench.single(slice_seconds),
                        cfg.py_spy,
                        f"single-{tag}",
                    )
                )
                if per_round[r]:
                    prefix = f"b{run_id}r{r}"
                    requests = bench.batch_requests(prefix, per_round[r])  # built off the clock
                    batch.merge(
                        measure(
                            meter,
                            server,
                            lambda q=requests: bench.batch(q),
                            cfg.py_spy,
                            f"batch-{tag}",
                        )
                    )
                    rows = fetch_rows(monitor, prefix)
                    copy.seconds += copy_median(monitor, cfg, rows)
                    copy.rows += len(rows)

            stored = dict(
                monitor.execute(
                    "SELECT channel, count(*) FROM orders_orderevent GROUP BY channel"
                ).fetchall()
            )
            # No worker runs, so every follow-up message published is still queued.
            queued = redis.Redis.from_url(cfg.broker_url).llen("ingest")
        expected = {
            "event": warm[1].ok + single.ok,
            "batch": (warm[2].ok + batch.ok) * cfg.batch_size,
        }
        notes.append(f"events stored by channel: {stored} (expected {expected})")
        notes.append(
            f"follow-up messages queued: {queued} for {sum(stored.values())} events "
            "(the web processes coalesce them, FOLLOWUP_COALESCE_MS)"
        )
        if any(stored.get(k, 0) != v for k, v in expected.items()):
            notes.append("WARNING: stored events differ from the accepted ones")
        notes.append(
            "client: one thread, non-blocking sockets; batches: "
            f"{cfg.batch_concurrency} in flight, COPY on as many connections"
        )
        for res in warm:
            for label, count in res.errors.items():
                notes.append(f"warm-up {res.name}: {count} x {label}")

    r_single, r_batch = print_report(cfg, health, single, batch, copy, notes)
    errors = sum(sum(r.errors.values()) for r in (health, single, batch))
    if errors:
        return 1
    if cfg.check and (r_single < GOAL_SINGLE or r_batch < GOAL_BATCH):
        return 1
    return 0


if __name__ == "__main__":
    run(main, interrupted="bench interrupted; gunicorn stopped")
