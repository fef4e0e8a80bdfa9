"""``pyauditor queue status`` and ``pyauditor queue flush`` on real queue files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from pyauditor import AuditorClientBuilder, Record
from pyauditor.testing import AuditorTestServer
from tests.queue.test_reference_migration import insert_blob, update_blob

from .conftest import run

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
NOWHERE = "http://127.0.0.1:1"  # nothing listens: every delivery fails at once


def job(number: int, hours: int = 1) -> Record:
    return Record(f"job-{number}", T0).with_stop_time(T0 + dt.timedelta(hours=hours))


def stuck_queue(path: Path, inserts: int = 5, updates: tuple[str, ...] = ()) -> Path:
    """A pyauditor queue file whose records could not be delivered (the server was down)."""
    client = (
        AuditorClientBuilder()
        .connection_string(NOWHERE)
        .timeout(1)
        .database_path(path)
        .send_interval(3600)
        .build_queued_blocking()
    )
    client.bulk_insert([job(i) for i in range(inserts)])
    for record_id in updates:
        client.update(Record(record_id, T0).with_stop_time(T0 + dt.timedelta(hours=3)))
    client.flush()  # fails: the rows stay, with the error
    client.stop()
    return path


def python_auditor_queue(path: Path) -> Path:
    """A queue file as python-auditor 0.11 leaves it: bincode blobs in inserts/updates."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE inserts (record BLOB NOT NULL)")
        db.execute("CREATE TABLE updates (record BLOB NOT NULL)")
        for number in range(3):
            db.execute(
                "INSERT INTO inserts VALUES (?)",
                (insert_blob(f"legacy-{number}", {"site": ["s1"]}, [("cpu", 2, [("hs", 9.2)])]),),
            )
        db.execute("INSERT INTO updates VALUES (?)", (update_blob("legacy-1"),))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- status --------------------------------------------------------------------------------------


def test_status_of_a_stuck_queue(tmp_path: Path) -> None:
    path = stuck_queue(tmp_path / "queue.db", inserts=5, updates=("job-1",))
    result = run("queue", "status", str(path))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"queue {path}"
    assert "  inserts waiting:  5" in lines
    assert "  updates waiting:  1" in lines
    oldest = next(line for line in lines if line.startswith("  oldest queued:    20"))
    assert oldest.endswith(" s ago)")  # its age
    assert "  failed before:    5" in lines
    last = next(line for line in lines if line.startswith("  last error (20"))
    assert "cannot connect" in last  # the latest delivery error, with when it happened
    assert "  dead letters:     0" in lines


def test_status_never_changes_the_file(tmp_path: Path) -> None:
    path = python_auditor_queue(tmp_path / "python-auditor.db")
    before = digest(path)
    result = run("queue", "status", str(path))
    assert result.code == 0, result.err
    assert "python-auditor's tables: 3 inserts, 1 updates" in result.out
    assert digest(path) == before
    with sqlite3.connect(path) as db:  # nothing was imported: python-auditor still sees its rows
        assert db.execute("SELECT count(*) FROM inserts").fetchone() == (3,)
        assert "pyauditor_queue" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}


def test_status_as_json(tmp_path: Path) -> None:
    path = stuck_queue(tmp_path / "queue.db", inserts=2)
    report = json.loads(run("queue", "status", "--json", str(path)).out)
    assert report["inserts"] == 2
    assert report["updates"] == 0
    assert report["dead_letters"] == []
    assert report["python_auditor"] == {"inserts": 0, "updates": 0}
    assert report["oldest_queued"].endswith("Z")


def test_status_accepts_database_path_forms(tmp_path: Path) -> None:
    path = stuck_queue(tmp_path / "queue.db", inserts=1)
    assert run("queue", "status", f"sqlite://{path}").code == 0
    assert run("queue", "status", ":memory:").code == 2


@pytest.mark.parametrize("content", [None, b"not a database at all, just text" * 100, "empty-db"])
def test_status_of_something_else(tmp_path: Path, content: bytes | str | None) -> None:
    path = tmp_path / "other.db"
    if content == "empty-db":
        sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = run("queue", "status", str(path))
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert result.err.startswith("pyauditor queue: error: ")


