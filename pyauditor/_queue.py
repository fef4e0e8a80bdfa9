"""The durable send queue's storage: one SQLite file, written through sqlite-utils.

Nothing here speaks HTTP.  The store keeps what ``add``, ``bulk_insert`` and ``update`` accepted
until the sender (:mod:`pyauditor._sender`) reports the server's verdict, and records what the
server refused in a dead-letter table.  This module is the only one that knows the file's
schema: the clients and ``pyauditor queue status`` (:func:`read_queue_file`) go through it.

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
* **Deleted only when settled.**  Rows leave the queue in the same transaction that records
  the server's verdict (:func:`commit_for`: stored or already stored identically, or moved to
  the dead-letter table).  A crash between the server's answer and that commit leaves the rows
  queued; they are sent again, the server answers ``RECORD_EXISTS``, and the batch planner
  finds them stored with the same content.  That is what makes delivery exactly-once in the
  server's table.  A record whose id the server holds with *other* content is never counted as
  delivered: it becomes a dead letter that keeps both versions.
* **Giving up.**  A record the server cannot store while it stores others (it answers 5xx for
  it alone, :attr:`GiveUp.isolated_failures` times) and one that can never be stored (a NUL
  character) go to the dead letters with the reason.  Beyond that the queue never gives up
  unless told to (:class:`GiveUp`: by attempts or age, off by default).
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
* **Checked before use, and never another program's file.**  Opening a file first reads it
  without writing: ``PRAGMA quick_check``, our marker (``PRAGMA application_id`` =
  :data:`APPLICATION_ID`) and version (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`), and
  the exact columns of every table.  A damaged file, another program's database (whatever its
  ``user_version``) or a file written by a newer pyauditor is refused with a
  :class:`~pyauditor.QueueError` saying why, and left exactly as it was: no table added, the
  journal mode not switched to WAL.  Only a file that is empty, pyauditor's, or
  python-auditor's is opened for writing.
* **Migration ladder.**  ``0`` (an empty file) → create schema 2.  python-auditor's file
  (tables ``inserts``/``updates`` of ``record BLOB``, sqlx's ``_sqlx_migrations``) → create
  schema 2 next to them and import.  Schema 1 (pyauditor before the marker) → add the columns
  of schema 2 and the marker.  Each step is one transaction.
* **python-auditor's rows.**  Every open moves python-auditor's pending rows into the queue
  table, inserts first, then updates, each in rowid order (the order python-auditor sends
  them), and deletes them from its tables, in one transaction.  Its tables stay (empty), so
  the file still opens with python-auditor if a site switches back.  A row that cannot be
  decoded (not a bincode blob of python-auditor 0.11) stays where it is and a warning is
  logged: nothing is dropped.
* **Owner-only file.**  A new queue file is created with mode 0600 before SQLite opens it; SQLite
  gives the ``-wal`` and ``-shm`` side files the database file's mode.  Queued records name users,
  groups and sites.  An existing file keeps the mode its owner gave it.
* **Bounded.**  Stored reasons and errors are cut to :data:`~pyauditor._delivery.REASON_LIMIT`
  characters: a server answering with huge bodies cannot grow the file without limit.
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
from urllib.parse import parse_qsl, quote, unquote

import attrs
import sqlite_utils

from ._delivery import Settled, Verdict, truncate
from ._errors import ConfigurationError, QueueError, ValidationError
from ._reference_queue import ReferenceBlobError, decode_reference_blob

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "DatabaseLocation",
    "DeadLetter",
    "DeadLetterEntry",
    "GiveUp",
    "Kind",
    "QueueSnapshot",
    "QueueStatus",
    "QueueStore",
    "QueuedRow",
    "StoreCommit",
    "commit_for",
    "parse_database_path",
    "read_queue_file",
]

logger = logging.getLogger("pyauditor")

SCHEMA_VERSION: Final = 2
"""The queue schema this pyauditor writes (``PRAGMA user_version``)."""
APPLICATION_ID: Final = 0x70794155
"""``PRAGMA application_id`` of a pyauditor queue file ("pyAU"), from schema 2 on."""
QUEUE_TABLE: Final = "pyauditor_queue"
DEAD_TABLE: Final = "pyauditor_dead_letters"
REFERENCE_TABLES: Final = ("inserts", "updates")
"""python-auditor's tables, imported whenever the file is opened."""

