"""The beat scan: stuck stages, missing scans, ageing severity, and two scans at once."""

from __future__ import annotations

import pytest

from slas.models import Breach, StageClock
from slas.services.scan import sla_scan

from .concurrency import at_once
from .factories import TenantFactory, api_key_for
from .sla_helpers import at, breaches, clock, send


@pytest.mark.django_db
def test_a_stuck_pick_is_caught_only_by_the_scan_and_ages(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    assert sla_scan(now=at("2026-06-03T11:59:00Z")).breached == 0  # not due yet

    result = sla_scan(now=at("2026-06-03T12:01:00Z"))
    assert result.breached == 1
    [breach] = breaches("#1001")
    assert (breach.reason_code, breach.detected_by, breach.severity) == (
        "PICK_DELAY",
        "scan",
        "LOW",
    )
    assert breach.late_minutes == 1 and not breach.final
    assert clock("#1001", "pick").breached_at == at("2026-06-03T12:01:00Z")
    assert sla_scan(now=at("2026-06-03T12:02:00Z")).breached == 0  # never twice

    # 30 min late is 25 % of the 120 allowed: the breach rises to MEDIUM, then HIGH at 120 min.
    assert clock("#1001", "pick").severity_next_at == at("2026-06-03T12:30:00Z")
    assert sla_scan(now=at("2026-06-03T12:31:00Z")).severity_raised == 1
    breach.refresh_from_db()
    assert (breach.severity, breach.late_minutes) == ("MEDIUM", 31)
    assert sla_scan(now=at("2026-06-03T14:00:00Z")).severity_raised == 1
    breach.refresh_from_db()
    assert breach.severity == "HIGH"

    # The pick finally arrives: the breach keeps its final lateness and how it was found.
    send(api, "pick_completed", "2026-06-03T13:10:00Z", received="2026-06-03T14:05:00Z")
    breach.refresh_from_db()
    assert (breach.late_minutes, breach.final, breach.detected_by) == (70, True, "scan")
    assert breach.severity == "MEDIUM"  # 70 of 120 min late
    assert sla_scan(now=at("2026-06-03T20:00:00Z")).severity_raised == 0  # met: no more ageing


@pytest.mark.django_db
def test_a_pick_reported_late_but_done_in_time_withdraws_the_scan_breach(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    sla_scan(now=at("2026-06-03T12:05:00Z"))
    send(api, "pick_completed", "2026-06-03T11:50:00Z", received="2026-06-03T12:10:00Z")
    [breach] = breaches("#1001")
    assert breach.cleared_at == at("2026-06-03T12:10:00Z") and breach.late_minutes == 0


@pytest.mark.django_db
def test_a_later_stage_without_the_earlier_scan_flags_a_missing_scan(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pack_completed", "2026-06-03T10:50:00Z", received="2026-06-03T11:00:00Z")
    pick = clock("#1001", "pick")
    assert (pick.stopped_by, pick.missing_scan_due_at) == (
        "later_stage",
        at("2026-06-03T12:00:00Z"),
    )

    assert sla_scan(now=at("2026-06-03T11:59:00Z")).missing_scans == 0
    result = sla_scan(now=at("2026-06-03T12:01:00Z"))
    assert (result.missing_scans, result.breached) == (1, 0)  # stopped: not a stuck pick
    [breach] = breaches("#1001")
    assert breach.reason_code == "MISSING_SCAN" and breach.cleared_at is None
    assert sla_scan(now=at("2026-06-03T13:00:00Z")).missing_scans == 0

    # The scan turns up after all: the missing-scan breach clears, and the pick was on time.
    send(api, "pick_completed", "2026-06-03T10:40:00Z", received="2026-06-03T13:30:00Z")
    [breach] = breaches("#1001")
    assert breach.cleared_at == at("2026-06-03T13:30:00Z")
    assert clock("#1001", "pick").met_at == at("2026-06-03T10:40:00Z")


@pytest.mark.django_db
def test_the_scan_leaves_met_stopped_and_future_clocks_alone(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="met")
    send(api, "pick_completed", "2026-06-03T11:00:00Z", order="met")
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="cancelled")
    send(api, "order_cancelled", "2026-06-03T10:10:00Z", order="cancelled")
    send(api, "order_paid", "2026-06-03T12:00:00Z", order="future")
    result = sla_scan(now=at("2026-06-03T13:00:00Z"))
    # Only "met"'s pack clock (due 14:00) and "future" (due 14:00) are running; none due.
    assert result.breached == 0 and Breach.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_scans_at_once_breach_each_stage_once():
    from django.test import Client

    from .conftest import ApiClient

    tenant = TenantFactory(slug="double-scan", timezone="UTC")
    api = ApiClient(Client(), api_key_for(tenant))
    for n in range(60):
        send(api, "order_paid", "2026-06-03T10:00:00Z", order=f"o-{n}")
    assert StageClock.objects.count() == 60

    results = at_once(lambda: sla_scan(now=at("2026-06-03T13:00:00Z"), chunk=7), threads=2)
    assert sum(r.breached for r in results) == 60
    assert Breach.objects.count() == 60
    assert StageClock.objects.filter(breached_at__isnull=True).count() == 0


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.django_db
def test_breaches_scan_time_and_at_risk_reach_metrics(
    api, client, django_capture_on_commit_callbacks
):
    def scraped() -> str:
        return client.get("/metrics").content.decode()

    labels = {"tenant": "acme", "stage": "pick", "reason": "PICK_DELAY"}
    before_event = _sample(scraped(), "e2a_sla_breaches_total", detected_by="event", **labels)
    before_scan = _sample(scraped(), "e2a_sla_breaches_total", detected_by="scan", **labels)
    scans_before = _sample(scraped(), "e2a_sla_scan_duration_seconds_count")

    send(api, "order_paid", "2026-06-03T10:00:00Z", order="late")
    send(api, "pick_completed", "2026-06-03T12:30:00Z", order="late")  # runs on-commit work
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="stuck")
    send(api, "order_paid", "2026-06-03T11:00:00Z", order="at-risk")  # warn 12:36, due 13:00
    with django_capture_on_commit_callbacks(execute=True):
        sla_scan(now=at("2026-06-03T12:40:00Z"))

    text = scraped()
    assert (
        _sample(text, "e2a_sla_breaches_total", detected_by="event", **labels) == before_event + 1
    )
    assert _sample(text, "e2a_sla_breaches_total", detected_by="scan", **labels) == before_scan + 1
    assert _sample(text, "e2a_sla_scan_duration_seconds_count") == scans_before + 1
    assert _sample(text, "e2a_sla_at_risk_stages", tenant="acme") == 1
    assert _sample(text, "e2a_sla_scan_lag_seconds") == 0  # nothing due is left unbreached


@pytest.mark.django_db
def test_a_stuck_stage_overtaken_by_a_later_scan_keeps_its_final_lateness(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    sla_scan(now=at("2026-06-03T12:30:00Z"))  # stuck: 30 min late
    send(api, "pack_completed", "2026-06-03T13:00:00Z", received="2026-06-03T13:05:00Z")
    [breach] = breaches("#1001")
    assert (breach.final, breach.late_minutes) == (True, 60)  # done by 13:00 at the latest
    assert sla_scan(now=at("2026-06-03T18:00:00Z")).severity_raised == 0


def test_beat_runs_the_scan_every_minute_on_the_ingest_queue():
    from django.conf import settings

    from e2a_project.celery import app

    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "slas.scan"]
    assert entry["schedule"] == 60.0
    assert "slas.scan" in app.tasks
    assert app.amqp.router.route({}, "slas.scan")["queue"].name == "ingest"


@pytest.mark.django_db
def test_the_scan_task_reports_what_it_did(api):
    import time_machine

    from slas.tasks import scan

    send(api, "order_paid", "2026-06-03T10:00:00Z")
    with time_machine.travel(at("2026-06-03T12:05:00Z"), tick=False):
        assert scan.delay().get() == {"breached": 1, "missing_scans": 0, "severity_raised": 0}
