"""The app served as `make run` serves it, for tests that need real processes.

The Procfile's `web:` line (gunicorn with e2a_project/gunicorn.conf.py) and, when
asked, its `worker:` line (Celery), both verbatim, configured only by environment
variables, as in production. What they run against follows the suite's mode:

* CI (DATABASE_URL is PostgreSQL, as `.ci/run` sets it): a fresh database on that
  server per served app, migrated, and dropped afterwards (`WITH (FORCE)`), plus
  the configured Redis (cache, locks and, when it is Redis, the broker) under a
  random key prefix, so nothing mixes with the suite's own database, another served
  app or another engineer's run on the same servers.
* A laptop: a SQLite file and the embedded filesystem broker under the test's
  tmp_path.

Static files are collected once per session into a folder of the session's
(`collectstatic` with the production storage: hashed names, as `make run`), so
every served app has a styled console and working /docs.

Tests use the `serve` fixture: `app = serve(worker=True)` returns a `ServedApp`
that is up (its /healthz answered) and is stopped and cleaned up after the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
STARTUP_SECONDS = 30.0
STOP_SECONDS = 30.0
# Set by the test process or CI and wrong for a served app (each sets its own).
_NOT_INHERITED = (
    "E2A_REQUIRE_SERVICES",
    "PROMETHEUS_MULTIPROC_DIR",
    "CELERY_TASK_ALWAYS_EAGER",
    "WORKER_METRICS_PORT",
    "DEBUG",
    "APP_ENV",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    """Status and body of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def procfile_command(process: str) -> list[str]:
    """The Procfile's line for `process`, with its program from this virtualenv."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    line = next(line for line in lines if line.startswith(f"{process}:"))
    command = line.removeprefix(f"{process}:").split()
    command[0] = str(BIN_DIR / command[0])
    return command


def ci_mode() -> bool:
    """PostgreSQL (and Redis, when configured) as CI runs them, else the embedded set-up."""
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _server_connection(url: str, dbname: str = "postgres") -> Any:
    """An autocommit connection to a database of DATABASE_URL's server (its maintenance
    database unless told otherwise)."""
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or None,
        port=parts.port or None,
        user=parts.username or None,
        password=parts.password or None,
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


@dataclass
class ServedApp:
    """One running installation: its URL, environment, processes and logs."""

    url: str
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def manage(self, *args: str, input: str | None = None) -> str:
        """Run a management command against this app's database; its standard output."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result.stdout

    def celery_call(self, task: str) -> None:
        """Send a task by name through this app's broker (`celery call`, as an operator)."""
        subprocess.run(
            [str(BIN_DIR / "celery"), "-A", "e2a_project", "call", task],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of one statement on this app's own database (PostgreSQL or SQLite)."""
        url = self.env["DATABASE_URL"]
        if url.startswith("sqlite:///"):
            import sqlite3

            with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
                return conn.execute(sql).fetchall()
        with _server_connection(url, urlsplit(url).path.lstrip("/")) as conn:
            return conn.execute(sql).fetchall()

    def queue_length(self, queue: str) -> int | None:
        """Messages waiting on a Celery queue, when the broker is Redis (None otherwise).

        Kombu keeps a queue as a Redis list under the broker's key prefix, one list per
        priority step ("ai", "ai\\x06\\x163", …): all of them are counted.
        """
        broker = self.env.get("CELERY_BROKER_URL", "")
        if not broker.startswith(("redis://", "rediss://")):
            return None
        import redis

        client = redis.Redis.from_url(broker, socket_timeout=5)
        try:
            prefix = self.env.get("REDIS_KEY_PREFIX", "")
            names = [queue.encode()] + [
                key.removeprefix(prefix.encode())
                for key in client.scan_iter(match=f"{prefix}{queue}\x06*")
            ]
            return sum(client.llen(prefix.encode() + name) for name in set(names))
        finally:
            client.close()

    def ingest(self, key: str, **event: Any) -> Any:
        """POST one event to /ingest/events as a sender does; it must be accepted (202)."""
        status, body = self.request("POST", "/ingest/events", key=key, body=event)
        assert status == 202, (status, body)
        return body

    def create_tenant_with_key(self, slug: str) -> str:
        """A tenant and a fresh API key for it, made as the README says."""
        self.manage("create_tenant", slug)
        out = self.manage("create_api_key", slug)
        return next(word for word in out.split() if word.startswith("e2a_"))

    def get(self, path: str, timeout: float = 5) -> tuple[int, str]:
        return http_get(f"{self.url}{path}", timeout=timeout)

    def request(
        self, method: str, path: str, *, key: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """A JSON API call with an optional API key; the status and the decoded body."""
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw) if raw else None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of every process's output, for assertion messages."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}"
            for path in sorted(self.logs.glob("*.log"))
        )

    def wait_for(
        self, what: str, check: Callable[[], Any], timeout: float = 30, every: float = 0.25
    ) -> Any:
        """Poll `check` until it returns something truthy; fail naming `what` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(every)


def collect_static(static_root: Path) -> None:
    """`collectstatic` as `make run` does it (manifest storage), into `static_root`."""
    env = {**os.environ, "STATIC_ROOT": str(static_root)}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )


class _Installation:
    """The services one served app owns (database, key prefix, broker folder) and their removal."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.tag = uuid.uuid4().hex[:10]
        self.database: str | None = None
        self.redis_urls: list[str] = []
        self.prefix = f"e2a-served-{self.tag}:"

    def environment(self) -> dict[str, str]:
        settings: dict[str, str] = {}
        if ci_mode():
            base = os.environ["DATABASE_URL"]
            self.database = f"e2a_served_{self.tag}"
            with _server_connection(base) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
            settings["DATABASE_URL"] = _with_database(base, self.database)
        else:
            settings["DATABASE_URL"] = f"sqlite:///{self.tmp_path / 'served.sqlite3'}"
        redis_url = os.environ.get("REDIS_URL", "")
        broker = os.environ.get("CELERY_BROKER_URL", "")
        if redis_url:
            settings["REDIS_URL"] = redis_url
            self.redis_urls.append(redis_url)
        if broker.startswith(("redis://", "rediss://")):
            settings["CELERY_BROKER_URL"] = broker
            self.redis_urls.append(broker)
        else:
            settings["CELERY_BROKER_URL"] = "filesystem://"
            settings["CELERY_BROKER_DIR"] = str(self.tmp_path / "broker")
        settings["REDIS_KEY_PREFIX"] = self.prefix
        return settings

    def remove(self) -> None:
        if self.database:
            with _server_connection(os.environ["DATABASE_URL"]) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.redis_urls:
            import redis

            for url in dict.fromkeys(self.redis_urls):
                client = redis.Redis.from_url(url, socket_timeout=5)
                keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
                client.close()


