"""kombu's filesystem transport (the embedded default broker, no server), with each message
written under a temporary name and renamed into place: kombu's own writes the file where the
reader looks, then locks and fills it, and a reader that takes no lock can read it empty. That
JSONDecodeError is "unrecoverable" for a Celery worker: it died, losing the message it read
(QA: a worker restart in `make run`). A rename within one folder is atomic, so a reader sees the
whole message or none.

Registered as the transport of `filesystem://` URLs by autograder.celery.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put a message onto `queue`: written to a name readers skip (it has no ".<queue>.msg"
        after its first dot), then renamed to kombu's name for it."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        partial = os.path.join(self.data_folder_out, f"writing-{uuid.uuid4().hex}")
        try:
            with open(partial, "wb") as out:
                out.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {name!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
