"""SQLite storage for the embedded server, shaped after AUDITOR's ``auditor_accounting`` table.

Why stdlib ``sqlite3`` and not sqlite-utils: the server needs exact control over transactions
(``BEGIN IMMEDIATE`` for all-or-nothing bulk inserts that several processes may race on), over
connections (one per request, from a pool, so a slow streamed read never blocks a writer) and
over cursors (rows are streamed as they are read).  sqlite-utils would only wrap those calls.

Every database, the "in-memory" default included, is a WAL-mode SQLite file: WAL gives each
reader a snapshot while writers go on, which is what PostgreSQL's MVCC gives AUDITOR, and it
is what lets several server processes share one ``--db`` file.  The default database lives in a
fresh temporary directory (on ``/dev/shm`` where that exists, so it is in memory) and is deleted
when the server stops.

What is stored per record:

* ``meta`` and ``components`` as the JSON text the server will send (key order as received,
  scores formatted like serde_json), so reading a record never re-serialises it;
* timestamps as PostgreSQL holds them, integer microseconds since 2000-01-01 (exact ordering and
  comparisons), next to their output text;
* ``first_name``/``first_amount`` for AUDITOR's ``components->0`` filter, and one row per meta
  value in ``auditor_meta`` for the ``c``/``dnc`` filters and the metrics.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .._grammar import OPERATORS, SORT_COLUMNS
from .._json import dumps, dumps_exact, encode_string, float_is_plain
from ._chrono import format_micros, ns_to_pg_micros, pg_micros_to_ns, runtime_seconds
from ._qs import Filters, Operators
from ._serde import IncomingRecord

__all__ = ["InsertOutcome", "QueryTooComplex", "Store", "StoredRow", "UpdateOutcome"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS auditor_records (
    id INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE,
    meta TEXT NOT NULL,
    components TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    start_text TEXT NOT NULL,
    stop_us INTEGER,
    stop_text TEXT,
    runtime INTEGER,
    first_name TEXT,
    first_amount INTEGER
);
CREATE TABLE IF NOT EXISTS auditor_meta (
    record INTEGER NOT NULL REFERENCES auditor_records(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT
);
CREATE INDEX IF NOT EXISTS auditor_meta_lookup ON auditor_meta (key, value, record);
CREATE INDEX IF NOT EXISTS auditor_meta_by_record ON auditor_meta (record);
"""

# The columns of the fields stored under another name; values come from a fixed set, never
# from the request.
_TIME_COLUMNS = {"start_time": "start_us", "stop_time": "stop_us"}
_SORT_COLUMNS = {field: _TIME_COLUMNS.get(field, field) for field in SORT_COLUMNS}
_SELECT = "SELECT record_id, meta, components, start_text, stop_text, runtime FROM auditor_records"
_BUSY_TIMEOUT_S = 30.0
_INT4_MAX = 2**31 - 1
# SQLite's errors for a statement beyond its compile-time limits (sqlite3.c); AUDITOR's
# PostgreSQL has other limits, so these are the embedded server's own, answered with 400.
_LIMIT_ERRORS = (
    "Expression tree is too large",
    "too many SQL variables",
    "parser stack overflow",
    "too many terms in compound SELECT",
    "too many arguments on function",
    "too many FROM clause terms",
    "too many columns",
    "string or blob too big",
    "LIKE or GLOB pattern too complex",
)


class QueryTooComplex(Exception):
    """SQLite cannot run a query this large; ``str(error)`` is SQLite's reason."""


def _pg_int4(value: int | None) -> int | None:
    """PostgreSQL's ``::int`` cast, which fails above 2**31-1 ("integer out of range")."""
    if value is not None and not -_INT4_MAX - 1 <= value <= _INT4_MAX:
        # Not OverflowError: sqlite3 reports that one as "string or blob too big".
        raise ValueError("integer out of range")
    return value


