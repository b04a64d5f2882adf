"""What `bench/ingest.py` sends and what it accepts as an answer.

Three kinds of traffic against one server: `GET /healthz` (the single-event ratio's
baseline) and single events, both loaded by wrk with the same connections, and
batches of events, sent by the bench's own client. Every request carries a realistic
event from `bench/lifecycle.py` with a unique id, and an answer counts only if it
shows the events were taken (202, or `processed_count` equal to the batch size):
a fast error must never pass for throughput.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import LoadResult, http_request, run_load
from lifecycle import lifecycle_event
from wrk import as_load_result, run_wrk

from .config import Config

ORDER_BLOCK = 100  # consecutive events touch different orders; each order gets 3 steps
BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
# Single events per second wrk could possibly get through: each wrk run gets this many
# bodies per second of its duration (a run that sent more would repeat ids: 200s, errors).
MAX_RATE = 3000
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
        self.single_prefix = f"s{run_id}"
        self._single_calls = iter(range(10**9))

    def health(self, seconds: float) -> LoadResult:
        done = run_wrk(
            f"http://127.0.0.1:{self.port}/healthz",
            seconds=seconds,
            connections=self.cfg.connections,
            threads=self.cfg.wrk_threads,
        )
        return as_load_result(HEALTH_NAME, done, 200)

    def _bodies(self, seconds: float) -> Path:
        """One event per line, each with its own id, more than wrk can send in `seconds`
        (written before the clock starts; wrk reads them into memory when it starts)."""
        count = int(MAX_RATE * seconds) + 1000
        prefix = f"{self.single_prefix}-{next(self._single_calls)}"
        path = self.cfg.workdir / f"{prefix}.jsonl"
        with path.open("w") as out:
            for n in range(count):
                out.write(json.dumps(make_event(prefix, n), separators=(",", ":")) + "\n")
        return path

    def single(self, seconds: float) -> LoadResult:
        bodies = self._bodies(seconds)
        try:
            done = run_wrk(
                f"http://127.0.0.1:{self.port}/ingest/events",
                seconds=seconds,
                connections=self.cfg.connections,
                threads=self.cfg.wrk_threads,
                expect=202,
                headers=self.auth,
                bodies=bodies,
            )
        finally:
            bodies.unlink()
        return as_load_result(SINGLE_NAME, done, 202)

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
