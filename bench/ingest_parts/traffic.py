"""What `bench/ingest.py` sends and what it accepts as an answer.

Three kinds of traffic against one server: `GET /healthz` (the single-event ratio's
baseline), single events, and batches of events. Every request carries a realistic
event from `bench/lifecycle.py` with a unique id, and an answer counts only if it
shows the events were taken (202, or `processed_count` equal to the batch size):
a fast error must never pass for throughput.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from common import LoadResult, http_request, run_load
from lifecycle import lifecycle_event

from .config import Config

ORDER_BLOCK = 100  # consecutive events touch different orders; each order gets 3 steps
BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
MAX_REQUESTS = 200_000  # per HTTP measurement, whatever its duration
BATCH_PHASE_LIMIT = 600.0  # seconds; batches are counted, not timed, but bounded

HEALTH_NAME = "GET /healthz (trivial JSON view)"
SINGLE_NAME = "POST /ingest/events (1 event per request)"


def batch_name(batch_size: int) -> str:
    return f"POST /ingest/v2/events/batch ({batch_size} per request)"


def make_event(prefix: str, n: int) -> dict[str, object]:
    """Event number n of a realistic stream: paid → picked → packed per order."""
    return lifecycle_event(prefix, n, base_time=BASE_TIME, order_block=ORDER_BLOCK)


class Traffic:
    """The requests and checks of one run, against one running server."""

    def __init__(self, cfg: Config, port: int, key: str, run_id: str) -> None:
        self.cfg = cfg
        self.port = port
        self.run_id = run_id
        self.auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.health_req = http_request(port, "GET", "/healthz", {}, b"")
        self.single_prefix = f"s{run_id}"
        self._single_counter = iter(range(10**9))

    def health(self, seconds: float) -> LoadResult:
        return run_load(
            HEALTH_NAME,
            self.port,
            lambda: self.health_req,
            lambda status, _body: None if status == 200 else f"HTTP {status}",
            concurrency=self.cfg.concurrency,
            seconds=seconds,
            max_requests=MAX_REQUESTS,
        )

    def _single_request(self) -> bytes:
        event = make_event(self.single_prefix, next(self._single_counter))
        return http_request(
            self.port, "POST", "/ingest/events", self.auth, json.dumps(event).encode()
        )

    def single(self, seconds: float) -> LoadResult:
        return run_load(
            SINGLE_NAME,
            self.port,
            self._single_request,
            lambda status, _body: None if status == 202 else f"HTTP {status}",
            concurrency=self.cfg.concurrency,
            seconds=seconds,
            max_requests=MAX_REQUESTS,
        )

    def batch_requests(self, prefix: str, count: int) -> list[bytes]:
        """`count` whole batch requests, built up front so that building them is never
        on the clock."""
        size = self.cfg.batch_size
        return [
            http_request(
                self.port,
                "POST",
                "/ingest/v2/events/batch",
                self.auth,
                json.dumps(
                    {
                        "batch_id": f"{prefix}-{b}",
                        "events": [make_event(prefix, b * size + i) for i in range(size)],
                    }
                ).encode(),
            )
            for b in range(count)
        ]

    def _check_batch(self, status: int, body: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}"
        try:
            processed = json.loads(body)["processed_count"]
        except (ValueError, KeyError, TypeError):
            return "batch response without processed_count"
        size = self.cfg.batch_size
        return None if processed == size else f"processed_count {processed} != {size}"

    def batch(self, requests: list[bytes]) -> LoadResult:
        pending = iter(requests)
        return run_load(
            batch_name(self.cfg.batch_size),
            self.port,
            lambda: next(pending),
            self._check_batch,
            concurrency=self.cfg.batch_concurrency,
            seconds=BATCH_PHASE_LIMIT,
            max_requests=len(requests),
            unit_per_request=self.cfg.batch_size,
        )
