"""The next SLA deadline on the order row: read by the scan, the at-risk list and the
order detail before the worker's follow-up has written the clock rows, and the races
between the scan, ingestion and that follow-up."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from orders import followups, projection_hooks
from orders.models import Order
from slas import breach_listeners
from slas.memo import read_memo
from slas.models import SlaPolicy, StageClock
from slas.services.clock_rows import clock_rows_followup, clock_rows_sync
from slas.services.scan import sla_scan
from slas.stages import STAGE_SPECS, stage_times

from .concurrency import InThread, at_once
from .factories import TenantFactory, api_key_for, event_body
from .sla_helpers import at, breaches, clock, send


def post_only(api, event_type: str, occurred: str, *, order: str = "#1001", received=None):
    """Post one event without running its on-commit work: no worker follow-up yet."""
    with time_machine.travel(at(received or occurred), tick=False):
        response = api.post(
            "/ingest/events",
            event_body(event_type=event_type, order_id=order, occurred_at=occurred),
        )
    assert response.status_code == 202, response.content
    return response


def the_order(external_id: str = "#1001") -> Order:
    return Order.objects.select_related("tenant").get(external_id=external_id)


@pytest.mark.django_db
def test_an_on_time_event_writes_the_deadline_on_the_order_and_no_clock_row(api):
    post_only(api, "order_paid", "2026-06-03T10:00:00Z")
    order = the_order()
    assert (order.sla_stage, order.sla_due_at, order.sla_warn_at) == (
        "pick",
        at("2026-06-03T12:00:00Z"),
        at("2026-06-03T11:36:00Z"),
    )
    assert not StageClock.objects.exists()

    post_only(api, "pick_completed", "2026-06-03T11:00:00Z")
    order = the_order()
    assert (order.sla_stage, order.sla_due_at) == ("pack", at("2026-06-03T14:00:00Z"))
    assert not StageClock.objects.exists()

    clock_rows_followup([(order, [])])  # the worker catches the rows up
    pick, pack = StageClock.objects.order_by("started_at")
    assert pick.met_at == at("2026-06-03T11:00:00Z") and pack.due_at == order.sla_due_at
    assert pick.explanation.startswith("pick due Wed 03 Jun 14:00")  # Berlin wall time


@pytest.mark.django_db
def test_the_follow_up_writes_each_row_once(api):
    post_only(api, "order_paid", "2026-06-03T10:00:00Z")
    order = the_order()
    assert clock_rows_sync([order], now=at("2026-06-03T10:00:01Z")) == 1
    with CaptureQueriesContext(connection) as queries:
        assert clock_rows_sync([order], now=at("2026-06-03T10:00:02Z")) == 0
    assert len(queries) == 1  # read the rows, nothing to write
    assert StageClock.objects.count() == 1


@pytest.mark.django_db
def test_the_scan_breaches_a_stage_whose_row_the_follow_up_has_not_written(api):
    post_only(api, "order_paid", "2026-06-03T10:00:00Z")
    assert sla_scan(now=at("2026-06-03T12:01:00Z")).breached == 1
    [breach] = breaches("#1001")
    assert (breach.detected_by, breach.late_minutes) == ("scan", 1)
    pick = clock("#1001", "pick")
    assert pick.breached_at == at("2026-06-03T12:01:00Z")
    assert pick.explanation.startswith("pick due")  # planned again for the new row
    order = the_order()
    assert order.sla_due_at is None
    assert read_memo(order)["pick"].breached_at == at("2026-06-03T12:01:00Z")
    assert sla_scan(now=at("2026-06-03T12:05:00Z")).breached == 0

    # The follow-up that comes late keeps the breach, and the stage still ages.
    clock_rows_followup([(order, [])])
    assert clock("#1001", "pick").breached_at == at("2026-06-03T12:01:00Z")
    assert sla_scan(now=at("2026-06-03T12:31:00Z")).severity_raised == 1


@pytest.mark.django_db
def test_a_stage_done_in_time_but_reported_after_the_scan_is_withdrawn_without_follow_ups(api):
    post_only(api, "order_paid", "2026-06-03T10:00:00Z")
    sla_scan(now=at("2026-06-03T12:05:00Z"))
    post_only(api, "pick_completed", "2026-06-03T11:50:00Z", received="2026-06-03T12:10:00Z")
    [breach] = breaches("#1001")
    assert breach.cleared_at == at("2026-06-03T12:10:00Z")
    assert clock("#1001", "pick").met_at == at("2026-06-03T11:50:00Z")  # written at once


@pytest.mark.django_db
def test_at_risk_and_the_order_detail_are_right_the_moment_an_event_is_stored(api):
    post_only(api, "order_paid", "2026-06-03T10:00:00Z")
    with time_machine.travel(at("2026-06-03T11:40:00Z"), tick=False):
        [row] = api.get("/api/sla/at-risk").json()["results"]
        stages = api.get("/api/orders/%231001").json()["stages"]
    assert (row["order_id"], row["stage"], row["remaining_minutes"]) == ("#1001", "pick", 20)
    assert row["explanation"].startswith("pick due Wed 03 Jun 14:00")
    assert [(s["stage"], s["state"]) for s in stages] == [("pick", "at_risk")]

    # Picked: off the list at once, though no clock row has been written yet.
    post_only(api, "pick_completed", "2026-06-03T11:45:00Z")
    with time_machine.travel(at("2026-06-03T11:50:00Z"), tick=False):
        assert api.get("/api/sla/at-risk").json()["results"] == []
        stages = api.get("/api/orders/%231001").json()["stages"]
    assert [(s["stage"], s["state"]) for s in stages] == [("pick", "met"), ("pack", "on_time")]
    assert not StageClock.objects.exists()


@pytest.mark.django_db
def test_recompute_moves_a_clock_whose_row_is_not_written_yet(api, tenant):
    post_only(api, "order_paid", "2026-06-03T10:00:00Z")  # due 12:00
    SlaPolicy.objects.create(
        tenant=tenant, name="shortage", effective_from=at("2026-06-03T11:00:00Z"), pick_minutes=180
    )
    with time_machine.travel(at("2026-06-03T11:30:00Z"), tick=False):
        call_command("sla_recompute", "--tenant", "acme", "--apply", stdout=StringIO())
    order = the_order()
    assert order.sla_due_at == at("2026-06-03T13:00:00Z")
    assert read_memo(order)["pick"].due_at == at("2026-06-03T13:00:00Z")
    pick = clock("#1001", "pick")
    assert (pick.due_at, pick.allowed_minutes, pick.policy.name) == (
        at("2026-06-03T13:00:00Z"),
        180,
        "shortage",
    )
    assert sla_scan(now=at("2026-06-03T12:30:00Z")).breached == 0  # the moved deadline
    assert sla_scan(now=at("2026-06-03T13:01:00Z")).breached == 1


@pytest.mark.django_db
def test_a_deadline_kept_through_a_policy_edit_says_so(api, tenant):
    policy = SlaPolicy.objects.create(
        tenant=tenant, name="acme", effective_from=at("2026-01-01T00:00:00Z")
    )
    post_only(api, "order_paid", "2026-06-03T10:00:00Z")
    SlaPolicy.objects.filter(pk=policy.pk).update(pick_minutes=60)
    SlaPolicy.objects.get(pk=policy.pk).save()  # the admin's save: refreshes the cache
    clock_rows_followup([(the_order(), [])])
    pick = clock("#1001", "pick")
    assert pick.due_at == at("2026-06-03T12:00:00Z") and pick.allowed_minutes == 120
    assert "120 min, as set when the clock started under acme" in pick.explanation


def test_at_most_one_stage_runs_at_a_time():
    """The order's deadline columns describe one stage: the stage chain guarantees it."""
    from types import SimpleNamespace

    names = sorted(
        {f for spec in STAGE_SPECS for f in (*spec.start, *spec.met, *spec.later)}
        | {"cancelled_at"}
    )
    instant = at("2026-06-03T10:00:00Z")
    for chosen in itertools.product((False, True), repeat=len(names)):
        order = SimpleNamespace(
            **{n: instant if c else None for n, c in zip(names, chosen, strict=True)}
        )
        running = [
            stage
            for stage, t in stage_times(order).items()
            if t.met_at is None and not t.stopped_by
        ]
        assert len(running) <= 1, (chosen, running)


