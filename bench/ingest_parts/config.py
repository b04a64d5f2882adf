"""The settings of one `bench/ingest.py` run, shared by its parts (the script fills them in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class Config:
    database_url: str
    redis_url: str
    broker_url: str
    workers: int
    threads: int  # per gunicorn worker (WEB_THREADS)
    access_log: bool  # gunicorn's JSON line per request, as the Procfile serves
    seconds: float
    warmup: float
    connections: int  # wrk's, for /healthz and single events
    wrk_threads: int
    workdir: Path  # bodies files for wrk
    batch_size: int
    batch_rounds: int
    batch_concurrency: int
    rounds: int
    check: bool
    py_spy: Path | None
    # Also measure single events and batches on a second server without the SLA
    # clocks' hook (bench/ingest.py's bound); the other benchmarks leave it off.
    bound: bool = False
