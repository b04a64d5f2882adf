"""Recreating a case's exception: its events replayed through E²A under the simulated clock.

Each case is replayed on its own, in its own tenant, from the start of the
30-minute step its first event falls in (steps aligned to the file's fixed
origin) to the end of the step in which E²A first opened the expected exception
when the set was built. Stopping there means the exception is analysed as it
was when it opened, and the same case gives the same exception (the same
lateness) whether it is replayed alone (the test) or with all the others.

The replay is cut in two: every step but the last, then the last step alone,
timed: the step in which E²A opened the exception (its events delivered, their
follow-ups, detection and every beat job of that step). That is the detection
run the analysis listener could slow, and `bench/ai_eval.py` times it with and
without the listener.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ai_eval_parts.cases import Case
from exceptions.models import OrderException
from orders.demo.generator import GeneratedEvent, GeneratedOrder
from orders.demo.replay import replay
from orders.models import Tenant


@dataclass(frozen=True, slots=True)
class Recreated:
    tenant: Tenant
    exception: OrderException | None  # None: E²A did not open the expected exception
    last_step_seconds: float


def generated_order(case: Case, *, after: datetime | None = None) -> GeneratedOrder:
    """The stored events (those after `after`, if given) back as the generator's objects;
    a Shopify webhook's native body is the contract body's `data.order`, as generated."""
    order = GeneratedOrder(
        order_id=case.order_id, placed_at=_at(case.events[0]["at"]), problem=case.kind
    )
    for raw in case.events:
        at = _at(raw["at"])
        if after is not None and at <= after:
            continue
        topic = raw.get("shopify_topic", "")
        body: dict[str, Any] = raw["body"]
        order.events.append(
            GeneratedEvent(
                occurred_at=at,
                body=body,
                shopify_topic=topic,
                shopify_body=body["data"]["order"] if topic else None,
                webhook_id=raw.get("webhook_id", ""),
            )
        )
    return order


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def replay_case(*, case: Case, tenant: Tenant, step: timedelta, seed: int) -> Recreated:
    """Replay the case into `tenant` (see the module docstring)."""
    last_start = max(case.replay_start, case.replay_end - step)
    accepted = 0
    if last_start > case.replay_start:
        before = replay(
            tenant=tenant,
            orders=[generated_order(case)],
            start=case.replay_start,
            end=last_start,
            seed=seed,
            step=step,
        )
        accepted += before.counts.get("accepted", 0)
    started = time.perf_counter()
    last = replay(
        tenant=tenant,
        orders=[generated_order(case, after=last_start)],
        start=last_start,
        end=case.replay_end,
        seed=seed,
        step=step,
    )
    seconds = time.perf_counter() - started
    accepted += last.counts.get("accepted", 0)
    expected = sum(1 for e in case.events if _at(e["at"]) <= case.replay_end)
    if accepted != expected:
        raise RuntimeError(f"{case.id}: {accepted} of {expected} events accepted")
    exception = (
        OrderException.objects.select_related("order", "reason_code")
        .filter(tenant=tenant, order__external_id=case.order_id, reason_code_id=case.expected_label)
        .first()
    )
    return Recreated(tenant, exception, seconds)


def tenants(prefix: str) -> Iterator[Tenant]:
    """Fresh tenants, one per replay, so no case sees another's order."""
    from orders.services.tenants import tenant_create

    number = 0
    while True:
        number += 1
        yield tenant_create(slug=f"{prefix}-{number}", name=f"AI eval {number}", timezone="UTC")
