"""Slack notifications end to end against a local stand-in for Slack's Web API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from exceptions.actors import Actor
from exceptions.models import (
    Notification,
    NotificationKind,
    SlackChannel,
    TenantAlerting,
)
from exceptions.notify import outbox
from exceptions.notify.digest import digests_send
from exceptions.notify.messages import ACTION_ACKNOWLEDGE, ACTION_RESOLVE, ACTION_SNOOZE_1H
from exceptions.notify.sender import channels_with_pending, notifications_send
from exceptions.services.activity import activity_record
from exceptions.services.lifecycle import exception_acknowledge
from exceptions.services.raising import Finding, exception_raise
from orders.models import Order

from .concurrency import at_once
from .factories import TenantFactory
from .slack_server import fake_slack

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPS = Actor.system("test")


@pytest.fixture
def slack(settings):
    with fake_slack(settings) as fake:
        yield fake


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def raise_exception(tenant, order_id: str, severity: str):
    order, _ = Order.objects.get_or_create(tenant=tenant, external_id=order_id, source="shopify")
    finding = Finding("SHIP_DELAY", {"carrier": "UPS"}, severity=severity)
    return exception_raise(order=order, finding=finding).exception


def notes(**filters) -> list[Notification]:
    return list(Notification.objects.filter(**filters).order_by("pk"))


def test_new_high_exception_is_posted_with_its_buttons(db, slack, clock, tenant):
    exc = raise_exception(tenant, "#1001", "HIGH")

    result = notifications_send(channel="#ops")

    assert (result.sent, result.retry_in) == (1, None)
    [request] = [r for r in slack.requests if r.path.endswith("chat.postMessage")]
    assert request.headers["Authorization"] == "Bearer xoxb-test-token"
    assert request.body["channel"] == "#ops"
    assert "HIGH SHIP_DELAY on order #1001" in request.body["text"]
    [actions] = [b for b in request.body["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        (ACTION_ACKNOWLEDGE, str(exc.pk)),
        (ACTION_SNOOZE_1H, str(exc.pk)),
        (ACTION_RESOLVE, str(exc.pk)),
    ]
    assert "thread_ts" not in request.body
    [note] = notes(exception=exc)
    assert (note.status, note.slack_ts, note.attempts) == ("sent", "1700000000.000001", 1)
    assert note.sent_at == T0


def test_low_exception_is_not_posted_but_is_in_the_next_digest(db, slack, clock, tenant):
    high = raise_exception(tenant, "#1", "HIGH")
    raise_exception(tenant, "#2", "LOW")
    raise_exception(tenant, "#3", "MEDIUM")
    assert [n.exception_id for n in notes()] == [high.pk]  # only the HIGH one on its own

    clock.shift(timedelta(minutes=5))
    assert digests_send() == 1
    [digest] = notes(kind=NotificationKind.DIGEST)
    assert digest.channel == "#ops" and digest.exception is None
    assert "2 new exceptions below HIGH" in digest.text
    assert "1 × SHIP_DELAY (LOW)" in digest.text and "1 × SHIP_DELAY (MEDIUM)" in digest.text
    assert "order #2" in digest.text and "order #3" in digest.text
    assert "order #1 " not in digest.text  # posted on its own, not digested
    assert "Open now: 1 HIGH · 1 MEDIUM · 1 LOW (3 in total)" in digest.text

    notifications_send(channel="#ops")  # the HIGH message
    clock.shift(timedelta(seconds=1))
    assert notifications_send(channel="#ops").sent == 1
    assert "Digest for acme" in slack.posts()[-1]["text"]

    # Within the period: no second digest, however often beat runs (or how many beats).
    clock.shift(timedelta(minutes=30))
    raise_exception(tenant, "#4", "LOW")
    assert digests_send() == 0
    # Period over: the next digest covers only what is new since the last one.
    clock.shift(timedelta(minutes=31))
    assert digests_send() == 1
    latest = notes(kind=NotificationKind.DIGEST)[-1]
    assert "1 new exception below HIGH" in latest.text and "order #4" in latest.text
    assert "order #2" not in latest.text
    # Nothing new since: no digest at all.
    clock.shift(timedelta(hours=2))
    assert digests_send() == 0


def test_no_digest_for_a_tenant_with_alerting_off(db, slack, clock, tenant):
    TenantAlerting.objects.create(tenant=tenant, enabled=False)
    raise_exception(tenant, "#2", "LOW")
    clock.shift(timedelta(minutes=5))
    assert digests_send() == 0


def test_status_change_is_a_reply_in_the_exception_thread(db, slack, clock, tenant):
    exc = raise_exception(tenant, "#1001", "HIGH")
    notifications_send(channel="#ops")
    parent_ts = notes(exception=exc)[0].slack_ts

    exception_acknowledge(exception_id=exc.pk, actor=OPS)
    clock.shift(timedelta(seconds=1))
    assert notifications_send(channel="#ops").sent == 1

    reply = slack.posts()[-1]
    assert reply["thread_ts"] == parent_ts
    assert f"Exception #{exc.pk} acknowledged: OPEN → ACKNOWLEDGED" in reply["text"]
    update = notes(kind=NotificationKind.UPDATE)[0]
    assert (update.status, update.thread_ts) == ("sent", parent_ts)


def test_one_message_per_second_per_channel(db, slack, clock, tenant):
    TenantAlerting.objects.create(tenant=TenantFactory(slug="beta"), slack_channel="#beta")
    raise_exception(tenant, "#1", "HIGH")
    raise_exception(tenant, "#2", "HIGH")
    raise_exception(TenantFactory(slug="beta"), "#9", "HIGH")

    first = notifications_send(channel="#ops")
    assert (first.sent, first.retry_in) == (1, 1.0)
    # A second task for the channel at the same moment sends nothing, and leaves the
    # wake-up to the first (one re-queued task per channel, not one per notification).
    second = notifications_send(channel="#ops")
    assert (second.sent, second.retry_in) == (0, None)
    assert SlackChannel.objects.get(name="#ops").next_send_at == T0 + timedelta(seconds=1)
    # Another channel has its own budget.
    assert notifications_send(channel="#beta").sent == 1
    assert [p["channel"] for p in slack.posts()] == ["#ops", "#beta"]

    clock.shift(timedelta(milliseconds=999))
    assert notifications_send(channel="#ops").sent == 0
    clock.shift(timedelta(milliseconds=1))
    last = notifications_send(channel="#ops")
    assert (last.sent, last.retry_in) == (1, None)  # nothing left
    assert [p["channel"] for p in slack.posts()] == ["#ops", "#beta", "#ops"]
    assert channels_with_pending() == []


def test_slack_retry_after_is_honoured(db, slack, clock, tenant):
    raise_exception(tenant, "#1", "HIGH")
    slack.rate_limited(7)

    result = notifications_send(channel="#ops")

    assert (result.sent, result.retry_in) == (0, 7.0)
    [note] = notes()
    assert note.status == "pending" and note.attempts == 0
    assert "Retry-After 7" in note.last_error
    assert SlackChannel.objects.get(name="#ops").next_send_at == T0 + timedelta(seconds=7)
    assert channels_with_pending() == ["#ops"]

    clock.shift(timedelta(seconds=5))
    assert notifications_send(channel="#ops").sent == 0  # still inside Retry-After
    assert len(slack.posts()) == 1
    clock.shift(timedelta(seconds=2))
    assert notifications_send(channel="#ops").sent == 1
    assert notes()[0].status == "sent"


def test_without_a_token_notifications_are_recorded_as_skipped(
    db, slack, clock, tenant, settings, django_capture_on_commit_callbacks
):
    settings.SLACK_BOT_TOKEN = ""
    with django_capture_on_commit_callbacks() as callbacks:
        exc = raise_exception(tenant, "#1", "HIGH")
        exception_acknowledge(exception_id=exc.pk, actor=OPS)

    # Skipped when written: the configuration says so, and no send task is queued.
    assert {(n.status, n.skip_reason) for n in notes()} == {
        ("skipped", "No SLACK_BOT_TOKEN configured.")
    }
    assert len(notes()) == 2
    assert not any(getattr(c, "func", None) is outbox._dispatch for c in callbacks)
    assert notifications_send(channel="#ops").skipped == 0  # nothing left pending
    assert slack.requests == []


def test_with_a_token_each_message_queues_its_channel_send(
    db, slack, clock, tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        raise_exception(tenant, "#1", "HIGH")

    sends = [c for c in callbacks if getattr(c, "func", None) is outbox._dispatch]
    assert [c.args for c in sends] == [("#ops",)]
    assert [n.status for n in notes()] == ["pending"]


def test_messages_waiting_when_the_token_is_removed_are_skipped_by_the_sender(
    db, slack, clock, tenant, settings
):
    exc = raise_exception(tenant, "#1", "HIGH")
    exception_acknowledge(exception_id=exc.pk, actor=OPS)
    settings.SLACK_BOT_TOKEN = ""

    result = notifications_send(channel="#ops")

    assert (result.sent, result.skipped, result.retry_in) == (0, 2, None)
    assert {(n.status, n.skip_reason) for n in notes()} == {
        ("skipped", "No SLACK_BOT_TOKEN configured.")
    }
    assert slack.requests == []


def test_without_a_channel_notifications_are_recorded_as_skipped(
    db, slack, clock, tenant, settings
):
    settings.SLACK_DEFAULT_CHANNEL = ""
    raise_exception(tenant, "#1", "HIGH")
    [note] = notes()
    assert note.channel == ""
    assert note.status == "skipped" and "SLACK_DEFAULT_CHANNEL" in note.skip_reason
    assert notifications_send(channel="").skipped == 0
    assert slack.requests == []


def test_permanent_slack_error_fails_at_once_and_its_replies_follow(db, slack, clock, tenant):
    exc = raise_exception(tenant, "#1", "HIGH")
    slack.error("channel_not_found")
    assert notifications_send(channel="#ops").failed == 1
    [new] = notes()
    assert (new.status, new.attempts, new.last_error) == ("failed", 1, "channel_not_found")

    # Its status update has no message to reply under: skipped, with the reason.
    exception_acknowledge(exception_id=exc.pk, actor=OPS)
    # An escalation still gets attention: posted at the top level, with the headline.
    activity_record(exc, action="escalated", actor=Actor.system("escalation"), at=T0)
    clock.shift(timedelta(seconds=1))
    result = notifications_send(channel="#ops")
    assert (result.sent, result.skipped) == (1, 1)
    update = notes(kind=NotificationKind.UPDATE)[0]
    assert update.status == "skipped" and "not posted (failed)" in update.skip_reason
    escalation = slack.posts()[-1]
    assert "thread_ts" not in escalation
    assert "SHIP_DELAY on order #1" in escalation["text"] and "escalated" in escalation["text"]


def test_transient_errors_are_retried_then_fail(db, slack, clock, tenant):
    raise_exception(tenant, "#1", "HIGH")
    for _ in range(3):
        slack.http_error(500)

    first = notifications_send(channel="#ops")
    assert (first.sent, first.failed, first.retry_in) == (0, 0, 10.0)
    assert notes()[0].attempts == 1 and notes()[0].status == "pending"
    clock.shift(timedelta(seconds=10))
    assert notifications_send(channel="#ops").retry_in == 20.0
    clock.shift(timedelta(seconds=20))
    third = notifications_send(channel="#ops")
    assert (third.failed, third.retry_in) == (1, None)
    [note] = notes()
    assert (note.status, note.attempts) == ("failed", 3)
    assert len(slack.posts()) == 3


def test_network_error_is_a_transient_failure(db, slack, clock, tenant, settings):
    raise_exception(tenant, "#1", "HIGH")
    slack.stop()  # nothing listens any more
    result = notifications_send(channel="#ops")
    assert result.retry_in == 10.0
    [note] = notes()
    assert note.status == "pending" and note.attempts == 1 and note.last_error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_database_lock_is_held_while_slack_answers_and_one_sender_per_channel_holds(slack):
    import threading

    from django.db import connections, transaction

    from exceptions.notify import sender

    tenant = TenantFactory(slug="leasy")
    for text in ("first", "second"):
        Notification.objects.create(
            tenant=tenant, kind="digest", channel="#ops", text=text, created_at=T0
        )
    results = []

    def first_worker():
        try:
            results.append(notifications_send(channel="#ops"))
        finally:
            connections.close_all()

    slack.hold()
    thread = threading.Thread(target=first_worker)
    thread.start()
    try:
        assert slack.arrived.wait(10)  # the first worker is waiting on Slack now
        with transaction.atomic():  # ...and holds no row lock meanwhile
            SlackChannel.objects.select_for_update(nowait=True).get(name="#ops")
            list(Notification.objects.select_for_update(nowait=True).all())
        second = notifications_send(channel="#ops")
        # The holder re-checks after; the loser's one wake-up, when the lease runs out,
        # is for a holder that died.
        assert second.sent == 0
        assert 0 < second.retry_in <= sender.LEASE.total_seconds()
    finally:
        slack.release()
        thread.join()
    [first] = results
    assert first.sent == 1 and first.retry_in is not None  # "second" is left, re-queued
    assert [p["text"] for p in slack.posts()] == ["first"]
    assert SlackChannel.objects.get(name="#ops").lease_token == ""


class WorkerDied(BaseException):
    """Stands for SIGKILL between Slack's answer and the record (not an Exception)."""


