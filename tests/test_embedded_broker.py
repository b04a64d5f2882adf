"""The embedded (filesystem) broker delivers every task exactly once under load.

`make run` without Redis passes tasks through a folder. With kombu's stock
filesystem transport a worker could pick up a message file while the web process
was still writing it, and the task was gone. e2a_project.broker writes each message
atomically; here a real producer process publishes thousands of messages while two
consumers drain the folder at the same time, and every message arrives once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError
from kombu.transport import filesystem as stock

from e2a_project import broker

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = 3000
QUEUE = "ingest"


@pytest.fixture(autouse=True)
def _fresh_broker_state():
    """kombu remembers bindings per process, not per folder: each test's folder is new."""
    broker.Transport.global_state.clear()
    stock.Transport.global_state.clear()
    yield
    broker.Transport.global_state.clear()
    stock.Transport.global_state.clear()


def _connection(folder: Path) -> Connection:
    return Connection(
        "filesystem://",
        transport=broker.TRANSPORT_PATH,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
        },
    )


def _publish(folder: str, count: int) -> None:
    """The producer: its own process, as a web process is."""
    with _connection(Path(folder)) as conn:
        queue = conn.SimpleQueue(QUEUE)
        for i in range(count):
            queue.put({"n": i, "pad": "x" * (i % 512)})
        queue.close()


def _drain(folder: Path, received: list[int], stop: threading.Event) -> None:
    with _connection(folder) as conn:
        queue = conn.SimpleQueue(QUEUE)
        while not stop.is_set():
            try:
                message = queue.get(block=True, timeout=0.05)
            except Empty:
                continue
            received.append(message.payload["n"])
            message.ack()
        queue.close()


def test_every_message_published_while_workers_consume_arrives_exactly_once(tmp_path):
    (tmp_path / "processed").mkdir()
    received: list[list[int]] = [[], []]
    stop = threading.Event()
    consumers = [
        threading.Thread(target=_drain, args=(tmp_path, got, stop), daemon=True) for got in received
    ]
    for consumer in consumers:
        consumer.start()
    producer = multiprocessing.get_context("spawn").Process(
        target=_publish, args=(str(tmp_path), MESSAGES)
    )
    producer.start()
    producer.join(timeout=60)
    assert producer.exitcode == 0

    deadline = time.monotonic() + 30
    while sum(map(len, received)) < MESSAGES and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # anything delivered twice would show up now
    stop.set()
    for consumer in consumers:
        consumer.join(timeout=10)

    everything = received[0] + received[1]
    assert len(everything) == MESSAGES, f"{MESSAGES - len(everything)} lost or duplicated"
    assert sorted(everything) == list(range(MESSAGES))  # each once
    assert all(received), "both consumers took part"
    leftovers = [name for name in os.listdir(tmp_path) if name not in ("processed", "control")]
    assert leftovers == []
    assert os.listdir(tmp_path / "processed") == []


def test_a_message_appears_under_its_name_only_when_complete(tmp_path, monkeypatch):
    """At the moment a message gets its queue name, its whole body is already there."""
    seen: list[tuple[list[str], bytes]] = []
    replace = os.replace

    def watching_replace(source: str, target: str) -> None:
        names = [n for n in os.listdir(tmp_path) if n.endswith(f".{QUEUE}.msg")]
        seen.append((names, Path(source).read_bytes()))
        replace(source, target)

    monkeypatch.setattr(broker.os, "replace", watching_replace)
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue(QUEUE)
        queue.put({"n": 1, "pad": "y" * 100_000})
        [(names_before, body)] = seen
        assert names_before == []  # nothing a worker could claim half written
        assert json.loads(body)["properties"]["delivery_tag"]  # the whole envelope, parsed
        assert queue.get(timeout=1).payload["n"] == 1
        queue.close()


def test_a_message_still_being_written_is_left_alone(tmp_path):
    """Files of a write in progress are neither read, counted nor purged."""
    partial = tmp_path / f".tmpabc{broker.PARTIAL_SUFFIX}"
    partial.write_bytes(b'{"body": "half')
    with _connection(tmp_path) as conn:
        channel = conn.default_channel
        with pytest.raises(Empty):
            channel._get(QUEUE)
        assert channel._size(QUEUE) == 0
        assert channel._purge(QUEUE) == 0
    assert partial.exists()


def test_the_stock_transport_drops_a_message_read_while_it_is_written(tmp_path):
    """Why the transport exists, shown without a race: kombu's own writer creates the
    file under its final name before writing the body; a worker that reads it at that
    moment fails, and the message is gone from the queue for good."""
    name = f"{round(time.monotonic() * 1000)}_half.{QUEUE}.msg"
    (tmp_path / name).write_bytes(b'{"body": "eyJ')  # what a reader can meet mid-write
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "processed_folder": str(tmp_path / "processed"),
    }
    kombus_own = "kombu.transport.filesystem:Transport"  # "filesystem://" is ours now
    with Connection("filesystem://", transport=kombus_own, transport_options=options) as conn:
        channel = conn.default_channel
        assert isinstance(channel, stock.Channel)
        with pytest.raises(ValueError):  # JSON that ends half way
            channel._get(QUEUE)
        with pytest.raises(Empty):
            channel._get(QUEUE)  # and the message is no longer there
    assert not (tmp_path / name).exists()


def test_the_embedded_settings_publish_through_it_into_celery_broker_dir(tmp_path):
    """`make run`'s default broker is this transport, in the folder the variable names."""
    script = (
        "from e2a_project.celery import app\n"
        "from e2a_project.broker import Channel\n"
        "from kombu import Connection\n"
        "with app.connection_for_write() as conn:\n"
        "    assert isinstance(conn.default_channel, Channel), conn.default_channel\n"
        "with Connection('filesystem://') as conn:  # any filesystem URL in the process\n"
        "    assert isinstance(conn.default_channel, Channel), conn.default_channel\n"
        "app.send_task('slas.scan')\n"
    )
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    [message] = [n for n in os.listdir(tmp_path / "broker") if n.endswith(".msg")]
    assert message.endswith(".ingest.msg")  # slas.* is routed to the ingest queue


def test_channel_errors_name_the_folder(tmp_path):
    with _connection(tmp_path / "missing") as conn, pytest.raises(ChannelError):
        conn.default_channel._put(QUEUE, {"n": 1})
