"""The four ways `bench/sla_scan.py` ingests an event (through the endpoint or the
service, with the SLA projection hook or without), and the timed loop that runs one.

Everything a side needs is prepared before the clock starts (bodies encoded, events
validated), so the time measured is ingestion, and the hook is switched on and off
in the same process, so the two sides of a ratio differ in nothing else.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common import StatementLog, proc_cpu
from lifecycle import late_tenth, lifecycle_event

ORDER_BLOCK = 50  # ingest: consecutive events belong to different orders
INGEST_PATH = "/ingest/events"


@dataclass(slots=True)
class Side:
    """One way of ingesting: through the endpoint or the service, hook on or off."""

    endpoint: bool  # POST /ingest/events through django.test.Client, else events_ingest
    with_sla: bool
    label: str
    prefix: str  # its own event and order ids: no two sides share an order
    seconds: list[float] = field(default_factory=list)
    cpu_py: float = 0.0
    cpu_pg: float = 0.0
    events: int = 0
    profile: StatementLog | None = None
    profile_events: int = 0
    counter: Iterator[int] = field(default_factory=lambda: iter(range(10**9)))

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0


BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)


def event_body(prefix: str, n: int) -> dict[str, Any]:
    """Event n of the shared lifecycle stream (bench/lifecycle.py), late picks included."""
    return lifecycle_event(prefix, n, base_time=BASE_TIME, order_block=ORDER_BLOCK, pace=late_tenth)


@contextlib.contextmanager
def sla_hook(enabled: bool, log: StatementLog | None = None) -> Iterator[None]:
    """The SLA projection hook on or off for the block; with `log`, the hook is timed
    and its statements are recorded in the "hook" scope."""
    from orders import projection_hooks
    from slas.services.clocks import on_projected
    from slas.stages import ORDER_FIELDS

    if not enabled:
        projection_hooks.unregister("slas.clocks")
    elif log is not None:

        def timed(projected: Any) -> None:
            log.scope = "hook"
            started = time.perf_counter()
            try:
                on_projected(projected)
            finally:
                log.hook_seconds += time.perf_counter() - started
                log.scope = "main"

        projection_hooks.register("slas.clocks", timed, reads=ORDER_FIELDS)
    try:
        yield
    finally:
        projection_hooks.register("slas.clocks", on_projected, reads=ORDER_FIELDS)


@dataclass(slots=True)
class Sender:
    """What the endpoint sides post with: an in-process client and an API key."""

    client: Any  # django.test.Client
    authorization: str  # "Bearer <raw key>"


def ingest_batch(
    tenant: Any,
    side: Side,
    count: int,
    pg_pid: int,
    sender: Sender,
    log: StatementLog | None = None,
) -> tuple[float, Counter[str]]:
    """Time the ingestion of the side's next `count` events, one per call or request.

    Off the clock: the service sides' events are built and validated, the endpoint
    sides' bodies built and encoded to JSON bytes. Returns the elapsed time and the
    outcomes that were not an acceptance (status, or HTTP status code), counted.
    """
    from orders.services.delivery import TenantEventValidator
    from orders.services.ingest import events_ingest

    bodies = [event_body(side.prefix, next(side.counter)) for _ in range(count)]
    failures: Counter[str] = Counter()
    if side.endpoint:
        payloads = [json.dumps(body).encode() for body in bodies]
        post, auth = sender.client.post, sender.authorization
    else:
        validate = TenantEventValidator.for_tenant(tenant)
        events = [validate(body) for body in bodies]
        correlation = [uuid.uuid4().hex for _ in range(count)]
    with sla_hook(side.with_sla, log):
        cpu_py, cpu_pg = time.process_time(), proc_cpu(pg_pid)
        started = time.perf_counter()
        if side.endpoint:
            for payload in payloads:
                response = post(INGEST_PATH, data=payload, content_type="application/json",
                                HTTP_AUTHORIZATION=auth)  # fmt: skip
                if response.status_code != 202:
                    failures[f"HTTP {response.status_code}"] += 1
        else:
            for event, cid in zip(events, correlation, strict=True):
                result = events_ingest(tenant=tenant, events=[(0, event)], channel="event",
                                       correlation_id=cid)  # fmt: skip
                if result[0].status != "accepted":
                    failures[result[0].status] += 1
        elapsed = time.perf_counter() - started
        side.cpu_py += time.process_time() - cpu_py
        side.cpu_pg += proc_cpu(pg_pid) - cpu_pg
    return elapsed, failures


def failed(failures: Counter[str]) -> str:
    detail = ", ".join(f"{what} ×{n}" for what, n in failures.most_common())
    return f"{failures.total()} not accepted ({detail})"
