"""A Celery worker killed with SIGKILL in the middle of a task; the task runs again, once.

One private PostgreSQL cluster, one private Redis (broker, cache, locks) and the
Procfile's web line for the module; the Procfile's worker line is started by the
tests themselves so they can kill it (its whole process group, the prefork pool
children too, as a machine crash would) and start a fresh one.

"In the middle" is a real point in the task, reached without mocks: the test holds
a table lock (`LOCK TABLE … IN SHARE MODE`, in an open transaction of its own) on
the table the task writes its effect to, so the task's INSERT waits; the test sees
it waiting in `pg_stat_activity`, kills the worker, lets go of the lock and starts a
new worker. The killed worker's transaction never commits; its message, never
acknowledged (acks_late, reject_on_worker_lost), comes back from Redis after the
visibility timeout (CELERY_BROKER_VISIBILITY_TIMEOUT, shortened here) and runs
again. Tasks that wait on another system (the model, Slack, an action's receiver)
are caught the same way by a local server that holds its answer. Then the effect
rows are counted: each must be there once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ..action_receiver import Answer, running_receiver
from ..llm_server import LLMServer
from ..private_services import PrivatePostgres, private_backends
from ..served import ROOT, ServedApp, procfile_command, served_app
from ..slack_server import FakeSlack
from .matrix import FaultRow, record

pytestmark = [pytest.mark.proof, pytest.mark.pg_server]

VISIBILITY_SECONDS = 4  # how soon Redis hands an unacknowledged message out again
BLOCK_SECONDS = 45  # for the task to reach the held lock
RECOVERY_SECONDS = 60  # for the restarted worker to finish what the killed one began


@dataclass
class Installation:
    app: ServedApp
    cluster: PrivatePostgres
    key: str
    logs: Path


@pytest.fixture(scope="module")
def installation(tmp_path_factory, served_static) -> Iterator[Installation]:
    started = time.monotonic()
    folder = tmp_path_factory.mktemp("worker-killed")
    with private_backends(folder) as backends:
        cluster, redis = backends.cluster, backends.redis
        env = {
            **backends.env,
            "CELERY_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS),
            "LOG_LEVEL": "INFO",
        }
        with served_app(folder, served_static, worker=False, env=env) as app:
            key = app.create_tenant_with_key("killed")
            print(f"\n[set-up] private cluster :{cluster.port}, private Redis :{redis.port}, "
                  f"web up in {time.monotonic() - started:.1f} s")  # fmt: skip
            yield Installation(app=app, cluster=cluster, key=key, logs=folder / "logs")


class Worker:
    """The Procfile's worker line in a process group of its own, killable as a whole."""

    def __init__(self, inst: Installation, name: str, env: dict[str, str] | None = None) -> None:
        self.log = inst.logs / f"worker-{name}.log"
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                procfile_command("worker"),
                cwd=ROOT,
                env={**inst.app.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL to the whole group: main process and pool children die at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def table_held(inst: Installation, table: str) -> Iterator[psycopg.Connection]:
    """An open transaction holding SHARE on `table`: INSERTs into it wait until it ends."""
    conn = psycopg.connect(host="127.0.0.1", port=inst.cluster.port, user="postgres", dbname="e2a")
    try:
        conn.execute(f'LOCK TABLE "{table}" IN SHARE MODE')
        yield conn
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()


def waiting_write(inst: Installation, table: str) -> int | None:
    """The pid of a backend whose write to `table` (an INSERT, or the DELETE that clears
    old rows first) waits on a lock, if one does. The ORM quotes the table's name; the
    billing rules' INSERT … SELECT does not."""
    pattern = rf'^\s*(INSERT INTO|DELETE FROM|UPDATE)\s+"?{table}"?\s'
    rows = inst.cluster.query(
        "e2a",
        f"SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ~* '{pattern}'",
    )
    return rows[0][0] if rows else None


def count(inst: Installation, sql: str) -> int:
    return int(inst.cluster.query("e2a", sql)[0][0] or 0)


@dataclass
class Kill:
    killed_at: float
    blocked_after: float
    backend: int


def kill_mid_insert(
    inst: Installation, table: str, start: Callable[[], None], name: str
) -> tuple[Kill, Worker]:
    """Start a worker, hold `table`, run `start`, kill the worker once its INSERT waits.

    Returns when the lock is released and a fresh worker is running.
    """
    worker = Worker(inst, f"{name}-killed")
    try:
        with table_held(inst, table):
            begun = time.monotonic()
            start()
            backend = inst.app.wait_for(
                f"the {name} task's INSERT into {table} waiting on the held lock",
                lambda: waiting_write(inst, table),
                timeout=BLOCK_SECONDS,
            )
            blocked_after = time.monotonic() - begun
            worker.kill()
            killed_at = time.monotonic()
            print(f"[{name}] task blocked writing to {table} after {blocked_after:.1f} s "
                  f"(backend {backend}); worker group {worker.process.pid} SIGKILLed")  # fmt: skip
    except BaseException:
        worker.kill()
        raise
    # The lock is released; the dead worker's backend finds its client gone and rolls back.
    return Kill(killed_at, blocked_after, backend), Worker(inst, f"{name}-restarted")


def post_event(inst: Installation, **fields) -> None:
    body = {
        "source": "carrier",
        "event_id": f"evt-{uuid.uuid4().hex[:12]}",
        "occurred_at": datetime.now(UTC).isoformat(),
        **fields,
    }
    inst.app.ingest(inst.key, **body)


def doubled(inst: Installation, table: str, key: str, where: str = "TRUE") -> tuple[int, int]:
    """(distinct keys, rows beyond one per key) in `table`."""
    distinct, total = inst.cluster.query(
        "e2a", f'SELECT COUNT(DISTINCT ({key})), COUNT(*) FROM "{table}" WHERE {where}'
    )[0]
    return int(distinct), int(total) - int(distinct)


def exception_doubles(inst: Installation, where: str) -> tuple[int, int, int, int]:
    """For the orders `where` picks: exceptions per (tenant, order, reason) and their
    activity rows per (exception, action), each as (distinct, rows beyond one)."""
    exceptions, exc_doubled = doubled(
        inst, "exceptions_orderexception", "tenant_id, order_id, reason_code", where
    )
    activity, act_doubled = doubled(
        inst,
        "exceptions_exceptionactivity",
        "exception_id, action",
        f"exception_id IN (SELECT id FROM exceptions_orderexception WHERE {where})",
    )
    return exceptions, exc_doubled, activity, act_doubled


def settle(seconds: float = 2 * VISIBILITY_SECONDS + 2) -> None:
    """Long enough for any second delivery of a message to have run too."""
    time.sleep(seconds)


def test_event_followup(installation):
    inst = installation
    order = f"#kill-followup-{uuid.uuid4().hex[:6]}"
    where = f"order_id = (SELECT id FROM orders_order WHERE external_id = '{order}')"

    def ingest() -> None:
        post_event(inst, event_type="exception_reported", order_id=order,
                   reason="Pallet crushed at the dock")  # fmt: skip

    kill, worker = kill_mid_insert(inst, "exceptions_exceptionactivity", ingest, "follow-up")
    try:
        inst.app.wait_for(
            "the event processed by the restarted worker",
            lambda: count(
                inst,
                f"SELECT COUNT(*) FROM orders_orderevent WHERE {where} "
                "AND processed_at IS NOT NULL",
            ),
            timeout=RECOVERY_SECONDS,
        )
        recovery = time.monotonic() - kill.killed_at
        settle()
        events = count(inst, f"SELECT COUNT(*) FROM orders_orderevent WHERE {where}")
        exceptions, exc_doubled, opened, act_doubled = exception_doubles(inst, where)
    finally:
        worker.stop()
    print(f"[follow-up] recovered in {recovery:.1f} s: {events} event, {exceptions} exception "
          f"(+{exc_doubled}), {opened} activity kinds (+{act_doubled})")  # fmt: skip
    record(
        FaultRow(
            fault="Worker killed mid-task: event follow-up",
            what_was_done=(
                "one `exception_reported` event posted; its follow-up (orders.process_events) "
                "held at its INSERT of the exception's activity, after the exception row; "
                "worker group SIGKILLed, a new one started"
            ),
            sent=1,
            stored=exceptions,
            doubled=exc_doubled + act_doubled,
            recovery_seconds=round(recovery, 1),
            notes=f"blocked {kill.blocked_after:.1f} s after the POST; counted exceptions per "
            "(tenant, order, reason) and activity rows per (exception, action)",
        )
    )
    assert events == 1
    assert exceptions == 1 and exc_doubled == 0
    assert opened >= 1 and act_doubled == 0


def test_sla_scan(installation):
    inst = installation
    order = f"#kill-scan-{uuid.uuid4().hex[:6]}"
    where = f"order_id = (SELECT id FROM orders_order WHERE external_id = '{order}')"
    # Paid three days ago and nothing since: its next stage is overdue, which only the
    # scan finds (no event will come to say so).
    post_event(inst, source="wms", event_type="order_paid", order_id=order,
               occurred_at=(datetime.now(UTC) - timedelta(days=3)).isoformat())  # fmt: skip
    worker = Worker(inst, "scan-setup")
    try:
        inst.app.wait_for(
            "the order's follow-up done",
            lambda: count(
                inst,
                f"SELECT COUNT(*) FROM orders_orderevent WHERE {where} "
                "AND processed_at IS NOT NULL",
            ),
            timeout=RECOVERY_SECONDS,
        )
    finally:
        worker.stop()
    assert count(inst, f"SELECT COUNT(*) FROM slas_breach WHERE {where}") == 0
    assert count(inst, f"SELECT COUNT(*) FROM orders_order WHERE external_id = '{order}' "
                       "AND sla_due_at < now()") == 1  # fmt: skip

    kill, worker = kill_mid_insert(
        inst, "slas_breach", lambda: inst.app.celery_call("slas.scan"), "SLA scan"
    )
    try:
        inst.app.wait_for(
            "the breach recorded by the restarted worker",
            lambda: count(inst, f"SELECT COUNT(*) FROM slas_breach WHERE {where}"),
            timeout=RECOVERY_SECONDS,
        )
        recovery = time.monotonic() - kill.killed_at
        settle()
        breaches, breach_doubled = doubled(inst, "slas_breach", "clock_id, reason_code", where)
        exceptions, exc_doubled, activity, act_doubled = exception_doubles(inst, where)
    finally:
        worker.stop()
    print(f"[SLA scan] recovered in {recovery:.1f} s: {breaches} breach (+{breach_doubled}), "
          f"{exceptions} exception (+{exc_doubled}), {activity} activity kinds "
          f"(+{act_doubled})")  # fmt: skip
    record(
        FaultRow(
            fault="Worker killed mid-task: SLA scan",
            what_was_done=(
                "an order paid 3 days ago, nothing since; `slas.scan` sent and held at its "
                "INSERT of the breach, with the order locked; worker group SIGKILLed, a new "
                "one started"
            ),
            sent=1,
            stored=breaches,
            doubled=breach_doubled + exc_doubled + act_doubled,
            recovery_seconds=round(recovery, 1),
            notes=f"blocked {kill.blocked_after:.1f} s after the send; counted breaches per "
            "(clock, reason), exceptions per (tenant, order, reason), activity per "
            "(exception, action)",
        )
    )
    assert breaches >= 1 and breach_doubled == 0
    assert exceptions >= 1 and exc_doubled == 0
    assert act_doubled == 0


def exception_of(order: str) -> str:
    return (
        "exception_id IN (SELECT id FROM exceptions_orderexception WHERE order_id = "
        f"(SELECT id FROM orders_order WHERE external_id = '{order}'))"
    )


def test_ai_analysis(installation):
    """Killed while the model is thinking: the analysis runs again, one explanation a key."""
    inst = installation
    order = f"#kill-ai-{uuid.uuid4().hex[:6]}"
    llm = LLMServer().start()
    env = {"AI_PROVIDER_BASE_URL": llm.url, "AI_API_KEY": "sk-test", "AI_TIMEOUT_SECONDS": "60"}
    llm.queue("hang")  # the first call: 30 s before the answer; the worker dies first
    worker = Worker(inst, "ai-killed", env)
    try:
        begun = time.monotonic()
        post_event(inst, event_type="exception_reported", order_id=order,
                   reason="Label printer out of ribbon")  # fmt: skip
        inst.app.wait_for("the model asked", lambda: llm.requests, timeout=BLOCK_SECONDS)
        asked_after = time.monotonic() - begun
        worker.kill()
        killed_at = time.monotonic()
        print(f"[AI analysis] model asked {asked_after:.1f} s after the POST, no answer yet; "
              f"worker group {worker.process.pid} SIGKILLed")  # fmt: skip
        llm.queue(*["good"] * 5)
        worker = Worker(inst, "ai-restarted", env)
        inst.app.wait_for(
            "an explanation written by the restarted worker",
            lambda: count(
                inst, f"SELECT COUNT(*) FROM exceptions_explanation WHERE {exception_of(order)}"
            ),
            timeout=RECOVERY_SECONDS,
        )
        recovery = time.monotonic() - killed_at
        settle()
        keys, expl_doubled = doubled(
            inst, "exceptions_explanation", "exception_id, key",
            f"{exception_of(order)} AND trigger = 'auto'",
        )  # fmt: skip
        decisions = inst.cluster.query(
            "e2a", f"SELECT decision, cause FROM exceptions_explanation WHERE {exception_of(order)}"
        )
        asked = len(llm.requests)
    finally:
        worker.stop()
        llm.stop()
    print(f"[AI analysis] recovered in {recovery:.1f} s: {keys} explanation key(s) "
          f"(+{expl_doubled}), model asked {asked} times, rows {decisions}")  # fmt: skip
    record(
        FaultRow(
            fault="Worker killed mid-task: AI analysis",
            what_was_done=(
                "one exception opened with a model configured (a local chat-completions "
                "server); `ai.analyze_exception` killed while waiting for the model's "
                "answer; a new worker started"
            ),
            sent=1,
            stored=keys,
            doubled=expl_doubled,
            recovery_seconds=round(recovery, 1),
            notes=f"model asked {asked} times in all (the killed call included); counted "
            "automatic explanations per (exception, key)",
        )
    )
    assert keys == 1 and expl_doubled == 0


def test_slack_send(installation):
    """Killed while Slack is answering: one notification row; the post may go out twice."""
    inst = installation
    order = f"#kill-slack-{uuid.uuid4().hex[:6]}"
    slack = FakeSlack().start()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.api_url,
        "SLACK_DEFAULT_CHANNEL": "#ops-killed",
        "SLACK_MIN_SEVERITY": "LOW",
    }
    slack.hold()
    worker = Worker(inst, "slack-killed", env)
    try:
        begun = time.monotonic()
        post_event(inst, event_type="exception_reported", order_id=order,
                   reason="Carton dropped from the conveyor")  # fmt: skip
        inst.app.wait_for("Slack called", slack.arrived.is_set, timeout=BLOCK_SECONDS)
        called_after = time.monotonic() - begun
        worker.kill()
        killed_at = time.monotonic()
        print(f"[Slack send] chat.postMessage held {called_after:.1f} s after the POST; "
              f"worker group {worker.process.pid} SIGKILLed")  # fmt: skip
        slack.release()
        worker = Worker(inst, "slack-restarted", env)
        # The redelivered send finds the dead sender's channel lease still taken and
        # schedules one wake-up for the moment it runs out; no beat runs here, so the
        # message goes out without the minute sweep's help.
        inst.app.wait_for(
            "the notification sent by the restarted worker",
            lambda: count(
                inst,
                f"SELECT COUNT(*) FROM exceptions_notification "
                f"WHERE {exception_of(order)} AND status = 'sent'",
            ),
            timeout=RECOVERY_SECONDS,
        )
        recovery = time.monotonic() - killed_at
        settle()
        rows, notif_doubled = doubled(
            inst, "exceptions_notification", "exception_id, kind", exception_of(order)
        )
        posts = len(slack.posts())
    finally:
        worker.stop()
        slack.stop()
    print(f"[Slack send] recovered in {recovery:.1f} s: {rows} notification(s) "
          f"(+{notif_doubled}), {posts} chat.postMessage calls")  # fmt: skip
    record(
        FaultRow(
            fault="Worker killed mid-task: Slack send",
            what_was_done=(
                "one exception opened with Slack pointed at a local fake that holds its "
                "answer; `exceptions.send_notifications` killed while waiting for "
                "chat.postMessage; a new worker started"
            ),
            sent=1,
            stored=rows,
            doubled=notif_doubled,
            recovery_seconds=round(recovery, 1),
            notes=f"{posts} chat.postMessage calls in all: the killed one may have reached "
            "Slack, so a second post is the documented at-least-once delivery. The "
            "redelivered send finds the dead sender's channel lease (30 s) taken and "
            "wakes when it runs out (no beat runs in this test). "
            "Counted notification rows per (exception, kind)",
        )
    )
    assert rows >= 1 and notif_doubled == 0
    assert 1 <= posts <= 2


