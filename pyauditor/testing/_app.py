"""AUDITOR 0.11's routes and handlers on top of the HTTP layer and the store.

Every status code, body and ``Content-Type`` (or its absence) below is the one the real
server produces; ``auditor-server-0.11.md`` in the project's reference documents says why.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar
from urllib.parse import unquote_to_bytes

from .._json import dumps
from ._faults import Action, Close, Delay, FaultRules, RecordsFormat, Reset, Respond, Truncate
from ._http import BodyTooLarge, HttpRequest, HttpResponse
from ._names import is_valid_name
from ._qs import QueryError, parse_filters
from ._rbac import Enforcer, MetaDenied, Panic, enforce_meta_filtering, request_scheme
from ._serde import IncomingRecord, JsonBodyError, read_record, read_records, read_update
from ._store import (
    DatabaseError,
    InsertOutcome,
    QueryTooComplex,
    Store,
    UpdateOutcome,
    prepare_row,
)

__all__ = ["App"]

_T = TypeVar("_T")

JSON_LIMIT = 2_097_152  # actix-web's default JsonConfig limit
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
_NOT_FOUND_TEXT = b"The requested resource was not found. 404 Not Found"
_GET_ONE_ERROR = (
    b'{"error":"A database error was encountered while trying to get a record from the database"}'
)
_WARNING_ONE = (
    b'{"warning":"Record already exists, but the error was ignored due to AUDITOR configuration."}'
)
_WARNING_MANY = (
    b'{"warning":"One or more records already exist, but the error was ignored due to AUDITOR'
    b' configuration."}'
)
# RFC 7230 token characters, for the media type check of actix's Json extractor.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_MEDIA_TYPE = re.compile(
    rf"\s*({_TOKEN})/({_TOKEN})\s*(;\s*{_TOKEN}\s*=\s*({_TOKEN}|\"([^\"\\]|\\.)*\")\s*)*"
)


def _plain(status: int, body: bytes = b"", content_type: str | None = None) -> HttpResponse:
    headers = [] if content_type is None else [("content-type", content_type)]
    return HttpResponse(status, headers, body)


def _not_found() -> HttpResponse:
    return _plain(404, _NOT_FOUND_TEXT)


def _dropped() -> HttpResponse:
    """AUDITOR panicked: the connection closes without an answer."""
    return HttpResponse(500, silent="close", close=True)


def _requote(path: str) -> str:
    """actix-router's path re-quoting: ``%XX`` is decoded except ``%2F``, ``%25``, ``%2B``."""
    if "%" not in path:
        return path.encode("latin-1").decode("utf-8", "replace")

    def replace(match: re.Match[str]) -> str:
        code = match.group(0)
        return code if code[1:].upper() in ("2F", "25", "2B") else chr(int(code[1:], 16))

    decoded = re.sub(r"%[0-9A-Fa-f]{2}", replace, path)
    return decoded.encode("latin-1", "replace").decode("utf-8", "replace")


def _json_content_type(value: str | None) -> bool:
    """actix's Json extractor: the type parses and its subtype is ``json`` or ends in ``+json``."""
    if value is None:
        return False
    match = _MEDIA_TYPE.fullmatch(value)
    if match is None:
        return False
    subtype = match.group(2).lower()
    return subtype == "json" or subtype.endswith("+json")