def test_a_worker_dying_after_slacks_answer_reposts_once_and_writes_rows_once(
    db, slack, clock, tenant, monkeypatch
):
    from django.core.cache import cache

    from exceptions.models import ExceptionActivity
    from exceptions.notify import sender

    cache.clear()  # the wake-up's once-per-moment keys of earlier runs at this frozen time
    exc = raise_exception(tenant, "#9", "HIGH")
    activity = ExceptionActivity.objects.count()
    real_post = sender.slack_client.post_message

    def post_then_die(**kwargs):
        real_post(**kwargs)
        raise WorkerDied

    monkeypatch.setattr(sender.slack_client, "post_message", post_then_die)
    with pytest.raises(WorkerDied):
        notifications_send(channel="#ops")
    # What a killed worker leaves: the message pending, its lease taken until it expires.
    SlackChannel.objects.filter(name="#ops").update(
        lease_token="dead-worker", lease_expires_at=T0 + sender.LEASE
    )
    [note] = notes(exception=exc)
    assert note.status == "pending"
    monkeypatch.setattr(sender.slack_client, "post_message", real_post)

    clock.shift(timedelta(seconds=5))
    waiting = notifications_send(channel="#ops")
    assert waiting.sent == 0  # the dead worker's lease holds
    # ... and the redelivered send asks to wake when it runs out, not at beat's sweep.
    assert waiting.retry_in == (sender.LEASE - timedelta(seconds=5)).total_seconds()
    assert notifications_send(channel="#ops").retry_in is None  # one wake-up for all
    clock.shift(sender.LEASE)
    assert notifications_send(channel="#ops").sent == 1  # expired: posted once more

    assert len(slack.posts()) == 2  # at least once, on Slack
    note.refresh_from_db()
    assert note.status == "sent" and note.attempts == 1  # exactly once, in the database
    assert Notification.objects.filter(exception=exc).count() == 1
    assert ExceptionActivity.objects.count() == activity


