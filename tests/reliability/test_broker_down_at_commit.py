"""The broker unreachable when events commit: the sweep delivers their follow-ups later.

Ingestion commits the event first and publishes its follow-up task after the
commit; a publish that fails is logged, and beat's sweep
(`orders.sweep_unprocessed_events`) later queues every event whose follow-up never
ran. Here the broker (a Redis of this test's own, also the cache) is down for the
whole of a burst of events: every event must still be accepted (2xx) and stored
once, none processed while the broker is away; once it is back, the sweep, sent
by name as beat sends it, gets every follow-up done, and nothing is done twice
(each order counts each event once and has one pick clock row).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from ..private_services import private_backends
from ..served import served_app
from .matrix import FaultRow, record
from .senders import Sender, event_body, statuses

pytestmark = [pytest.mark.proof, pytest.mark.pg_server]

EVENTS = 300
ORDERS = 60
SENDERS = 3
SWEEP_AFTER_SECONDS = 2  # INGEST_SWEEP_AFTER_SECONDS: 120 in production
SWEEP_EVERY_SECONDS = 3.0  # beat sends it every 60 s
CATCH_UP_SECONDS = 90


def test_events_committed_while_the_broker_is_down_are_swept_later(tmp_path, served_static):
    started = time.monotonic()
    with private_backends(tmp_path) as backends:
        cluster, redis = backends.cluster, backends.redis
        env = {**backends.env, "INGEST_SWEEP_AFTER_SECONDS": str(SWEEP_AFTER_SECONDS)}
        with served_app(tmp_path, served_static, worker=True, env=env) as app:
            key = app.create_tenant_with_key("brokerdown")
            counts = backends.event_counts

            redis.kill()
            down_at = time.monotonic()
            run = uuid.uuid4().hex[:8]
            events = [
                (f"{run}-{i}", event_body(f"{run}-{i}", f"#{run}-o{i % ORDERS}"))
                for i in range(EVENTS)
            ]
            senders = [Sender(app.url, key, events[n::SENDERS]) for n in range(SENDERS)]
            stop_at = time.monotonic() + 60
            threads = [threading.Thread(target=s, args=(stop_at,), daemon=True) for s in senders]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=65)
            while_down = counts()
            redis.start()
            up_at, up_wall = time.monotonic(), time.time()

            sweeps = 0
            last_sweep = float("-inf")
            while counts()[2] < counts()[0] and time.monotonic() - up_at < CATCH_UP_SECONDS:
                if time.monotonic() - last_sweep >= SWEEP_EVERY_SECONDS:
                    app.celery_call("orders.sweep_unprocessed_events")
                    sweeps += 1
                    last_sweep = time.monotonic()
                time.sleep(0.25)
            rows, distinct, processed = counts()
            ((last_processed,),) = cluster.query(
                "e2a", "SELECT extract(epoch FROM max(processed_at)) FROM orders_orderevent"
            )
            ((projected, orders),) = cluster.query(
                "e2a", "SELECT coalesce(sum(event_count), 0), count(*) FROM orders_order"
            )
            # The follow-up writes each order's pick clock row: one per order, once.
            ((clocks, clocked),) = cluster.query(
                "e2a", "SELECT count(*), count(DISTINCT order_id) FROM slas_stageclock"
            )
            web_log = (app.logs / "web.log").read_text(errors="replace")
            answers = [a for s in senders for a in s.answers]
            sent = {event_id for s in senders for event_id in s.sent}
            caught_up = processed == rows
            record(
                FaultRow(
                    fault="Broker unreachable at commit time",
                    what_was_done=f"Redis (broker and cache) SIGKILLed, {EVENTS} events from"
                    f" {SENDERS} senders committed while it was down, Redis started again;"
                    f" the sweep sent by name every {SWEEP_EVERY_SECONDS:.0f} s",
                    sent=len(sent),
                    stored=distinct,
                    doubled=(rows - distinct) + (projected - rows) + (clocks - clocked),
                    answers=statuses(answers),
                    recovery_seconds=round(float(last_processed) - up_wall, 1)
                    if caught_up
                    else None,
                    notes=f"{while_down[2]} of {while_down[0]} processed while the broker was"
                    f" down; {web_log.count('follow-up publish failed')} publishes failed;"
                    f" {processed} of {rows} processed after {sweeps} sweep(s); sweep age"
                    f" {SWEEP_AFTER_SECONDS} s here (120 s in production)",
                )
            )
            print(
                f"\nbroker down {up_at - down_at:.1f} s: {len(sent)} events accepted"
                f" ({statuses(answers)}), {while_down[0]} stored, {while_down[2]} processed"
                f" while down; {processed}/{rows} processed after {sweeps} sweeps;"
                f" whole test {time.monotonic() - started:.0f} s"
            )
            assert all(s.done for s in senders)
            assert statuses(answers) == {"202": EVENTS}  # the broker is not needed to accept
            assert len(sent) == distinct == rows == EVENTS
            assert while_down[2] == 0  # nothing could be processed without a broker
            assert caught_up, f"{processed} of {rows} processed"
            assert projected == rows and orders == ORDERS  # each event counted once
            assert clocks == clocked == ORDERS  # each follow-up's clock row written once
            assert "Internal Server Error" not in web_log
