"""What the soak samples every few seconds while it runs: the memory of the web's and the
worker's processes, and the backlog of the soak's orders.

Memory is PSS (proportional set size, /proc/PID/smaps_rollup) summed over each side's
process tree: gunicorn's master and its forked workers, the Celery worker and its
prefork pool. They share most of their pages with their parent; a sum of RSS would
count those once per process, and would not grow when a worker's copy-on-write pages
stop being shared, which is exactly the growth a soak looks for. PSS charges each
shared page to its sharers in parts, so the sum is what the tree costs the machine.
Where smaps_rollup is missing (kernels before 4.14), RSS is summed instead and the
report says so.

The process tree is read again at every sample: a pool process replaced by Celery, or a
gunicorn worker restarted, is followed rather than lost.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from common import libpq_url
from pipeline_parts import database

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds since the soak started
    web: float  # MiB: gunicorn's master and workers
    worker: float  # MiB: the Celery worker and its pool
    events: int  # the soak's events not yet followed up
    unexplained: int  # the soak's exceptions without notes


def process_tree(root: int) -> list[int]:
    """`root` and every process below it, from one pass over /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(text[text.rfind(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _field_kib(path: str, name: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    return None


def memory_kind() -> str:
    """PSS where the kernel gives smaps_rollup (Linux 4.14 and later), else RSS."""
    return "PSS" if Path(f"/proc/{os.getpid()}/smaps_rollup").exists() else "RSS"


def tree_mib(root: int, kind: str) -> float:
    """The tree's memory of `kind`, in MiB; a process that exits meanwhile counts 0."""
    path, name = ("smaps_rollup", "Pss:") if kind == "PSS" else ("status", "VmRSS:")
    kib = 0
    for pid in process_tree(root):
        kib += _field_kib(f"/proc/{pid}/{path}", name) or 0
    return kib * 1024 / MIB


@dataclass(slots=True)
class Sampler:
    """A thread that samples both sides and the backlog every `every` seconds from
    `t0` (time.monotonic()) until stopped. It has its own database connection: the
    bench's is used by the main thread meanwhile."""

    web_pid: int
    worker_pid: int
    database_url: str
    orders_like: str  # the soak's orders (PipelineLoad.orders_like)
    t0: float
    every: float
    kind: str = field(default_factory=memory_kind)
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: Exception | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            with psycopg.connect(libpq_url(self.database_url), autocommit=True) as db:
                while True:
                    t = time.monotonic() - self.t0
                    web = tree_mib(self.web_pid, self.kind)
                    worker = tree_mib(self.worker_pid, self.kind)
                    events, unexplained = database.backlog_like(db, self.orders_like)
                    self.samples.append(Sample(t, web, worker, events, unexplained))
                    if self._stop.wait(self.every):
                        return
        except Exception as exc:  # reported by the main thread, not lost in this one
            self.error = exc
