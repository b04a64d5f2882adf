"""The order-lifecycle event stream the benchmarks send: paid → picked → packed.

Shared so that both benchmarks measure the same realistic events (amounts,
customer and address on payment, station and lines on pick, carrier and package
on pack). Events come in blocks of `order_block` orders: their payments, then
their picks, then their packs, so consecutive events touch different orders.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

STEPS = (("order_paid", "shopify"), ("pick_completed", "wms"), ("pack_completed", "wms"))
CARRIERS = ("DHL", "UPS", "DPD", "GLS")
WAREHOUSES = ("BER-1", "HAM-2")


def even_pace(_order_no: int) -> tuple[int, int, int]:
    """Minutes after the order's start at which it is paid, picked and packed."""
    return (0, 25, 50)


LATE_PICK_MINUTES = 480


def late_tenth(order_no: int) -> tuple[int, int, int]:
    """Every tenth order is picked 8 h after payment, past the 120-minute allowance times
    any product of multipliers a plain order can get (holiday 2 × volume 1.3 × peak 1.4)."""
    pick_after = LATE_PICK_MINUTES if order_no % 10 == 0 else 25
    return (0, pick_after, pick_after + 25)


def lifecycle_event(
    prefix: str,
    n: int,
    *,
    base_time: datetime,
    order_block: int,
    pace: Callable[[int], tuple[int, int, int]] = even_pace,
) -> dict[str, Any]:
    """Event number n of the stream; `pace` says when each step of an order happens."""
    block, offset = divmod(n, 3 * order_block)
    step, slot = divmod(offset, order_block)
    order_no = block * order_block + slot
    event_type, source = STEPS[step]
    rnd = random.Random(order_no)
    when = base_time + timedelta(seconds=order_no % 3600, minutes=pace(order_no)[step])
    items = rnd.randint(1, 6)
    event: dict[str, Any] = {
        "source": source,
        "event_type": event_type,
        "event_id": f"{prefix}-{n}",
        "order_id": f"#{prefix}-{order_no}",
        "occurred_at": when.isoformat().replace("+00:00", "Z"),
        "warehouse": WAREHOUSES[order_no % 2],
        "items_count": items,
    }
    if step == 0:
        event.update(
            currency="EUR",
            total_amount_cents=rnd.randint(990, 25900),
            line_count=max(1, items - 1),
            service_level=("standard", "express")[order_no % 5 == 0],
            customer={"id": f"C{order_no % 5000}", "email": f"buyer{order_no}@example.com"},
            shipping_address={
                "address1": f"Torstraße {order_no % 200 + 1}",
                "city": "Berlin",
                "zip": f"10{order_no % 1000:03d}",
                "country_code": "DE",
            },
            payload={"gateway": "shopify_payments", "tags": ["web", "bench"]},
        )
    elif step == 1:
        event.update(
            station=f"P{order_no % 12:02d}",
            worker_id=f"W{order_no % 40:03d}",
            zone="A",
            payload={
                "lines": [{"sku": f"SKU-{order_no % 97}-{i}", "qty": 1} for i in range(items)]
            },
        )
    else:
        event.update(
            station=f"K{order_no % 8:02d}",
            carrier=CARRIERS[order_no % len(CARRIERS)],
            payload={"package": {"weight_g": 350 * items, "box": "M"}},
        )
    return event