# -- flush ---------------------------------------------------------------------------------------


def test_flush_delivers_and_reports_dead_letters(server: AuditorTestServer, tmp_path: Path) -> None:
    path = stuck_queue(tmp_path / "queue.db", inserts=5, updates=("job-2", "job-unknown"))
    result = run("queue", "flush", str(path), server.url)
    assert result.code == 1  # a record was refused for good
    assert "delivered 6, dead letters added 1, still queued 0" in result.out
    assert "dead letter #1 update 'job-unknown' (HTTP 404): Updating unknown record" in result.out
    assert result.err == ""  # the sender's own log lines are not repeated
    assert server.count() == 5
    assert server.record("job-2")["runtime"] == 3 * 3600  # type: ignore[index]

    status = run("queue", "status", str(path))
    assert "  dead letters:     1" in status.out
    assert "#1 update 'job-unknown' (HTTP 404" in status.out

    # Once the server has the record, the dead letter can be sent again.
    AuditorClientBuilder().connection_string(server.url).build_blocking().add(
        Record("job-unknown", T0)
    )
    again = run("queue", "flush", "--retry-dead-letters", str(path), server.url)
    assert again.code == 0, again
    assert "requeued 1 dead letters" in again.out
    assert "delivered 1, dead letters added 0, still queued 0" in again.out
    assert server.record("job-unknown")["stop_time"] == "2024-05-01T03:00:00Z"  # type: ignore[index]


def test_flush_imports_a_python_auditor_queue(server: AuditorTestServer, tmp_path: Path) -> None:
    path = python_auditor_queue(tmp_path / "python-auditor.db")
    result = run("queue", "flush", str(path), server.url)
    assert result.code == 0, result
    assert "imported 4 records from python-auditor's tables" in result.out
    assert "delivered 4, dead letters added 0, still queued 0" in result.out
    assert sorted(r["record_id"] for r in server.records()) == [
        "legacy-0",
        "legacy-1",
        "legacy-2",
    ]
    assert server.record("legacy-1")["stop_time"] == "2022-08-08T12:30:00Z"  # type: ignore[index]


def test_flush_to_a_server_that_is_down(tmp_path: Path) -> None:
    path = stuck_queue(tmp_path / "queue.db", inserts=3)
    result = run("queue", "flush", "--timeout", "1", str(path), NOWHERE)
    assert result.code == 1
    assert "still queued 3" in result.out
    [line] = result.err.splitlines()
    assert line.startswith("pyauditor queue: error: 3 records are still queued")
    assert "cannot connect" in line
    assert json.loads(run("queue", "status", "--json", str(path)).out)["inserts"] == 3


def test_flush_uses_auditor_url(
    server: AuditorTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = stuck_queue(tmp_path / "queue.db", inserts=2)
    assert run("queue", "flush", str(path)).code == 2  # no URL anywhere
    monkeypatch.setenv("AUDITOR_URL", server.url)
    assert run("queue", "flush", str(path)).code == 0
    assert server.count() == 2


def test_flush_needs_an_existing_file(server: AuditorTestServer, tmp_path: Path) -> None:
    result = run("queue", "flush", str(tmp_path / "typo.db"), server.url)
    assert result.code == 1
    assert "no queue file at" in result.err
    assert not (tmp_path / "typo.db").exists()  # not created by mistake


def test_flush_of_a_large_queue(auditor_server: AuditorTestServer, tmp_path: Path) -> None:
    path = stuck_queue(tmp_path / "queue.db", inserts=5000)
    result = run("queue", "flush", str(path), auditor_server.url)
    assert result.code == 0, result
    assert "delivered 5,000, dead letters added 0, still queued 0" in result.out
    assert auditor_server.count() == 5000


def test_flush_json(server: AuditorTestServer, tmp_path: Path) -> None:
    path = stuck_queue(tmp_path / "queue.db", inserts=4)
    result = run("queue", "flush", "--json", str(path), server.url)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["delivered"] == 4
    assert (summary["still_queued"], summary["dead_letters_added"]) == (0, 0)
    assert summary["new_dead_letters"] == []
    assert summary["error"] is None
    assert summary["queue"] == str(path)
