"""Where the CPU goes during each `bench/ingest.py` measurement, and optionally where
inside gunicorn (py-spy).

A ratio alone cannot tell a slow server from a busy machine; CPU per event for
gunicorn, the bench database's PostgreSQL backends, redis-server and the client, next
to what other processes used meanwhile, can. The meter itself is in `bench/common.py`;
this module says which processes are ours.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from common import BenchError, CpuMeter, LoadResult, ProcessCpu

from .server import Server

CPU_GROUPS = ("gunicorn", "postgres", "redis", "client")


def cpu_meter(server: Server, monitor: psycopg.Connection, dbname: str) -> CpuMeter:
    """CPU seconds used during a measurement by gunicorn, the PostgreSQL backends of
    the bench database, redis-server, this client, and whatever else ran."""

    def find(everyone: ProcessCpu) -> dict[str, list[int]]:
        assert server.proc is not None
        backends = monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        ).fetchall()
        return {
            "gunicorn": [server.proc.pid, *server.worker_pids()],
            "postgres": [pid for (pid,) in backends],
            "redis": [pid for pid, (comm, _) in everyone.items() if comm == "redis-server"],
            "client": [os.getpid()],
        }

    return CpuMeter(CPU_GROUPS, find)


@contextlib.contextmanager
def py_spy(out_dir: Path | None, tag: str, pids: list[int]) -> Iterator[None]:
    """Sample `pids` with py-spy (collapsed stacks, one file per process) for the block."""
    if out_dir is None:
        yield
        return
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        raise BenchError("--py-spy needs py-spy: .venv/bin/pip install py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
             "--format", "raw", "--output", str(out_dir / f"{tag}-{pid}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]  # fmt: skip
    time.sleep(0.5)  # let py-spy attach before the clock starts
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@dataclass(slots=True)
class Measurer:
    """Runs one measurement with CPU accounting (and py-spy sampling if asked), so that
    every measurement of a run is taken the same way."""

    meter: CpuMeter
    server: Server
    profile_dir: Path | None

    def __call__(self, tag: str, run: Callable[[], LoadResult]) -> LoadResult:
        with py_spy(self.profile_dir, tag, self.server.worker_pids()):
            before = self.meter.snapshot()
            waited = children_cpu()
            result = run()
            result.cpu = self.meter.delta(before, self.meter.snapshot())
            # wrk runs as a child process and is gone by the second snapshot: its CPU
            # shows in this process's finished children.
            result.cpu["client"] += children_cpu() - waited
        return result


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
