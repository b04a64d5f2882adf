"""PostgreSQL restarted, then made read-only, under a stream of retrying senders.

A private cluster (initdb in a temporary folder, its own port; never the machine's
shared server), the app set up on it as an operator would (migrate,
collectstatic, create_tenant, create_api_key) and served by the Procfile's web
command. Senders post events and retry on any non-2xx after Retry-After, as real
ones do. Midway the database breaks: the cluster is stopped (`pg_ctl stop -m fast`)
and started again, or it refuses writes for a moment (`default_transaction_read_only`
with the app's sessions ended, as during a failover). While it is broken every
answer is 503 with Retry-After and the JSON error body, never a 500; afterwards the
stream recovers without touching gunicorn, every event is stored exactly once, and
nothing a sender was told was accepted is missing. Each fault is a row of the
fault matrix (docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..private_services import PrivatePostgres
from ..served import free_port, procfile_command
from .matrix import FaultRow, record
from .senders import Sender, event_body, statuses

pytestmark = [pytest.mark.pg_server, pytest.mark.proof]

ROOT = Path(__file__).resolve().parents[2]
SENDERS = 2
EVENTS_PER_SENDER = 60
OUTAGE_SECONDS = 3.0
RETRY_AFTER = 1  # the setting, kept short so the stream resumes quickly
DEADLINE_SECONDS = 45  # for the stream; the whole test stays well under a minute


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _restart(cluster: PrivatePostgres) -> None:
    """The server stopped (fast: every session ended), kept down, started again."""
    cluster.stop("fast")
    time.sleep(OUTAGE_SECONDS)


def _restart_done(cluster: PrivatePostgres) -> None:
    cluster.start()


def _read_only(cluster: PrivatePostgres) -> None:
    """Writes refused for a moment, as during a failover: read-only by default, and the
    app's sessions ended so that their next connections see it."""
    cluster.query("postgres", "ALTER SYSTEM SET default_transaction_read_only = on")
    cluster.query("postgres", "SELECT pg_reload_conf()")
    time.sleep(0.3)  # the postmaster passes the reload on to the backends
    cluster.query(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = 'e2a' AND pid <> pg_backend_pid()",
    )
    time.sleep(OUTAGE_SECONDS)


def _read_only_done(cluster: PrivatePostgres) -> None:
    cluster.query("postgres", "ALTER SYSTEM RESET default_transaction_read_only")
    cluster.query("postgres", "SELECT pg_reload_conf()")


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    begin: Callable[[PrivatePostgres], None]
    end: Callable[[PrivatePostgres], None]


