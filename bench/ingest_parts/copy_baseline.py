"""The batch ratio's baseline for `bench/ingest.py`: PostgreSQL `COPY` of the very rows
the batches stored, into `bench_copy`, a table with the same columns, indexes and
unique constraint as `orders_orderevent`.

COPY is the fastest way PostgreSQL takes rows, so the ratio says how close batch
ingest comes to the database's own ceiling on the same machine in the same run.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

import psycopg
from common import BenchError, libpq_url

from .config import Config

COPY_COLUMNS = (
    "tenant_id",
    "order_id",
    "source",
    "event_type",
    "event_id",
    "occurred_at",
    "received_at",
    "channel",
    "payload",
    "correlation_id",
)
COPY_REPEATS = 3


@dataclass(slots=True)
class CopyResult:
    rows: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def create_copy_table(monitor: psycopg.Connection) -> None:
    """`LIKE … INCLUDING ALL` keeps indexes and the unique constraint (what ingest pays
    for too) but not foreign keys, so the baseline is slightly generous."""
    monitor.execute("CREATE TABLE bench_copy (LIKE orders_orderevent INCLUDING ALL)")


def copy_rows(
    url: str, rows: list[tuple], *, chunk: int, streams: int, timeout: float = 600.0
) -> float:
    """COPY the rows into bench_copy, committing every `chunk` rows, on `streams`
    connections in parallel; returns the wall-clock seconds."""
    chunks = [rows[i : i + chunk] for i in range(0, len(rows), chunk)]
    stmt = f"COPY bench_copy ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    conns = [psycopg.connect(libpq_url(url)) for _ in range(streams)]
    errors: list[BaseException] = []
    start = threading.Barrier(streams + 1)

    def work(conn: psycopg.Connection, mine: list[list[tuple]]) -> None:
        try:
            start.wait(timeout=30)
            with conn.cursor() as cur:
                for part in mine:
                    with cur.copy(stmt) as copy:
                        for row in part:
                            copy.write_row(row)
                    conn.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(conn, chunks[i::streams]), daemon=True)
        for i, conn in enumerate(conns)
    ]
    try:
        for thread in threads:
            thread.start()
        start.wait(timeout=30)
        t0 = time.perf_counter()
        for thread in threads:
            thread.join(timeout=timeout)
        elapsed = time.perf_counter() - t0
    finally:
        for conn in conns:
            conn.close()
    if errors or any(t.is_alive() for t in threads):
        raise BenchError(f"COPY failed: {errors[:1] or 'timed out'}")
    return elapsed


def copy_median(monitor: psycopg.Connection, cfg: Config, rows: list[tuple]) -> float:
    """Median seconds of COPY_REPEATS COPYs of `rows` into an emptied bench_copy."""
    times = []
    for _ in range(COPY_REPEATS):
        monitor.execute("TRUNCATE bench_copy")
        times.append(
            copy_rows(cfg.database_url, rows, chunk=cfg.batch_size, streams=cfg.batch_concurrency)
        )
        copied = monitor.execute("SELECT count(*) FROM bench_copy").fetchone()[0]
        if copied != len(rows):
            raise BenchError(f"COPY stored {copied} rows, expected {len(rows)}")
    return statistics.median(times)


def fetch_rows(conn: psycopg.Connection, prefix: str) -> list[tuple]:
    """The stored rows of the events whose ids start with `prefix`, as COPY takes them."""
    cols = ", ".join("payload::text" if c == "payload" else c for c in COPY_COLUMNS)
    return conn.execute(
        f"SELECT {cols} FROM orders_orderevent WHERE event_id LIKE %s ORDER BY id",
        [prefix + "-%"],
    ).fetchall()