class InsertOutcome:
    """What an insert did, in AUDITOR's terms."""

    STORED = "stored"
    EXISTS = "exists"  # PostgreSQL 23505: a record_id was already there or repeated
    UNEXPECTED = "unexpected"  # any other database error


class UpdateOutcome:
    """What an update did."""

    UPDATED = "updated"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StoredRow:
    """A record ready to be inserted: the values of one ``auditor_records`` row."""

    record_id: str
    meta_json: str
    meta: dict[str, list[str]] | None
    components_json: str
    start_us: int
    stop_us: int | None
    runtime: int | None
    first_name: str | None
    first_amount: int | None


class DatabaseError(RuntimeError):
    """A value PostgreSQL would refuse; the message is what sqlx would print."""


def _has_nul(record: IncomingRecord) -> bool:
    # PostgreSQL rejects NUL in TEXT (22021) and in jsonb strings (22P05).
    if "\0" in record.record_id:
        return True
    if record.meta and any(
        "\0" in key or any("\0" in v for v in values) for key, values in record.meta.items()
    ):
        return True
    return any(
        "\0" in c.name or any("\0" in name for name, _ in c.scores) for c in record.components
    )


def prepare_row(record: IncomingRecord) -> StoredRow | None:
    """Turn a validated ``RecordAdd`` into a row; ``None`` if PostgreSQL would refuse it."""
    assert record.start_ns is not None
    start_us = ns_to_pg_micros(record.start_ns)
    stop_us = None if record.stop_ns is None else ns_to_pg_micros(record.stop_ns)
    if start_us is None or (record.stop_ns is not None and stop_us is None) or _has_nul(record):
        return None
    components = [
        {
            "name": c.name,
            "amount": c.amount,
            "scores": [{"name": name, "value": value} for name, value in c.scores],
        }
        for c in record.components
    ]
    plain = all(float_is_plain(value) for c in record.components for _, value in c.scores)
    first = record.components[0] if record.components else None
    return StoredRow(
        record_id=record.record_id,
        meta_json="null" if record.meta is None else dumps(record.meta),
        meta=record.meta,
        components_json=dumps(components) if plain else dumps_exact(components),
        start_us=start_us,
        stop_us=stop_us,
        # runtime from the request values at full precision, as AUDITOR computes it.
        runtime=None
        if record.stop_ns is None
        else runtime_seconds(record.stop_ns, record.start_ns),
        first_name=None if first is None else first.name,
        first_amount=None if first is None else first.amount,
    )


def record_json(
    record_id: str,
    meta: str,
    components: str,
    start_text: str,
    stop_text: str | None,
    runtime: int | None,
) -> str:
    """One record as AUDITOR serialises it: all six keys, struct order, compact."""
    stop = "null" if stop_text is None else f'"{stop_text}"'
    run = "null" if runtime is None else str(runtime)
    return (
        f'{{"record_id":{encode_string(record_id)},"meta":{meta},"components":{components},'
        f'"start_time":"{start_text}","stop_time":{stop},"runtime":{run}}}'
    )


def _ephemeral_directory() -> str:
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="pyauditor-testing-", dir=base)