def test_escalation(installation):
    """Killed while escalating: the redelivered run escalates once, one activity row."""
    inst = installation
    order = f"#kill-esc-{uuid.uuid4().hex[:6]}"
    worker = Worker(inst, "escalation-setup")
    try:
        post_event(inst, event_type="exception_reported", order_id=order,
                   reason="Dock door jammed")  # fmt: skip
        inst.app.wait_for(
            "the exception opened",
            lambda: count(inst, f"SELECT COUNT(*) FROM exceptions_orderexception "
                                f"WHERE {exception_of(order).replace('exception_id', 'id')}"),
            timeout=RECOVERY_SECONDS,
        )  # fmt: skip
    finally:
        worker.stop()
    # Nobody acknowledged it in time: its escalation deadline has passed.
    inst.cluster.query(
        "e2a",
        "UPDATE exceptions_orderexception SET next_escalation_at = now() - interval '1 minute'"
        f" WHERE {exception_of(order).replace('exception_id', 'id')}",
    )
    kill, worker = kill_mid_insert(
        inst,
        "exceptions_exceptionactivity",
        lambda: inst.app.celery_call("exceptions.escalate"),
        "escalation",
    )
    try:
        inst.app.wait_for(
            "the escalation written by the restarted worker",
            lambda: count(
                inst,
                "SELECT COUNT(*) FROM exceptions_exceptionactivity"
                f" WHERE action = 'escalated' AND {exception_of(order)}",
            ),
            timeout=RECOVERY_SECONDS,
        )
        recovery = time.monotonic() - kill.killed_at
        settle()
        escalated = count(
            inst,
            "SELECT COUNT(*) FROM exceptions_exceptionactivity"
            f" WHERE action = 'escalated' AND {exception_of(order)}",
        )
        level = count(
            inst,
            "SELECT escalation_level FROM exceptions_orderexception"
            f" WHERE {exception_of(order).replace('exception_id', 'id')}",
        )
        notified, notes_doubled = doubled(
            inst, "exceptions_notification", "exception_id, kind", exception_of(order)
        )
    finally:
        worker.stop()
    print(f"[escalation] recovered in {recovery:.1f} s: {escalated} escalated row(s), "
          f"level {level}, notifications {notified} (+{notes_doubled})")  # fmt: skip
    record(
        FaultRow(
            fault="Worker killed mid-task: escalation",
            what_was_done=(
                "an exception past its escalation deadline; `exceptions.escalate` held at "
                "its INSERT of the escalation's activity row; worker group SIGKILLed, a new "
                "one started"
            ),
            sent=1,
            stored=min(escalated, 1),
            doubled=max(escalated - 1, 0) + max(level - 1, 0) + notes_doubled,
            recovery_seconds=round(recovery, 1),
            notes=f"blocked {kill.blocked_after:.1f} s after the send; counted 'escalated'"
            " activity rows, the escalation level and notifications per (exception, kind)",
        )
    )
    assert escalated == 1 and level == 1 and notes_doubled == 0


