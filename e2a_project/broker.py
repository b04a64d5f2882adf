"""The embedded broker: kombu's filesystem transport, made safe for concurrent use.

`make run` on a laptop has no Redis, so web, worker and beat pass tasks through a
folder (`CELERY_BROKER_URL=filesystem://`, `CELERY_BROKER_DIR`). kombu's stock
filesystem transport loses and duplicates messages when a producer and a consumer
work at the same time (measured: about 5 of 4,000 lost):

* it creates each message file under its final name in the watched folder and only
  then writes the body, so a worker polling the folder can claim the file while it
  is still empty or half written; the body fails to decode and the file is already
  gone: the task is lost;
* a consumer claims a file with `shutil.move` into the system temp folder, which
  is a copy and a delete when that folder is on another filesystem, so two workers
  can both copy (and run) one message.

Here a message is written to a hidden temporary file in the same folder and
renamed into place (`os.replace`, atomic within one filesystem), so a file under a
message name is always complete; consumers claim a message by renaming it into the
processed folder next to it, which exactly one of them can do. The settings make
`filesystem://` name this transport (`use_for_filesystem_urls`), so the URL operators
write stays kombu's.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu import transport as kombu_transport
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

#: Suffix of a message still being written. Such files start with a dot as well, so
#: kombu's own name matching (`<stamp>_<uuid>.<queue>.msg`) never takes them either.
PARTIAL_SUFFIX = ".partial"

#: The transport as kombu imports it.
TRANSPORT_PATH = "e2a_project.broker:Transport"


def _is_partial(filename: str) -> bool:
    return filename.startswith(".") or filename.endswith(PARTIAL_SUFFIX)


class Channel(filesystem.Channel):
    """Writes each message atomically and claims each one with a single rename."""

    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:
        """Put `payload` onto `queue`: complete under its final name, or not there at all."""
        # Zero-padded so names sort in publishing order as plain strings, whatever
        # the number of digits the monotonic clock has reached.
        name = f"{round(monotonic() * 1000):015d}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        final = os.path.join(folder, name)
        try:
            fd, partial = tempfile.mkstemp(dir=folder, prefix=".", suffix=PARTIAL_SUFFIX)
        except OSError as exc:
            raise ChannelError(f"Cannot add a message file to {folder!r}") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str) -> dict[str, Any]:
        """Take the oldest complete message of `queue`, or raise `Empty`."""
        wanted = f"{queue}.msg"
        claimed_folder = self.processed_folder
        os.makedirs(claimed_folder, exist_ok=True)
        for filename in sorted(os.listdir(self.data_folder_in)):
            if _is_partial(filename) or filename.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(claimed_folder, filename)
            try:
                # One rename within the broker folder's filesystem: of several
                # workers reaching for this file, exactly one succeeds.
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except FileNotFoundError:
                continue  # another consumer took it first
            except OSError as exc:
                raise ChannelError(f"Cannot claim {filename!r} from the queue") from exc
            try:
                with open(claimed, "rb") as handle:
                    payload = handle.read()
                if not self.store_processed:
                    os.remove(claimed)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()

    def _size(self, queue: str) -> int:
        wanted = f"{queue}.msg"
        return sum(
            1
            for filename in os.listdir(self.data_folder_in)
            if not _is_partial(filename) and filename.partition(".")[2] == wanted
        )

    @property
    def processed_folder(self) -> str:
        """Where claimed messages go: next to the queue folder, never the system temp.

        The claim must be a rename on one filesystem to be atomic; the system temp
        folder (kombu's choice when processed messages are not kept) may be another.
        """
        options = self.transport_options
        if "processed_folder" in options:
            return options["processed_folder"]
        return os.path.join(self.data_folder_in, "processed")


class Transport(filesystem.Transport):
    """kombu's filesystem transport with `Channel`'s atomic writes and claims."""

    Channel = Channel
    # A state of its own: kombu's is shared by every filesystem transport in the process.
    global_state = filesystem.virtual.BrokerState()
    driver_type = "filesystem"
    driver_name = "e2a-filesystem"


def use_for_filesystem_urls() -> None:
    """Make every `filesystem://` URL in this process mean this transport.

    An alias rather than Celery's `broker_transport` setting: that one would also
    override a Redis URL given later (Celery lets the CELERY_BROKER_URL environment
    variable win over the settings), while an alias applies to filesystem URLs only.
    kombu caches resolved names, so a cached stock class is dropped as well.
    """
    kombu_transport.TRANSPORT_ALIASES["filesystem"] = TRANSPORT_PATH
    # Private in kombu 5.x; should it go, settings still import, and
    # tests/test_embedded_broker.py (the settings' broker is ours) says so.
    getattr(kombu_transport, "_transport_cache", {}).pop("filesystem", None)