class App:
    """Routes requests the way AUDITOR 0.11's actix-web app does."""

    def __init__(
        self,
        store: Store,
        faults: FaultRules,
        *,
        ignore_record_exists_error: bool = False,
        rbac_enforcer: Enforcer | None = None,
        enforce_rbac: bool = False,
        rbac_flag_is_ignore_flag: bool = True,
    ) -> None:
        self.store = store
        self.faults = faults
        self.ignore_record_exists_error = ignore_record_exists_error
        # The casbin enforcer, built only with TLS and `enforce_rbac`, as AUDITOR builds it.
        self.rbac_enforcer = rbac_enforcer
        self.enforce_rbac = enforce_rbac
        # AUDITOR 0.11's middleware reads its "enforce" flag from ignore_record_exists_error.
        self.rbac_flag_is_ignore_flag = rbac_flag_is_ignore_flag
        # Set when the server stops, so that injected delays end at once.
        self.stopping = threading.Event()

    # -- entry point -------------------------------------------------------------------------

    def __call__(self, request: HttpRequest) -> HttpResponse:
        action = self.faults.take(request.method, request.path)
        if action is None:
            return self._route(request, None)
        response = self._apply(action, request)
        response.fault = type(action).__name__
        return response

    def _apply(self, action: Action, request: HttpRequest) -> HttpResponse:
        if isinstance(action, Delay):
            if action.process_first:
                response = self._route(request, None)
                self.stopping.wait(action.seconds)
                return response if action.then is None else self._after(action.then, response)
            self.stopping.wait(action.seconds)
            return (
                self._route(request, None)
                if action.then is None
                else self._apply(action.then, request)
            )
        if isinstance(action, RecordsFormat):
            return self._route(request, action.format)
        if isinstance(action, Respond):
            if action.process:
                _close_stream(self._route(request, None))
            else:
                _read_quietly(request)
            return self._respond(action)
        if (
            isinstance(action, Truncate)
            or action.process
            or (isinstance(action, Reset) and action.after_bytes > 0)
        ):
            return self._after(action, self._route(request, None))
        _read_quietly(request)
        return self._after(action, HttpResponse(200))

    def _after(self, action: Action, response: HttpResponse) -> HttpResponse:
        """Apply a byte-level action to an answer that has been produced."""
        if isinstance(action, Reset):
            if action.after_bytes == 0:
                response.silent = "reset"
            else:
                response.reset_after = action.after_bytes
        elif isinstance(action, Close):
            response.silent = "close"
        elif isinstance(action, Truncate):
            response.truncate_after = action.after_bytes
        elif isinstance(action, Respond):
            _close_stream(response)
            return self._respond(action)
        return response

    @staticmethod
    def _respond(action: Respond) -> HttpResponse:
        body = action.body.encode() if isinstance(action.body, str) else action.body
        headers = list(action.headers)
        if action.content_type is not None:
            headers.insert(0, ("content-type", action.content_type))
        return HttpResponse(action.status, headers, body)

    # -- routing -----------------------------------------------------------------------------

    def _rbac_applies(self, request: HttpRequest) -> bool:
        enforce = (
            self.ignore_record_exists_error if self.rbac_flag_is_ignore_flag else self.enforce_rbac
        )
        return enforce and request_scheme(request).lower() == "https"

    def _route(self, request: HttpRequest, records_format: str | None) -> HttpResponse:
        # The RBAC middleware wraps the whole app: it runs before routing.
        allowed_meta: dict[str, list[str]] | None = None
        if self._rbac_applies(request):
            if self.rbac_enforcer is None:
                return _plain(500, b"Enforcer not initialized", _TEXT)
            try:
                outcome = self.rbac_enforcer.authorize(request, request.path)
            except Panic:
                return _dropped()
            if isinstance(outcome, tuple):
                return _plain(outcome[0], outcome[1], _TEXT)
            allowed_meta = outcome
        path = _requote(request.path)
        method = request.method
        if path == "/record":
            if method == "POST":
                return self._add(request)
            if method == "PUT":
                return self._update(request)
            return HttpResponse(405, [("allow", "POST, PUT")])
        if path == "/records":
            if method == "POST":
                return self._bulk_add(request)
            if method == "GET":
                return self._query(request, records_format or "concatenated", allowed_meta)
            return HttpResponse(405, [("allow", "POST, GET")])
        if method != "GET":
            # Routes registered with App::route carry their method guard on the resource, so
            # other methods fall through to the default service: 404, not 405.
            return _not_found()
        if path == "/health_check":
            return _plain(200) if self.store.healthy() else _plain(500)
        if path == "/metrics":
            return _plain(200, self.store.metrics().encode())
        if path.startswith("/record/"):
            segment = path[len("/record/") :]
            if segment and "/" not in segment:
                return self._get_one(segment)
        return _not_found()

    # -- handlers ----------------------------------------------------------------------------

    def _json_body(self, request: HttpRequest, reader: Callable[[bytes], _T]) -> _T:
        if not _json_content_type(request.header("content-type")):
            raise _Answer(_plain(400, b"Content type error", _TEXT))
        try:
            body = request.read_body(JSON_LIMIT)
        except BodyTooLarge as err:
            if err.length is not None:
                text = (
                    f"JSON payload ({err.length} bytes) is larger than allowed"
                    f" (limit: {JSON_LIMIT} bytes)."
                )
            else:
                text = f"JSON payload has exceeded limit ({JSON_LIMIT} bytes)."
            raise _Answer(_plain(413, text.encode(), _TEXT)) from None
        try:
            return reader(body)
        except JsonBodyError as err:
            raise _Answer(_plain(400, f"Json deserialize error: {err}".encode(), _TEXT)) from None

    def _add(self, request: HttpRequest) -> HttpResponse:
        try:
            record = self._json_body(request, read_record)
        except _Answer as answer:
            return answer.response
        return self._insert([record], _WARNING_ONE)

    def _bulk_add(self, request: HttpRequest) -> HttpResponse:
        try:
            records = self._json_body(request, read_records)
        except _Answer as answer:
            return answer.response
        return self._insert(records, _WARNING_MANY)

    def _insert(self, records: list[IncomingRecord], warning: bytes) -> HttpResponse:
        rows = [prepare_row(record) for record in records]
        ready = [row for row in rows if row is not None]
        if len(ready) != len(rows):
            # PostgreSQL refuses the values (NUL characters, timestamps out of its range).
            return _plain(500, b"UNEXPECTED_ERROR")
        outcome = self.store.insert(ready)
        if outcome == InsertOutcome.STORED:
            return _plain(200)
        if outcome == InsertOutcome.EXISTS:
            if self.ignore_record_exists_error:
                # For a batch nothing was stored (the transaction rolled back), yet AUDITOR
                # answers 200 with this warning.
                return _plain(200, warning, _JSON)
            return _plain(500, b"RECORD_EXISTS")
        return _plain(500, b"UNEXPECTED_ERROR")

    def _update(self, request: HttpRequest) -> HttpResponse:
        try:
            record = self._json_body(request, read_update)
        except _Answer as answer:
            return answer.response
        record_id = record.record_id
        assert record.stop_ns is not None  # RecordUpdate requires stop_time
        try:
            outcome = self.store.update(record_id, record.stop_ns)
        except DatabaseError as err:
            return _plain(500, str(err).encode(), _TEXT)
        if outcome == UpdateOutcome.UNKNOWN:
            return _plain(404, f"Updating unknown record {record_id} not possible.".encode(), _TEXT)
        return _plain(200)

    def _get_one(self, segment: str) -> HttpResponse:
        record_id = unquote_to_bytes(segment).decode("utf-8", "replace")
        if not is_valid_name(record_id):
            return _plain(200, b"null", _JSON)
        if "\0" in record_id:
            return _plain(500, _GET_ONE_ERROR, _JSON)
        text = self.store.get(record_id)
        if text is None:
            return _plain(500, _GET_ONE_ERROR, _JSON)
        return _plain(200, text.encode(), _JSON)

    def _query(
        self,
        request: HttpRequest,
        records_format: str,
        allowed_meta: dict[str, list[str]] | None,
    ) -> HttpResponse:
        try:
            filters = parse_filters(request.query)
        except QueryError as err:
            return _plain(400, dumps({"error": str(err)}).encode(), _JSON)
        if allowed_meta is not None:
            try:
                enforce_meta_filtering(filters, allowed_meta)
            except MetaDenied as err:
                return _plain(500, dumps({"error": str(err)}).encode(), _JSON)
            except Panic:
                return _dropped()
        try:
            rows = self.store.query(filters)
        except QueryTooComplex as err:
            message = f"the query is too large for the embedded server's SQLite database: {err}"
            return _plain(400, dumps({"error": message}).encode(), _JSON)
        return HttpResponse(
            200, [("content-type", _JSON)], stream=_RecordsBody(rows, records_format)
        )


