"""The Procfile's worker line beside the bench's gunicorn, with the no-op task included."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from common import BenchError, progress
from ingest_parts.server import ROOT

BENCH = Path(__file__).resolve().parents[1]


def procfile_worker() -> list[str]:
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("worker:"))
    return shlex.split(line.removeprefix("worker:"))


@contextlib.contextmanager
def celery_worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """Start it, wait until it is ready, and stop its whole process group at the end."""
    full = {**env, "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH)])}
    argv = [*procfile_worker(), "--include", "pipeline_parts.noop"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise BenchError(f"the Celery worker did not start:\n{tail}")
            time.sleep(0.2)
        progress(f"celery worker up (pid {proc.pid}): {' '.join(argv[:2])} …")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
