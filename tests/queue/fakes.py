"""An in-process AUDITOR stand-in for queue tests: the write routes' semantics, no sockets.

It stores records by id and answers like AUDITOR 0.11: a batch is all-or-nothing, a duplicate
(stored or inside the batch) is ``500 RECORD_EXISTS``, an unknown update is ``404 Updating
unknown record ...``, a body over the limit is 413.  ``invalid`` ids get 400.  ``fail`` lets a
test inject answers (an exception to raise, or None to proceed normally) per request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pyauditor._errors import APIConnectionError, AuditorError
from pyauditor._protocol import BODY_LIMIT, status_error

URL = "http://fake"


def error(status: int, body: str, method: str = "POST", path: str = "/records") -> AuditorError:
    return status_error(status, body.encode(), method, URL + path)


def refused() -> AuditorError:
    return APIConnectionError("connection refused", method="POST", url=URL)


class FakeAuditor:
    """Implements ``_send_body`` (async) and ``answer`` (sync, for planner tests)."""

    def __init__(self, *, limit: int = BODY_LIMIT) -> None:
        self.limit = limit
        self.stored: dict[str, dict[str, Any]] = {}
        self.invalid: set[str] = set()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, record count)
        self.fail: Callable[[str, str, bytes], AuditorError | None] | None = None

    def answer(self, method: str, path: str, body: bytes) -> AuditorError | None:
        document = json.loads(body)
        count = len(document) if isinstance(document, list) else 1
        self.requests.append((method, path, count))
        if self.fail is not None:
            injected = self.fail(method, path, body)
            if injected is not None:
                return injected
        if len(body) > self.limit:
            return error(
                413, f"JSON payload ({len(body)} bytes) is larger than allowed", method, path
            )
        if method == "PUT":
            record_id = document["record_id"]
            if record_id in self.invalid:
                return error(400, "Json deserialize error: invalid", method, path)
            if record_id not in self.stored:
                return error(
                    404, f"Updating unknown record {record_id} not possible.", method, path
                )
            self.stored[record_id]["stop_time"] = document["stop_time"]
            return None
        records = document if path == "/records" else [document]
        if any(r["record_id"] in self.invalid for r in records):
            return error(400, "Json deserialize error: invalid record", method, path)
        ids = [r["record_id"] for r in records]
        if len(set(ids)) != len(ids) or any(i in self.stored for i in ids):
            return error(500, "RECORD_EXISTS", method, path)
        for record in records:
            self.stored[record["record_id"]] = record
        return None

    async def _send_body(self, method: str, path: str, body: bytes) -> None:
        outcome = self.answer(method, path, body)
        if outcome is not None:
            raise outcome


def body(record_id: str, stop: str | None = None) -> str:
    stop_json = "null" if stop is None else json.dumps(stop)
    return (
        f'{{"record_id":{json.dumps(record_id)},"meta":null,"components":[],'
        f'"start_time":"2022-08-08T11:30:00Z","stop_time":{stop_json}}}'
    )
