"""PostgreSQL and Redis servers of a test's own, on free ports, that the test may break.

Tests that stop, restart or kill a database or Redis never touch the machine's
shared servers: they start one of these (PostgreSQL's initdb/pg_ctl as user
postgres, `redis-server --port …`), do what they must to it, and remove it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import postgres_server_bin

from .served import free_port


class PrivatePostgres:
    """A throwaway cluster in a folder under /tmp, on a free port.

    The server refuses to run as root, so when the tests run as root it runs as
    the `postgres` user (the folder is handed to it: pytest's tmp_path is root-only).
    """

    def __init__(self) -> None:
        bin_dir = postgres_server_bin()
        assert bin_dir, "initdb and pg_ctl are needed (PostgreSQL's server package)"
        self.bin = Path(bin_dir)
        self.dir = Path(tempfile.mkdtemp(prefix="e2a-pg-outage-", dir="/tmp"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        # runuser lives in /usr/sbin, which a bare CI environment's PATH may lack.
        sbin = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
        self._runuser = shutil.which("runuser", path=sbin) or "runuser"
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)

    def _run(self, *command: str, timeout: float = 30) -> None:
        argv = [str(self.bin / command[0]), *command[1:]]
        if self._as_postgres:
            argv = [self._runuser, "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E",
            "UTF8", "--locale=C",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.dir / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop("immediate")  # fails when it is not running
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def query(self, database: str, sql: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        ) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []


class PrivateRedis:
    """A redis-server of this test's own on a free port, which the test stops and starts.

    It keeps nothing on disk (no RDB, no AOF): started again, it is empty, as a
    Redis restarted without persistence (or on a fresh host) is.
    """

    def __init__(self, workdir) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer ends it: no chance to save or say goodbye."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class PrivateBackends:
    """A private cluster (database `e2a`) and a private Redis, and the app's settings for them."""

    cluster: PrivatePostgres
    redis: PrivateRedis

    @property
    def env(self) -> dict[str, str]:
        """DATABASE_URL, the broker on Redis database 0 and the cache on 1."""
        base = f"redis://127.0.0.1:{self.redis.port}"
        return {
            "DATABASE_URL": self.cluster.url("e2a"),
            "CELERY_BROKER_URL": f"{base}/0",
            "REDIS_URL": f"{base}/1",
        }

    def event_counts(self) -> tuple[int, int, int]:
        """Stored event rows, distinct event ids, and those whose follow-up ran."""
        ((rows, distinct, processed),) = self.cluster.query(
            "e2a",
            "SELECT count(*), count(DISTINCT event_id), count(processed_at) FROM orders_orderevent",
        )
        return rows, distinct, processed


@contextlib.contextmanager
def private_backends(workdir: Path) -> Iterator[PrivateBackends]:
    """Start both for a fault test that will break one of them; remove both afterwards."""
    cluster = PrivatePostgres()
    redis_dir = workdir / "redis"
    redis_dir.mkdir(exist_ok=True)
    redis = PrivateRedis(redis_dir)
    try:
        cluster.init()
        cluster.start()
        cluster.query("postgres", "CREATE DATABASE e2a")
        redis.start()
        yield PrivateBackends(cluster, redis)
    finally:
        redis.stop()
        cluster.destroy()
