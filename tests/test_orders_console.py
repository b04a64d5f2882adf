"""The orders screens of the operator console: a cell per stage clock, links to an
order's exceptions and invoice lines, and lists that stay cheap with many rows.

The clocks come from events posted through the API at fixed instants, as the app
builds them. The tenant "acme" is in Europe/Berlin (CEST, UTC+2 in June) and runs
on the default policy around the clock: pick 120 min from payment (at risk from
80 %), pack 180 min from pick, ship 1440 min from pack.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.services import invoice_refresh
from exceptions.models import ExceptionStatus
from orders.models import Order
from slas.models import BusinessCalendar, WorkingHours

from .billing_helpers import logged_in, order_with, shipped_on
from .exception_helpers import exception_in
from .factories import TenantFactory, ingest_event
from .sla_helpers import at, send

pytestmark = pytest.mark.django_db

NOW = "2026-06-03T13:20:00Z"  # 15:20 in Berlin, a Wednesday
ORDERS = reverse("admin:orders_order_changelist")
STAGES = ("pick", "pack", "ship", "delivery")

_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
_CELL = re.compile(
    r'<td class="field-sla_(\w+)"><span class="e2a-clock e2a-clock--([\w-]+)" '
    r'title="([^"]*)">([^<]*)</span></td>'
)
_ORDER = re.compile(r'<th class="field-external_id"><a href="[^"]*">([^<]*)</a></th>')


def cells(page: str) -> dict[str, dict[str, tuple[str, str, str]]]:
    """{order: {stage: (css state, text, tooltip)}} from the list's rows."""
    found = {}
    for row in _ROW.findall(page):
        order = _ORDER.search(row)
        if order:
            found[html.unescape(order.group(1))] = {
                stage: (state, html.unescape(text).replace("\xa0", " "), html.unescape(title))
                for stage, state, title, text in _CELL.findall(row)
            }
    return found


def order_list(client, query: str = "") -> str:
    with time_machine.travel(at(NOW), tick=False):
        response = client.get(ORDERS + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def timelines(api):
    """One order per state of the pick clock, each at NOW."""
    send(api, "order_created", "2026-06-03T09:00:00Z", order="not-started")
    send(api, "order_paid", "2026-06-03T12:30:00Z", order="on-time")  # due 14:30Z
    send(api, "order_paid", "2026-06-03T11:30:00Z", order="at-risk")  # warn 13:06Z
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="late")  # due 12:00Z
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="met")
    send(api, "pick_completed", "2026-06-03T11:30:00Z", order="met")
    send(api, "order_paid", "2026-06-03T09:00:00Z", order="met-late")  # due 11:00Z
    send(api, "pick_completed", "2026-06-03T11:35:00Z", order="met-late")
    send(api, "order_paid", "2026-06-03T09:00:00Z", order="no-scan")
    send(api, "pack_completed", "2026-06-03T10:30:00Z", order="no-scan")  # no pick scan
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="cancelled")
    send(api, "order_cancelled", "2026-06-03T10:30:00Z", order="cancelled")


def test_each_pick_clock_state_reads_as_words_and_colour_in_berlin_time(
    timelines, tenant, admin_client
):
    found = cells(order_list(admin_client))
    pick = {order: stages["pick"][:2] for order, stages in found.items()}
    assert pick == {
        "not-started": ("not-started", "—"),
        "on-time": ("on-time", "due 16:30"),
        "at-risk": ("at-risk", "due 15:30"),
        "late": ("breached", "late 1 h 20 min"),
        "met": ("met", "met 13:30"),
        "met-late": ("met-late", "met, 35 min late"),
        "no-scan": ("scan-missing", "no scan"),
        "cancelled": ("cancelled", "cancelled"),
    }
    # Each cell says its full due time and its state in its tooltip.
    assert found["at-risk"]["pick"][2] == (
        "Pick due Wed 3 Jun 2026 15:30 CEST: at risk, past its warning time "
        "Wed 3 Jun 2026 15:06 CEST"
    )
    assert "late, still running" in found["late"]["pick"][2]
    assert found["met-late"]["pick"][2].startswith("Pick met Wed 3 Jun 2026 13:35 CEST, late")
    assert "no scan of its own" in found["no-scan"]["pick"][2]
    # The later stages of the same orders: the met pick started pack; the order
    # packed without a pick scan never started a pack clock (it starts at the pick)
    # and is on the ship clock, due tomorrow.
    assert found["met"]["pack"][:2] == ("on-time", "due 16:30")
    assert found["no-scan"]["pack"][:2] == ("not-started", "—")
    assert found["no-scan"]["ship"][:2] == ("on-time", "due Thu 12:30")
    assert found["on-time"]["delivery"][:2] == ("not-started", "—")


def test_the_cells_agree_with_the_clock_rows_on_the_order_page(timelines, admin_client):
    """The page's clock inline reads the StageClock row, the list reads the memo:
    one rule decides both."""
    with time_machine.travel(at(NOW), tick=False):
        page = admin_client.get(
            reverse("admin:orders_order_change", args=[Order.objects.get(external_id="late").pk])
        ).content.decode()
    assert re.search(r'<td class="field-state">\s*<p>breached</p>', page)


