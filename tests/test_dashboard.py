"""The console's dashboard: its numbers against hand-built rows, its scope, cost and cache.

One fixed instant, NOW = 2026-06-10 14:00 UTC, is 10:00 in New York (EDT, UTC-4):
the north tenant's "today" began at 04:00 UTC, so a clock met at 03:30 UTC
(23:30 local) was met yesterday there, and one met at 04:30 UTC (00:30 local)
today. The south tenant holds look-alike rows that the north user must never
see counted.
"""

from __future__ import annotations

import itertools
import pickle
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ai.models import AiDailySpend
from e2a_project.dashboard import charts
from e2a_project.dashboard.figures import dashboard_build
from e2a_project.dashboard.windows import Zones
from exceptions.models import (
    Explanation,
    ExplanationDecision,
    FallbackCause,
    OrderException,
)
from orders.models import DeadLetter, FollowUpFailure, Order, OrderEvent, Tenant
from orders.roles import VIEWER
from orders.services.staff import staff_user_save
from slas.models import SlaPolicy, StageClock

from .exception_helpers import apply, make_order, raise_exception
from .factories import TenantFactory

pytestmark = pytest.mark.django_db

NOW = datetime.fromisoformat("2026-06-10T14:00:00+00:00")
NORTH, SOUTH = "north-3pl", "south-3pl"
URL = "/admin/dashboard/"
_ids = itertools.count(1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """A private, empty cache per test (the real Redis is other tests' and other runs')."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"dashboard-tests-{next(_ids)}",
        }
    }


@pytest.fixture
def clock_at_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def tenants(db):
    north = TenantFactory(slug=NORTH, timezone="America/New_York")
    south = TenantFactory(slug=SOUTH, timezone="UTC")
    return north, south


def viewer(*slugs: str) -> Client:
    user = staff_user_save(username=f"viewer-{'-'.join(slugs)}", role=VIEWER, tenant_slugs=slugs)
    client = Client()
    client.force_login(user.user)
    return client


# ----------------------------------------------------------------------- builders


def order_of(tenant: Tenant, **fields) -> Order:
    return make_order(tenant, f"#{next(_ids)}", **fields)


def stage_clock(
    tenant: Tenant,
    *,
    due: str,
    met: str | None = None,
    stopped: str | None = None,
    stopped_by: str = "",
) -> StageClock:
    due_at = at(due)
    return StageClock.objects.create(
        tenant=tenant,
        order=order_of(tenant),
        stage="pick",
        policy=SlaPolicy.objects.order_by("pk").first(),
        business_time=False,
        started_at=due_at - timedelta(hours=2),
        allowed_minutes=120,
        due_at=due_at,
        warn_at=due_at - timedelta(minutes=30),
        explanation="",
        inputs_key="k",
        met_at=at(met) if met else None,
        stopped_at=at(stopped) if stopped else None,
        stopped_by=stopped_by,
        updated_at=NOW,
    )


def exception_at(
    tenant: Tenant, created: str, code: str = "PICK_DELAY", *, severity: str = "HIGH"
) -> OrderException:
    with time_machine.travel(at(created), tick=False):
        exc = raise_exception(order_of(tenant), code)
    OrderException.objects.filter(pk=exc.pk).update(severity=severity)
    return exc


def act(exc: OrderException, action: str, when: str) -> OrderException:
    with time_machine.travel(at(when), tick=False):
        return apply(action, exc)


def explanation(tenant: Tenant, exc: OrderException, when: str, cause: str = "") -> Explanation:
    return Explanation.objects.create(
        tenant=tenant,
        exception=exc,
        key=f"{exc.pk}:{next(_ids)}",
        trigger="manual",
        decision=ExplanationDecision.KEPT_RULES if cause else ExplanationDecision.USED,
        cause=cause,
        created_at=at(when),
    )


def event(tenant: Tenant, received: str) -> OrderEvent:
    return OrderEvent.objects.create(
        tenant=tenant,
        order=order_of(tenant),
        source="wms",
        event_type="order_picked",
        event_id=f"e-{next(_ids)}",
        occurred_at=at(received),
        received_at=at(received),
        channel="event",
        payload={},
    )


def dead_letter(tenant: Tenant, *, replayed: bool = False) -> DeadLetter:
    return DeadLetter.objects.create(
        tenant=tenant,
        kind="event",
        reason="unknown event type",
        raw_body="{}",
        body_sha256=f"{next(_ids):064d}",
        replayed_at=NOW if replayed else None,
    )


def followup(tenant: Tenant, *, parked: bool) -> FollowUpFailure:
    return FollowUpFailure.objects.create(
        event=event(tenant, "2026-06-01T10:00:00Z"),
        attempts=5,
        handler="clock_rows",
        last_error="boom",
        next_attempt_at=NOW,
        parked_at=NOW if parked else None,
    )


@pytest.fixture
def world(tenants):
    """The hand-built rows; each comment says where it counts (or why it does not)."""
    north, south = tenants
    for tenant in (north, south):
        # Clocks.
        stage_clock(
            tenant, met="2026-06-10T04:30:00Z", due="2026-06-10T05:00:00Z"
        )  # today, on time
        stage_clock(
            tenant, met="2026-06-10T03:30:00Z", due="2026-06-10T05:00:00Z"
        )  # north: yesterday
        stage_clock(tenant, met="2026-06-10T12:00:00Z", due="2026-06-10T11:00:00Z")  # today, late
        stage_clock(  # today: ended by a later stage, not met
            tenant,
            stopped="2026-06-10T13:00:00Z",
            stopped_by="later_stage",
            due="2026-06-10T15:00Z",
        )
        stage_clock(  # cancelled: not counted
            tenant, stopped="2026-06-10T13:00:00Z", stopped_by="cancelled", due="2026-06-10T15:00Z"
        )
        stage_clock(tenant, due="2026-06-10T16:00:00Z")  # running: not counted
        stage_clock(tenant, met="2026-06-02T15:00:00Z", due="2026-06-02T16:00:00Z")  # 8 days ago
    # Exceptions and their handling (north); MTTA (30 + 10) / 2 = 20, MTTR 90.
    e1 = exception_at(north, "2026-06-09T10:00:00Z", "PICK_DELAY", severity="LOW")
    act(e1, "acknowledge", "2026-06-09T10:30:00Z")
    act(e1, "resolve", "2026-06-09T11:30:00Z")
    e2 = exception_at(north, "2026-06-10T12:00:00Z", "PACK_DELAY", severity="CRITICAL")
    act(e2, "acknowledge", "2026-06-10T12:10:00Z")
    e3 = exception_at(north, "2026-06-01T10:00:00Z", "PICK_DELAY", severity="CRITICAL")
    act(e3, "acknowledge", "2026-06-02T02:00:00Z")  # created 9 days ago: not in MTTA
    exception_at(north, "2026-06-10T13:00:00Z", "ADDRESS_INVALID", severity="HIGH")
    # The south tenant's look-alikes.
    s1 = exception_at(south, "2026-06-10T12:00:00Z", "PACK_DELAY", severity="CRITICAL")
    act(s1, "acknowledge", "2026-06-10T13:50:00Z")
    # Analyses: only the ones written here.
    Explanation.objects.all().delete()
    explanation(north, e2, "2026-06-10T12:01:00Z")  # used
    explanation(north, e2, "2026-06-10T12:02:00Z", FallbackCause.NO_MODEL)
    explanation(north, e2, "2026-06-10T12:03:00Z", FallbackCause.BUDGET)
    explanation(north, e1, "2026-06-10T03:00:00Z", FallbackCause.NO_MODEL)  # yesterday, local
    explanation(south, s1, "2026-06-10T12:01:00Z", FallbackCause.NO_MODEL)
    # Spend on the budget's (UTC) day.
    AiDailySpend.objects.create(
        day=date(2026, 6, 10), tenant=north, cost_usd=Decimal("1.25"), calls=3, updated_at=NOW
    )
    AiDailySpend.objects.create(
        day=date(2026, 6, 10), tenant=south, cost_usd=Decimal("5"), calls=9, updated_at=NOW
    )
    AiDailySpend.objects.create(
        day=date(2026, 6, 10), tenant=None, cost_usd=Decimal("6.25"), calls=12, updated_at=NOW
    )
    AiDailySpend.objects.create(
        day=date(2026, 6, 9), tenant=north, cost_usd=Decimal("7"), calls=1, updated_at=NOW
    )
    for tenant in (north, south):
        # At risk: warning passed, not yet due (two); not yet warned; already due.
        for warn, due in (
            ("13:00", "15:00"),
            ("13:59", "14:01"),
            ("14:30", "15:00"),  # not yet warned
            ("12:00", "13:00"),  # already due
        ):
            order_of(
                tenant,
                sla_stage="pick",
                sla_warn_at=at(f"2026-06-10T{warn}:00Z"),
                sla_due_at=at(f"2026-06-10T{due}:00Z"),
            )
        # Events: two in the last hour, one before it.
        event(tenant, "2026-06-10T13:10:00Z")
        event(tenant, "2026-06-10T13:59:00Z")
        event(tenant, "2026-06-10T12:59:00Z")
        dead_letter(tenant)
        dead_letter(tenant)
        dead_letter(tenant, replayed=True)
        followup(tenant, parked=True)
        followup(tenant, parked=False)
    return north, south


def build(*tenants: Tenant):
    with time_machine.travel(NOW, tick=False):
        return dashboard_build(
            zones=Zones.of(tenants=[(t.pk, t.timezone) for t in tenants], now=NOW)
        )


# --------------------------------------------------------------------- the numbers


def test_every_tile_against_the_hand_built_rows(world):
    north, _ = world
    dash = build(north)
    assert dash.open_by_severity == {"LOW": 0, "MEDIUM": 0, "HIGH": 1, "CRITICAL": 2}
    assert dash.open_total == 3
    # Today (New York): met 00:30 on time, met late, ended by a later stage.
    assert (dash.on_time_today.on_time, dash.on_time_today.ended) == (1, 3)
    assert dash.on_time_today.percent == 33.3
    # 7 days adds the clock met at 23:30 local yesterday; 8 days ago stays out.
    assert (dash.on_time_week.on_time, dash.on_time_week.ended) == (2, 4)
    assert dash.on_time_week.percent == 50.0
    assert dash.response.created == 3  # e1, e2 and the HIGH one; e3 is 9 days old
    assert (dash.response.acknowledged, dash.response.resolved) == (2, 1)
    assert dash.response.mtta_minutes == 20.0
    assert dash.response.mttr_minutes == 90.0
    assert dash.at_risk == 2
    assert (dash.ai.analyses, dash.ai.kept_rules) == (3, 2)
    assert dash.ai.fallback_percent == 66.7
    assert dash.ai.causes == {FallbackCause.NO_MODEL: 1, FallbackCause.BUDGET: 1}
    assert (dash.ai.spend_usd, dash.ai.calls) == (Decimal("1.25"), 3)
    assert dash.ai.budget_usd == Decimal("20") and dash.ai.budget_is_shared
    assert dash.intake.events_last_hour == 2
    assert dash.intake.dead_letters_waiting == 2
    assert dash.intake.parked_followups == 1


def test_the_local_day_boundary_follows_the_tenants_zone(world):
    north, south = world
    # In UTC the clock met at 03:30 UTC is today: four ended today, two on time.
    south_dash = build(south)
    assert (south_dash.on_time_today.on_time, south_dash.on_time_today.ended) == (2, 4)
    # Both tenants: each tenant's own today, then summed.
    both = build(north, south)
    assert (both.on_time_today.on_time, both.on_time_today.ended) == (3, 7)
    assert (both.on_time_week.on_time, both.on_time_week.ended) == (4, 8)


def test_the_charts_count_per_local_day_with_gaps_for_empty_days(world):
    north, _ = world
    dash = build(north)
    assert dash.days[-1] == date(2026, 6, 10) and len(dash.days) == 30
    svg = ET.fromstring(dash.on_time_chart)
    ns = {"s": "http://www.w3.org/2000/svg"}
    points = [c.find("s:title", ns).text for c in svg.iter("{http://www.w3.org/2000/svg}circle")]
    assert points == [
        "2026-06-02: 100.0% on time (1 of 1)",
        "2026-06-09: 100.0% on time (1 of 1)",
        "2026-06-10: 33.3% on time (1 of 3)",
    ]
    # The line breaks at the empty days: one separate move for each run of days.
    line = svg.find("s:path", ns).get("d")
    assert line.count("M") == 2 and line.count("L") == 1
    bars = ET.fromstring(dash.exceptions_chart)
    titles = [r.find("s:title", ns).text for r in bars.iter("{http://www.w3.org/2000/svg}rect")]
    assert sorted(titles) == [
        "2026-06-01 PICK_DELAY: 1",
        "2026-06-09 PICK_DELAY: 1",
        "2026-06-10 ADDRESS_INVALID: 1",
        "2026-06-10 PACK_DELAY: 1",
    ]


def test_a_per_tenant_ai_cap_is_the_budget(world, settings):
    settings.AI_MAX_DAILY_COST_USD_PER_TENANT = Decimal("2.50")
    north, south = world
    dash = build(north, south)
    assert dash.ai.budget_usd == Decimal("5.00") and not dash.ai.budget_is_shared
    assert dash.ai.spend_usd == Decimal("6.25")
    assert dash.ai.spend_percent == 125.0


def test_nothing_ended_reads_as_no_figure_not_zero(tenants):
    north, _ = tenants
    dash = build(north)
    assert dash.on_time_today.percent is None and dash.ai.fallback_percent is None
    assert dash.response.mtta_minutes is None
    assert "No stage clocks ended" in dash.on_time_chart
    ET.fromstring(dash.on_time_chart)
    ET.fromstring(dash.exceptions_chart)


# -------------------------------------------------------------------------- the page


def tiles(page: str) -> dict[str, str]:
    found = re.findall(
        r'class="e2a-label">([^<]*)</div>\s*(?:<a class="e2a-value"[^>]*>|<div class="e2a-value">)'
        r"([^<]*)<",
        page,
    )
    return dict(found)


def test_a_viewer_sees_their_tenants_numbers_and_never_the_others(world, clock_at_now):
    page = viewer(NORTH).get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    shown = tiles(html)
    assert shown["All open"] == "3"
    assert shown["Critical"] == "2"
    assert shown["On time today"] == "33.3%"
    assert shown["On time, 7 days"] == "50.0%"
    assert shown["MTTA, 7 days"] == "20 min"
    assert shown["MTTR, 7 days"] == "90 min"
    assert shown["At risk now"] == "2"
    assert shown["AI fallback today"] == "66.7%"
    assert shown["AI spend today (UTC day)"] == "$1.25"
    assert shown["Events, last hour"] == "2"
    assert shown["Dead letters waiting"] == "2"
    assert shown["Parked follow-ups"] == "1"
    assert SOUTH not in html
    # The user's zone, named, and the moment the figures are of (10:00 in New York).
    assert "Times in America/New_York" in html
    assert "Figures as of 10:00" in html
    # Tiles lead to the lists behind them, filtered the same way.
    assert "/admin/exceptions/orderexception/?status=active&amp;severity__exact=HIGH" in html
    assert "severity__exact=CRITICAL" in html
    assert "/admin/orders/deadletter/?replayed_at__isempty=1" in html
    assert "/admin/orders/followupfailure/?state=parked" in html


def test_the_tile_links_open_the_lists_they_promise(world, clock_at_now):
    client = viewer(NORTH)
    html = client.get(URL, {"tenant": NORTH}).content.decode()
    links = re.findall(r'<a class="e2a-value" href="([^"]+)"', html)
    assert len(links) >= 8
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link


def test_the_tenant_filter_narrows_and_a_foreign_slug_is_not_found(world, clock_at_now):
    client = viewer(NORTH, SOUTH)
    both = tiles(client.get(URL).content.decode())
    assert both["Dead letters waiting"] == "4" and both["At risk now"] == "4"
    one = client.get(URL, {"tenant": SOUTH})
    assert one.status_code == 200
    assert tiles(one.content.decode())["Dead letters waiting"] == "2"
    mine_only = viewer(NORTH)
    assert mine_only.get(URL, {"tenant": SOUTH}).status_code == 404
    assert mine_only.get(URL, {"tenant": "no-such-tenant"}).status_code == 404


def test_a_staff_user_without_tenants_sees_an_empty_state(db):
    user = User.objects.create_user("lonely", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    page = client.get(URL)
    assert page.status_code == 200
    assert "No tenants yet" in page.content.decode()


def test_a_non_staff_user_is_sent_to_the_login(db):
    user = User.objects.create_user("customer", password="x")
    client = Client()
    client.force_login(user)
    page = client.get(URL)
    assert page.status_code == 302 and page.url.startswith("/admin/login/")
    assert Client().get(URL).status_code == 302


def test_the_index_and_the_header_link_to_the_dashboard(tenants):
    html = viewer(NORTH).get(reverse("admin:index")).content.decode()
    assert html.count(f'href="{URL}"') >= 2  # the strip above the app list and the user links


# ------------------------------------------------------------- cost and the cache


def spread(count: int, tenants: list[Tenant]) -> None:
    """`count` rows of every kind the dashboard reads, spread over `tenants`."""
    for i in range(count):
        tenant = tenants[i % len(tenants)]
        stage_clock(tenant, met="2026-06-10T12:00:00Z", due="2026-06-10T13:00:00Z")
        stage_clock(
            tenant,
            stopped="2026-06-09T13:00:00Z",
            stopped_by="later_stage",
            due="2026-06-09T15:00Z",
        )
        exc = exception_at(tenant, "2026-06-09T10:00:00Z", "PICK_DELAY")
        act(exc, "acknowledge", "2026-06-09T10:30:00Z")
        explanation(tenant, exc, "2026-06-10T12:00:00Z", FallbackCause.NO_MODEL)
        event(tenant, "2026-06-10T13:30:00Z")
        dead_letter(tenant)
        followup(tenant, parked=True)


def queries_for(rows: int, zones: list[str]) -> int:
    tenants = [TenantFactory(slug=f"t{rows}-{i}", timezone=zone) for i, zone in enumerate(zones)]
    spread(rows, tenants)
    client = viewer(*(t.slug for t in tenants))
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as captured:
        assert client.get(URL).status_code == 200
    return len(captured.captured_queries)


def test_the_query_count_does_not_follow_rows_or_tenants(db):
    small = queries_for(3, ["UTC"])
    many_rows = queries_for(30, ["UTC"])
    many_tenants = queries_for(30, ["UTC", "America/New_York", "Asia/Tokyo"])
    assert small == many_rows == many_tenants


AGGREGATED = ("exceptions_orderexception", "slas_stageclock", "orders_orderevent", "ai_")


def aggregate_queries(client: Client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL).status_code == 200
    return [q["sql"] for q in captured.captured_queries if any(t in q["sql"] for t in AGGREGATED)]


def test_a_second_look_within_the_minute_is_served_from_the_cache(world):
    client = viewer(NORTH)
    with time_machine.travel(NOW, tick=False):
        assert aggregate_queries(client)
    with time_machine.travel(NOW + timedelta(seconds=50), tick=False):
        assert aggregate_queries(client) == []
        # Rows added meanwhile wait for the next computation...
        dead_letter(Tenant.objects.get(slug=NORTH))
        assert tiles(client.get(URL).content.decode())["Dead letters waiting"] == "2"
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        # ...which comes once the minute is over.
        assert aggregate_queries(client)
        assert tiles(client.get(URL).content.decode())["Dead letters waiting"] == "3"


def test_the_cache_is_per_tenant_scope_not_per_user(world, clock_at_now):
    assert aggregate_queries(viewer(NORTH))
    staff_user_save(username="colleague", role="operator", tenant_slugs=[NORTH])
    colleague = Client()
    colleague.force_login(User.objects.get(username="colleague"))
    assert aggregate_queries(colleague) == []
    # Another scope is computed for itself.
    assert aggregate_queries(viewer(NORTH, SOUTH))


def test_only_a_superuser_may_skip_the_cache(world, clock_at_now):
    client = viewer(NORTH)
    client.get(URL)
    with CaptureQueriesContext(connection) as captured:
        client.get(URL, {"refresh": "1"})
    assert not any("slas_stageclock" in q["sql"] for q in captured.captured_queries)
    admin = User.objects.create_superuser("root", password="x")
    root = Client()
    root.force_login(admin)
    root.get(URL)
    assert aggregate_queries(root) == []
    with CaptureQueriesContext(connection) as captured:
        root.get(URL, {"refresh": "1"})
    assert any("slas_stageclock" in q["sql"] for q in captured.captured_queries)


def test_the_cached_figures_survive_a_round_trip_through_pickle(world):
    north, _ = world
    dash = build(north)
    assert pickle.loads(pickle.dumps(dash)) == dash


# ------------------------------------------------------------------------ the charts


def test_chart_labels_are_escaped_and_the_svg_is_well_formed():
    days = [date(2026, 6, d) for d in range(1, 8)]
    nasty = '<script>alert("x")</script> & co'
    svg = charts.stacked_bars(
        days=days,
        per_day={days[2]: {nasty: 3, "PICK_DELAY": 1}},
        chart_id="c",
        title="Exceptions <per> day",
    )
    root = ET.fromstring(svg)  # would raise on an unescaped "<" or "&"
    assert "<script>" not in svg
    texts = [el.text for el in root.iter() if el.text]
    assert f"2026-06-03 {nasty}: 3" in texts
    assert root.find("{http://www.w3.org/2000/svg}title").text == "Exceptions <per> day"
    assert root.get("role") == "img"


def test_more_reasons_than_colours_fold_into_other():
    days = [date(2026, 6, 1)]
    per_day = {days[0]: {f"REASON_{i}": 10 - i for i in range(10)}}
    legend = charts.legend(per_day)
    assert len(legend) == charts.MAX_SERIES + 1 and legend[-1][0] == charts.OTHER
    svg = charts.stacked_bars(days=days, per_day=per_day, chart_id="c", title="t")
    assert "2026-06-01 Other: 6" in svg  # 3 + 2 + 1 for the three smallest


def test_a_day_with_nothing_ended_is_a_gap_and_zero_percent_is_a_point():
    days = [date(2026, 6, d) for d in range(1, 5)]
    svg = charts.percent_line(
        days=days, per_day={days[0]: (0, 2), days[2]: (1, 1)}, chart_id="c", title="t"
    )
    root = ET.fromstring(svg)
    circles = list(root.iter("{http://www.w3.org/2000/svg}circle"))
    assert len(circles) == 2  # 0 % drawn; the empty days 2 and 4 not
    assert "0.0% on time (0 of 2)" in svg
    assert root.find("{http://www.w3.org/2000/svg}path").get("d").count("M") == 2