def _wait_or_kill(process: subprocess.Popen) -> None:
    """Wait for a process sent SIGTERM; kill its whole group if it is stuck.

    SIGTERM only once: a second one turns Celery's warm shutdown into a cold one.
    """
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only its children
        process.wait(timeout=10)


@contextlib.contextmanager
def served_app(
    tmp_path: Path,
    static_root: Path,
    *,
    worker: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[ServedApp]:
    """Set up an installation, serve it (web, and the worker if asked), tear it all down."""
    installation = _Installation(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    port = free_port()
    environment = {**os.environ}
    for name in _NOT_INHERITED:
        environment.pop(name, None)
    environment.update(
        {
            "STATIC_ROOT": str(static_root),
            "BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "2",
            "ACCESS_LOG": "",
            "LOG_LEVEL": "WARNING",
            "HOME": str(tmp_path / "home"),  # where gunicorn's own default control socket goes
            "DEBUG": "false",
        }
    )
    app = ServedApp(url=f"http://127.0.0.1:{port}", env=environment, logs=logs)
    try:
        environment.update(installation.environment())
        environment.update(env or {})
        app.manage("migrate", "--no-input", "-v0")
        commands = {"web": procfile_command("web")}
        if worker:
            commands["worker"] = procfile_command("worker")
        for name, command in commands.items():
            with (logs / f"{name}.log").open("w") as log:
                app.processes[name] = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        def healthy() -> bool:
            for name, process in app.processes.items():
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode}\n{app.log_tail()}")
            try:
                return app.get("/healthz", timeout=2)[0] == 200
            except OSError:
                return False

        app.wait_for("gunicorn answering /healthz", healthy, timeout=STARTUP_SECONDS, every=0.1)
        yield app
    finally:
        for process in app.processes.values():  # all at once: their shutdowns overlap
            if process.poll() is None:
                process.terminate()
        for process in app.processes.values():
            _wait_or_kill(process)
        installation.remove()


@pytest.fixture(scope="session")
def served_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collected static files every served app of the session shares."""
    static_root = tmp_path_factory.mktemp("served-static")
    collect_static(static_root)
    return static_root


@pytest.fixture
def serve(tmp_path: Path, served_static: Path) -> Iterator[Callable[..., ServedApp]]:
    """`serve(worker=False, env=None)`: a served app for this test, stopped after it."""
    with contextlib.ExitStack() as stack:
        started: list[ServedApp] = []

        def start(*, worker: bool = False, env: dict[str, str] | None = None) -> ServedApp:
            folder = tmp_path / f"served-{len(started)}"
            folder.mkdir()
            app = stack.enter_context(served_app(folder, served_static, worker=worker, env=env))
            started.append(app)
            return app

        yield start