Kind = Literal["insert", "update"]
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_SYNCHRONOUS_MODES: Final = ("OFF", "NORMAL", "FULL", "EXTRA")

DEFAULT_BUSY_TIMEOUT: Final = 30.0
"""Seconds a write waits for another process that holds the file's write lock."""

IN_MEMORY_WARNING: Final = (
    "the QueuedAuditorClient has no database_path: its queue is kept in memory and every record "
    "not yet delivered is lost when the process exits; set AuditorClientBuilder.database_path()"
)

# The columns of each schema version: what a file must have to be taken for ours.
_V1_QUEUE: Final = ("seq", "kind", "record_id", "body", "enqueued_at", "attempts", "last_error")
_V1_DEAD: Final = (
    "id",
    "seq",
    "kind",
    "record_id",
    "body",
    "enqueued_at",
    "failed_at",
    "attempts",
    "status_code",
    "reason",
)
_COLUMNS: Final = {
    1: {QUEUE_TABLE: _V1_QUEUE, DEAD_TABLE: _V1_DEAD},
    2: {
        QUEUE_TABLE: (*_V1_QUEUE, "last_attempt_at", "isolated_failures"),
        DEAD_TABLE: (*_V1_DEAD, "stored"),
    },
}
# Tables a file may have besides ours and python-auditor's (sqlx's bookkeeping, AUTOINCREMENT's).
_OTHER_TABLES: Final = frozenset(("_sqlx_migrations", "sqlite_sequence"))

