"""The settings of one `bench/console.py` run, shared by its parts (the script fills them in)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Config:
    database_url: str
    redis_url: str  # Django's cache (the dashboard's figures); flushed for cold requests
    broker_url: str
    orders: int
    exceptions: int
    reuse: bool
    workers: int
    connections: int
    threads: int  # gunicorn's WEB_THREADS (1: sync workers, as the Procfile runs)
    wrk_threads: int
    seconds: float
    warmup: float
    cold_requests: int
    rounds: int  # wrk passes over the pages, the order reversed every other pass
    operator: bool
    check: bool