def _wait_for_a_lock_wait(timeout: float = 10) -> None:
    """Until some backend of this database waits on a row lock (the blocked side)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("nobody waited on the lock")


@contextlib.contextmanager
def clock_row_followup_off():
    """Without the slas follow-up handler (a transactional test runs follow-ups at commit)."""
    followups.unregister("slas.clock_rows")
    try:
        yield
    finally:
        followups.register("slas.clock_rows", clock_rows_followup, rank=followups.CLOCKS)


def _api_for(slug: str):
    from django.test import Client

    from .conftest import ApiClient

    return ApiClient(Client(), api_key_for(TenantFactory(slug=slug, timezone="UTC")))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_scans_at_once_breach_each_stage_once_before_any_follow_up():
    api = _api_for("double-scan-memo")
    with clock_row_followup_off():
        for n in range(40):
            post_only(api, "order_paid", "2026-06-03T10:00:00Z", order=f"o-{n}")
    assert not StageClock.objects.exists()
    results = at_once(lambda: sla_scan(now=at("2026-06-03T13:00:00Z"), chunk=7), threads=2)
    assert sum(r.breached for r in results) == 40
    assert StageClock.objects.filter(breached_at__isnull=False).count() == 40
    assert len(breaches("o-0")) == 1 and Order.objects.filter(sla_due_at__isnull=False).count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_scan_waiting_on_the_ingest_of_the_completing_event_breaches_nothing():
    api = _api_for("scan-after-ingest")
    send(api, "order_paid", "2026-06-03T10:00:00Z")  # due 12:00
    holding, release = threading.Event(), threading.Event()

    def pause(_projected) -> None:  # runs in the ingest transaction, order row locked
        holding.set()
        release.wait(10)

    projection_hooks.register("test.pause", pause)
    try:
        ingest = InThread(
            lambda: post_only(
                api, "pick_completed", "2026-06-03T11:50:00Z", received="2026-06-03T12:10:00Z"
            )
        )
        assert holding.wait(10)
        results = []
        scan = InThread(lambda: results.append(sla_scan(now=at("2026-06-03T12:10:00Z"))))
        _wait_for_a_lock_wait()  # the scan saw the order due and waits for its lock
        release.set()
        ingest.join()
        scan.join()
    finally:
        projection_hooks.unregister("test.pause")
    assert results[0].breached == 0 and breaches("#1001") == []
    assert the_order().sla_stage == "pack"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_ingest_waiting_on_the_scan_withdraws_the_breach_it_finds():
    api = _api_for("ingest-after-scan")
    send(api, "order_paid", "2026-06-03T10:00:00Z")  # due 12:00
    holding, release = threading.Event(), threading.Event()

    def pause(_orders, _at) -> None:  # in the scan's transaction, order row locked
        holding.set()
        release.wait(10)

    breach_listeners.register("test.pause", pause)
    try:
        scan = InThread(lambda: sla_scan(now=at("2026-06-03T12:05:00Z")))
        assert holding.wait(10)
        ingest = InThread(
            lambda: post_only(
                api, "pick_completed", "2026-06-03T11:50:00Z", received="2026-06-03T12:10:00Z"
            )
        )
        _wait_for_a_lock_wait()
        release.set()
        scan.join()
        ingest.join()
    finally:
        breach_listeners.unregister("test.pause")
    [breach] = breaches("#1001")
    assert breach.detected_by == "scan" and breach.cleared_at == at("2026-06-03T12:10:00Z")
    assert clock("#1001", "pick").met_at == at("2026-06-03T11:50:00Z")
