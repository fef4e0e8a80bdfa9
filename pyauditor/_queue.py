"""The durable send queue's storage: one SQLite file, written through sqlite-utils.

Nothing here speaks HTTP.  The store keeps what ``add``, ``bulk_insert`` and ``update`` accepted
until the sender (:mod:`pyauditor._queued`) reports that the server acknowledged it, and records
what the server refused in a dead-letter table.

Design decisions, and why:

* **One row per request body.**  A queued row holds the exact JSON text that goes on the wire
  (``POST /record`` or ``PUT /record``), built once at enqueue time.  Delivery then needs no
  model objects and no re-serialisation, a batch body is the rows joined with commas, and what
  is stored is what is sent, byte for byte.  python-auditor stores bincode blobs that only its
  own Rust code can read; :mod:`pyauditor._reference_queue` converts those (see "Migration").
* **Durability.**  WAL journal and ``synchronous=FULL`` by default: a committed enqueue survives
  a killed process *and* an OS crash or power loss.  ``NORMAL`` is offered for sites that accept
  losing the last commits on power loss in exchange for faster commits (a killed process loses
  nothing under either setting; SQLite's atomic commit guarantees that).  ``add()`` returns only
  after its transaction committed, and ``bulk_insert`` of any size is one transaction, so a
  crash leaves either every record of the call or none.
* **Deleted only when acknowledged.**  Rows leave the queue in the same transaction that records
  the server's verdict (acknowledged, or moved to the dead-letter table).  A crash between the
  server's answer and that commit leaves the rows queued; they are sent again, the server answers
  ``RECORD_EXISTS`` and the sender counts that as delivered.  That is what makes delivery
  exactly-once in the server's table.
* **Ordering.**  ``seq`` is an ``AUTOINCREMENT`` key, so positions are never reused after a delete:
  the sender walks the queue with a ``seq > cursor`` scan and cannot miss or repeat a row within
  one pass.  Updates are only offered to the sender while no insert of the same record id is
  queued (an update of a record the server does not have yet would be refused with 404).
* **Threads.**  ``sqlite_utils.Database(path)`` opens a ``check_same_thread=True`` connection
  that only its creating thread may use.  The store opens the connection itself with
  ``check_same_thread=False`` and serialises every use with one lock, so the async client can run
  store calls on a worker thread (keeping fsyncs off the event loop) and a blocking client can
  call it from any thread.
* **Transactions.**  sqlite-utils 4 commits each write on its own unless a transaction is open.
  Every write here runs inside an explicit ``BEGIN IMMEDIATE`` … ``COMMIT``: ``IMMEDIATE`` takes
  the write lock up front, so a second process using the same file waits for the lock (busy
  timeout) instead of failing half-way with ``SQLITE_BUSY`` on a read-to-write upgrade.
* **Versioned schema.**  ``PRAGMA user_version`` holds the schema version; the tables are
  prefixed ``pyauditor_`` so they never collide with python-auditor's ``inserts``/``updates``.
  A file written by a newer pyauditor is refused rather than misread.
* **Owner-only file.**  A new queue file is created with mode 0600 before SQLite opens it; SQLite
  gives the ``-wal`` and ``-shm`` side files the database file's mode.  Queued records name users,
  groups and sites.  An existing file keeps the mode its owner gave it.
* **Migration.**  Opening a file that python-auditor 0.11 wrote (tables ``inserts``/``updates``
  of bincode blobs) moves its pending rows into the queue table, inserts first, then updates,
  each in rowid order (the order python-auditor sends them), and deletes them from the old
  tables, all in one transaction.  The old tables stay (empty), so the file still opens with
  python-auditor if a site switches back.  A blob that cannot be decoded stays where it is and a
  warning is logged: nothing is dropped.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final, Literal
from urllib.parse import parse_qsl, unquote

import attrs
import sqlite_utils

from ._errors import ConfigurationError, QueueError
from ._reference_queue import ReferenceBlobError, decode_reference_blob

__all__ = [
    "SCHEMA_VERSION",
    "DatabaseLocation",
    "DeadLetter",
    "DeadLetterEntry",
    "Kind",
    "QueueStatus",
    "QueueStore",
    "QueuedRow",
    "StoreCommit",
    "parse_database_path",
]

logger = logging.getLogger("pyauditor")

SCHEMA_VERSION: Final = 1
QUEUE_TABLE: Final = "pyauditor_queue"
DEAD_TABLE: Final = "pyauditor_dead_letters"

Kind = Literal["insert", "update"]
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_SYNCHRONOUS_MODES: Final = ("OFF", "NORMAL", "FULL", "EXTRA")

DEFAULT_BUSY_TIMEOUT: Final = 30.0
"""Seconds a write waits for another process that holds the file's write lock."""