def test_tasks_send_after_commit_and_beat_sweeps_what_waited(
    db, slack, clock, tenant, django_capture_on_commit_callbacks
):
    from exceptions.tasks import send_pending_notifications

    with django_capture_on_commit_callbacks(execute=True):
        raise_exception(tenant, "#1", "HIGH")
        raise_exception(tenant, "#2", "HIGH")
    # Each notification queued a send on commit; the rate limit let one through.
    [first] = slack.posts()
    assert "on order #1 (" in first["text"]

    clock.shift(timedelta(seconds=1))
    assert send_pending_notifications.delay().get() == 1
    assert "on order #2 (" in slack.posts()[-1]["text"]
    assert channels_with_pending() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_beat_runs_queue_one_digest(slack):

    from exceptions.catalogue import catalogue_load
    from exceptions.models import ReasonCode

    catalogue_load(ReasonCode)  # a transactional test starts from a flushed database
    tenant = TenantFactory(slug="racey")
    with time_machine.travel(T0, tick=False):
        raise_exception(tenant, "#7", "LOW")
    counts = at_once(lambda: digests_send(now=T0 + timedelta(minutes=5)), threads=4)
    assert sum(counts) == 1
    assert Notification.objects.filter(kind=NotificationKind.DIGEST).count() == 1


def test_the_admin_sends_failed_and_skipped_messages_again(
    db, slack, clock, tenant, admin_client, django_capture_on_commit_callbacks
):
    slack.error("channel_not_found")
    exc = raise_exception(tenant, "#5", "HIGH")
    notifications_send(channel="#ops")
    [failed] = notes(exception=exc)
    assert failed.status == "failed"
    sent = Notification.objects.create(
        tenant=tenant,
        kind="digest",
        channel="#ops",
        text="done",
        created_at=T0,
        status="sent",
        slack_ts="1.2",
        sent_at=T0,
    )

    clock.shift(timedelta(seconds=2))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/exceptions/notification/",
            {"action": "send_again", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )
    assert "1 notification(s) queued again." in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("sent", 1, "")
    assert len(slack.posts()) == 2  # the failed try, then the one sent again
    sent.refresh_from_db()
    assert sent.status == "sent" and sent.attempts == 0  # left alone
