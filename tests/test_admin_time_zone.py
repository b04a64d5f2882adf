"""The console shows times in the tenant's (or calendar's) time zone, and names it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orders.models import Order, TenantMembership
from orders.roles import VIEWER
from orders.services.staff import staff_user_save

from .factories import TenantFactory

pytestmark = pytest.mark.django_db
LAST_EVENT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _order(tenant, external_id: str) -> Order:
    return Order.objects.create(
        tenant=tenant, external_id=external_id, source="wms", last_event_at=LAST_EVENT
    )


def _viewer(client, *tenants):
    saved = staff_user_save(username="vera", role=VIEWER, tenant_slugs=[t.slug for t in tenants])
    client.force_login(saved.user)
    return client


def test_an_order_page_shows_its_tenants_local_time_and_names_the_zone(client):
    berlin = TenantFactory(slug="ber", timezone="Europe/Berlin")
    order = _order(berlin, "#B1")
    page = _viewer(client, berlin).get(f"/admin/orders/order/{order.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Times in Europe/Berlin" in html
    assert "2026-11-27 11:00" in html  # 10:00 UTC is 11:00 in Berlin
    assert "2026-11-27 10:00" not in html


def test_a_list_of_one_zone_uses_it_and_mixed_zones_fall_back_to_utc(client):
    berlin = TenantFactory(slug="ber", timezone="Europe/Berlin")
    chicago = TenantFactory(slug="chi", timezone="America/Chicago")
    _order(berlin, "#B1")
    _order(chicago, "#C1")
    client = _viewer(client, berlin)
    assert "Times in Europe/Berlin" in client.get("/admin/orders/order/").content.decode()

    TenantMembership.objects.create(user=_user("vera"), tenant=chicago)
    mixed = client.get("/admin/orders/order/").content.decode()
    assert "Times in UTC" in mixed
    chosen = client.get(f"/admin/orders/order/?tenant__id__exact={chicago.pk}").content.decode()
    assert "Times in America/Chicago" in chosen


def test_a_calendar_page_uses_the_calendars_own_zone(admin_client):
    from slas.models import BusinessCalendar

    tenant = TenantFactory(slug="ber", timezone="Europe/Berlin")
    calendar = BusinessCalendar.objects.create(
        tenant=tenant, name="East coast DC", timezone="America/New_York"
    )
    page = admin_client.get(f"/admin/slas/businesscalendar/{calendar.pk}/change/")
    assert page.status_code == 200
    assert "Times in America/New_York" in page.content.decode()


def _user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def test_recent_actions_keep_to_the_tenants_the_user_still_works_for(client):
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from exceptions.models import ReasonCode

    berlin = TenantFactory(slug="ber", timezone="Europe/Berlin")
    chicago = TenantFactory(slug="chi", timezone="America/Chicago")
    kept, gone = _order(berlin, "#KEPT-1"), _order(chicago, "#GONE-1")
    client = _viewer(client, berlin, chicago)
    user = _user("vera")
    for obj in (kept, gone, ReasonCode.objects.get(code="OTHER")):
        LogEntry.objects.create(
            user=user,
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(obj.pk),
            object_repr=f"entry for {obj}",
            action_flag=CHANGE,
        )
    assert "#GONE-1" in client.get("/admin/").content.decode()

    TenantMembership.objects.filter(user=user, tenant=chicago).delete()
    index = client.get("/admin/").content.decode()
    assert "#KEPT-1" in index and "entry for OTHER" in index
    assert "#GONE-1" not in index


def test_the_page_reads_its_row_once_for_both_the_zone_and_the_form(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    berlin = TenantFactory(slug="ber", timezone="Europe/Berlin")
    order = _order(berlin, "#B1")
    client = _viewer(client, berlin)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/admin/orders/order/{order.pk}/change/").status_code == 200
    row_reads = [
        q["sql"]
        for q in captured
        if q["sql"].startswith('SELECT "orders_order"."id"')
        and '"orders_order"."id" = ' in q["sql"]
    ]
    assert len(row_reads) == 1, row_reads
