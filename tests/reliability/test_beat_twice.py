"""Beat started twice: every scheduled job is sent twice, and its effect still happens once.

Running two beats is the classic deployment mistake (two hosts each start "one
beat", a deploy overlaps the old and the new). E²A's scheduled jobs are written to
be safe under it: each claims its rows under a lock or a unique constraint, so the
second run finds the work done. This test runs the Procfile's beat line twice
next to the served web and worker (on the served app's own database and key
prefix; nothing shared is stopped). Thirty orders paid hours ago have overdue
picks when the beats start; after both beats' first minute, the SLA scans they
sent breach each pick once, open one exception per order, and write one
"opened" activity and one notification each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from ..served import ROOT, procfile_command
from .matrix import FaultRow, record

pytestmark = pytest.mark.proof

ORDERS = 30
BEATS = 2
# django-celery-beat sends an interval job one interval after it first sees it.
FIRST_MINUTE_SECONDS = 60
DEADLINE_SECONDS = 150


def test_two_beats_send_every_job_twice_and_each_effect_happens_once(serve):
    started = time.monotonic()
    app = serve(worker=True)
    key = app.create_tenant_with_key("twobeats")
    paid_at = datetime.now(UTC) - timedelta(hours=5)
    for n in range(ORDERS):
        app.ingest(
            key,
            source="shopify",
            event_type="order_paid",
            event_id=f"paid-{n}",
            order_id=f"#B{n}",
            occurred_at=paid_at.isoformat().replace("+00:00", "Z"),
        )
    assert app.query("SELECT count(*) FROM exceptions_orderexception") == [(0,)]

    beats = []
    for n in range(BEATS):
        log = (app.logs / f"beat-{n}.log").open("w")
        beats.append(
            subprocess.Popen(
                procfile_command("beat"),
                cwd=ROOT,
                env=app.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    beats_at = time.monotonic()
    try:

        def scanned_by_both() -> bool:
            sent = sum(
                (app.logs / f"beat-{n}.log").read_text().count("Sending due task slas-scan")
                for n in range(BEATS)
            )
            return sent >= BEATS

        app.wait_for(
            "both beats sending the SLA scan",
            scanned_by_both,
            timeout=FIRST_MINUTE_SECONDS + 45,
            every=1,
        )

        def opened() -> bool:
            rows = app.query("SELECT count(DISTINCT order_id) FROM exceptions_orderexception")
            return rows == [(ORDERS,)]

        app.wait_for("an exception for every overdue pick", opened, timeout=30, every=1)
        time.sleep(5)  # the later beat's scan, queued behind the first, has run too
        done_at = time.monotonic()
    finally:
        for beat in beats:
            if beat.poll() is None:
                os.killpg(beat.pid, signal.SIGTERM)
        for beat in beats:
            try:
                beat.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(beat.pid, signal.SIGKILL)
                beat.wait(timeout=5)

    sends = Counter()
    for n in range(BEATS):
        for line in (app.logs / f"beat-{n}.log").read_text().splitlines():
            if "Sending due task" in line:
                sends[line.split("Sending due task", 1)[1].split()[0]] += 1
    worker_log = (app.logs / "worker.log").read_text()
    scans_run = sum(
        1 for line in worker_log.splitlines() if "slas.scan[" in line and "succeeded" in line
    )
    [(exceptions, exception_orders)] = app.query(
        "SELECT count(*), count(DISTINCT order_id) FROM exceptions_orderexception"
    )
    [(breaches, breach_clocks)] = app.query(
        "SELECT (SELECT count(*) FROM slas_breach),"
        " (SELECT count(*) FROM (SELECT DISTINCT clock_id, reason_code FROM slas_breach) AS d)"
    )
    [(opened_rows, opened_exceptions)] = app.query(
        "SELECT count(*), count(DISTINCT exception_id) FROM exceptions_exceptionactivity"
        " WHERE action = 'opened'",
    )
    [(notifications, notified)] = app.query(
        "SELECT (SELECT count(*) FROM exceptions_notification), (SELECT count(*) FROM"
        " (SELECT DISTINCT exception_id, kind FROM exceptions_notification) AS d)",
    )
    doubled = (
        (exceptions - exception_orders)
        + (breaches - breach_clocks)
        + (opened_rows - opened_exceptions)
        + (notifications - notified)
    )
    record(
        FaultRow(
            fault="Beat started twice",
            what_was_done=f"{BEATS} beats (the Procfile's line) beside web and worker;"
            f" {ORDERS} orders with overdue picks; {dict(sorted(sends.items()))} jobs sent",
            sent=ORDERS,
            stored=exception_orders,
            doubled=doubled,
            recovery_seconds=None,
            notes=f"each overdue pick: {breaches} breach rows for {breach_clocks} clocks,"
            f" {exceptions} exceptions for {exception_orders} orders, {opened_rows} 'opened'"
            f" activity rows, {notifications} notification rows for {notified};"
            f" first effects {done_at - beats_at:.0f} s after the beats started",
        )
    )
    print(
        f"\n{BEATS} beats sent {dict(sends)}; worker ran scans ({scans_run}); "
        f"{exceptions} exceptions for {exception_orders} orders, {breaches} breaches for"
        f" {breach_clocks} clocks; whole test {time.monotonic() - started:.0f} s"
    )
    assert sends["slas-scan"] >= BEATS, sends  # the job really was sent twice
    assert exception_orders == ORDERS
    assert doubled == 0
