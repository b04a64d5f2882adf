"""POST → exception probes among the soak's stream, a few per segment.

wrk's latency is the web's answer; whether the *pipeline* stayed as quick after minutes
of load is the time from a POST to the exception it opens. Every `every` seconds one
probe is posted, alternating the two kinds `bench/pipeline.py` uses (its
`pipeline_parts.stream`): an `exception_reported` event (a content rule) and the late
pick of an order paid nine hours earlier (a late completion). Their latencies are read
back after the soak (`database.exception_times`): the exception's `created_at` and its
first notes' minus the moment the POST was sent.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import httpx
import psycopg
from common import BenchError
from pipeline_parts import database
from pipeline_parts.paces import PipelineLoad
from pipeline_parts.stream import late_pick, reported


@dataclass(slots=True)
class Probe:
    kind: str  # "content" or "late"
    order: str
    t: float  # seconds since the soak started, when it was posted
    sent_at: float  # epoch seconds, to compare with the database's timestamps
    opened: float = math.nan  # seconds from the POST to the exception
    noted: float = math.nan  # … to its first notes


def late_orders_needed(seconds: float, every: float) -> int:
    """Orders to pay ahead of a soak of `seconds`: one per late probe, with a spare."""
    return math.ceil(seconds / every / 2) + 1


@dataclass(slots=True)
class Prober:
    """The probing thread: started with the soak, stopped when it ends."""

    load: PipelineLoad
    paid: list[str]  # orders paid nine hours ago (PipelineLoad.probe_orders)
    t0: float
    every: float
    probes: list[Probe] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # POSTs not accepted: shown, not fatal
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-prober", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        paid = iter(self.paid)
        n = 0
        with httpx.Client(timeout=30) as client:
            while not self._stop.wait(self.every):
                n += 1
                if n % 2:
                    kind, order = "content", f"#q{self.load.run_id}-c{n}"
                    body = reported(order)
                else:
                    order = next(paid, "")
                    if not order:
                        continue
                    kind, body = "late", late_pick(order)
                sent_at = time.time()
                t = time.monotonic() - self.t0
                try:
                    self.load.post(client, body)
                except (BenchError, httpx.HTTPError) as exc:
                    self.failures.append(f"{t:.0f} s: {exc}")
                    continue
                self.probes.append(Probe(kind, order, t, sent_at))

    def collect(self, db: psycopg.Connection, limit: float) -> list[Probe]:
        """The probes with their latencies, once every exception has its notes or after
        `limit` seconds; a probe whose exception has not opened by then keeps NaN."""
        orders = [p.order for p in self.probes]
        deadline = time.monotonic() + limit
        found = database.exception_times(db, orders)
        while len(found) < len(orders) or any(math.isnan(n) for _, n in found.values()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
            found = database.exception_times(db, orders)
        for probe in self.probes:
            made, noted = found.get(probe.order, (math.nan, math.nan))
            probe.opened, probe.noted = made - probe.sent_at, noted - probe.sent_at
        return self.probes
