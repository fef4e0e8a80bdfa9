"""Fault injection for :class:`~pyauditor.testing.AuditorTestServer`.

A fault is an *action* (what goes wrong) plus a *rule* (which requests it hits and how often)::

    server.inject(Respond(500, "UNEXPECTED_ERROR"), method="POST", path="/record", times=2)
    server.inject(Delay(3.0), path="/records")              # slower than the client's timeout
    server.inject(Reset(after_bytes=300), path="/records")  # connection reset mid-stream
    server.inject(RecordsFormat("array"), times=None)       # answer like AUDITOR 0.4-0.8

Rules are tried in the order they were added; the first active rule that matches a request is
used and counts one hit.  All of this is thread-safe: tests add and remove rules while the
server's threads answer requests.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Action",
    "Close",
    "Delay",
    "Fault",
    "FaultRules",
    "RecordsFormat",
    "Reset",
    "Respond",
    "Truncate",
]


@dataclass(frozen=True)
class Respond:
    """Answer with this status and body instead of AUDITOR's answer.

    Args:
        status: The HTTP status code.
        body: The body (``str`` is sent as UTF-8).
        content_type: The ``Content-Type`` header; ``None`` sends none (as AUDITOR does for
            ``RECORD_EXISTS`` and ``UNEXPECTED_ERROR``).
        headers: Extra response headers.
        process: Run the real request first (so a record is stored, for example) and then
            send this answer instead: the client sees an error for a write that happened.
    """

    status: int
    body: bytes | str = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    process: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code 100-599, got {self.status!r}")
        if not isinstance(self.body, bytes | str):
            raise TypeError(f"body must be bytes or str, got {type(self.body).__name__}")


@dataclass(frozen=True)
class Reset:
    """Abort the connection with a TCP reset.

    Args:
        after_bytes: How many bytes of the real response (status line and headers included)
            reach the client first; ``0`` resets before anything is sent.
        process: With ``after_bytes=0``, whether the request is still carried out (the record
            is stored but the answer is lost).  With ``after_bytes > 0`` it always is.
    """

    after_bytes: int = 0
    process: bool = False

    def __post_init__(self) -> None:
        _check_count("after_bytes", self.after_bytes)


@dataclass(frozen=True)
class Close:
    """Close the connection cleanly without answering (the client sees an empty reply).

    Args:
        process: Carry the request out before closing.
    """

    process: bool = False


@dataclass(frozen=True)
class Truncate:
    """End the response body early, after ``after_bytes`` bytes of body.

    A streamed (chunked) body then ends *cleanly*, which is what AUDITOR does when its database
    fails in the middle of ``GET /records``: the client sees ``200`` and a short body.  A body
    with a ``Content-Length`` is cut off and the connection closed (an incomplete body).
    """

    after_bytes: int

    def __post_init__(self) -> None:
        _check_count("after_bytes", self.after_bytes)


@dataclass(frozen=True)
class Delay:
    """Wait before answering, for example longer than a client's timeout.

    Args:
        seconds: How long to wait.
        process_first: Carry the request out *before* waiting (a client that gives up still
            finds the record stored, and a retry gets ``RECORD_EXISTS``).  By default the
            server waits first.
        then: Another action to apply after the wait (``None``: answer normally).
    """

    seconds: float
    process_first: bool = False
    then: Respond | Reset | Close | Truncate | RecordsFormat | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.seconds, int | float) or self.seconds < 0:
            raise ValueError(f"seconds must be a non-negative number, got {self.seconds!r}")


@dataclass(frozen=True)
class RecordsFormat:
    """Send ``GET /records`` results in another body format.

    ``"concatenated"`` is AUDITOR 0.9+ (``{..}{..}``), ``"array"`` is AUDITOR 0.4-0.8
    (``[{..},{..}]``, ``[]`` when empty), ``"ndjson"`` is one object per line.
    """

    format: Literal["concatenated", "array", "ndjson"]

    def __post_init__(self) -> None:
        if self.format not in ("concatenated", "array", "ndjson"):
            raise ValueError(
                f"format must be 'concatenated', 'array' or 'ndjson', got {self.format!r}"
            )


Action = Respond | Reset | Close | Truncate | Delay | RecordsFormat
_ACTION_TYPES = (Respond, Reset, Close, Truncate, Delay, RecordsFormat)


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


class Fault:
    """One injected fault: a handle to inspect it or take it back.

    Attributes:
        action: What happens to a matching request.
        method: The HTTP method it matches (``None``: any).
        path: The path it matches: a ``str`` is compared exactly with the request path (without
            the query string), a compiled pattern must match the whole path, ``None``: any.
    """

    def __init__(
        self,
        rules: FaultRules,
        action: Action,
        method: str | None,
        path: str | re.Pattern[str] | None,
        times: int | None,
    ) -> None:
        self.action = action
        self.method = method
        self.path = path
        self._rules = rules
        self._remaining = times
        self._hits = 0

    @property
    def hits(self) -> int:
        """How many requests this fault has hit so far."""
        with self._rules.lock:
            return self._hits

    @property
    def remaining(self) -> int | None:
        """How many more requests it will hit (``None``: unlimited)."""
        with self._rules.lock:
            return self._remaining

    @property
    def active(self) -> bool:
        """Whether it still applies to new requests."""
        with self._rules.lock:
            return self in self._rules.faults and self._remaining != 0

    def remove(self) -> None:
        """Stop applying this fault (requests already hit are not affected)."""
        with self._rules.lock:
            if self in self._rules.faults:
                self._rules.faults.remove(self)

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request with this method and path."""
        if isinstance(self.action, RecordsFormat) and (method != "GET" or path != "/records"):
            return False  # only a GET /records answer has a records format to change
        if self.method is not None and self.method.upper() != method:
            return False
        if self.path is None:
            return True
        if isinstance(self.path, str):
            return self.path == path
        return self.path.fullmatch(path) is not None

    def __repr__(self) -> str:
        return (
            f"Fault({self.action!r}, method={self.method!r}, path={self.path!r},"
            f" hits={self._hits}, remaining={self._remaining})"
        )


