"""The system under test for `bench/ingest.py`: a freshly migrated database with one
tenant and API key, and gunicorn started exactly as the Procfile starts it.

Kept apart from the measurements so the script reads as "start the server, measure,
report"; the context manager here is what guarantees gunicorn is stopped and the
broker flushed however the run ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import redis
from common import BenchError, app_settings, children_of, progress, recreate_database

from .config import Config

ROOT = Path(__file__).resolve().parents[2]  # the repository: manage.py and the Procfile


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
        app_settings(
            database_url=cfg.database_url, redis_url=cfg.redis_url, broker_url=cfg.broker_url
        ),
        # As the Procfile serves: the access log to standard output, which the bench
        # sends to a file (a log collector's pipe in production).
        ACCESS_LOG="-" if cfg.access_log else "",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(cfg.workers),
        WEB_THREADS=str(cfg.threads),
        PROMETHEUS_MULTIPROC_DIR=prom_dir,
    )
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


PROJECT_CONF = "e2a_project/gunicorn.conf.py"  # the Procfile's
# The same settings with the SLA clocks' hook switched off (bench/ingest.py's bound).
WITHOUT_CLOCKS_CONF = "bench/ingest_parts/gunicorn_without_clocks.py"


class Server:
    """gunicorn as the Procfile starts it (or with `conf` instead of the project's
    config file); always stopped by `stop()`."""

    def __init__(
        self, env: dict[str, str], port: int, log_path: Path, conf: str = PROJECT_CONF
    ) -> None:
        self.env = env
        self.port = port
        self.log_path = log_path
        self.conf = conf
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        exe = shutil.which("gunicorn", path=self.env["PATH"]) or "gunicorn"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [exe, "e2a_project.wsgi:application", "-c", self.conf],
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

    @contextlib.contextmanager
    def serving(self, workdir: Path) -> Iterator[Server]:
        """The server started for the block; stopped, and its `workdir` removed, after."""
        try:
            progress(
                f"starting gunicorn on 127.0.0.1:{self.port}"
                f" ({self.env['WEB_CONCURRENCY']} workers, {self.conf})"
            )
            self.start()
            yield self
        finally:
            self.stop()
            shutil.rmtree(workdir, ignore_errors=True)

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


@contextlib.contextmanager
def bench_server(cfg: Config) -> Iterator[tuple[Server, str]]:
    """A recreated, migrated database with a tenant, and gunicorn serving it; yields the
    server and the tenant's raw API key. Gunicorn is stopped, the broker database
    flushed and the temporary directory removed on the way out, whatever happened."""
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


@contextlib.contextmanager
def second_server(main: Server, conf: str) -> Iterator[Server]:
    """Another gunicorn beside `main`: the same database, settings and worker count,
    its own port, metrics directory and config file `conf`; stopped on the way out."""
    workdir = Path(tempfile.mkdtemp(prefix="e2a-bench-"))
    prom_dir = workdir / "prometheus"
    prom_dir.mkdir()
    port = free_port()
    env = dict(main.env, BIND=f"127.0.0.1:{port}", PROMETHEUS_MULTIPROC_DIR=str(prom_dir))
    with Server(env, port, workdir / "gunicorn.log", conf).serving(workdir) as server:
        yield server