class Store:
    """The records of one server (or of several processes sharing one database file).

    Thread-safe: every operation borrows its own connection from a pool.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._directory: str | None = None
        self._cleanup: weakref.finalize[Any, Any] | None = None
        if path is None:
            self._directory = _ephemeral_directory()
            self.path = os.path.join(self._directory, "auditor.db")
            # Removed on close(), or at the latest when the interpreter exits.
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._directory, True)
        else:
            self.path = os.fspath(path)
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        with self.connection() as conn:
            # journal_mode=WAL is persistent in the file; setting it again is harmless.  The
            # schema statements are idempotent, so processes starting together do not clash.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA foreign_keys=ON")
        conn.create_function("pg_int4", 1, _pg_int4, deterministic=True)
        # An ephemeral database need not survive a crash; a shared file should.
        conn.execute(f"PRAGMA synchronous={'OFF' if self._directory else 'NORMAL'}")
        with self._lock:
            self._all.append(conn)
        return conn

    def _borrow(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the store is closed")
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return self._connect()

    def _give_back(self, conn: sqlite3.Connection) -> None:
        if self._closed:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        else:
            self._pool.put(conn)

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection (autocommit mode; callers open transactions explicitly)."""
        conn = self._borrow()
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._give_back(conn)

    def close(self) -> None:
        """Close every connection; delete the database if it was the temporary default."""
        self._closed = True
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if self._cleanup is not None:
            self._cleanup()

    def healthy(self) -> bool:
        """``GET /health_check``: can a connection be used?"""
        try:
            with self.connection() as conn:
                conn.execute("SELECT 1").fetchone()
            return True
        except (sqlite3.Error, RuntimeError):
            return False

    # -- writes ----------------------------------------------------------------------------

    def insert(self, rows: list[StoredRow]) -> str:
        """Insert all rows in one transaction: all of them or, on any duplicate, none."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    cursor = conn.execute(
                        "INSERT INTO auditor_records (record_id, meta, components, start_us,"
                        " start_text, stop_us, stop_text, runtime, first_name, first_amount)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            row.record_id,
                            row.meta_json,
                            row.components_json,
                            row.start_us,
                            format_micros(row.start_us),
                            row.stop_us,
                            None if row.stop_us is None else format_micros(row.stop_us),
                            row.runtime,
                            row.first_name,
                            row.first_amount,
                        ),
                    )
                    if row.meta:
                        rowid = cursor.lastrowid
                        conn.executemany(
                            "INSERT INTO auditor_meta (record, key, position, value)"
                            " VALUES (?, ?, ?, ?)",
                            [
                                item
                                for key, values in row.meta.items()
                                for item in [(rowid, key, -1, None)]
                                + [(rowid, key, i, v) for i, v in enumerate(values)]
                            ],
                        )
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK")
                return InsertOutcome.EXISTS
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                return InsertOutcome.UNEXPECTED
            conn.execute("COMMIT")
        return InsertOutcome.STORED

    def update(self, record_id: str, stop_ns: int) -> str:
        """Set stop_time (and runtime from the stored start) of an existing record.

        Raises:
            DatabaseError: PostgreSQL would refuse the values (the text is sqlx's message).
        """
        if "\0" in record_id:
            raise DatabaseError(
                'error returned from database: invalid byte sequence for encoding "UTF8": 0x00'
            )
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT start_us FROM auditor_records WHERE record_id = ?", (record_id,)
            ).fetchone()
            if row is None:
                conn.execute("ROLLBACK")
                return UpdateOutcome.UNKNOWN
            stop_us = ns_to_pg_micros(stop_ns)
            if stop_us is None:
                conn.execute("ROLLBACK")
                raise DatabaseError("error returned from database: timestamp out of range")
            runtime = runtime_seconds(stop_ns, pg_micros_to_ns(row[0]))
            conn.execute(
                "UPDATE auditor_records SET stop_us = ?, stop_text = ?, runtime = ?"
                " WHERE record_id = ?",
                (stop_us, format_micros(stop_us), runtime, record_id),
            )
            conn.execute("COMMIT")
        return UpdateOutcome.UPDATED

    def clear(self) -> None:
        """Delete every record."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM auditor_meta")
            conn.execute("DELETE FROM auditor_records")
            conn.execute("COMMIT")

    # -- reads -----------------------------------------------------------------------------

    def get(self, record_id: str) -> str | None:
        """The JSON of one record, or ``None``."""
        with self.connection() as conn:
            row = conn.execute(_SELECT + " WHERE record_id = ?", (record_id,)).fetchone()
        return None if row is None else record_json(*row)

    def all_json(self) -> list[str]:
        """Every record's JSON, in insertion order."""
        with self.connection() as conn:
            rows = conn.execute(_SELECT + " ORDER BY id").fetchall()
        return [record_json(*row) for row in rows]

    def count(self) -> int:
        """The number of stored records."""
        with self.connection() as conn:
            (n,) = conn.execute("SELECT count(*) FROM auditor_records").fetchone()
        return int(n)

    def query(self, filters: Filters) -> Iterator[str]:
        """Run the query now and return the JSON of the matching records, read as it is sent.

        The connection stays borrowed until the iterator is exhausted or closed.  A database
        error while reading ends the iteration early with the error (AUDITOR then ends its
        stream after the ``200``); one before the first row gives no rows at all.

        Raises:
            QueryTooComplex: the query is beyond SQLite's limits (AUDITOR's database would run
                it; answering an empty ``200`` as for a database error would be a lie).
        """
        sql, params = _build_query(filters)
        if sql is None:
            return iter(())
        conn = self._borrow()
        try:
            cursor = conn.execute(sql, params)
        except sqlite3.Error as err:
            self._give_back(conn)
            if any(str(err).startswith(text) for text in _LIMIT_ERRORS):
                raise QueryTooComplex(str(err)) from None
            # PostgreSQL failing the query (the ::int cast of a large component amount): AUDITOR
            # swallows the error after its 200, so nothing is sent.
            return iter(())
        except BaseException:
            self._give_back(conn)
            raise
        return _Rows(cursor, lambda: self._give_back(conn))

    def metrics(self) -> str:
        """The database gauges of ``GET /metrics`` in Prometheus text format."""
        help_text = "Number of records in the Auditor database"
        lines: list[str] = []
        with self.connection() as conn:
            conn.execute("BEGIN")
            try:
                (total,) = conn.execute("SELECT count(*) FROM auditor_records").fetchone()
                lines += [
                    f"# HELP num_records_database {help_text}",
                    "# TYPE num_records_database gauge",
                    f"num_records_database {total}",
                ]
                for name, key, label in (
                    ("num_records_database_per_group", "group", "group_id"),
                    ("num_records_database_per_site", "site", "site"),
                    ("num_records_database_per_user", "user", "user_id"),
                ):
                    # A record counts for the first value under its key (meta->key->>0).
                    counts = conn.execute(
                        "SELECT value, count(*) FROM auditor_meta WHERE key = ? AND position = 0"
                        " GROUP BY value ORDER BY value",
                        (key,),
                    ).fetchall()
                    if counts:
                        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
                        lines += [f'{name}{{{label}="{_label(v)}"}} {n}' for v, n in counts]
            finally:
                conn.execute("COMMIT")
        return "\n".join(lines) + "\n"

    def records(self) -> list[dict[str, Any]]:
        """Every record as parsed JSON, in insertion order (a helper for tests)."""
        import json

        return [json.loads(text) for text in self.all_json()]