class FaultRules:
    """The ordered, thread-safe list of faults of one server."""

    def __init__(self) -> None:
        # Annotated: a public type's attribute (pyright --verifytypes).
        self.lock: threading.Lock = threading.Lock()
        self.faults: list[Fault] = []

    def add(
        self,
        action: Action,
        method: str | None,
        path: str | re.Pattern[str] | None,
        times: int | None,
    ) -> Fault:
        """Append a fault (see ``AuditorTestServer.inject``) and return it."""
        if not isinstance(action, _ACTION_TYPES):
            raise TypeError(
                "action must be Respond, Reset, Close, Truncate, Delay or RecordsFormat,"
                f" got {type(action).__name__}"
            )
        if method is not None and (not isinstance(method, str) or not method.isalpha()):
            raise ValueError(f"method must be an HTTP method name such as 'POST', got {method!r}")
        if path is not None and not isinstance(path, str | re.Pattern):
            raise TypeError(f"path must be a str, a compiled pattern or None, got {path!r}")
        if times is not None and (
            not isinstance(times, int) or isinstance(times, bool) or times < 1
        ):
            raise ValueError(f"times must be a positive int or None (unlimited), got {times!r}")
        fault = Fault(self, action, method, path, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Action | None:
        """The action for this request, counting the hit; ``None`` if no fault matches."""
        with self.lock:
            for fault in self.faults:
                if fault._remaining != 0 and fault.matches(method, path):
                    fault._hits += 1
                    if fault._remaining is not None:
                        fault._remaining -= 1
                    return fault.action
        return None

    def clear(self) -> None:
        """Remove every fault."""
        with self.lock:
            self.faults.clear()
