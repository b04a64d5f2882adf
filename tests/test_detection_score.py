"""Detection against the generator's intent: every kind of problem made opens its
reason code, and clean orders open nothing (a small replay of bench/detect_eval.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exceptions.detection_score import CLEAN, detection_score
from exceptions.models import OrderException
from orders.demo.catalog import PROBLEM_KINDS
from orders.demo.generator import Generator
from orders.demo.replay import replay
from orders.models import Order

from .factories import TenantFactory

# A long run with real processes or a replayed day: `make proof` (not `make test`).
pytestmark = pytest.mark.proof

START = datetime(2026, 11, 6, 6, tzinfo=UTC)  # a Friday: the day runs into a weekend


@pytest.mark.django_db(transaction=True)
def test_every_kind_made_opens_its_reason_and_clean_orders_open_nothing() -> None:
    """30 orders over a day, most with a problem (every kind), lived through to the end."""
    tenant = TenantFactory(slug="demo-3pl")
    gen = Generator(seed=3, problem_share=0.7)
    orders = [
        gen.order(at)
        for at in gen.placement_times(start=START, end=START + timedelta(days=1), count=30)
    ]
    end = max(e.occurred_at for o in orders for e in o.events) + timedelta(hours=2)
    tally = replay(
        tenant=tenant, orders=orders, start=START, end=end, seed=5, step=timedelta(hours=1)
    )
    assert tally.counts["accepted"] == sum(len(o.events) for o in orders)

    score = detection_score(tenant=tenant, orders=orders, shown_by=end - timedelta(hours=2))

    assert {k for k in PROBLEM_KINDS if score.rows[k].orders} == set(PROBLEM_KINDS)
    misses = {k: (r.found, r.shown) for k, r in score.rows.items() if r.found != r.shown}
    assert misses == {}, score.table()
    assert score.on_clean_orders == 0, score.table()
    assert score.precision == 1.0, score.table()

    # The scorer can fail: a false alarm on a clean order counts against it.
    clean = next(o for o in orders if o.problem is None)
    problem = OrderException.objects.filter(tenant=tenant).first()
    assert problem is not None
    problem.pk = None
    problem.order = Order.objects.get(tenant=tenant, external_id=clean.order_id)
    problem.save()

    score = detection_score(tenant=tenant, orders=orders, shown_by=end)
    assert score.on_clean_orders == 1 and score.rows[CLEAN].opened
    assert score.precision < 1.0
    assert "1 on clean orders" in score.summary()