def _zone_past_two_am() -> str:
    """A time zone where it is past 02:00 now: the nightly billing job's hour has come."""
    from zoneinfo import ZoneInfo

    for zone in ("UTC", "Asia/Tokyo", "America/Los_Angeles", "Pacific/Kiritimati"):
        local = datetime.now(ZoneInfo(zone))
        if 3 <= local.hour <= 22:
            return zone
    return "UTC"


def test_invoice_generation(installation):
    """Killed while writing invoice lines: the redelivered nightly run bills the night once."""
    inst = installation
    slug = f"bill-{uuid.uuid4().hex[:6]}"
    inst.app.manage("create_tenant", slug, "--timezone", _zone_past_two_am())
    out = inst.app.manage("create_api_key", slug)
    key = next(word for word in out.split() if word.startswith("e2a_"))
    picked = datetime.now(UTC) - timedelta(hours=1)
    for n in range(3):
        for step in ("pick_completed", "pack_completed"):
            inst.app.ingest(
                key,
                source="wms",
                event_type=step,
                event_id=f"{slug}-{step}-{n}",
                order_id=f"#{slug}-{n}",
                occurred_at=picked.isoformat(),
            )
    where = f"invoice_id IN (SELECT i.id FROM billing_invoice i JOIN orders_tenant t ON t.id = i.tenant_id WHERE t.slug = '{slug}')"  # noqa: E501
    kill, worker = kill_mid_insert(
        inst,
        "billing_invoiceline",
        lambda: inst.app.celery_call("billing.nightly"),
        "invoice generation",
    )
    try:
        inst.app.wait_for(
            "the invoice lines written by the restarted worker",
            lambda: count(inst, f"SELECT COUNT(*) FROM billing_invoiceline WHERE {where}"),
            timeout=RECOVERY_SECONDS,
        )
        recovery = time.monotonic() - kill.killed_at
        settle()
        # Order lines (the account fee's line has no order).
        lines, lines_doubled = doubled(
            inst, "billing_invoiceline", "invoice_id, order_id", f"{where} AND order_id IS NOT NULL"
        )
        invoices, invoices_doubled = doubled(
            inst,
            "billing_invoice",
            "tenant_id, period",
            f"tenant_id = (SELECT id FROM orders_tenant WHERE slug = '{slug}')",
        )
        claimed = count(
            inst,
            "SELECT COUNT(*) FROM billing_billingstate s JOIN orders_tenant t ON t.id = s.tenant_id"
            f" WHERE t.slug = '{slug}' AND s.last_run_on IS NOT NULL",
        )
    finally:
        worker.stop()
    print(f"[invoice generation] recovered in {recovery:.1f} s: {lines} line(s) "
          f"(+{lines_doubled}), {invoices} invoice(s) (+{invoices_doubled})")  # fmt: skip
    record(
        FaultRow(
            fault="Worker killed mid-task: invoice generation",
            what_was_done=(
                "three orders picked and packed this month; `billing.nightly` held at its "
                "INSERT … SELECT of the invoice lines; worker group SIGKILLed, a new one "
                "started"
            ),
            sent=3,
            stored=lines,
            doubled=lines_doubled + invoices_doubled,
            recovery_seconds=round(recovery, 1),
            notes=f"blocked {kill.blocked_after:.1f} s after the send; the night's claim"
            " commits with its work, so the killed run left it to the redelivered one;"
            " counted lines per (invoice, order) and invoices per (tenant, period)",
        )
    )
    assert lines == 3 and lines_doubled == 0
    assert invoices == 1 and invoices_doubled == 0
    assert claimed == 1


