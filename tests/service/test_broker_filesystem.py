"""The embedded broker (filesystem://) writes a message whole before a reader can see it
(autograder.broker_filesystem): kombu's own transport made the file where readers look, then
filled it, and a worker that read it empty died with an "unrecoverable" JSONDecodeError (QA)."""

from __future__ import annotations

import pytest
from kombu import Connection
from kombu.transport import filesystem

import autograder.celery  # noqa: F401 - registers the transport for filesystem://
from autograder import broker_filesystem


def _connection(folder) -> Connection:
    return Connection(
        "filesystem://",
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False},
    )


def test_filesystem_urls_use_the_whole_message_transport(tmp_path):
    with _connection(tmp_path) as connection:
        assert isinstance(connection.transport, broker_filesystem.Transport)


def test_no_message_file_is_visible_while_it_is_written(tmp_path, monkeypatch):
    """While a payload is being encoded and written, the folder holds no empty *.msg file (no
    message a reader could take half-written): kombu's transport had created it empty by then."""
    seen_while_writing: list[list[str]] = []
    real_dumps = broker_filesystem.dumps

    def dumps_and_look(payload):
        seen_while_writing.append(sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".msg") and p.stat().st_size == 0))
        return real_dumps(payload)

    monkeypatch.setattr(broker_filesystem, "dumps", dumps_and_look)
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("grading")
        queue.put({"submission": 1})
        queue.put({"submission": 2})
        assert seen_while_writing and all(names == [] for names in seen_while_writing), seen_while_writing
        got = [queue.get(timeout=1) for _ in range(2)]
        assert [m.payload for m in got] == [{"submission": 1}, {"submission": 2}]
        for message in got:
            message.ack()
        queue.close()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".exchange")] == []


def test_messages_are_read_in_the_order_they_were_put(tmp_path):
    """Many messages put within one millisecond come back in put order (kombu's names sorted
    two messages of one millisecond by a random uuid; CI read submission 2 before 1)."""
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("grading")
        for number in range(200):
            queue.put({"submission": number})
        got = [queue.get(timeout=1) for _ in range(200)]
        assert [m.payload["submission"] for m in got] == list(range(200))
        for message in got:
            message.ack()
        queue.close()


def test_messages_left_under_kombus_names_are_read_first(tmp_path):
    """A message kombu's own transport wrote before an upgrade (named by milliseconds) is read
    before one put after it: our names sort after kombu's digit-led ones."""
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "store_processed": False}
    with Connection("filesystem://", transport=filesystem.Transport, transport_options=options) as kombus:
        kombus.SimpleQueue("grading").put({"submission": 1})
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("grading")
        queue.put({"submission": 2})
        names = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".grading.msg"))
        assert names[0][0].isdigit() and names[1].startswith("t"), names
        got = [queue.get(timeout=1) for _ in range(2)]
        assert [m.payload for m in got] == [{"submission": 1}, {"submission": 2}]
        for message in got:
            message.ack()
        queue.close()


def test_a_write_that_fails_leaves_no_message_behind(tmp_path, monkeypatch):
    def broken(_payload):
        raise OSError("disk full")

    monkeypatch.setattr(broker_filesystem, "dumps", broken)
    with _connection(tmp_path) as connection, pytest.raises(Exception, match="Cannot add file"):
        connection.SimpleQueue("grading").put({"submission": 1})
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".msg")]