class _Answer(Exception):
    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


class _RecordsBody:
    """The body of ``GET /records`` in the chosen format, one piece per record.

    Closing it releases the query's database connection, also when it was never started (a
    generator's ``finally`` would not run then).
    """

    def __init__(self, rows: Iterator[str], records_format: str) -> None:
        self._rows = rows
        self._pieces = _pieces(rows, records_format)

    def __iter__(self) -> _RecordsBody:
        return self

    def __next__(self) -> bytes:
        return next(self._pieces)

    def close(self) -> None:
        self._pieces.close()
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()


def _pieces(rows: Iterator[str], records_format: str) -> Generator[bytes]:
    if records_format == "array":
        yield b"["
        first = True
        for row in rows:
            yield (row if first else "," + row).encode()
            first = False
        yield b"]"
    elif records_format == "ndjson":
        for row in rows:
            yield (row + "\n").encode()
    else:
        for row in rows:
            yield row.encode()


def _close_stream(response: HttpResponse) -> None:
    if response.stream is not None:
        close = getattr(response.stream, "close", None)
        if close is not None:
            close()


def _read_quietly(request: HttpRequest) -> None:
    """Consume the body of a request that is not processed, so the connection stays usable.

    The body is kept: exchange reports (contract checks, the request log) then see it as the
    client sent it, even for an answer injected by a fault.
    """
    request.body_reader.drain(keep=True)
