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
    │   ├── NotFoundError                    404: unknown record (update) or unknown route
    │   ├── PayloadTooLargeError             413: the body exceeded the server's 2 MiB limit
    │   └── ServerError                      any other 5xx
    ├── ResponseDecodeError                  an answer that is not what the API promises
    │   └── StreamDecodeError                a malformed record inside a streamed result
    └── QueueError                           the durable send queue's storage failed

Wrong argument *types* stay :class:`TypeError` and out-of-range integers for fixed-width
arguments stay :class:`OverflowError`, as in python-auditor.

Messages are a single line and name the value and the rule; they never contain a traceback.
"""

from __future__ import annotations

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
        records_stored: Set when ``bulk_insert`` fails part-way: how many records, counted from
            the start of the list passed to it, the server has stored.  ``None`` otherwise.
    """

    records_stored: int | None = None


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
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        method: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url

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
    """``404``: an update of a record the server does not have, or an unknown route."""


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
