"""An in-process AUDITOR stand-in for planner and queue tests: no sockets, AUDITOR's answers.

It stores records by id and answers the write routes like AUDITOR 0.11: a batch is
all-or-nothing; a duplicate (stored or inside the batch) is ``500 RECORD_EXISTS``, or ``200``
with the warning when ``ignore_record_exists_error`` is on; an unknown update is ``404 Updating
unknown record ...``; a body over the limit is 413; ``invalid`` ids get 400; ``poison`` ids
(and NUL characters) get ``500 UNEXPECTED_ERROR``.  ``GET /records`` understands the query
grammar through the embedded server's own parser (start-time ranges, ``sort_by``, ``limit``).
``fail`` lets a test inject answers per request (an exception to raise, a ``(status, body)``
to answer, or None to proceed normally).

:class:`FakeAuditor` is what :func:`~pyauditor._delivery.drive_async` and the queue's sender
drive (it looks like ``AuditorClient``), :class:`BlockingFake` what
:func:`~pyauditor._delivery.drive_blocking` drives (it looks like ``AuditorClientBlocking``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import unquote

from pyauditor._errors import APIConnectionError, AuditorError
from pyauditor._protocol import BODY_LIMIT, status_error
from pyauditor._record import Record
from pyauditor._record_codec import record_from_server
from pyauditor.testing._chrono import parse_timestamp
from pyauditor.testing._qs import Operators, parse_filters

URL = "http://fake"
WARNING_ONE = (
    b'{"warning":"Record already exists, but the error was ignored due to AUDITOR configuration."}'
)
WARNING_MANY = (
    b'{"warning":"One or more records already exist, but the error was ignored due to AUDITOR '
    b'configuration."}'
)

Injected = AuditorError | tuple[int, bytes] | None


def error(status: int, body: str, method: str = "POST", path: str = "/records") -> AuditorError:
    return status_error(status, body.encode(), method, URL + path)


def refused() -> AuditorError:
    return APIConnectionError("connection refused", method="POST", url=URL)


def _matches(ops: Operators | None, value: int | None) -> bool:
    if ops is None:
        return True
    if value is None:
        return False
    checks = (
        (ops.gt, lambda v, x: v > x),
        (ops.gte, lambda v, x: v >= x),
        (ops.lt, lambda v, x: v < x),
        (ops.lte, lambda v, x: v <= x),
    )
    return all(bound is None or test(value, bound) for bound, test in checks)


class _FakeCore:
    """The server's state and rules; the subclasses give it a client's calling convention."""

    def __init__(self, *, limit: int = BODY_LIMIT, ignore_record_exists_error: bool = False):
        self.limit = limit
        self.ignore_record_exists_error = ignore_record_exists_error
        self.stored: dict[str, dict[str, Any]] = {}
        self.invalid: set[str] = set()
        self.poison: set[str] = set()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, record count)
        self.fail: Callable[[str, str, bytes], Injected] | None = None

    def _url(self, path: str) -> str:
        return URL + path

    def exchange_now(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        assert body is not None
        document = json.loads(body)
        count = len(document) if isinstance(document, list) else 1
        self.requests.append((method, path, count))
        if self.fail is not None:
            injected = self.fail(method, path, body)
            if isinstance(injected, AuditorError):
                raise injected
            if injected is not None:
                return injected
        return self._answer(method, path, body, document)

    def records_now(self, query_string: str = "") -> Iterator[Record]:
        self.requests.append(("GET", "/records", 0))
        if self.fail is not None:
            injected = self.fail("GET", "/records", query_string.encode())
            if isinstance(injected, AuditorError):
                raise injected
        filters = parse_filters(query_string.encode())
        rows = [
            r
            for r in self.stored.values()
            if _matches(filters.start_time, r["_start"])
            and (filters.record_id is None or r["record_id"] == filters.record_id)
        ]
        if filters.sort_by is not None:
            rows.sort(key=lambda r: r["_start"], reverse=filters.sort_by[0] == "desc")
        if filters.limit is not None:
            rows = rows[: filters.limit]
        for row in rows:
            yield self._record(row)

    def record_now(self, record_id: str) -> Record:
        self.requests.append(("GET", "/record/" + record_id, 0))
        if self.fail is not None:
            injected = self.fail("GET", "/record/", record_id.encode())
            if isinstance(injected, AuditorError):
                raise injected
        row = self.stored.get(record_id)
        if row is None:
            raise error(500, '{"error":"A database error was encountered"}', "GET", "/record/")
        return self._record(row)

    # -- AUDITOR's rules ---------------------------------------------------------------------

    @staticmethod
    def _record(row: dict[str, Any]) -> Record:
        return record_from_server({k: v for k, v in row.items() if not k.startswith("_")})

    def _answer(self, method: str, path: str, body: bytes, document: Any) -> tuple[int, bytes]:
        if len(body) > self.limit:
            return 413, f"JSON payload ({len(body)} bytes) is larger than allowed".encode()
        if method == "PUT":
            record_id = document["record_id"]
            if record_id in self.invalid:
                return 400, b"Json deserialize error: invalid"
            if "\x00" in record_id or record_id in self.poison:
                return 500, b"UNEXPECTED_ERROR"
            if record_id not in self.stored:
                return 404, f"Updating unknown record {record_id} not possible.".encode()
            self.stored[record_id]["stop_time"] = document["stop_time"]
            return 200, b""
        records = document if path == "/records" else [document]
        if any(r["record_id"] in self.invalid for r in records):
            return 400, b"Json deserialize error: invalid record"
        if any(
            "\x00" in json.dumps(r, ensure_ascii=False) or r["record_id"] in self.poison
            for r in records
        ):
            return 500, b"UNEXPECTED_ERROR"
        ids = [r["record_id"] for r in records]
        if len(set(ids)) != len(ids) or any(i in self.stored for i in ids):
            if self.ignore_record_exists_error:
                return 200, WARNING_MANY if path == "/records" else WARNING_ONE
            return 500, b"RECORD_EXISTS"
        for record in records:
            self.stored[record["record_id"]] = self.row(record)
        return 200, b""

    @staticmethod
    def row(record: dict[str, Any]) -> dict[str, Any]:
        """What the server keeps of a request record (and returns with a runtime)."""
        start = parse_timestamp(record["start_time"])
        stop = record.get("stop_time")
        runtime = None
        if stop is not None:
            runtime = int((parse_timestamp(stop) - start) / 1e9)
        return {
            "record_id": record["record_id"],
            "meta": record.get("meta"),
            "components": record["components"],
            "start_time": record["start_time"],
            "stop_time": stop,
            "runtime": runtime,
            "_start": start,
        }

    def put(self, body: str) -> None:
        """Store a record directly (as if someone else had sent it)."""
        record = json.loads(body)
        self.stored[record["record_id"]] = self.row(record)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p == path)


class FakeAuditor(_FakeCore):
    """The stand-in as ``AuditorClient`` (async), for the queue and ``drive_async``."""

    async def _exchange(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        return self.exchange_now(method, path, body)

    async def iter_records(self, query_string: str = "") -> AsyncIterator[Record]:
        for record in self.records_now(query_string):
            yield record

    async def get_single_record(self, record_id: str) -> Record:
        return self.record_now(record_id)


class BlockingFake(_FakeCore):
    """The stand-in as ``AuditorClientBlocking``, for ``drive_blocking``."""

    def _exchange(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        return self.exchange_now(method, path, body)

    def iter_records(self, query_string: str = "") -> Iterator[Record]:
        return self.records_now(query_string)

    def get_single_record(self, record_id: str) -> Record:
        return self.record_now(record_id)


T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.UTC)


def body(
    record_id: str,
    stop: str | None = None,
    *,
    start: dt.datetime | str = "2022-08-08T11:30:00Z",
    meta: dict[str, list[str]] | None = None,
) -> str:
    """A ``POST /record`` body as the clients make it."""
    if isinstance(start, dt.datetime):
        start = start.isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "record_id": record_id,
            "meta": meta,
            "components": [],
            "start_time": start,
            "stop_time": stop,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decoded(query: str) -> str:
    """A query string with its percent-escapes decoded, for readable assertions."""
    return unquote(query)
