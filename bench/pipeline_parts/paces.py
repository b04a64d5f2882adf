"""The order stream at a set pace against gunicorn and the worker, and the search for the
highest pace they sustain.

Shared by `bench/pipeline.py` (its rate ratio is that highest pace) and `bench/soak.py`
(which holds half of it for minutes), so both judge "sustained" the same way: every
event of a pace followed up, and every exception it opened given its notes, within
DRAIN_LIMIT seconds of wrk's stop.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import redis
from common import BenchError, libpq_url, progress
from ingest_parts.config import Config
from wrk import WrkRun, run_wrk

from . import database
from .stream import paid_long_ago, write_bodies


def pipeline_config(
    *,
    name: str,
    redis_dbs: tuple[int, int],
    threads: int,
    seconds: float,
    warmup: float,
    connections: int,
    check: bool,
) -> Config:
    """The server side both benches start: gunicorn as the Procfile runs it (2 workers,
    the access log on) against `e2a_bench_<name>` and its own Redis databases, unless
    DATABASE_URL, REDIS_URL or CELERY_BROKER_URL say otherwise. `seconds` and `warmup`
    are ingestion alone's; the batch fields are the ingest bench's and stay unused."""
    return Config(
        database_url=os.environ.get(
            "DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/e2a_bench_{name}"
        ),
        redis_url=os.environ.get("REDIS_URL", f"redis://127.0.0.1:6379/{redis_dbs[0]}"),
        broker_url=os.environ.get("CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{redis_dbs[1]}"),
        workers=2,
        threads=max(1, threads),
        access_log=True,
        seconds=seconds,
        warmup=warmup,
        connections=connections,
        wrk_threads=2,
        workdir=Path(tempfile.mkdtemp(prefix=f"e2a-{name}-bench-")),
        batch_size=1000,
        batch_rounds=0,
        batch_concurrency=1,
        rounds=1,
        check=check,
        py_spy=None,
    )


DRAIN_LIMIT = 5.0  # seconds after wrk stops within which a sustained pace is caught up
SETTLE_LIMIT = 180.0  # seconds to wait for a backlog to clear between trials


@dataclass(slots=True)
class Trial:
    asked: float
    run: WrkRun
    drained_after: float | None  # seconds after wrk stopped; None: not within the limit
    backlog_at_stop: tuple[int, int]

    @property
    def sustained(self) -> bool:
        return self.drained_after is not None and self.run.unexpected == 0


class PipelineLoad:
    """The bench's side of the wire: wrk streams of orders, single probe POSTs, and what
    the database says the worker has done with them. Every order id carries this run's
    id, so two runs against one database never count each other's orders."""

    def __init__(
        self, cfg: Config, port: int, key: str, *, worker_log: Path, max_rate: int = 3000
    ) -> None:
        self.cfg = cfg
        self.worker_log = worker_log  # named when a backlog does not clear
        self.max_rate = max_rate  # sizes the bodies file of a flat-out stream
        self.url = f"http://127.0.0.1:{port}/ingest/events"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.run_id = uuid.uuid4().hex[:6]
        self.db = psycopg.connect(libpq_url(cfg.database_url), autocommit=True)
        self.calls = 0

    def stream(self, tag: str, seconds: float, rate: float | None = None) -> tuple[str, WrkRun]:
        """wrk posting the order stream for `seconds`, flat out or at about `rate`/s.
        Each call's orders are new ones, named by the prefix returned."""
        self.calls += 1
        prefix = f"p{self.run_id}{tag}{self.calls}"
        count = int((rate * 1.5 if rate else self.max_rate) * seconds) + 500
        bodies = write_bodies(self.cfg.workdir / f"{prefix}.jsonl", prefix, count)
        wait = None if rate is None else self.cfg.connections * 1000 / rate
        try:
            done = run_wrk(
                self.url,
                seconds=seconds,
                connections=self.cfg.connections,
                threads=self.cfg.wrk_threads,
                expect=202,
                headers=self.headers,
                bodies=bodies,
                wait_ms=wait,
            )
        finally:
            bodies.unlink()
        return prefix, done

    def orders_like(self, tag: str) -> str:
        """A LIKE pattern for the orders of every stream with `tag` (`database.backlog_like`);
        no tag may be the start of another."""
        return f"#p{self.run_id}{tag}%"

    def wait_drained(self, prefix: str, limit: float) -> float | None:
        started = time.monotonic()
        while time.monotonic() - started <= limit:
            if database.backlog(self.db, prefix) == (0, 0):
                return time.monotonic() - started
            time.sleep(0.25)
        return None

    def trial(self, rate: float, seconds: float) -> Trial:
        prefix, done = self.stream("t", seconds, rate)
        at_stop = database.backlog(self.db, prefix)
        drained = self.wait_drained(prefix, DRAIN_LIMIT)
        if drained is None and self.wait_drained(prefix, SETTLE_LIMIT) is None:
            raise BenchError(
                f"the worker did not catch up with {prefix} in {SETTLE_LIMIT:.0f} s"
                f" (its log: {self.worker_log})"
            )
        trial = Trial(rate, done, drained, at_stop)
        verdict = "sustained" if trial.sustained else "not sustained"
        progress(
            f"  pace {rate:.0f}/s asked, {done.rate:.0f}/s reached: backlog at stop"
            f" {at_stop[0]} events, {at_stop[1]} exceptions without notes; {verdict}"
        )
        return trial

    def worker_alone(self, prefix: str, seconds: float, broker_url: str) -> float:
        """Events/s the worker follows up with the machine to itself (from the backlog
        ingestion alone left): the first pace the search tries is near it. What is left
        after `seconds` is not the pipeline's to do: dropped with the queue."""
        before = database.backlog(self.db, prefix)[0]
        started = time.monotonic()
        left = before
        while left and time.monotonic() - started < seconds:
            time.sleep(1)
            left = database.backlog(self.db, prefix)[0]
        rate = (before - left) / (time.monotonic() - started)
        progress(f"  {before - left} of {before} events followed up: {rate:.0f}/s")
        redis.Redis.from_url(broker_url).flushdb()
        return rate

    def search(self, first: float, *, trials: int, seconds: float) -> list[Trial]:
        """`trials` paces of `seconds` each from `first`/s: up 30 % after a sustained
        pace, down 30 % after one that is not, then halving the gap between the two."""
        done: list[Trial] = []
        ok, failed = None, None
        rate = first
        for _ in range(trials):
            trial = self.trial(rate, seconds)
            done.append(trial)
            if trial.sustained:
                ok = max(ok or 0.0, rate)
                rate = rate * 1.3 if failed is None else (ok + failed) / 2
            else:
                failed = min(failed or math.inf, rate)
                rate = rate * 0.7 if ok is None else (ok + failed) / 2
        return done

    def post(self, client: httpx.Client, body: dict) -> None:
        """One probe event, outside wrk; anything but 202 is a setup failure."""
        response = client.post(self.url, json=body, headers=self.headers)
        if response.status_code != 202:
            raise BenchError(f"probe not accepted: {response.status_code} {response.text[:200]}")

    def probe_orders(self, count: int) -> list[str]:
        """Orders paid nine hours ago, followed up before the clock starts: a pick of one
        later is a late completion (PICK_DELAY)."""
        orders = [f"#q{self.run_id}-{i}" for i in range(count)]
        with httpx.Client(timeout=30) as client:
            for order in orders:
                self.post(client, paid_long_ago(order))
        deadline = time.monotonic() + SETTLE_LIMIT
        while database.unprocessed(self.db, orders):
            if time.monotonic() > deadline:
                raise BenchError("the probe orders' payments were not followed up")
            time.sleep(0.25)
        return orders
