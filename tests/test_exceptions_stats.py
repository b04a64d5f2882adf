"""GET /api/exceptions/stats: counts, MTTA and MTTR for a tenant and period, at a fixed clock."""

from __future__ import annotations

import pytest
import time_machine

from exceptions.services import lifecycle

from .factories import TenantFactory
from .sla_helpers import at
from .test_exceptions_api import SYSTEM, Caller, errors_of, raised


def act(service, exception, when: str, **kwargs) -> None:
    service(exception_id=exception.pk, actor=SYSTEM, now=at(when), **kwargs)


@pytest.fixture
def history(tenant):
    """Four exceptions in early June (acme's clock is Berlin), and three that must not count."""
    a = raised(tenant, "#a", "PICK_DELAY", now=at("2026-06-01T10:00:00Z"), severity="HIGH")
    act(lifecycle.exception_acknowledge, a, "2026-06-01T10:30:00Z")  # MTTA 30
    act(lifecycle.exception_resolve, a, "2026-06-01T12:00:00Z", resolution="ok")  # MTTR 120

    b = raised(tenant, "#b", "PACK_DELAY", now=at("2026-06-02T08:00:00Z"), severity="MEDIUM")
    act(lifecycle.exception_start, b, "2026-06-02T08:10:00Z")  # started counts: MTTA 10
    act(lifecycle.exception_resolve, b, "2026-06-02T09:00:00Z", resolution="ok")  # MTTR 60
    # Later rounds do not move the first acknowledgement or resolution.
    act(lifecycle.exception_reopen, b, "2026-06-02T09:30:00Z")
    act(lifecycle.exception_acknowledge, b, "2026-06-02T10:00:00Z")
    act(lifecycle.exception_resolve, b, "2026-06-02T11:00:00Z", resolution="ok")

    c = raised(tenant, "#c", "PICK_DELAY", now=at("2026-06-03T09:00:00Z"), severity="CRITICAL")
    act(lifecycle.exception_acknowledge, c, "2026-06-03T09:20:00Z")  # MTTA 20, unresolved

    d = raised(tenant, "#d", "SHIP_DELAY", now=at("2026-06-03T11:00:00Z"), severity="LOW")
    act(
        lifecycle.exception_resolve,
        d,
        "2026-06-03T11:45:00Z",
        resolution="scan arrived",
        resolution_code="CONDITION_CLEARED",
        activity="auto_resolved",
    )  # never acknowledged; MTTR 45

    # Before the period; after it (00:30 on 4 June in Berlin); another tenant's.
    early = raised(tenant, "#early", now=at("2026-04-01T10:00:00Z"))
    act(lifecycle.exception_acknowledge, early, "2026-04-01T10:01:00Z")
    raised(tenant, "#late", now=at("2026-06-03T22:30:00Z"))
    theirs = raised(TenantFactory(slug="other"), "#a", now=at("2026-06-02T10:00:00Z"))
    act(lifecycle.exception_acknowledge, theirs, "2026-06-02T10:01:00Z")


def stats_at(caller: Caller, params: dict[str, str] | None = None):
    with time_machine.travel(at("2026-06-04T12:00:00Z"), tick=False):
        return caller.get("/api/exceptions/stats", params)


@pytest.fixture
def caller(client, api_key) -> Caller:
    return Caller(client, key=api_key)


@pytest.mark.django_db
def test_stats_for_a_period_of_tenant_local_days(caller, history, django_assert_max_num_queries):
    params = {"since": "2026-06-01", "until": "2026-06-03"}
    stats_at(caller, params)  # the key's last_used_at write
    with django_assert_max_num_queries(4):  # key, counts, reasons, mean times
        response = stats_at(caller, params)
    assert response.status_code == 200
    assert response.json() == {
        "since": "2026-05-31T22:00:00Z",
        "until": "2026-06-03T22:00:00Z",
        "total": 4,
        "by_status": {
            "OPEN": 0,
            "ACKNOWLEDGED": 1,
            "IN_PROGRESS": 0,
            "RESOLVED": 3,
            "CLOSED": 0,
        },
        "by_severity": {"LOW": 1, "MEDIUM": 1, "HIGH": 1, "CRITICAL": 1},
        "by_reason": {"PACK_DELAY": 1, "PICK_DELAY": 2, "SHIP_DELAY": 1},
        "created": 4,
        "acknowledged": 3,
        "resolved": 3,
        "mtta_minutes": 20.0,  # (30 + 10 + 20) / 3
        "mttr_minutes": 75.0,  # (120 + 60 + 45) / 3
    }


@pytest.mark.django_db
def test_stats_default_to_the_last_30_days(caller, history):
    body = stats_at(caller).json()
    assert (body["since"], body["until"]) == ("2026-05-05T12:00:00Z", "2026-06-04T12:00:00Z")
    assert body["total"] == 5 and body["by_status"]["OPEN"] == 1  # "#late" is in it now
    assert body["mtta_minutes"] == 20.0 and body["created"] == 5


@pytest.mark.django_db
def test_stats_take_date_times_and_are_null_without_data(caller, history):
    body = stats_at(
        caller, {"since": "2026-06-03T09:00:00+00:00", "until": "2026-06-03T12:00:00"}
    ).json()  # 12:00 Berlin = 10:00 UTC: only #c
    assert body["total"] == 1 and body["by_severity"]["CRITICAL"] == 1
    assert (body["mtta_minutes"], body["mttr_minutes"]) == (20.0, None)
    empty = stats_at(caller, {"since": "2025-01-01", "until": "2025-01-31"}).json()
    assert empty["total"] == 0 and empty["by_reason"] == {}
    assert (empty["mtta_minutes"], empty["mttr_minutes"], empty["created"]) == (None, None, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "last week"}, "since"),
        ({"since": "2026-13-01"}, "since"),
        ({"until": "2026-06-31"}, "until"),
        ({"since": "2026-06-03", "until": "2026-06-01"}, "until"),
    ],
)
def test_stats_refuse_bad_periods_naming_the_parameter(caller, params, field):
    assert list(errors_of(stats_at(caller, params))) == [field]
