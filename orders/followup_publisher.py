"""Coalesce one web process's follow-up publishes into few broker messages.

Publishing a Celery message (serialising it, the producer pool, two Redis round
trips for the routing table and the push) costs a web process about as much
CPU as validating and storing a single event. A request therefore hands its
committed event ids to this publisher and answers at once; a background
thread waits `FOLLOWUP_COALESCE_MS` after the first id arrives and publishes
everything gathered in that window as one `orders.process_events` task per 100
events. When idle a follow-up starts at most a few tens of milliseconds later
than it would have.

Under sustained load a 20 ms window still meant ~45 messages a second per web
process, each ~0.9 ms of that process's CPU (measured under the ingest bench:
a tenth of the worker's CPU). So consecutive publishes are also at least
`FOLLOWUP_MIN_INTERVAL_MS` apart: a busy process sends one message per interval
carrying every request's events from it, an idle one still publishes after the
short window.

Nothing is lost if the process dies with ids still buffered: the events are
committed with `processed_at` empty and the beat sweep re-queues them, the same
path that covers a broker outage. The task is idempotent, so a publish that
reaches the broker twice does no harm either.

Each stored event keeps its own correlation id. The worker logs a message's batch
under its first event's id (orders.services.processing), and detection binds each
order's own while it works on that order (exceptions.services.detection), so an
exception and its log lines still lead back to the request that caused them when
one message carries several.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

Publish = Callable[[list[int], str | None], int]
"""Publishes event ids as follow-up tasks; the str is a correlation id shared by all, if any."""


class FollowupPublisher:
    """A per-process buffer of event ids with one thread that publishes them in batches."""

    def __init__(
        self,
        publish: Publish,
        delay_seconds: Callable[[], float],
        min_interval_seconds: Callable[[], float] = lambda: 0.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self._delay_seconds = delay_seconds
        self._min_interval_seconds = min_interval_seconds
        self._sleep = sleep
        self._monotonic = monotonic
        self._reset()
        # A forked child (gunicorn worker) must neither share the parent's lock
        # nor publish the parent's buffered ids a second time.
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[tuple[int, str]] = []
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._last_publish = float("-inf")

    def submit(self, event_ids: Sequence[int], correlation_id: str) -> None:
        """Queue these committed events' follow-ups; returns without touching the broker."""
        if not event_ids:
            return
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="e2a-followup-publisher", daemon=True
                )
                self._thread.start()
            self._pending.extend((event_id, correlation_id) for event_id in event_ids)
            self._cond.notify_all()

    def flush(self) -> int:
        """Publish whatever is buffered now, in the calling thread; returns events published."""
        with self._cond:
            items, self._pending = self._pending, []
            self._in_flight += 1
        try:
            return self._send(items)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until nothing is buffered or being published (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            self._sleep(self._wait_before_publishing())
            # Noted before publishing, so whoever sees the publish done sees it too.
            self._last_publish = self._monotonic()
            self.flush()

    def _wait_before_publishing(self) -> float:
        """The coalescing window, stretched to keep publishes the minimum interval apart."""
        since_last = self._monotonic() - self._last_publish
        return max(self._delay_seconds(), self._min_interval_seconds() - since_last, 0.0)

    def _send(self, items: list[tuple[int, str]]) -> int:
        if not items:
            return 0
        correlation_ids = {correlation_id for _, correlation_id in items}
        shared = correlation_ids.pop() if len(correlation_ids) == 1 else None
        try:
            return self._publish([event_id for event_id, _ in items], shared or None)
        except Exception:  # never let the thread die; the sweep re-queues what is lost
            log.exception(
                "follow-up publish failed; the sweep will re-queue", extra={"count": len(items)}
            )
            return 0
