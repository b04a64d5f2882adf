"""The HTTP side: gunicorn started as the Procfile starts it (with the bench's settings
module), each page checked before it is timed, wrk for the loaded figures and a timed
sequence of single requests with Django's cache emptied before each for the cold ones."""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from ingest_parts.server import Server, free_port
from wrk import run_wrk as wrk

from .config import Config
from .environment import ROOT


@contextlib.contextmanager
def gunicorn(cfg: Config, env: dict[str, str]) -> Iterator[Server]:
    """gunicorn with the Procfile's arguments and gunicorn.conf.py, the bench's
    environment; stopped (its whole process group) however the run ends."""
    workdir = Path(tempfile.mkdtemp(prefix="e2a-console-bench-"))
    port = free_port()
    full = {**os.environ, **env}
    full.update(
        ACCESS_LOG="",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(cfg.workers),
        WEB_THREADS=str(cfg.threads),
        WEB_TIMEOUT="120",  # a cold page over a million rows must not be killed mid-way
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "prometheus"),
        PYTHONPATH=str(ROOT),
    )
    full["PATH"] = str(Path(sys.executable).parent) + os.pathsep + full.get("PATH", "")
    with Server(full, port, workdir / "gunicorn.log").serving(workdir) as server:
        yield server


# --------------------------------------------------------------------- page checks

LOGIN_FORM = 'id="login-form"'


@dataclass(frozen=True, slots=True)
class Page:
    key: str  # "plain", "triage", "dashboard"
    title: str
    path: str
    must_contain: tuple[str, ...]


def check_page(port: int, page: Page, session: str) -> tuple[int, str]:
    """(status, a note) for one request as the logged-in user. 200 with the expected
    text is the only answer that may be timed; a redirect to the login page would be a
    fast fake."""
    response = httpx.get(
        f"http://127.0.0.1:{port}{page.path}",
        cookies={"sessionid": session},
        follow_redirects=False,
        timeout=120,
    )
    body = response.text
    if response.status_code != 200:
        return response.status_code, response.headers.get("location", "")
    if LOGIN_FORM in body:
        return 0, "the login form, not the page"
    missing = [text for text in page.must_contain if text not in body]
    if missing:
        return 0, f"200 without {missing!r}"
    counts = re.findall(r"(\d[\d,]*) exceptions?\b", body)
    rows = f"{counts[-1]} in the paginator, " if counts else ""
    return 200, f"{rows}{len(body):,} bytes"


# ---------------------------------------------------------------------------- wrk


@dataclass(slots=True)
class Timing:
    """One page's figures, in milliseconds (latency) and requests per second."""

    page: str
    user: str
    how: str  # "wrk" or "cold"
    round: int = 1
    requests: int = 0
    rate: float = 0.0
    mean: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


def drain(port: int, workers: int) -> None:
    """Wait until gunicorn has worked off the requests wrk left queued when it stopped
    (sync workers answer them anyway), so that the next run starts on an idle server:
    one /healthz per worker, queued behind them."""
    for _ in range(workers):
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=600)


def run_wrk(
    cfg: Config, port: int, path: str, session: str, seconds: float, *, page: str, user: str
) -> Timing:
    done = wrk(
        f"http://127.0.0.1:{port}{path}",
        seconds=seconds,
        connections=cfg.connections,
        threads=cfg.wrk_threads,
        headers={"Cookie": f"sessionid={session}"},
    )
    drain(port, cfg.workers)
    errors = dict(done.errors)
    if done.unexpected:  # a 302 to the login page, say
        errors["not_200"] = done.unexpected
    return Timing(
        page=page,
        user=user,
        how="wrk",
        requests=done.requests,
        rate=done.requests / done.seconds,
        mean=done.mean,
        p50=done.p50,
        p95=done.p95,
        p99=done.p99,
        max=done.max,
        errors=errors,
    )


def cold_sequence(
    cfg: Config, port: int, path: str, session: str, *, page: str, user: str
) -> Timing:
    """`cold_requests` single requests one after the other, Django's cache (the bench's
    own Redis database) emptied before each, so every request computes its page."""
    cache = redis.Redis.from_url(cfg.redis_url, socket_timeout=5)
    times: list[float] = []
    errors: dict[str, int] = {}
    try:
        with httpx.Client(cookies={"sessionid": session}, timeout=300) as client:
            for _ in range(cfg.cold_requests):
                cache.flushdb()
                started = time.perf_counter()
                response = client.get(f"http://127.0.0.1:{port}{path}")
                elapsed = time.perf_counter() - started
                if response.status_code != 200 or LOGIN_FORM in response.text:
                    errors["not_200"] = errors.get("not_200", 0) + 1
                else:
                    times.append(elapsed * 1000)
    finally:
        cache.close()
    if not times:
        return Timing(page=page, user=user, how="cold", errors=errors)
    ordered = sorted(times)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return Timing(
        page=page,
        user=user,
        how="cold",
        requests=len(times),
        rate=1000 / statistics.fmean(times),
        mean=statistics.fmean(times),
        p50=statistics.median(times),
        p95=pct(0.95),
        p99=pct(0.99),
        max=ordered[-1],
        errors=errors,
    )
