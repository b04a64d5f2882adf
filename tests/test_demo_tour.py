"""manage.py demo_tour (make demo): a past stretch replayed in-process, then the stats."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exceptions.models import ExceptionActivity, ExceptionStatus, OrderException
from orders.models import Order, OrderEvent

from .factories import TenantFactory


# reset_sequences: the simulated ops lead decides per exception from a hash of its
# primary key, so the same seed must give the same keys whatever ran before.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_tour_replays_orders_opens_exceptions_and_prints_the_report() -> None:
    tenant = TenantFactory(slug="demo-3pl")
    out, err = StringIO(), StringIO()
    call_command(
        "demo_tour", "--days", "1", "--orders-per-day", "40", "--seed", "4",
        "--now", "2026-11-19T18:00:00+00:00", stdout=out, stderr=err,
    )  # fmt: skip
    text = out.getvalue()
    assert Order.objects.filter(tenant=tenant).count() == 40
    stored = OrderEvent.objects.filter(tenant=tenant).count()
    assert f"accepted {stored}, duplicates 0, rejected 0" in text
    # Every event's follow-up ran during the replay, not left for a worker.
    assert not OrderEvent.objects.filter(tenant=tenant, processed_at__isnull=True).exists()
    opened = OrderException.objects.filter(tenant=tenant)
    assert opened.exists()
    # The simulated ops lead worked the list on Thursday's shift, through the same
    # services as a click, and left some of it on the desk.
    worked = ExceptionActivity.objects.filter(
        exception__tenant=tenant, actor_label="system:demo-operator"
    )
    assert worked.filter(action="acknowledged").exists()
    assert worked.filter(action="resolved").exists()
    assert opened.filter(status=ExceptionStatus.RESOLVED).count() < opened.count()
    assert "Exceptions by reason and status" in text and "Where to look next" in text
    assert "\r" not in err.getvalue()  # one plain progress line off a terminal


@pytest.mark.django_db
def test_tour_refuses_production_and_unknown_tenants(settings) -> None:
    with pytest.raises(CommandError, match="'nope' does not exist"):
        call_command("demo_tour", "--tenant", "nope", stdout=StringIO())
    TenantFactory(slug="demo-3pl")
    settings.APP_ENV = "production"
    with pytest.raises(CommandError, match="production"):
        call_command("demo_tour", stdout=StringIO())
