"""The settings of one `bench/sla_scan.py` run, and the checks that it may run at all.

The bench drops a database and flushes two Redis databases, so what it is pointed at
is checked before anything is touched: loopback only, a database named for a bench,
and two different Redis databases (flushing the broker must never flush the locks of
a run that shares it).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from common import BenchError, bench_database_name, require_loopback


@dataclass(slots=True)
class Config:
    database_url: str
    redis_url: str
    broker_url: str
    open_orders: int
    due: int
    repeats: int
    rounds: int
    events: int
    check: bool
    quick: bool


def check_targets(cfg: Config) -> None:
    for url, what in (
        (cfg.database_url, "DATABASE_URL"),
        (cfg.redis_url, "--redis-url"),
        (cfg.broker_url, "--broker-url"),
    ):
        require_loopback(url, what)
    bench_database_name(cfg.database_url)
    if _redis_target(cfg.redis_url) == _redis_target(cfg.broker_url):
        raise BenchError("--redis-url and --broker-url must be different Redis databases")
    if cfg.open_orders < 2 * cfg.due:
        raise BenchError("--open-orders must be at least twice --due")


def _redis_target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port or 6379, parts.path.strip("/") or "0")
