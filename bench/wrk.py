"""wrk, the HTTP load tool every HTTP figure is measured with (Debian's package).

One function: run wrk against a URL for some seconds with some connections, and read
back its summary (bench/wrk_report.lua prints it as one line) and how many answers had
another status than the one expected. With `bodies`, each request sends the next line
of that file as its body (bench/wrk_bodies.lua), so every ingest request carries its
own event id and no time goes into making bodies while wrk runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from common import BenchError, LoadResult

WRK = shutil.which("wrk") or "/usr/bin/wrk"
HERE = Path(__file__).resolve().parent
_FIELD = re.compile(r"(\w+)=([\d.]+)")


@dataclass(slots=True)
class WrkRun:
    """One wrk run: its answers, their latency (milliseconds) and what went wrong."""

    requests: int = 0
    seconds: float = 0.0
    unexpected: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    sample: str = ""

    @property
    def ok(self) -> int:
        return self.requests - self.unexpected

    @property
    def rate(self) -> float:
        """Answers with the expected status per second."""
        return self.ok / self.seconds if self.seconds else 0.0


def run_wrk(  # a GET, or with `bodies` a POST of each line in turn
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 2,
    expect: int = 200,
    headers: dict[str, str] | None = None,
    bodies: Path | None = None,
    wait_ms: float | None = None,
) -> WrkRun:
    """`wait_ms` (with `bodies`): each connection waits that long before each request."""
    threads = max(1, min(threads, connections))
    script = (
        "wrk_paced.lua" if wait_ms is not None else "wrk_bodies.lua" if bodies else "wrk_report.lua"
    )
    argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "120s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv += ["-s", script, url, "--", str(expect)]
    if bodies:
        argv += [str(bodies), str(threads)]
        if wait_ms is not None:
            argv.append(f"{max(0, round(wait_ms))}")
    done = subprocess.run(argv, cwd=HERE, capture_output=True, text=True, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("E2A_WRK ")), None)
    if done.returncode or line is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    v = {k: float(x) for k, x in _FIELD.findall(line)}
    sample = next((x[15:] for x in done.stdout.splitlines() if x.startswith("E2A_WRK_SAMPLE ")), "")
    return WrkRun(
        requests=int(v["requests"]),
        seconds=v["duration_us"] / 1e6,
        unexpected=int(v["unexpected"]),
        mean=v["mean_us"] / 1000,
        p50=v["p50_us"] / 1000,
        p90=v["p90_us"] / 1000,
        p95=v["p95_us"] / 1000,
        p99=v["p99_us"] / 1000,
        max=v["max_us"] / 1000,
        errors={k: int(v[k]) for k in ("connect", "read", "write", "timeout") if v.get(k)},
        sample=sample,
    )


def as_load_result(name: str, done: WrkRun, expect: int) -> LoadResult:
    """The run in the shape the ingest bench's tables read."""
    result = LoadResult(name, ok=done.ok, elapsed=done.seconds)
    if done.unexpected:
        label = f"not HTTP {expect}"
        result.errors[label] = done.unexpected
        result.samples[label] = done.sample
    for kind, count in done.errors.items():
        result.errors[f"socket {kind}"] = count
    result.quantile_rounds.append(
        {0.5: done.p50 / 1000, 0.9: done.p90 / 1000, 0.95: done.p95 / 1000, 0.99: done.p99 / 1000}
    )
    return result
