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
    seconds: float
    warmup: float
    concurrency: int
    batch_size: int
    batch_rounds: int
    batch_concurrency: int
    rounds: int
    check: bool
    py_spy: Path | None
