"""The queue's storage: paths, file, schema, transactions, dead letters."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from pyauditor import ConfigurationError, QueueError, ValidationError
from pyauditor._queue import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    DatabaseLocation,
    DeadLetterEntry,
    QueueStatus,
    QueueStore,
    StoreCommit,
    parse_database_path,
    read_queue_file,
)

from .fakes import body


def open_store(path: Path | str, **kwargs: object) -> QueueStore:
    return QueueStore(parse_database_path(str(path)), **kwargs)  # type: ignore[arg-type]


# -- database_path forms --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/srv/q.db", "/srv/q.db"),
        ("sqlite:///srv/q.db", "/srv/q.db"),
        ("sqlite:/srv/q.db", "/srv/q.db"),
        ("sqlite://rel.db", "rel.db"),
        ("sqlite:rel.db", "rel.db"),
        ("rel.db", "rel.db"),
        ("/srv/q.db?mode=rwc", "/srv/q.db"),
        ("sqlite:///srv/q.db?mode=rw&cache=shared", "/srv/q.db"),
        ("/srv/with%20space.db", "/srv/with space.db"),
        ("/srv/with space.db", "/srv/with space.db"),
    ],
)
def test_path_forms(given: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "is_dir", lambda self: str(self) in ("/srv", os.getcwd()))
    assert parse_database_path(given).path == Path(expected)


@pytest.mark.parametrize(
    "given", [None, ":memory:", "sqlite::memory:", "sqlite://:memory:", "sqlite://?mode=memory"]
)
def test_in_memory_forms(given: str | None) -> None:
    assert parse_database_path(given).in_memory


def test_busy_timeout_option() -> None:
    assert parse_database_path(":memory:?_busy_timeout=500ms").busy_timeout == 0.5
    assert parse_database_path(":memory:?_busy_timeout=5s").busy_timeout == 5.0


def test_path_like_objects_are_accepted(tmp_path: Path) -> None:
    assert parse_database_path(tmp_path / "q.db").path == tmp_path / "q.db"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "names no file"),
        ("sqlite://", "names no file"),
        ("  ", "names no file"),
        ("/q.db?mode=ro", "mode=ro"),
        ("/q.db?mode=bogus", "unknown mode"),
        ("/q.db?vfs=unix", "unsupported option 'vfs'"),
        ("/q.db?_busy_timeout=soon", "_busy_timeout"),
        ("/no/such/dir/q.db", "does not exist"),
        ("/tmp", "is a directory"),
    ],
)
def test_unusable_paths_are_configuration_errors(given: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_database_path(given)


def test_a_path_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_database_path(5)  # type: ignore[arg-type]


def test_a_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("relative.db").close()
    assert (tmp_path / "relative.db").is_file()


# -- the file ------------------------------------------------------------------------------


def test_a_new_file_and_its_side_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = open_store(path)
    store.enqueue([("insert", "a", body("a"))])
    for name in ("q.db", "q.db-wal", "q.db-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    store.close()


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    open_store(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_wal_and_synchronous_full_by_default(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.db")
    conn = store._db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    store.close()
    assert open_store(tmp_path / "q.db", synchronous="NORMAL")._db.conn.execute(
        "PRAGMA synchronous"
    ).fetchone() == (1,)


def test_an_unknown_synchronous_mode_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="synchronous"):
        QueueStore(DatabaseLocation(None), synchronous="SOMETIMES")  # type: ignore[arg-type]


def test_a_file_that_is_not_a_database_is_a_queue_error(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(QueueError, match=r"q\.db"):
        open_store(path)


def test_a_file_of_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        conn.execute("CREATE TABLE pyauditor_queue_v3 (x)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(QueueError, match="newer pyauditor"):
        open_store(path)
    assert path.read_bytes() == before


def test_an_unwritable_directory_is_a_queue_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes regardless of permissions")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(QueueError, match="cannot create"):
            open_store(tmp_path / "q.db")
    finally:
        tmp_path.chmod(0o700)


def test_a_path_that_cannot_be_created_is_a_queue_error(tmp_path: Path) -> None:
    (tmp_path / "q.db").symlink_to(tmp_path / "missing" / "q.db")
    with pytest.raises(QueueError, match="cannot create"):
        open_store(tmp_path / "q.db")


def test_a_path_that_is_not_a_regular_file_is_a_queue_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(QueueError, match="not a regular file"):
        open_store(tmp_path / "fifo")


def test_rows_survive_reopening(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.db")
    store.enqueue([("insert", "a", body("a")), ("update", "a", body("a", "2022-08-08T12:30:00Z"))])
    store.close()
    store = open_store(tmp_path / "q.db")
    assert store.status() == QueueStatus(1, 1, 0)
    assert [r.record_id for r in store.next_inserts(0, 10)] == ["a"]


# -- transactions --------------------------------------------------------------------------


def test_an_enqueue_is_all_or_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.db")

    def items():  # type: ignore[no-untyped-def]
        yield ("insert", "a", body("a"))
        yield ("bogus", "b", body("b"))  # violates the CHECK constraint

    with pytest.raises(QueueError):
        store.enqueue(items())
    assert store.status() == QueueStatus(0, 0, 0)
    store.enqueue([("insert", "c", body("c"))])  # the store is still usable
    assert store.status().inserts == 1


def test_an_empty_enqueue_writes_nothing() -> None:
    store = QueueStore(DatabaseLocation(None))
    assert store.enqueue([]) == 0


def test_positions_are_never_reused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.db")
    store.enqueue([("insert", "a", body("a")), ("insert", "b", body("b"))])
    last = store.next_inserts(0, 10)[-1].seq
    store.apply(StoreCommit(delivered=(last,)))
    store.enqueue([("insert", "c", body("c"))])
    assert store.next_inserts(last, 10)[0].record_id == "c"


def test_threads_can_share_the_store(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.db", synchronous="NORMAL")

    def work(n: int) -> None:
        for i in range(50):
            store.enqueue([("insert", f"{n}-{i}", body(f"{n}-{i}"))])
            store.status()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.status().inserts == 200


def test_two_processes_worth_of_connections_can_write_one_file(tmp_path: Path) -> None:
    first = open_store(tmp_path / "q.db")
    second = open_store(tmp_path / "q.db")
    first.enqueue([("insert", "a", body("a"))])
    second.enqueue([("insert", "b", body("b"))])
    assert [r.record_id for r in first.next_inserts(0, 10)] == ["a", "b"]


# -- outcomes and dead letters -------------------------------------------------------------


def test_apply_deletes_buries_and_counts_in_one_go() -> None:
    store = QueueStore(DatabaseLocation(None))
    store.enqueue(("insert", i, body(i)) for i in "abc")
    a, b, c = (r.seq for r in store.next_inserts(0, 10))
    store.apply(
        StoreCommit(
            delivered=(a,), dead=(DeadLetterEntry(b, 400, "bad"),), failed=(c,), error="503 busy"
        )
    )
    assert store.status() == QueueStatus(1, 0, 1)
    (row,) = store.next_inserts(0, 10)
    assert (row.record_id, row.attempts) == ("c", 1)
    (dead,) = store.dead_letters()
    assert (dead.record_id, dead.kind, dead.status_code, dead.reason, dead.body) == (
        "b",
        "insert",
        400,
        "bad",
        body("b"),
    )
    assert dead.failed_at >= dead.enqueued_at
    assert dead.failed_at.tzinfo is not None


def test_dead_letters_can_be_retried_in_their_original_place() -> None:
    store = QueueStore(DatabaseLocation(None))
    store.enqueue(("insert", i, body(i)) for i in "abc")
    a, b, c = (r.seq for r in store.next_inserts(0, 10))
    store.apply(StoreCommit(dead=(DeadLetterEntry(a, 400, "bad"), DeadLetterEntry(c, 400, "bad"))))
    first, _ = store.dead_letters()
    assert store.retry_dead_letters([first.id]) == 1
    assert [r.record_id for r in store.next_inserts(0, 10)] == ["a", "b"]
    assert store.retry_dead_letters() == 1
    assert store.retry_dead_letters() == 0
    assert [r.seq for r in store.next_inserts(0, 10)] == [a, b, c]
    assert store.status() == QueueStatus(3, 0, 0)


def test_dead_letters_can_be_deleted() -> None:
    store = QueueStore(DatabaseLocation(None))
    store.enqueue(("insert", i, body(i)) for i in "ab")
    a, b = (r.seq for r in store.next_inserts(0, 10))
    store.apply(StoreCommit(dead=(DeadLetterEntry(a, 400, "x"), DeadLetterEntry(b, 400, "y"))))
    first, second = store.dead_letters()
    assert store.delete_dead_letters([second.id]) == 1
    assert [d.id for d in store.dead_letters()] == [first.id]
    assert store.delete_dead_letters([]) == 0
    assert store.delete_dead_letters() == 1
    assert store.status() == QueueStatus(0, 0, 0)


def test_a_verdict_for_a_row_that_is_gone_is_ignored() -> None:
    store = QueueStore(DatabaseLocation(None))
    store.apply(StoreCommit(delivered=(42,), dead=(DeadLetterEntry(43, 400, "x"),), failed=(44,)))
    assert store.status() == QueueStatus(0, 0, 0)


def test_large_commits_are_chunked() -> None:
    store = QueueStore(DatabaseLocation(None))
    store.enqueue(("insert", f"r{i}", body(f"r{i}")) for i in range(3000))
    seqs = tuple(r.seq for r in store.next_inserts(0, 3000))
    store.apply(StoreCommit(failed=seqs[:1500], error="x"))
    store.apply(StoreCommit(delivered=seqs))
    assert store.status() == QueueStatus(0, 0, 0)


# -- the migration ladder ----------------------------------------------------------------------

# Schema 1 exactly as pyauditor before the marker wrote it.
SCHEMA_1 = (
    """CREATE TABLE pyauditor_queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('insert', 'update')),
        record_id TEXT NOT NULL,
        body TEXT NOT NULL,
        enqueued_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    )""",
    "CREATE INDEX pyauditor_queue_kind_seq ON pyauditor_queue (kind, seq)",
    "CREATE INDEX pyauditor_queue_record ON pyauditor_queue (record_id, kind)",
    """CREATE TABLE pyauditor_dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('insert', 'update')),
        record_id TEXT NOT NULL,
        body TEXT NOT NULL,
        enqueued_at REAL NOT NULL,
        failed_at REAL NOT NULL,
        attempts INTEGER NOT NULL,
        status_code INTEGER,
        reason TEXT NOT NULL
    )""",
    "CREATE INDEX pyauditor_dead_letters_record ON pyauditor_dead_letters (record_id, kind)",
)


def schema_1_file(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in SCHEMA_1:
            conn.execute(statement)
        conn.execute("PRAGMA user_version=1")
        conn.executemany(
            "INSERT INTO pyauditor_queue (kind, record_id, body, enqueued_at, attempts, last_error)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("insert", "a", body("a"), 1.0e9, 2, "503"),
                ("update", "a", body("a"), 1.0e9, 0, None),
            ],
        )
        conn.execute(
            "INSERT INTO pyauditor_dead_letters (seq, kind, record_id, body, enqueued_at, failed_at,"
            " attempts, status_code, reason) VALUES (7, 'insert', 'd', ?, 1.0e9, 1.1e9, 0, 400, 'bad')",
            (body("d"),),
        )
    conn.close()


def pragmas(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        found = (
            conn.execute("PRAGMA application_id").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0],
        )
    conn.close()
    return found


def test_a_new_file_gets_the_marker_and_schema_2(tmp_path: Path) -> None:
    open_store(tmp_path / "q.db").close()
    assert pragmas(tmp_path / "q.db") == (APPLICATION_ID, SCHEMA_VERSION) == (APPLICATION_ID, 2)


def test_schema_1_is_upgraded_in_place_and_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    schema_1_file(path)
    store = open_store(path)
    assert pragmas(path) == (APPLICATION_ID, 2)
    assert store.status() == QueueStatus(1, 1, 1)
    assert store.status().last_error == "503"
    (row,) = store.next_inserts(0, 10)
    assert (row.record_id, row.attempts, row.body) == ("a", 2, body("a"))
    (dead,) = store.dead_letters()
    assert (dead.record_id, dead.status_code, dead.reason, dead.stored) == ("d", 400, "bad", None)
    # The new columns work.
    store.apply(StoreCommit(failed=(row.seq,), error="again", isolated=True))
    assert store.status().last_error == "again"
    store.close()
    open_store(path).close()  # and the upgraded file opens as it is
    assert pragmas(path) == (APPLICATION_ID, 2)


def test_reading_a_schema_1_file_does_not_upgrade_it(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    schema_1_file(path)
    snapshot = read_queue_file(path)
    assert (snapshot.schema, snapshot.status, snapshot.failing) == (1, QueueStatus(1, 1, 1), 1)
    assert snapshot.status.last_error == "503"
    assert pragmas(path) == (0, 1)


def test_a_schema_1_file_with_python_auditors_tables_is_upgraded_and_imported(
    tmp_path: Path,
) -> None:
    from .test_reference_migration import insert_blob

    path = tmp_path / "q.db"
    schema_1_file(path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE inserts (record BLOB NOT NULL)")
        conn.execute("CREATE TABLE updates (record BLOB NOT NULL)")
        conn.execute("INSERT INTO inserts (record) VALUES (?)", (insert_blob("z"),))
    conn.close()
    store = open_store(path)
    assert [r.record_id for r in store.next_inserts(0, 10)] == ["a", "z"]
    assert pragmas(path) == (APPLICATION_ID, 2)


def test_retry_and_delete_take_int_ids_only() -> None:
    store = QueueStore(DatabaseLocation(None))
    for bad in (["abc"], "1", [1.0], [True], [None]):
        with pytest.raises(ValidationError, match="dead-letter ids"):
            store.retry_dead_letters(bad)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="dead-letter ids"):
            store.delete_dead_letters(bad)  # type: ignore[arg-type]
    assert store.retry_dead_letters([2**70, -1]) == 0


def test_stored_errors_and_reasons_are_bounded() -> None:
    store = QueueStore(DatabaseLocation(None))
    store.enqueue(("insert", i, body(i)) for i in "ab")
    a, b = (r.seq for r in store.next_inserts(0, 10))
    store.apply(StoreCommit(failed=(a,), error="e" * 300_000))
    store.apply(StoreCommit(dead=(DeadLetterEntry(b, 400, "r" * 300_000),)))
    assert len(store.status().last_error or "") <= 1000
    (dead,) = store.dead_letters()
    assert len(dead.reason) <= 1000
    assert dead.reason.endswith("more characters)")