FAULTS = [
    Fault(
        "PostgreSQL restarted during a stream",
        f"2 senders, 120 events; pg_ctl stop -m fast, {OUTAGE_SECONDS:g} s down, start;"
        " gunicorn untouched",
        _restart,
        _restart_done,
    ),
    Fault(
        "PostgreSQL read-only for a moment",
        "2 senders, 120 events; default_transaction_read_only = on, the app's sessions"
        f" ended, {OUTAGE_SECONDS:g} s, then off",
        _read_only,
        _read_only_done,
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=["restart", "read-only"])
def test_a_database_fault_under_a_stream_of_senders(tmp_path, served_static, fault):
    started = time.monotonic()
    cluster = PrivatePostgres()
    gunicorn: subprocess.Popen | None = None
    web_log = tmp_path / "web.log"
    try:
        cluster.init()
        cluster.start()
        cluster.query("postgres", "CREATE DATABASE e2a")
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url("e2a"),
            # Follow-up tasks stay in this process's memory: no worker is part of this
            # test, and none elsewhere may pick up ids of a database that is gone after it.
            "CELERY_BROKER_URL": "memory://",
            "STATIC_ROOT": str(served_static),  # collected once for the session
            "BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "2",
            "ACCESS_LOG": "",
            "LOG_LEVEL": "WARNING",
            "UNAVAILABLE_RETRY_AFTER_SECONDS": str(RETRY_AFTER),
            "HOME": str(tmp_path / "home"),
        }
        env.pop("E2A_REQUIRE_SERVICES", None)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py sets its own
        _manage(env, "migrate", "--no-input", "-v0")
        _manage(env, "create_tenant", "outage")
        key = next(w for w in _manage(env, "create_api_key", "outage").split() if w[:4] == "e2a_")
        set_up = time.monotonic() - started

        command = procfile_command("web")  # the Procfile's web line, verbatim
        with web_log.open("w") as log:
            gunicorn = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if _get(f"{base}/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.1)
        assert _get(f"{base}/healthz") == 200

        run = uuid.uuid4().hex[:8]
        senders = [
            Sender(
                base,
                key,
                events=[
                    (f"{run}-s{n}-{i}", event_body(f"{run}-s{n}-{i}", f"#s{n}-{i % 7}"))
                    for i in range(EVENTS_PER_SENDER)
                ],
            )
            for n in range(SENDERS)
        ]
        stop_at = time.monotonic() + DEADLINE_SECONDS
        threads = [threading.Thread(target=s, args=(stop_at,), daemon=True) for s in senders]
        for thread in threads:
            thread.start()

        # Break the database once the stream is flowing, keep it so, then mend it.
        while sum(len(s.sent) for s in senders) < 20 and time.monotonic() < stop_at:
            time.sleep(0.05)
        assert all(t.is_alive() for t in threads), "the stream ended before the fault"
        down_at = time.monotonic()
        fault.begin(cluster)
        healthz_during = _get(f"{base}/healthz")
        starting_at = time.monotonic()
        fault.end(cluster)
        up_at = time.monotonic()
        for thread in threads:
            thread.join(timeout=max(0.0, stop_at - time.monotonic()) + 5)

        answers = [a for s in senders for a in s.answers]
        # Answered while it was surely broken (one in flight at the start may have committed).
        during = [a for a in answers if down_at + 0.5 <= a.at <= starting_at]
        failed = [a for a in answers if not 200 <= a.status < 300]
        sent = {event_id for s in senders for event_id in s.sent}
        stored = [
            event_id
            for (event_id,) in cluster.query(
                "e2a", f"SELECT event_id FROM orders_orderevent WHERE event_id LIKE '{run}-%'"
            )
        ]
        recovered = [a.at for a in answers if a.at > up_at and 200 <= a.status < 300]
        record(
            FaultRow(
                fault=fault.name,
                what_was_done=fault.what,
                sent=len(sent),
                stored=len(set(stored) & sent),
                doubled=len(stored) - len(set(stored)),
                answers=statuses(answers),
                recovery_seconds=round(min(recovered) - up_at, 2) if recovered else None,
                notes="recovery: from the database being writable again to the next event"
                " stored; web never restarted",
            )
        )

        assert all(s.done for s in senders), "the stream did not finish in time"
        assert healthz_during == 200  # liveness says nothing about dependencies
        assert during and all(a.status == 503 for a in during), {a.status for a in during}
        assert failed and {a.status for a in failed} == {503}, {a.status for a in failed}
        for answer in failed:
            assert answer.retry_after == str(RETRY_AFTER)
            body = json.loads(answer.body)
            assert set(body) == {"detail", "code", "dependency"} and body["detail"]
            assert (body["code"], body["dependency"]) == ("service_unavailable", "database")
        assert gunicorn.poll() is None  # recovered by itself, same server

        assert len(sent) == SENDERS * EVENTS_PER_SENDER
        assert len(stored) == len(set(stored)) == len(sent)  # each exactly once
        assert set(stored) == sent  # nothing accepted that was not stored

        logged = web_log.read_text()
        assert "Internal Server Error" not in logged
        assert "Traceback" not in logged
        # One WARNING per 503, naming the dependency.
        warnings = [line for line in logged.splitlines() if "dependency unavailable" in line]
        assert len(warnings) == len(failed)
        assert all('"dependency": "database"' in line for line in warnings)
        assert logged.count("Booting worker") == 2  # no worker was killed or replaced

        print(
            f"\n{fault.name}: {len(sent)} events from {SENDERS} senders in {len(answers)}"
            f" requests; broken {up_at - down_at:.1f} s; {len(failed)} answers 503"
            f" ({len(during)} while it was broken), no 500;"
            f" first event stored {min(recovered) - up_at:.2f} s after it was mended;"
            f" set-up {set_up:.1f} s, whole test {time.monotonic() - started:.1f} s"
        )
    finally:
        if gunicorn is not None and gunicorn.poll() is None:
            gunicorn.terminate()
            try:
                gunicorn.wait(timeout=20)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
                gunicorn.wait(timeout=5)
        cluster.destroy()
