"""The exceptions pyauditor raises.

Every exception is an :class:`AuditorError`, which subclasses :class:`RuntimeError` because code
written for python-auditor catches ``RuntimeError`` today::

    AuditorError(RuntimeError)
    ├── ValidationError(ValueError)          a value breaks a rule; nothing was sent
    ├── ConfigurationError(ValueError)       the client builder was given something unusable
    ├── APIConnectionError                   no usable answer: refused, reset, TLS, DNS, ...
    │   └── APITimeoutError                  the server did not answer in time
    ├── APIStatusError                       the server answered with an error status
    │   ├── RecordExistsError                500 RECORD_EXISTS: the record id is already stored
    │   ├── BadRequestError                  400: the server rejected the request
    │   ├── NotFoundError                    no such record (update, get_single_record) or route
    │   ├── PayloadTooLargeError             413: the body exceeded the server's 2 MiB limit
    │   └── ServerError                      any other 5xx
    ├── ResponseDecodeError                  an answer that is not what the API promises
    │   ├── ResponseTooLargeError            an answer larger than the client's size bound
    │   └── StreamDecodeError                a malformed record inside a streamed result
    └── QueueError                           the durable send queue's storage failed

Wrong argument *types* stay :class:`TypeError` and out-of-range integers for fixed-width
arguments stay :class:`OverflowError`, as in python-auditor.

Messages are a single line and name the value and the rule; they never contain a traceback.

Every exception pickles and unpickles with its attributes (for ``multiprocessing``, logging
handlers that ship records to another process, and ``copy``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuditorError",
    "BadRequestError",
    "ConfigurationError",
    "NotFoundError",
    "PayloadTooLargeError",
    "QueueError",
    "RecordExistsError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "StreamDecodeError",
    "ValidationError",
]

# How much of a response body an exception message quotes.  The whole body stays available in
# the ``body`` attribute.
_BODY_EXCERPT = 200


def _one_line(text: str, limit: int = _BODY_EXCERPT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class AuditorError(RuntimeError):
    """Base class of every exception raised by pyauditor.

    Attributes:
        records_stored: Set when ``bulk_insert`` fails: how many of its records that call
            stored (every record the exception does not name is stored, unless the server
            stopped answering).  ``None`` otherwise.
    """

    records_stored: int | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles as ``cls(*args)`` plus ``__dict__``; the subclasses' keyword-only
        # arguments would be lost on the way back (APIStatusError's status_code is required).
        # Re-create the instance without __init__ and restore every attribute instead.
        return (_restore, (type(self), self.args), self.__dict__)


def _restore(cls: type[AuditorError], args: tuple[Any, ...]) -> AuditorError:
    """Unpickle an :class:`AuditorError`: its message arguments; attributes follow as state."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class ValidationError(AuditorError, ValueError):
    """A value breaks one of AUDITOR's rules; nothing was sent to the server.

    Attributes:
        field: What was being validated, for example ``"record_id"`` or ``"meta key"``.
        value: The offending value.
        rule: A short statement of the rule that was broken.
    """

    def __init__(
        self, message: str, *, field: str = "", value: object = None, rule: str = ""
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.rule = rule


class ConfigurationError(AuditorError, ValueError):
    """The client builder was configured with something that cannot work.

    Raised by ``build()``, ``build_blocking()`` and ``build_queued()`` (for example a negative
    timeout, or TLS files that are missing, unreadable or given in the wrong order).
    """


class APIConnectionError(AuditorError):
    """The request got no usable answer: connection refused or reset, TLS or DNS failure.

    Attributes:
        method: HTTP method of the request.
        url: URL of the request.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class APITimeoutError(APIConnectionError):
    """The server did not answer within the configured timeout."""


class APIStatusError(AuditorError):
    """The server answered with a status that means failure.

    Attributes:
        status_code: The HTTP status code.
        body: The response body as text (decoded leniently).
        method: HTTP method of the request.
        url: URL of the request.
        retry_after: Seconds the server asked the client to wait before trying again (its
            ``Retry-After`` header on a 429 or 503 answer), or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        method: str = "",
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url
        self.retry_after = retry_after

    @classmethod
    def describe(cls, status_code: int, body: str, method: str, url: str) -> str:
        """The one-line message used for an error answer."""
        text = _one_line(body)
        detail = f": {text}" if text else ""
        return f"{method} {url} failed with HTTP {status_code}{detail}"


class RecordExistsError(APIStatusError):
    """The server already stores a record with this id (``500 RECORD_EXISTS``).

    ``str(error)`` is ``"RECORD_EXISTS"``, the message python-auditor raises, so code that
    compares messages keeps working.
    """


class BadRequestError(APIStatusError):
    """``400``: the server rejected the request (invalid record, query or JSON)."""


class NotFoundError(APIStatusError):
    """The server does not have the record, or the route does not exist.

    ``update`` of an unknown record (AUDITOR answers 404), ``get_single_record`` of an unknown
    id (AUDITOR answers 500, the same as a database failure; the client tells the two apart with
    one exact ``record_id`` query, and ``status_code`` stays the 500 it got), or a 404 for a
    path the server does not know.
    """


class PayloadTooLargeError(APIStatusError):
    """``413``: the request body exceeded the server's limit (2 MiB for AUDITOR)."""


class ServerError(APIStatusError):
    """A ``5xx`` answer other than ``RECORD_EXISTS``."""


class ResponseDecodeError(AuditorError):
    """The server's answer could not be decoded into what the API promises.

    Attributes:
        body: The part of the body that could not be decoded (possibly shortened).
    """

    def __init__(self, message: str, *, body: str = "") -> None:
        super().__init__(message)
        self.body = body


class ResponseTooLargeError(ResponseDecodeError):
    """An answer grew past the client's size bound (after decompression); reading stopped.

    The bound keeps a broken or hostile server from filling the client's memory: see
    ``AuditorClientBuilder.max_answer_size`` (answers read whole: write answers, single records,
    health checks, error answers) and ``max_record_size`` (each record of a streamed result).

    Attributes:
        limit: The bound, in bytes.
    """

    def __init__(self, message: str, *, limit: int = 0, body: str = "") -> None:
        super().__init__(message, body=body)
        self.limit = limit


class StreamDecodeError(ResponseDecodeError):
    """A record inside a streamed ``GET /records`` result is malformed or truncated.

    Records before it were delivered; nothing after it is guessed at.

    Attributes:
        index: Zero-based position of the bad record in the stream.
        offset: Byte offset of the bad record's first byte in the response body.
    """

    def __init__(self, message: str, *, index: int, offset: int, body: str = "") -> None:
        super().__init__(message, body=body)
        self.index = index
        self.offset = offset


class QueueError(AuditorError):
    """The durable send queue could not read or write its database."""