_SCHEMA: Final = (
    f"""CREATE TABLE {QUEUE_TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('insert', 'update')),
        record_id TEXT NOT NULL,
        body TEXT NOT NULL,
        enqueued_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_attempt_at REAL,
        isolated_failures INTEGER NOT NULL DEFAULT 0
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
        reason TEXT NOT NULL,
        stored TEXT
    )""",
    f"CREATE INDEX {DEAD_TABLE}_record ON {DEAD_TABLE} (record_id, kind)",
)
_INSERT_ROW: Final = (
    f"INSERT INTO {QUEUE_TABLE} (kind, record_id, body, enqueued_at) VALUES (?, ?, ?, ?)"
)
_UPGRADE_FROM_1: Final = (
    f"ALTER TABLE {QUEUE_TABLE} ADD COLUMN last_attempt_at REAL",
    f"ALTER TABLE {QUEUE_TABLE} ADD COLUMN isolated_failures INTEGER NOT NULL DEFAULT 0",
    f"ALTER TABLE {DEAD_TABLE} ADD COLUMN stored TEXT",
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
    """One queued request: its queue position, kind, record id and JSON body.

    ``isolated_failures`` counts the times the server failed on it alone (see
    :class:`GiveUp`).
    """

    seq: int
    kind: Kind
    record_id: str
    body: str
    attempts: int = 0
    isolated_failures: int = 0


@attrs.frozen
class QueueStatus:
    """What the send queue holds (``QueuedAuditorClient.pending()``).

    Equality compares the counts only.

    Attributes:
        inserts: Records waiting to be inserted.
        updates: Updates waiting to be sent.
        dead_letters: Requests the server refused for good (see ``dead_letters()``); they are
            kept until they are retried or deleted, never sent again on their own.
        oldest: When the oldest waiting request was queued (UTC), ``None`` if none waits.
        last_error: Why the latest failed delivery attempt failed, ``None`` if none did.
        last_error_at: When that attempt was made (UTC).
    """

    inserts: int
    updates: int
    dead_letters: int
    oldest: _dt.datetime | None = attrs.field(default=None, eq=False)
    last_error: str | None = attrs.field(default=None, eq=False)
    last_error_at: _dt.datetime | None = attrs.field(default=None, eq=False)

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
        status_code: The HTTP status of the refusal (``None``: no answer decided it).
        reason: The server's message (and what the sender concluded from it).
        enqueued_at: When the record was queued (UTC).
        failed_at: When it was moved here (UTC).
        attempts: Failed sends before the final refusal.
        stored: For a record whose id the server holds with other content: the server's
            version (``Record.to_json()`` text), next to ours in ``body``; else ``None``.
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
    stored: str | None = None


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
        stored: The server's version of the record, for a conflicting id.
    """

    seq: int
    status_code: int | None
    reason: str
    unless_insert_queued: bool = False
    stored: str | None = None


@attrs.frozen
class StoreCommit:
    """The outcome of one request, applied to the store in one transaction.

    Attributes:
        delivered: Rows the server stored (or held already, identically); they are deleted.
        dead: Rows the server refused for good; they move to the dead-letter table.
        failed: Rows that stay queued; their attempt count grows and ``error`` is kept.
        error: Why ``failed`` rows failed.
        isolated: The server failed on the ``failed`` rows alone while it worked otherwise;
            after :attr:`GiveUp.isolated_failures` such failures a row is a dead letter.
    """

    delivered: tuple[int, ...] = ()
    dead: tuple[DeadLetterEntry, ...] = ()
    failed: tuple[int, ...] = ()
    error: str = ""
    isolated: bool = False


def commit_for(settled: Settled, rows: Sequence[QueuedRow]) -> StoreCommit:
    """What the batch planner's verdict on some of ``rows`` means for the queue.

    ``settled.positions`` index ``rows`` (the rows the plan was made of).
    """
    seqs = tuple(rows[p].seq for p in settled.positions)
    verdict = settled.verdict
    if verdict is Verdict.STORED or verdict is Verdict.DUPLICATE:
        return StoreCommit(delivered=seqs)
    if verdict is Verdict.FAILED:
        return StoreCommit(failed=seqs, error=settled.reason, isolated=settled.isolated)
    if verdict is Verdict.CONFLICT:
        reason = (
            f"{settled.reason}: both versions are kept (body: the queued record, stored: "
            "the server's); resolve by hand, then delete this dead letter"
        )
    else:
        reason = settled.reason
    return StoreCommit(
        dead=tuple(
            DeadLetterEntry(
                seq,
                settled.status,
                reason,
                unless_insert_queued=rows[p].kind == "update",
                stored=settled.stored,
            )
            for p, seq in zip(settled.positions, seqs, strict=True)
        )
    )


@attrs.frozen
class GiveUp:
    """When the queue stops retrying a record and moves it to the dead letters.

    Attributes:
        max_attempts: After this many failed delivery attempts of any kind (``None``: never).
        max_age: When it is still queued this many seconds after it was queued (``None``:
            never).
        isolated_failures: After this many 5xx answers to the record alone while the server
            stored others: such a record cannot be stored (on by default).
    """

    max_attempts: int | None = None
    max_age: float | None = None
    isolated_failures: int = 5

    def __attrs_post_init__(self) -> None:
        for name in ("max_attempts", "isolated_failures"):
            value = getattr(self, name)
            if value is None and name == "max_attempts":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an int >= 1 or None, got {value!r}")
        age = self.max_age
        if age is not None and (
            isinstance(age, bool) or not isinstance(age, int | float) or not 0 < age < 1e12
        ):
            raise ConfigurationError(f"max_age must be a number of seconds > 0, got {age!r}")


def _utc(timestamp: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(timestamp, _dt.UTC)


def _timestamp(value: object, what: str, where: str) -> _dt.datetime:
    """A stored timestamp as an aware UTC datetime; a tampered one is a QueueError."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(value)
        return _utc(value)
    except (TypeError, ValueError, OverflowError, OSError):
        raise QueueError(
            f"{where}: {what} holds {value!r}, not a timestamp; the file was changed by "
            "something other than pyauditor"
        ) from None


def _dead_ids(ids: Sequence[int] | None) -> list[int] | None:
    if ids is None:
        return None
    if isinstance(ids, str | bytes):
        ids = [ids]  # type: ignore[list-item]
    chosen = []
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(
                f"dead-letter ids are the int DeadLetter.id values, got {value!r}",
                field="dead letter id",
                value=value,
                rule="an int",
            )
        chosen.append(value)
    return chosen


# --------------------------------------------------------------------------------------------
# Recognising a file


@attrs.frozen
class _FileKind:
    """What an existing file holds, as far as the queue is concerned."""

    version: int
    """Our schema version (0: none of our tables)."""
    reference: tuple[str, ...]
    """python-auditor's tables present."""


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that can never change the file, nor create any file beside it.

    Without a ``-wal`` file the database file is complete on its own, and ``immutable=1``
    reads it without locks or side files (a WAL-mode file opened otherwise gets ``-wal`` and
    ``-shm`` files, even for reading).  With one, SQLite must read it too: ``mode=ro``.
    """
    wal = path.with_name(path.name + "-wal")
    options = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    uri = f"file:{quote(str(path.absolute()))}?{options}"
    return sqlite3.connect(uri, uri=True, timeout=timeout)


def _table_columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(row[1], str(row[2]).upper()) for row in conn.execute(f"PRAGMA table_info([{table}])")]


def _examine(conn: sqlite3.Connection, where: str) -> _FileKind:
    """Check a file without writing to it; raise QueueError unless it is usable as a queue.

    Raises:
        QueueError: the file is not an SQLite database, is damaged, belongs to another program,
            or was written by a newer pyauditor.  The message says which, and that the file
            was left untouched.
    """
    untouched = "; the file was left untouched"
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise QueueError(
                f"{where} is damaged (SQLite quick_check: {truncate('; '.join(map(str, problems)), 300)})"
                f"{untouched}: move it aside and start with a new file"
            )
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        columns = {t: _table_columns(conn, t) for t in tables}
    except sqlite3.DatabaseError as error:
        raise QueueError(f"{where} is not a usable SQLite database ({error}){untouched}") from None

    def foreign(detail: str) -> QueueError:
        return QueueError(
            f"{where} is not a pyauditor or python-auditor queue file: {detail}{untouched}; "
            "database_path must name a file of its own"
        )

    if application_id not in (0, APPLICATION_ID):
        raise foreign(f"its application_id is {application_id:#x}")
    if application_id == APPLICATION_ID and version > SCHEMA_VERSION:
        raise QueueError(
            f"{where} was written by a newer pyauditor (queue schema {version}); this version "
            f"understands schema {SCHEMA_VERSION}{untouched}"
        )
    reference = tuple(t for t in REFERENCE_TABLES if t in tables)
    for table in reference:
        if columns[table] != [("record", "BLOB")]:
            raise foreign(f"its {table!r} table is not python-auditor's (record BLOB)")
    ours = {QUEUE_TABLE, DEAD_TABLE} & tables
    others = tables - ours - set(reference) - _OTHER_TABLES
    if others:
        raise foreign(f"it has other tables ({', '.join(sorted(others)[:5])})")
    if not ours:
        if version != 0 or application_id != 0:
            raise foreign(
                f"user_version is {version} and application_id {application_id:#x}, "
                "but it has none of pyauditor's tables"
            )
        return _FileKind(0, reference)
    expected_version = version if application_id == APPLICATION_ID else 1
    expected = _COLUMNS.get(expected_version)
    if (
        version != expected_version
        or expected is None
        or ours != set(expected)
        or any(tuple(name for name, _ in columns[t]) != expected[t] for t in ours)
    ):
        raise foreign(
            f"its tables {', '.join(sorted(ours))} do not match queue schema {version} "
            f"(application_id {application_id:#x})"
        )
    return _FileKind(expected_version, reference)


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

    Args:
        location: Where the queue lives (:func:`parse_database_path`).
        synchronous: SQLite's ``synchronous`` setting for the file.
        give_up: When rows stop being retried (:class:`GiveUp`; the default never gives up
            but on records that cannot be stored).
    """

    def __init__(
        self,
        location: DatabaseLocation,
        *,
        synchronous: Synchronous = "FULL",
        give_up: GiveUp | None = None,
    ) -> None:
        if synchronous not in _SYNCHRONOUS_MODES:
            raise ConfigurationError(
                f"synchronous must be one of {', '.join(_SYNCHRONOUS_MODES)}, got {synchronous!r}"
            )
        self.location = location
        self.give_up = give_up or GiveUp()
        self._lock = threading.RLock()
        self._where = "in-memory queue" if location.path is None else f"queue {location.path}"
        try:
            conn = self._connect(location)
        except OSError as error:
            raise QueueError(f"cannot create {self._where}: {error}") from error
        except sqlite3.Error as error:
            raise QueueError(f"cannot open {self._where}: {error}") from error
        try:
            # Read-only checks first: a file that is not ours must stay exactly as it is.
            kind = _FileKind(0, ())
            if location.path is not None:
                kind = self._examine(location.path)
            # Plugins could change the connection in ways this module does not expect.
            self._db = sqlite_utils.Database(conn, execute_plugins=False)
            with self._guard("open"):
                if location.path is not None:
                    # WAL cannot be turned on inside a transaction, and it is persistent.
                    self._db.enable_wal()
                self._db.execute(f"PRAGMA synchronous={synchronous}")
                self._migrate(kind)
        except BaseException:
            conn.close()
            raise

    def _examine(self, path: Path) -> _FileKind:
        try:
            checker = _connect_read_only(path, self.location.busy_timeout)
        except sqlite3.Error as error:
            raise QueueError(f"cannot open {self._where}: {error}") from error
        try:
            return _examine(checker, self._where)
        finally:
            checker.close()

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

    def _migrate(self, kind: _FileKind) -> None:
        if kind.version == SCHEMA_VERSION and not kind.reference:
            return
        with self._transaction("schema set-up") as db:
            # Another process may have migrated the file since it was examined.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for statement in _SCHEMA:
                    db.execute(statement)
            elif version == 1:
                for statement in _UPGRADE_FROM_1:
                    db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            if kind.reference:
                self._import_reference_rows(kind.reference)

    def _import_reference_rows(self, tables: Sequence[str]) -> None:
        """Move python-auditor's pending rows into the queue (inside the open transaction)."""
        db = self._db
        now = time.time()
        imported = kept = 0
        # Inserts before updates, each in rowid order: the order python-auditor sends them.
        for table in REFERENCE_TABLES:
            if table not in tables:
                continue
            kind: Kind = "insert" if table == "inserts" else "update"
            moved: list[int] = []
            rows: list[tuple[Kind, str, str, float]] = []
            for rowid, blob in db.execute(f"SELECT rowid, record FROM [{table}] ORDER BY rowid"):
                try:
                    if not isinstance(blob, bytes):
                        # A BLOB column still takes any value; python-auditor writes blobs.
                        raise ReferenceBlobError(f"holds {type(blob).__name__}, not a blob")
                    record_id, body = decode_reference_blob(blob, kind)
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
                rows.append((kind, record_id, body, now))
                moved.append(rowid)
            if rows:
                db.conn.executemany(_INSERT_ROW, rows)
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
        rows = [(kind, record_id, body, now) for kind, record_id, body in items]
        if not rows:
            return 0
        with self._transaction("enqueue") as db:
            # Plain SQL: sqlite-utils' insert_all would create a missing table (with columns
            # guessed from the rows) instead of failing on a clobbered file.
            db.conn.executemany(_INSERT_ROW, rows)
        return len(rows)

    # -- what the sender reads ---------------------------------------------------------------

    def next_inserts(self, after: int, limit: int) -> list[QueuedRow]:
        """Queued inserts with ``seq > after``, in queue order."""
        with self._guard("read"):
            cursor = self._db.execute(
                f"SELECT seq, record_id, body, attempts, isolated_failures FROM {QUEUE_TABLE} "
                "WHERE kind = 'insert' AND seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
            return [QueuedRow(seq, "insert", *rest) for seq, *rest in cursor]

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
        """Record the outcome of one request in one transaction.

        Failed rows that reach a :class:`GiveUp` limit move to the dead letters in the same
        transaction.
        """
        if not (commit.delivered or commit.dead or commit.failed):
            return
        with self._transaction("commit of a delivery outcome") as db:
            _for_chunks(db, f"DELETE FROM {QUEUE_TABLE} WHERE seq IN ({{marks}})", commit.delivered)
            now = time.time()
            for entry in commit.dead:
                self._bury(db, entry, now)
            if commit.failed:
                error = truncate(commit.error) or "delivery failed"
                _for_chunks(
                    db,
                    f"UPDATE {QUEUE_TABLE} SET attempts = attempts + 1, last_error = ?, "
                    "last_attempt_at = ?, isolated_failures = isolated_failures + ? "
                    "WHERE seq IN ({marks})",
                    commit.failed,
                    error,
                    now,
                    int(commit.isolated),
                )
                self._give_up_failed(db, commit.failed, error, now)

    def _give_up_failed(
        self, db: sqlite_utils.Database, seqs: Sequence[int], error: str, now: float
    ) -> None:
        """Bury the failed rows that reached an attempt limit (inside the open transaction)."""
        rule = self.give_up
        for start in range(0, len(seqs), _CHUNK):
            chunk = seqs[start : start + _CHUNK]
            rows = db.execute(
                f"SELECT seq, attempts, isolated_failures FROM {QUEUE_TABLE} "
                f"WHERE seq IN ({','.join('?' * len(chunk))}) "
                "AND (isolated_failures >= ? OR attempts >= ?)",
                [*chunk, rule.isolated_failures, rule.max_attempts or 2**62],
            ).fetchall()
            for seq, attempts, isolated in rows:
                if isolated >= rule.isolated_failures:
                    reason = (
                        f"the server failed to store this record {isolated} times while it "
                        f"stored others, so it cannot store it; last answer: {error}"
                    )
                else:
                    reason = f"gave up after {attempts} failed attempts; last error: {error}"
                self._bury(db, DeadLetterEntry(seq, None, reason), now)

    def expire(self) -> int:
        """Move rows older than :attr:`GiveUp.max_age` to the dead letters; return how many."""
        max_age = self.give_up.max_age
        if max_age is None:
            return 0
        now = time.time()
        with self._transaction("expiry of old rows") as db:
            rows = db.execute(
                f"SELECT seq, last_error FROM {QUEUE_TABLE} WHERE enqueued_at <= ? ORDER BY seq",
                (now - max_age,),
            ).fetchall()
            for seq, last_error in rows:
                why = f"last error: {last_error}" if last_error else "it was never answered"
                reason = f"gave up: still not delivered {max_age:g} s after it was queued; {why}"
                self._bury(db, DeadLetterEntry(seq, None, reason), now)
        return len(rows)

    def _bury(self, db: sqlite_utils.Database, entry: DeadLetterEntry, now: float) -> None:
        row = db.execute(
            f"SELECT kind, record_id, body, enqueued_at, attempts FROM {QUEUE_TABLE} WHERE seq = ?",
            (entry.seq,),
        ).fetchone()
        if row is None:
            return
        kind, record_id, body, enqueued_at, attempts = row
        reason = truncate(entry.reason) or "refused"
        if kind == "update":
            queued_insert = db.execute(
                f"SELECT 1 FROM {QUEUE_TABLE} WHERE record_id = ? AND kind = 'insert' LIMIT 1",
                (record_id,),
            ).fetchone()
            if queued_insert is not None and entry.unless_insert_queued:
                # The insert was queued while this update was in flight: not final yet.
                db.execute(
                    f"UPDATE {QUEUE_TABLE} SET attempts = attempts + 1, last_error = ?, "
                    "last_attempt_at = ? WHERE seq = ?",
                    (reason, now, entry.seq),
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
            "attempts, status_code, reason, stored) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                entry.stored,
            ),
        )
        db.execute(f"DELETE FROM {QUEUE_TABLE} WHERE seq = ?", (entry.seq,))
        # A conflict or a NUL character is learned without an HTTP status of its own.
        status = "" if entry.status_code is None else f" (HTTP {entry.status_code})"
        logger.error(
            "AUDITOR refused the %s of record %r for good%s: %s; kept as a dead letter",
            kind,
            record_id,
            status,
            reason,
        )

    # -- inspection --------------------------------------------------------------------------

    def status(self) -> QueueStatus:
        """Counts of queued inserts, queued updates and dead letters, the oldest, the last error."""
        with self._guard("read"):
            return _status(self._db.conn, SCHEMA_VERSION, self._where)

    def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first.

        Raises:
            QueueError: the file cannot be read, or a dead letter was tampered with.
        """
        with self._guard("read"):
            return _dead_letters(self._db.conn, SCHEMA_VERSION, None, self._where)

    def retry_dead_letters(self, ids: Sequence[int] | None = None) -> int:
        """Queue dead letters again (all, or those with the given ids); return how many.

        They return to their original queue positions, so updates of one record keep their
        order.  Use this after fixing what the server objected to (a server option, a limit).

        Raises:
            ValidationError: an id is not an int.
        """
        chosen = _dead_ids(ids)
        with self._transaction("requeue of dead letters") as db:
            where, params = self._dead_selection(chosen)
            cursor = db.execute(
                f"INSERT INTO {QUEUE_TABLE} (seq, kind, record_id, body, enqueued_at, attempts) "
                f"SELECT seq, kind, record_id, body, enqueued_at, 0 FROM {DEAD_TABLE} {where}",
                params,
            )
            moved = cursor.rowcount
            db.execute(f"DELETE FROM {DEAD_TABLE} {where}", params)
        return int(moved)

    def delete_dead_letters(self, ids: Sequence[int] | None = None) -> int:
        """Delete dead letters for good (all, or those with the given ids); return how many.

        Raises:
            ValidationError: an id is not an int.
        """
        chosen = _dead_ids(ids)
        with self._transaction("deletion of dead letters") as db:
            where, params = self._dead_selection(chosen)
            cursor = db.execute(f"DELETE FROM {DEAD_TABLE} {where}", params)
        return int(cursor.rowcount)

    @staticmethod
    def _dead_selection(ids: list[int] | None) -> tuple[str, list[int]]:
        if ids is None:
            return "", []
        # Beyond SQLite's limits an int is no dead letter's id.
        chosen = [i for i in ids if -(2**63) <= i < 2**63]
        return f"WHERE id IN ({','.join('?' * len(chosen)) or 'NULL'})", chosen


# --------------------------------------------------------------------------------------------
# Reading a file without changing it (``pyauditor queue status``)


def _status(conn: sqlite3.Connection, version: int, where: str) -> QueueStatus:
    counts = dict(conn.execute(f"SELECT kind, count(*) FROM {QUEUE_TABLE} GROUP BY kind"))
    dead = conn.execute(f"SELECT count(*) FROM {DEAD_TABLE}").fetchone()[0]
    oldest = conn.execute(f"SELECT min(enqueued_at) FROM {QUEUE_TABLE}").fetchone()[0]
    if version >= 2:
        last = conn.execute(
            f"SELECT last_error, last_attempt_at FROM {QUEUE_TABLE} WHERE last_error IS NOT NULL "
            "ORDER BY last_attempt_at DESC, seq LIMIT 1"
        ).fetchone()
    else:
        last = conn.execute(
            f"SELECT last_error, NULL FROM {QUEUE_TABLE} WHERE last_error IS NOT NULL "
            "ORDER BY attempts DESC, seq LIMIT 1"
        ).fetchone()
    return QueueStatus(
        int(counts.get("insert", 0)),
        int(counts.get("update", 0)),
        int(dead),
        oldest=None if oldest is None else _timestamp(oldest, "enqueued_at", where),
        last_error=None if last is None else str(last[0]),
        last_error_at=None
        if last is None or last[1] is None
        else _timestamp(last[1], "last_attempt_at", where),
    )


def _dead_letters(
    conn: sqlite3.Connection, version: int, limit: int | None, where: str
) -> list[DeadLetter]:
    stored = "stored" if version >= 2 else "NULL"
    rows = conn.execute(
        f"SELECT id, kind, record_id, body, status_code, reason, enqueued_at, failed_at, "
        f"attempts, {stored} FROM {DEAD_TABLE} ORDER BY id LIMIT ?",
        (-1 if limit is None else limit,),
    ).fetchall()
    letters = []
    for row in rows:
        number = row[0]
        what = f"dead letter #{number}"
        letters.append(
            DeadLetter(
                id=number,
                kind=row[1],
                record_id=row[2],
                body=row[3],
                status_code=row[4],
                reason=row[5],
                enqueued_at=_timestamp(row[6], f"{what}'s enqueued_at", where),
                failed_at=_timestamp(row[7], f"{what}'s failed_at", where),
                attempts=row[8],
                stored=row[9],
            )
        )
    return letters


@attrs.frozen
class QueueSnapshot:
    """What a queue file holds, read without changing it (:func:`read_queue_file`).

    Attributes:
        path: The file.
        schema: Its queue schema version (0: only python-auditor's tables).
        status: Queued inserts and updates, dead letters, the oldest row, the last error.
        failing: Queued rows that failed at least once.
        dead_letters: The first dead letters, oldest first (as many as asked for).
        reference_inserts: Rows in python-auditor's ``inserts`` table (imported on open).
        reference_updates: Rows in python-auditor's ``updates`` table.
    """

    path: Path
    schema: int
    status: QueueStatus
    failing: int = 0
    dead_letters: tuple[DeadLetter, ...] = ()
    reference_inserts: int = 0
    reference_updates: int = 0


def read_queue_file(path: Path, *, dead_letter_limit: int | None = 20) -> QueueSnapshot:
    """Read a queue file **read-only**: it is never created, migrated or changed.

    Safe on the file of a running collector, and on a file python-auditor is still using.

    Args:
        path: The queue file.
        dead_letter_limit: How many dead letters to return (oldest first); ``None``: all.

    Raises:
        QueueError: the file cannot be opened, is damaged or foreign, or is from a newer
            pyauditor.
    """
    where = f"queue {path}"
    try:
        conn = _connect_read_only(path, 10)
    except sqlite3.Error as error:
        raise QueueError(f"cannot open {where}: {error}") from None
    try:
        kind = _examine(conn, where)
        if not kind.version and not kind.reference:
            raise QueueError(
                f"{where} holds no send queue (neither pyauditor's nor python-auditor's tables)"
            )
        counts = {
            table: int(conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])
            for table in kind.reference
        }
        inserts, updates = counts.get("inserts", 0), counts.get("updates", 0)
        if not kind.version:
            return QueueSnapshot(
                path,
                0,
                QueueStatus(0, 0, 0),
                reference_inserts=inserts,
                reference_updates=updates,
            )
        failing = conn.execute(f"SELECT count(*) FROM {QUEUE_TABLE} WHERE attempts > 0")
        return QueueSnapshot(
            path,
            kind.version,
            _status(conn, kind.version, where),
            failing=int(failing.fetchone()[0]),
            dead_letters=tuple(_dead_letters(conn, kind.version, dead_letter_limit, where)),
            reference_inserts=inserts,
            reference_updates=updates,
        )
    except sqlite3.Error as error:
        raise QueueError(f"cannot read {where}: {error}") from None
    finally:
        conn.close()