def test_action_attempt(installation):
    """Killed while the action's receiver is answering: the run is finished once, its
    attempt counted once; the receiver gets the same webhook-id again (at least once)."""
    inst = installation
    order = f"#kill-action-{uuid.uuid4().hex[:6]}"
    exception = exception_of(order).replace("exception_id", "id")
    env = {"ACTION_RUN_LEASE_SECONDS": "5"}  # how long a run may stay RUNNING unwatched
    with running_receiver() as receiver:
        tenant = inst.cluster.query("e2a", "SELECT id FROM orders_tenant WHERE slug = 'killed'")
        inst.app.manage(
            "shell", "-c",
            "from exceptions.models import ActionEndpoint; ActionEndpoint.objects.update_or_create("
            f"tenant_id={tenant[0][0]}, kind='request_scan', defaults={{'url': "
            f"{receiver.url('/request_scan')!r}, 'secret': {receiver.secret!r}}})",
        )  # fmt: skip
        receiver.answer(Answer(delay=60))  # the first call is held past the worker's life
        worker = Worker(inst, "action-killed", env)
        try:
            post_event(inst, event_type="exception_reported", order_id=order,
                       reason_code="MISSING_SCAN", reason="No pack scan for the tote")  # fmt: skip
            inst.app.wait_for(
                "the exception explained (automation waits for its notes)",
                lambda: count(inst, f"SELECT COUNT(*) FROM exceptions_orderexception "
                                    f"WHERE {exception} AND current_explanation_id IS NOT NULL"),
                timeout=RECOVERY_SECONDS,
            )  # fmt: skip
            begun = time.monotonic()
            inst.app.celery_call("exceptions.resolution_pass")  # as beat does every minute
            inst.app.wait_for("the receiver called", lambda: receiver.received,
                              timeout=BLOCK_SECONDS)  # fmt: skip
            called_after = time.monotonic() - begun
        finally:
            worker.kill()
        killed_at = time.monotonic()
        print(f"[action attempt] request_scan held by the receiver {called_after:.1f} s after "
              f"the pass; worker group {worker.process.pid} SIGKILLed")  # fmt: skip
        worker = Worker(inst, "action-restarted", env)
        try:
            # The redelivered `exceptions.automate` finds a run in flight and leaves it;
            # beat's pass re-queues a run left RUNNING past its lease. No beat runs here,
            # so the test sends the pass, as beat would within its minute.
            inst.app.wait_for(
                "the dead worker's run past its lease",
                lambda: count(inst, f"SELECT COUNT(*) FROM exceptions_actionrun WHERE "
                                    f"{exception_of(order)} AND status = 'running' AND "
                                    f"updated_at < now() - interval '5 seconds'"),
                timeout=RECOVERY_SECONDS,
            )  # fmt: skip
            inst.app.celery_call("exceptions.resolution_pass")
            inst.app.wait_for(
                "the run finished by the restarted worker",
                lambda: count(inst, f"SELECT COUNT(*) FROM exceptions_actionrun WHERE "
                                    f"{exception_of(order)} AND finished_at IS NOT NULL"),
                timeout=RECOVERY_SECONDS,
            )  # fmt: skip
            recovery = time.monotonic() - killed_at
            settle()
            runs, runs_doubled = doubled(
                inst, "exceptions_actionrun", "exception_id, kind", exception_of(order)
            )
            outcome = inst.cluster.query(
                "e2a", f"SELECT status FROM exceptions_actionrun WHERE {exception_of(order)}"
            )[0][0]
            attempts = count(
                inst,
                "SELECT COUNT(*) FROM exceptions_exceptionactivity"
                f" WHERE action LIKE 'attempt_%' AND {exception_of(order)}",
            )
            counted = count(
                inst, f"SELECT resolution_attempts FROM exceptions_orderexception WHERE {exception}"
            )
        finally:
            worker.stop()
        ids = {call.headers.get("webhook-id") for call in receiver.received}
        calls = len(receiver.received)
        verified = all(call.verified for call in receiver.received)
    print(f"[action attempt] recovered in {recovery:.1f} s: {runs} run ({outcome}, "
          f"+{runs_doubled}), {attempts} attempt row(s), resolution_attempts {counted}, "
          f"{calls} deliveries with webhook-ids {sorted(ids)}")  # fmt: skip
    record(
        FaultRow(
            fault="Worker killed mid-task: action attempt",
            what_was_done=(
                "a MISSING_SCAN exception with a signed `request_scan` endpoint (a local "
                "receiver that holds its first answer); beat's resolution pass sent, "
                "`exceptions.automate` killed while waiting for the receiver; a new worker "
                "started"
            ),
            sent=1,
            stored=runs,
            doubled=runs_doubled + max(attempts - 1, 0) + max(counted - 1, 0),
            recovery_seconds=round(recovery, 1),
            notes=f"{calls} deliveries, all with the webhook-id {sorted(ids)[0]} (at least "
            "once: the receiver deduplicates on it). The redelivered automate task finds "
            "the run in flight and leaves it; the resolution pass re-queues a run left "
            "running past its lease (ACTION_RUN_LEASE_SECONDS, 5 s here; 300 s by "
            "default). Counted runs per (exception, kind), attempt activity rows and the "
            "exception's attempt count",
        )
    )
    assert runs == 1 and runs_doubled == 0 and outcome == "done"
    assert attempts == 1 and counted == 1
    assert calls == 2 and len(ids) == 1 and verified