IN_MEMORY_WARNING: Final = (
    "the QueuedAuditorClient has no database_path: its queue is kept in memory and every record "
    "not yet delivered is lost when the process exits; set AuditorClientBuilder.database_path()"
)

_SCHEMA: Final = (
    f"""CREATE TABLE {QUEUE_TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('insert', 'update')),
        record_id TEXT NOT NULL,
        body TEXT NOT NULL,
        enqueued_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    )""",
    # The sender scans one kind in seq order; the update eligibility check looks up inserts by id.
    f"CREATE INDEX {QUEUE_TABLE}_kind_seq ON {QUEUE_TABLE} (kind, seq)",
    f"CREATE INDEX {QUEUE_TABLE}_record ON {QUEUE_TABLE} (record_id, kind)",
    f"""CREATE TABLE {DEAD_TABLE} (
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
    f"CREATE INDEX {DEAD_TABLE}_record ON {DEAD_TABLE} (record_id, kind)",
)


# --------------------------------------------------------------------------------------------
# Where the queue lives


@attrs.frozen
class DatabaseLocation:
    """A parsed ``database_path``.

    Attributes:
        path: The database file, or ``None`` for an in-memory queue.
        busy_timeout: Seconds to wait for another process's write lock.
    """

    path: Path | None
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT

    @property
    def in_memory(self) -> bool:
        """True when the queue does not survive the process."""
        return self.path is None


def parse_database_path(value: str | os.PathLike[str] | None) -> DatabaseLocation:
    """Interpret a ``database_path`` the way python-auditor (sqlx) does.

    Accepted: a plain path (relative paths are relative to the current directory), ``sqlite:``
    and ``sqlite://`` prefixes (``sqlite:///abs.db``, ``sqlite:/abs.db``, ``sqlite:rel.db``),
    percent-encoded characters in the path, and ``:memory:`` / ``sqlite::memory:`` /
    ``?mode=memory`` for an in-memory queue.  Query options: ``mode`` (``rwc``, ``rw``,
    ``memory``), ``cache`` (accepted, no effect) and ``_busy_timeout`` (``500ms``, ``5s``).
    ``None`` means in memory, the reference's default.

    Raises:
        ConfigurationError: an empty path, a read-only or unknown option, a directory, a
            parent directory that does not exist.
    """
    if value is None:
        return DatabaseLocation(None)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"'{type(value).__name__}' object is not an instance of 'str'")
    text = value
    for prefix in ("sqlite://", "sqlite:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    database, _, query = text.partition("?")
    memory = database == ":memory:"
    busy_timeout = DEFAULT_BUSY_TIMEOUT
    for key, option in parse_qsl(query, keep_blank_values=True):
        if key == "mode":
            if option == "memory":
                memory = True
            elif option == "ro":
                raise ConfigurationError(
                    f"database_path {value!r}: mode=ro cannot work, the send queue must write"
                )
            elif option not in ("rw", "rwc"):
                raise ConfigurationError(f"database_path {value!r}: unknown mode {option!r}")
        elif key == "cache":
            if option not in ("shared", "private"):
                raise ConfigurationError(f"database_path {value!r}: unknown cache {option!r}")
        elif key == "_busy_timeout":
            busy_timeout = _parse_busy_timeout(value, option)
        else:
            raise ConfigurationError(
                f"database_path {value!r}: unsupported option {key!r} "
                "(supported: mode, cache, _busy_timeout)"
            )
    if memory:
        return DatabaseLocation(None, busy_timeout)
    database = unquote(database)
    if not database.strip():
        raise ConfigurationError(
            f"database_path {value!r} names no file; give a path such as /var/lib/collector/queue.db"
        )
    path = Path(database).expanduser()
    if path.is_dir():
        raise ConfigurationError(
            f"database_path {value!r} is a directory; name a file inside it, "
            f"for example {str(path / 'auditor-queue.db')!r}"
        )
    parent = path.absolute().parent
    if not parent.is_dir():
        raise ConfigurationError(
            f"database_path {value!r}: the directory {str(parent)!r} does not exist"
        )
    return DatabaseLocation(path, busy_timeout)


def _parse_busy_timeout(value: str, option: str) -> float:
    for suffix, scale in (("ms", 0.001), ("s", 1.0)):
        number = option.removesuffix(suffix)
        if number != option and number.isdigit():
            return int(number) * scale
    raise ConfigurationError(
        f"database_path {value!r}: _busy_timeout must look like 500ms or 5s, got {option!r}"
    )


# --------------------------------------------------------------------------------------------
# What the store hands out and takes back


@attrs.frozen
class QueuedRow:
    """One queued request: its queue position, kind, record id and JSON body."""

    seq: int
    kind: Kind
    record_id: str
    body: str
    attempts: int = 0


@attrs.frozen
class QueueStatus:
    """What the send queue holds (``QueuedAuditorClient.pending()``).

    Attributes:
        inserts: Records waiting to be inserted.
        updates: Updates waiting to be sent.
        dead_letters: Requests the server refused for good (see ``dead_letters()``); they are
            kept until they are retried or deleted, never sent again on their own.
    """

    inserts: int
    updates: int
    dead_letters: int

    @property
    def queued(self) -> int:
        """Inserts plus updates: what the sender still has to deliver."""
        return self.inserts + self.updates


@attrs.frozen
class DeadLetter:
    """A request the server refused, kept with the server's answer.

    Attributes:
        id: Identifies the entry for ``retry_dead_letters`` and ``delete_dead_letters``.
        kind: ``"insert"`` or ``"update"``.
        record_id: The record's id.
        body: The JSON request body exactly as it was sent.
        status_code: The HTTP status of the refusal.
        reason: The server's message (and what the sender concluded from it).
        enqueued_at: When the record was queued (UTC).
        failed_at: When it was moved here (UTC).
        attempts: Failed sends before the final refusal.
    """

    id: int
    kind: Kind
    record_id: str
    body: str
    status_code: int | None
    reason: str
    enqueued_at: _dt.datetime
    failed_at: _dt.datetime
    attempts: int


@attrs.frozen
class DeadLetterEntry:
    """The sender's verdict that a queued row will never be accepted as it is.

    Attributes:
        seq: The queued row.
        status_code: The HTTP status of the refusal.
        reason: The server's message.
        unless_insert_queued: Keep the row queued after all if an insert of the same record id
            is queued by the time this is committed (a 404 for an update whose insert was
            enqueued while the update was in flight is not final).
    """

    seq: int
    status_code: int | None
    reason: str
    unless_insert_queued: bool = False


@attrs.frozen
class StoreCommit:
    """The outcome of one request, applied to the store in one transaction.

    Attributes:
        delivered: Rows the server acknowledged; they are deleted.
        dead: Rows the server refused for good; they move to the dead-letter table.
        failed: Rows that stay queued; their attempt count grows and ``error`` is kept.
        error: Why ``failed`` rows failed.
    """

    delivered: tuple[int, ...] = ()
    dead: tuple[DeadLetterEntry, ...] = ()
    failed: tuple[int, ...] = ()
    error: str = ""


def _utc(timestamp: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(timestamp, _dt.UTC)


# --------------------------------------------------------------------------------------------
# The store

_CHUNK: Final = 500
"""Ids per ``IN (...)`` list: old SQLite builds allow only 999 parameters per statement."""


def _for_chunks(
    db: sqlite_utils.Database, statement: str, ids: Sequence[int], *leading: object
) -> None:
    """Run ``statement`` (``{marks}`` stands for the id placeholders) over ``ids`` in chunks."""
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        db.execute(statement.format(marks=",".join("?" * len(chunk))), [*leading, *chunk])


class QueueStore:
    """The send queue in one SQLite file (or in memory).

    Every method is safe to call from any thread; calls are serialised.  Storage failures raise
    :class:`~pyauditor.QueueError` naming the file.
    """

    def __init__(
        self,
        location: DatabaseLocation,
        *,
        synchronous: Synchronous = "FULL",
    ) -> None:
        if synchronous not in _SYNCHRONOUS_MODES:
            raise ConfigurationError(
                f"synchronous must be one of {', '.join(_SYNCHRONOUS_MODES)}, got {synchronous!r}"
            )
        self.location = location
        self._lock = threading.RLock()
        self._where = "in-memory queue" if location.path is None else f"queue {location.path}"
        try:
            conn = self._connect(location)
        except OSError as error:
            raise QueueError(f"cannot create {self._where}: {error}") from error
        except sqlite3.Error as error:
            raise QueueError(f"cannot open {self._where}: {error}") from error
        try:
            # Plugins could change the connection in ways this module does not expect.
            self._db = sqlite_utils.Database(conn, execute_plugins=False)
            with self._guard("open"):
                if location.path is not None:
                    # WAL cannot be turned on inside a transaction, and it is persistent.
                    self._db.enable_wal()
                self._db.execute(f"PRAGMA synchronous={synchronous}")
                self._migrate()
        except BaseException:
            conn.close()
            raise

    @staticmethod
    def _connect(location: DatabaseLocation) -> sqlite3.Connection:
        if location.path is None:
            return sqlite3.connect(":memory:", check_same_thread=False)
        path = location.path
        if not path.exists():
            # Create the file owner-only before SQLite opens it: SQLite would create it with
            # 0644 (umask permitting), and gives the -wal/-shm files the database file's mode.
            fd = os.open(path, os.O_CREAT | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o600)
            os.close(fd)
        elif not stat.S_ISREG(path.stat().st_mode):
            raise QueueError(f"queue {path} is not a regular file")
        return sqlite3.connect(
            path, check_same_thread=False, timeout=location.busy_timeout, cached_statements=64
        )

    # -- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Hold the lock and turn storage failures into QueueError."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as error:
                raise QueueError(f"{self._where}: {action} failed: {error}") from error

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite_utils.Database]:
        """One write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""
        with self._guard(action):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            try:
                db.commit()
            except BaseException:
                db.rollback()
                raise

    def close(self) -> None:
        """Close the database (the last connection also checkpoints and removes the WAL)."""
        with self._lock:
            self._db.close()

    # -- schema and migration ----------------------------------------------------------------

    def _migrate(self) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise QueueError(
                f"{self._where} was written by a newer pyauditor (schema {version}); this "
                f"version understands schema {SCHEMA_VERSION} and leaves the file untouched"
            )
        tables = set(db.table_names())
        has_reference = {"inserts", "updates"} & tables
        if version == SCHEMA_VERSION and not has_reference:
            return
        with self._transaction("schema set-up"):
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            if has_reference:
                self._import_reference_rows(sorted(has_reference))

    def _import_reference_rows(self, tables: Sequence[str]) -> None:
        """Move python-auditor's pending rows into the queue (inside the open transaction)."""
        db = self._db
        now = time.time()
        imported = kept = 0
        # Inserts before updates, each in rowid order: the order python-auditor sends them.
        for table in ("inserts", "updates"):
            if table not in tables:
                continue
            kind: Kind = "insert" if table == "inserts" else "update"
            moved: list[int] = []
            rows: list[dict[str, object]] = []
            for rowid, blob in db.execute(f"SELECT rowid, record FROM [{table}] ORDER BY rowid"):
                try:
                    record_id, body = decode_reference_blob(bytes(blob), kind)
                except ReferenceBlobError as error:
                    kept += 1
                    logger.warning(
                        "%s: left row %d of python-auditor's %s table in place: %s",
                        self._where,
                        rowid,
                        table,
                        error,
                    )
                    continue
                rows.append(
                    {"kind": kind, "record_id": record_id, "body": body, "enqueued_at": now}
                )
                moved.append(rowid)
            if rows:
                db.table(QUEUE_TABLE).insert_all(rows)
                _for_chunks(db, f"DELETE FROM [{table}] WHERE rowid IN ({{marks}})", moved)
                imported += len(rows)
        if imported:
            logger.warning(
                "%s: imported %d pending record(s) queued by python-auditor", self._where, imported
            )
        if kept:
            logger.warning(
                "%s: %d row(s) of python-auditor's queue could not be decoded and were left in "
                "its inserts/updates tables",
                self._where,
                kept,
            )

    # -- enqueue -----------------------------------------------------------------------------

    def enqueue(self, items: Iterable[tuple[Kind, str, str]]) -> int:
        """Queue ``(kind, record_id, body)`` items in one transaction; return how many.

        Returns only after the transaction committed: the items survive a crash from then on.
        """
        now = time.time()
        rows = [
            {"kind": kind, "record_id": record_id, "body": body, "enqueued_at": now}
            for kind, record_id, body in items
        ]
        if not rows:
            return 0
        with self._transaction("enqueue") as db:
            db.table(QUEUE_TABLE).insert_all(rows)
        return len(rows)

    # -- what the sender reads ---------------------------------------------------------------

    def next_inserts(self, after: int, limit: int) -> list[QueuedRow]:
        """Queued inserts with ``seq > after``, in queue order."""
        with self._guard("read"):
            cursor = self._db.execute(
                f"SELECT seq, record_id, body, attempts FROM {QUEUE_TABLE} "
                "WHERE kind = 'insert' AND seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
            return [QueuedRow(seq, "insert", rid, body, tries) for seq, rid, body, tries in cursor]

    def next_updates(self, after: int, limit: int) -> list[QueuedRow]:
        """Queued updates with ``seq > after`` whose record has no queued insert, in order."""
        with self._guard("read"):
            cursor = self._db.execute(
                f"SELECT u.seq, u.record_id, u.body, u.attempts FROM {QUEUE_TABLE} AS u "
                "WHERE u.kind = 'update' AND u.seq > ? AND NOT EXISTS ("
                f"  SELECT 1 FROM {QUEUE_TABLE} AS i "
                "   WHERE i.record_id = u.record_id AND i.kind = 'insert'"
                ") ORDER BY u.seq LIMIT ?",
                (after, limit),
            )
            return [QueuedRow(seq, "update", rid, body, tries) for seq, rid, body, tries in cursor]

    # -- what the sender writes back ---------------------------------------------------------

    def apply(self, commit: StoreCommit) -> None:
        """Record the outcome of one request in one transaction."""
        if not (commit.delivered or commit.dead or commit.failed):
            return
        with self._transaction("commit of a delivery outcome") as db:
            _for_chunks(db, f"DELETE FROM {QUEUE_TABLE} WHERE seq IN ({{marks}})", commit.delivered)
            now = time.time()
            for entry in commit.dead:
                self._bury(db, entry, now)
            _for_chunks(
                db,
                f"UPDATE {QUEUE_TABLE} SET attempts = attempts + 1, last_error = ? "
                "WHERE seq IN ({marks})",
                commit.failed,
                commit.error,
            )

    def _bury(self, db: sqlite_utils.Database, entry: DeadLetterEntry, now: float) -> None:
        row = db.execute(
            f"SELECT kind, record_id, body, enqueued_at, attempts FROM {QUEUE_TABLE} WHERE seq = ?",
            (entry.seq,),
        ).fetchone()
        if row is None:
            return
        kind, record_id, body, enqueued_at, attempts = row
        reason = entry.reason
        if kind == "update":
            queued_insert = db.execute(
                f"SELECT 1 FROM {QUEUE_TABLE} WHERE record_id = ? AND kind = 'insert' LIMIT 1",
                (record_id,),
            ).fetchone()
            if queued_insert is not None and entry.unless_insert_queued:
                # The insert was queued while this update was in flight: not final yet.
                db.execute(
                    f"UPDATE {QUEUE_TABLE} SET attempts = attempts + 1, last_error = ? "
                    "WHERE seq = ?",
                    (reason, entry.seq),
                )
                return
            buried_insert = db.execute(
                f"SELECT 1 FROM {DEAD_TABLE} WHERE record_id = ? AND kind = 'insert' LIMIT 1",
                (record_id,),
            ).fetchone()
            if buried_insert is not None:
                reason += " (the insert of this record is in the dead-letter table)"
        db.execute(
            f"INSERT INTO {DEAD_TABLE} (seq, kind, record_id, body, enqueued_at, failed_at, "
            "attempts, status_code, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.seq,
                kind,
                record_id,
                body,
                enqueued_at,
                now,
                attempts,
                entry.status_code,
                reason,
            ),
        )
        db.execute(f"DELETE FROM {QUEUE_TABLE} WHERE seq = ?", (entry.seq,))
        logger.error(
            "AUDITOR refused the %s of record %r for good (HTTP %s): %s; kept as a dead letter",
            kind,
            record_id,
            entry.status_code,
            reason,
        )

    # -- inspection --------------------------------------------------------------------------

    def status(self) -> QueueStatus:
        """Counts of queued inserts, queued updates and dead letters."""
        with self._guard("read"):
            counts = dict(
                self._db.execute(f"SELECT kind, count(*) FROM {QUEUE_TABLE} GROUP BY kind")
            )
            dead = self._db.execute(f"SELECT count(*) FROM {DEAD_TABLE}").fetchone()[0]
        return QueueStatus(counts.get("insert", 0), counts.get("update", 0), dead)

    def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first."""
        with self._guard("read"):
            rows = list(
                self._db.query(
                    f"SELECT id, kind, record_id, body, status_code, reason, enqueued_at, "
                    f"failed_at, attempts FROM {DEAD_TABLE} ORDER BY id"
                )
            )
        return [
            DeadLetter(
                id=row["id"],
                kind=row["kind"],
                record_id=row["record_id"],
                body=row["body"],
                status_code=row["status_code"],
                reason=row["reason"],
                enqueued_at=_utc(row["enqueued_at"]),
                failed_at=_utc(row["failed_at"]),
                attempts=row["attempts"],
            )
            for row in rows
        ]

    def retry_dead_letters(self, ids: Sequence[int] | None = None) -> int:
        """Queue dead letters again (all, or those with the given ids); return how many.

        They return to their original queue positions, so updates of one record keep their
        order.  Use this after fixing what the server objected to (a server option, a limit).
        """
        with self._transaction("requeue of dead letters") as db:
            where, params = self._dead_selection(ids)
            cursor = db.execute(
                f"INSERT INTO {QUEUE_TABLE} (seq, kind, record_id, body, enqueued_at, attempts) "
                f"SELECT seq, kind, record_id, body, enqueued_at, 0 FROM {DEAD_TABLE} {where}",
                params,
            )
            moved = cursor.rowcount
            db.execute(f"DELETE FROM {DEAD_TABLE} {where}", params)
        return int(moved)

    def delete_dead_letters(self, ids: Sequence[int] | None = None) -> int:
        """Delete dead letters for good (all, or those with the given ids); return how many."""
        with self._transaction("deletion of dead letters") as db:
            where, params = self._dead_selection(ids)
            cursor = db.execute(f"DELETE FROM {DEAD_TABLE} {where}", params)
        return int(cursor.rowcount)

    @staticmethod
    def _dead_selection(ids: Sequence[int] | None) -> tuple[str, list[int]]:
        if ids is None:
            return "", []
        chosen = [int(i) for i in ids]
        return f"WHERE id IN ({','.join('?' * len(chosen)) or 'NULL'})", chosen
