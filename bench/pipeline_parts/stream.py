"""What `bench/pipeline.py` sends: the order stream as wrk bodies, and the probes.

The stream is `bench/lifecycle.py`'s paid → picked → packed, with every tenth order
picked eight hours late (`late_tenth`), so the worker has SLA clock rows to write for
every event and a PICK_DELAY exception, with its notes, for one order in ten.

A probe is one event that opens an exception, sent on its own while the stream runs;
its latency is the exception's `created_at` minus the moment the POST was sent:
- content: an `exception_reported` event (the detection rules open it);
- late completion: the pick of an order paid nine hours earlier (posted, and
  followed up, before the clock starts): the stage closes late, and the follow-up
  opens PICK_DELAY.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifecycle import late_tenth, lifecycle_event

ORDER_BLOCK = 100
BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)


def write_bodies(path: Path, prefix: str, count: int) -> Path:
    with path.open("w") as out:
        for n in range(count):
            event = lifecycle_event(
                prefix, n, base_time=BASE_TIME, order_block=ORDER_BLOCK, pace=late_tenth
            )
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    return path


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _event(order_id: str, source: str, event_type: str, at: datetime, **fields: Any) -> dict:
    return {
        "source": source,
        "event_type": event_type,
        "event_id": f"{order_id}-{event_type}",
        "order_id": order_id,
        "occurred_at": _iso(at),
        "warehouse": "BER-1",
        **fields,
    }


def paid_long_ago(order_id: str) -> dict[str, Any]:
    return _event(order_id, "shopify", "order_paid", datetime.now(UTC) - timedelta(hours=9))


def late_pick(order_id: str) -> dict[str, Any]:
    return _event(order_id, "wms", "pick_completed", datetime.now(UTC) - timedelta(minutes=30))


def reported(order_id: str) -> dict[str, Any]:
    reason = "Carton crushed at the packing station"
    return _event(order_id, "wms", "exception_reported", datetime.now(UTC), reason=reason)
