"""Bad queue files (issue 14 items 9 and 10): damaged, foreign, tampered, failing storage.

A file that is not a usable pyauditor or python-auditor queue is refused when the client is
built, with a ``QueueError`` saying why, and is left exactly as it was: same bytes, no table
added, no WAL switched on.  Storage that fails later makes ``flush()`` raise instead of
returning as if all were well.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from pyauditor import (
    AuditorClientBuilder,
    QueuedAuditorClientBlocking,
    QueueError,
    Record,
    ValidationError,
)
from pyauditor._queue import QueueStore, parse_database_path
from pyauditor.cli import main

from ..queue.fakes import T0


def fingerprint(path: Path) -> tuple[str, list[str]]:
    """The file's bytes and the names of the files beside it (-wal, -shm, -journal)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, sorted(p.name for p in path.parent.iterdir())


def builder(path: Path) -> AuditorClientBuilder:
    # Port 9 (discard): nothing answers, nothing is needed.
    return AuditorClientBuilder().address("127.0.0.1", 9).database_path(path).send_interval(3600)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.BytesIO())
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def refused() -> Callable[[Path, str], None]:
    """Check that ``path`` is refused by every way of opening it, and left untouched."""

    def check(path: Path, message: str) -> None:
        before = fingerprint(path)
        with pytest.raises(QueueError, match=message) as caught:
            builder(path).build_queued_blocking()
        assert "left untouched" in str(caught.value)
        assert "\n" not in str(caught.value)
        assert fingerprint(path) == before
        for argv in (
            ["queue", "status", str(path)],
            ["queue", "flush", str(path), "http://127.0.0.1:9"],
        ):
            code, out, err = cli(*argv)
            assert code == 1, (out, err)
            [line] = err.strip().splitlines()  # one line, no traceback
            assert "left untouched" in line
            assert fingerprint(path) == before

    return check


def a_queue(path: Path, records: int = 2000) -> None:
    store = QueueStore(parse_database_path(str(path)))
    padding = "y" * 200
    store.enqueue(
        ("insert", f"r{i}", f'{{"record_id":"r{i}","x":"{padding}"}}') for i in range(records)
    )
    store.close()


def test_a_damaged_queue_file_is_refused_untouched(
    tmp_path: Path, refused: Callable[[Path, str], None]
) -> None:
    path = tmp_path / "queue.db"
    a_queue(path)
    data = bytearray(path.read_bytes())
    assert len(data) > 40_000
    data[20_000:24_000] = b"\xa5" * 4000  # pages in the middle of the queue table
    path.write_bytes(bytes(data))
    refused(path, "is damaged")


def test_a_file_that_is_no_database_is_refused_untouched(
    tmp_path: Path, refused: Callable[[Path, str], None]
) -> None:
    path = tmp_path / "queue.db"
    path.write_bytes(b"this is a text file, not a database\n" * 500)
    refused(path, "not a usable SQLite database")


def test_another_programs_inserts_table_is_refused_untouched(
    tmp_path: Path, refused: Callable[[Path, str], None]
) -> None:
    # Issue 14 item 10: an `inserts` table of TEXT records and user_version=1.
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE inserts (id INTEGER PRIMARY KEY, record TEXT)")
        conn.execute("INSERT INTO inserts (record) VALUES ('not a bincode blob')")
        conn.execute("PRAGMA user_version=1")
    conn.close()
    refused(path, "not python-auditor's")


@pytest.mark.parametrize(
    "setup",
    [
        ["PRAGMA user_version=1"],
        ["CREATE TABLE users (name TEXT)"],
        ["PRAGMA application_id=252006673"],  # Fossil's
        ["CREATE TABLE pyauditor_queue (seq INTEGER PRIMARY KEY)", "PRAGMA user_version=1"],
        ["CREATE TABLE inserts (record BLOB NOT NULL)", "CREATE TABLE accounts (x)"],
    ],
    ids=["user-version-only", "other-tables", "other-application-id", "other-columns", "mixed"],
)
def test_other_databases_are_refused_untouched(
    tmp_path: Path, refused: Callable[[Path, str], None], setup: list[str]
) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        for statement in setup:
            conn.execute(statement)
    conn.close()
    refused(path, "is not a pyauditor or python-auditor queue file")


def test_a_python_auditor_row_that_is_not_a_blob_stays_where_it_is(tmp_path: Path) -> None:
    # python-auditor's own layout, with a row another program wrote into it: no TypeError.
    path = tmp_path / "ref.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE inserts (record BLOB NOT NULL)")
        conn.execute("CREATE TABLE updates (record BLOB NOT NULL)")
        conn.execute("INSERT INTO inserts (record) VALUES ('some text')")
    conn.close()
    client = builder(path).build_queued_blocking()
    try:
        assert client.pending().queued == 0
    finally:
        client.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT record FROM inserts").fetchall() == [("some text",)]
    conn.close()


def test_flush_raises_when_the_storage_fails(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    client: QueuedAuditorClientBlocking = builder(path).build_queued_blocking()
    try:
        client.add(Record("a", T0))
        with sqlite3.connect(path) as other:  # something clobbers the file's tables
            other.execute("DROP TABLE pyauditor_queue")
        other.close()
        with pytest.raises(QueueError, match="no such table"):
            client.flush()
        with pytest.raises(QueueError):
            client.add(Record("b", T0))
    finally:
        client.stop()


async def test_flush_raises_when_the_storage_fails_async(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    client = await builder(path).build_queued()
    try:
        await client.add(Record("a", T0))
        with sqlite3.connect(path) as other:
            other.execute("DROP TABLE pyauditor_queue")
        other.close()
        with pytest.raises(QueueError, match="no such table"):
            await client.flush()
    finally:
        await client.stop()


@pytest.mark.parametrize("value", ["1e300", "'yesterday'", "-1e20", "x'00'"])
def test_a_tampered_dead_letter_timestamp_is_a_queue_error(tmp_path: Path, value: str) -> None:
    path = tmp_path / "queue.db"
    store = QueueStore(parse_database_path(str(path)))
    store.enqueue([("insert", "a", '{"record_id":"a"}')])
    from pyauditor._queue import DeadLetterEntry, StoreCommit

    store.apply(StoreCommit(dead=(DeadLetterEntry(store.next_inserts(0, 1)[0].seq, 400, "x"),)))
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA ignore_check_constraints=1")
        conn.execute(f"UPDATE pyauditor_dead_letters SET failed_at = {value}")
    conn.close()
    client = builder(path).build_queued_blocking()
    try:
        with pytest.raises(QueueError, match="dead letter #1's failed_at holds"):
            client.dead_letters()
    finally:
        client.stop()
    code, _, err = cli("queue", "status", str(path))
    assert code == 1
    assert "failed_at holds" in err
    assert len(err.strip().splitlines()) == 1


def test_retrying_dead_letters_by_a_wrong_id_is_a_typed_error(tmp_path: Path) -> None:
    client = builder(tmp_path / "queue.db").build_queued_blocking()
    try:
        with pytest.raises(ValidationError, match=r"dead-letter ids are the int DeadLetter\.id"):
            client.retry_dead_letters(["abc"])  # type: ignore[list-item]
        with pytest.raises(ValidationError):
            client.delete_dead_letters([1.5])  # type: ignore[list-item]
    finally:
        client.stop()
