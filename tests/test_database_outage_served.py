"""PostgreSQL stopped and started under a stream of retrying senders, served by gunicorn.

A private cluster (initdb in a temporary folder, its own port; never the machine's
shared server), the app set up on it as an operator would (migrate,
collectstatic, create_tenant, create_api_key) and served by the Procfile's web
command. Senders post events and retry on any non-2xx after Retry-After, as real
ones do. Midway the cluster is stopped (`pg_ctl stop -m fast`) and started again.
While it is down every answer is 503 with Retry-After and the JSON error body,
never a 500; afterwards the stream recovers without touching gunicorn, and every
event is stored exactly once.
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
from pathlib import Path

import pytest

from .private_services import PrivatePostgres
from .reliability.senders import Sender, event_body
from .served import free_port, procfile_command

pytestmark = [pytest.mark.pg_server, pytest.mark.proof]

ROOT = Path(__file__).resolve().parent.parent
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


def test_database_outage_under_a_stream_of_senders(tmp_path, served_static):
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
                [
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

        # Stop the cluster once the stream is flowing, keep it down, start it again.
        while sum(len(s.sent) for s in senders) < 20 and time.monotonic() < stop_at:
            time.sleep(0.05)
        assert all(t.is_alive() for t in threads), "the stream ended before the outage"
        cluster.stop("fast")
        down_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        healthz_during = _get(f"{base}/healthz")
        starting_at = time.monotonic()
        cluster.start()
        up_at = time.monotonic()
        for thread in threads:
            thread.join(timeout=max(0.0, stop_at - time.monotonic()) + 5)

        answers = [a for s in senders for a in s.answers]
        # Answered while it was surely down (one in flight at the stop may have committed).
        during = [a for a in answers if down_at + 0.2 <= a.at <= starting_at]
        failed = [a for a in answers if not 200 <= a.status < 300]

        assert all(s.done for s in senders), "the stream did not finish in time"
        recovered_at = min(a.at for a in answers if a.at > up_at and 200 <= a.status < 300)
        assert healthz_during == 200  # liveness says nothing about dependencies
        assert during and all(a.status == 503 for a in during), {a.status for a in during}
        assert failed and {a.status for a in failed} == {503}, {a.status for a in failed}
        for answer in failed:
            assert answer.retry_after == str(RETRY_AFTER)
            body = json.loads(answer.body)
            assert set(body) == {"detail", "code", "dependency"} and body["detail"]
            assert (body["code"], body["dependency"]) == ("service_unavailable", "database")
        assert gunicorn.poll() is None  # recovered by itself, same server

        sent = {event_id for s in senders for event_id in s.sent}
        assert len(sent) == SENDERS * EVENTS_PER_SENDER
        stored = [
            event_id
            for (event_id,) in cluster.query(
                "e2a", f"SELECT event_id FROM orders_orderevent WHERE event_id LIKE '{run}-%'"
            )
        ]
        assert len(stored) == len(set(stored)) == len(sent)  # each exactly once
        assert set(stored) == sent

        logged = web_log.read_text()
        assert "Internal Server Error" not in logged
        assert "Traceback" not in logged
        # One WARNING per 503, naming the dependency.
        warnings = [line for line in logged.splitlines() if "dependency unavailable" in line]
        assert len(warnings) == len(failed)
        assert all('"dependency": "database"' in line for line in warnings)
        assert logged.count("Booting worker") == 2  # no worker was killed or replaced

        print(
            f"\n{len(sent)} events from {SENDERS} senders in {len(answers)} requests;"
            f" database down {up_at - down_at:.1f} s; {len(failed)} answers 503"
            f" ({len(during)} while it was down), no 500;"
            f" first event stored {recovered_at - up_at:.2f} s after the restart;"
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