class _Rows:
    """The rows of a running query as record JSON texts; :meth:`close` releases its connection.

    A class rather than a generator: a generator that was never started does not run its
    ``finally`` when closed, and the connection would never be given back.
    """

    def __init__(self, cursor: sqlite3.Cursor, release: Callable[[], None]) -> None:
        self._cursor: sqlite3.Cursor | None = cursor
        self._release = release

    def __iter__(self) -> _Rows:
        return self

    def __next__(self) -> str:
        cursor = self._cursor
        if cursor is None:
            raise StopIteration
        # Row by row, not fetchmany(): a failure mid-way must not take the rows read before
        # it along (PostgreSQL has sent those when it fails).
        try:
            row = next(cursor)
        except BaseException:
            self.close()
            raise
        return record_json(*row)

    def close(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            with contextlib.suppress(sqlite3.Error):
                cursor.close()
            self._release()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _operator_clauses(
    column: str, ops: Operators, convert: Any, skip_equals: bool
) -> tuple[list[str], list[Any]] | None:
    """AUDITOR's ``get_operator``: ``None`` drops the field's whole filter."""
    if (ops.gt is not None and ops.gte is not None) or (ops.lt is not None and ops.lte is not None):
        return None
    clauses: list[str] = []
    params: list[Any] = []
    for name, sql_op in OPERATORS.items():
        value = getattr(ops, name)
        if value is None or (name == "equals" and skip_equals):
            continue
        clauses.append(f"{column} {sql_op} ?")
        params.append(convert(value))
    return clauses, params


class _OutOfRange(Exception):
    pass


def _pg_time(ns: int) -> int:
    micros = ns_to_pg_micros(ns)
    if micros is None:
        raise _OutOfRange
    return micros


def _build_query(filters: Filters) -> tuple[str | None, list[Any]]:
    """The SQL for ``GET /records``; ``(None, [])`` when PostgreSQL would fail the query (the
    client then sees an empty 200, as with AUDITOR)."""
    where: list[str] = []
    params: list[Any] = []

    def add(result: tuple[list[str], list[Any]] | None) -> None:
        if result is not None:
            where.extend(result[0])
            params.extend(result[1])

    try:
        if filters.record_id is not None:
            where.append("record_id = ?")
            params.append(filters.record_id)
        # Datetime `equals` is parsed but ignored upstream (get_operator skips it for DateTime).
        if filters.start_time is not None:
            add(_operator_clauses(_TIME_COLUMNS["start_time"], filters.start_time, _pg_time, True))
        if filters.stop_time is not None:
            add(_operator_clauses(_TIME_COLUMNS["stop_time"], filters.stop_time, _pg_time, True))
        for key, meta in (filters.meta or {}).items():
            for value in meta.c or ():
                where.append(
                    "EXISTS (SELECT 1 FROM auditor_meta m WHERE m.record = auditor_records.id"
                    " AND m.key = ? AND m.value = ?)"
                )
                params += [key, value]
            for value in meta.dnc or ():
                # NOT (meta -> key @> [value]) is NULL, so false, when the key is missing.
                where.append(
                    "EXISTS (SELECT 1 FROM auditor_meta m WHERE m.record = auditor_records.id"
                    " AND m.key = ? AND m.position = -1)"
                    " AND NOT EXISTS (SELECT 1 FROM auditor_meta m"
                    " WHERE m.record = auditor_records.id AND m.key = ? AND m.value = ?)"
                )
                params += [key, key, value]
        for name, ops in (filters.component or {}).items():
            # `(components->0->>'amount')::int`: the cast fails on an amount above 2**31-1.
            result = _operator_clauses("pg_int4(first_amount)", ops, int, False)
            if result is not None:
                # components->0->>'name' = N AND (components->0->>'amount')::int op A, per op.
                for clause, value in zip(result[0], result[1], strict=True):
                    where.append(f"first_name = ? AND {clause}")
                    params += [name, value]
        if filters.runtime is not None:
            add(_operator_clauses("runtime", filters.runtime, int, False))
    except _OutOfRange:
        return None, []
    if any(type(param) is str and "\0" in param for param in params):
        # PostgreSQL refuses NUL in a text parameter; AUDITOR swallows the error after its 200.
        return None, []
    sql = _SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    if filters.sort_by is not None:
        direction, field = filters.sort_by
        # PostgreSQL sorts NULLs last ascending and first descending; `id` keeps ties stable.
        nulls = "NULLS LAST" if direction == "asc" else "NULLS FIRST"
        sql += f" ORDER BY {_SORT_COLUMNS[field]} {direction.upper()} {nulls}, id"
    else:
        sql += " ORDER BY stop_us ASC NULLS LAST, id"
    if filters.limit is not None:
        sql += " LIMIT ?"
        params.append(filters.limit)
    return sql, params
