"""gunicorn settings, read from the environment (same file for `make run` and Docker)."""

import json
import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threaded (gthread) workers by default: their poller hands a connection to a thread
# only once its request has arrived, so a sender that connects and then waits (a
# pooled connection, a paced client, a slow network) holds no worker. A sync worker
# blocks on such a connection until it speaks: under bench/pipeline.py's paced
# senders that capped web + worker at 0.27x of ingestion alone, against 0.82x with
# gthread, for about the same flat-out rate. WEB_THREADS=1 runs sync workers.
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG", "-") or None
# One JSON object per request, carrying the correlation id the app echoed back.
_service = json.dumps(os.environ.get("SERVICE_NAME", "e2a"))
access_log_format = (
    f'{{"event": "http_request", "service": {_service}, '
    '"method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
    '"duration_ms": %(M)s, "bytes": "%(b)s", "remote": "%(h)s", '
    '"correlation_id": "%({x-correlation-id}o)s"}'
)

# gunicornc's control socket. gunicorn's default is one path per user's home
# directory, so a second gunicorn on the host (another checkout, a test, a second
# instance) silently takes it over and removes it when it stops. One socket per
# checkout and port instead; GUNICORN_CONTROL_SOCKET names another path or "off".
_control = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
if _control.lower() in ("off", "0", "false", "no"):
    control_socket_disable = True
else:
    _first = bind.split(",")[0].strip()
    _tag = Path(_first[5:]).stem if _first.startswith("unix:") else _first.rsplit(":", 1)[-1]
    _default = Path(__file__).resolve().parent.parent / "var" / "run" / f"gunicorn-{_tag}.ctl"
    control_socket = _control or str(_default)
    Path(control_socket).parent.mkdir(parents=True, exist_ok=True)


def _gc_thresholds(raw: str) -> tuple[int, ...]:
    """WEB_GC_THRESHOLDS, read when the config loads: a bad value stops gunicorn at
    start with this message instead of failing every worker's boot."""
    try:
        parts = tuple(int(part) for part in raw.split(","))
    except ValueError:
        parts = ()
    if not 1 <= len(parts) <= 3 or any(part < 0 for part in parts):
        raise SystemExit(
            f"WEB_GC_THRESHOLDS must be 1 to 3 whole numbers, like 50000,20,100: {raw!r}"
        )
    return parts


GC_THRESHOLDS = _gc_thresholds(os.environ.get("WEB_GC_THRESHOLDS") or "50000,20,100")
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10

# /metrics must add up the counters of every worker process: prometheus_client's
# multiprocess mode keeps them in files under this directory.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"e2a-prometheus-{os.getpid()}")
)


def on_starting(server):
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def on_exit(server):
    # The counter files belong to this master's run; the next run starts empty anyway.
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def post_worker_init(worker):  # gunicorn hook
    # Everything imported so far lives as long as the worker: keep it out of the
    # garbage collector's generations so collections stay short under load.
    import gc

    gc.freeze()
    # Collect young objects every 50,000 allocations instead of every 700, and the
    # oldest generation a tenth as often: a 1000-event batch allocates a few hundred
    # thousand short-lived objects, and with the defaults the collector was ~8% of
    # its CPU time (bench/ingest.py's batches; single events were unaffected). The
    # memory held in between is a few MB per worker. WEB_GC_THRESHOLDS=700,10,10
    # restores Python's defaults.
    gc.set_threshold(*GC_THRESHOLDS)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):  # gunicorn hook, in the exiting worker
    # Publish follow-ups still waiting in the coalescing window instead of
    # leaving them to the beat sweep.
    from orders.dispatch import followup_publisher

    followup_publisher.flush()