def test_a_business_time_clock_does_not_claim_business_minutes(api, tenant, admin_client):
    """Mon–Fri 08:00–18:00 Berlin: paid Wednesday 16:00 Berlin, pick due at closing
    (two working hours). On Thursday at noon it is 2 working hours late but 18
    calendar hours: the cell says since when, not how many minutes."""
    calendar = BusinessCalendar.objects.create(
        tenant=tenant, name="Main DC", timezone="Europe/Berlin"
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(calendar=calendar, weekday=d, opens_at=dt.time(8), closes_at=dt.time(18))
        for d in range(5)
    )
    send(api, "order_paid", "2026-06-03T14:00:00Z", order="office")
    with time_machine.travel(at("2026-06-04T10:00:00Z"), tick=False):
        page = admin_client.get(ORDERS).content.decode()
    state, text, title = cells(page)["office"]["pick"]
    assert (state, text) == ("breached", "late since Wed 18:00")
    assert "business-time clock" in title


def test_a_viewer_sees_the_cells_and_the_at_risk_filter_narrows_the_list(timelines, tenant):
    viewer = logged_in("viewer", tenant)
    found = cells(order_list(viewer))
    assert found["late"]["pick"][:2] == ("breached", "late 1 h 20 min")
    assert set(found["met"]) == set(STAGES)

    at_risk = cells(order_list(viewer, "?sla_now=at_risk"))
    assert set(at_risk) == {"at-risk"}


def test_the_list_reads_no_row_per_order(tenant, admin_client, django_assert_num_queries):
    def orders(start: int, n: int) -> None:
        for i in range(start, start + n):
            paid = datetime(2026, 6, 3, 8, tzinfo=UTC) + dt.timedelta(minutes=i)
            ingest_event(tenant, event_type="order_paid", order_id=f"#{i}", occurred_at=paid)
            if i % 2:
                picked = paid + dt.timedelta(minutes=90 + i)
                ingest_event(
                    tenant, event_type="pick_completed", order_id=f"#{i}", occurred_at=picked
                )

    orders(0, 3)
    order_list(admin_client)  # warm up session and content-type caches
    with CaptureQueriesContext(connection) as few:
        assert len(cells(order_list(admin_client))) == 3

    orders(3, 27)
    with django_assert_num_queries(len(few)):
        assert len(cells(order_list(admin_client))) == 30


# --- the order page's links ----------------------------------------------------------


@pytest.fixture
def billed(tenant):
    """Two orders of November, each with an invoice line; #1 with three exceptions
    (one still open), #2 with one."""
    first = order_with(tenant, "#1", shipped_on(3, 11))
    second = order_with(tenant, "#2", shipped_on(4, 11))
    invoice_refresh(tenant=tenant, period=dt.date(2026, 11, 1))
    exception_in(ExceptionStatus.OPEN, first, "PICK_DELAY")
    exception_in(ExceptionStatus.RESOLVED, first, "PACK_DELAY")
    exception_in(ExceptionStatus.CLOSED, first, "SHIP_DELAY")
    exception_in(ExceptionStatus.OPEN, second, "PICK_DELAY")
    return first, second


def links(client, order: Order) -> dict[str, str]:
    """{label: url} of the page's "See also" line."""
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    line = re.search(r'<p class="e2a-order-links">(.*?)</p>', page, re.S)
    if line is None:
        return {}
    return {
        html.unescape(label): html.unescape(url)
        for url, label in re.findall(r'<a href="([^"]*)">([^<]*?)&nbsp;→</a>', line.group(1))
    }


def test_finance_sees_both_links_and_each_list_shows_only_that_order(billed, tenant):
    first, second = billed
    finance = logged_in("finance", tenant)
    found = links(finance, first)
    assert list(found) == ["3 exceptions (1 open)", "1 invoice line"]

    exceptions = finance.get(found["3 exceptions (1 open)"])
    assert exceptions.status_code == 200
    assert {e.order_id for e in exceptions.context["cl"].result_list} == {first.pk}
    assert len(exceptions.context["cl"].result_list) == 3

    lines = finance.get(found["1 invoice line"])
    assert lines.status_code == 200
    assert [line.order_id for line in lines.context["cl"].result_list] == [first.pk]

    assert list(links(finance, second)) == ["1 exception (1 open)", "1 invoice line"]


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_the_floor_sees_the_exceptions_link_but_no_billing(billed, tenant, role):
    first, _ = billed
    assert list(links(logged_in(role, tenant), first)) == ["3 exceptions (1 open)"]


def test_an_order_without_exceptions_says_so(tenant, admin_client):
    order = order_with(TenantFactory(slug="quiet"), "#9", [])
    assert list(links(admin_client, order)) == ["0 exceptions", "0 invoice lines"]
