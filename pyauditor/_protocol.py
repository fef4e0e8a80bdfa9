"""What the clients send and how they judge answers, independent of any I/O.

The async and the blocking client are thin shells around this module: they send what it builds
and hand status, headers and body back to it.  Keeping the decisions here (URL rules, which
answers are errors and which exception each becomes, when to retry and how long to wait) means
the two clients cannot drift apart, and the rules are testable without sockets.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from typing import Final

import attrs
from pyauditor_api.routes import get_record_path

from ._errors import (
    APIConnectionError,
    APIStatusError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RecordExistsError,
    ResponseDecodeError,
    ServerError,
)
from ._record_codec import decode_warning
from ._version import __version__

__all__ = [
    "BODY_LIMIT",
    "RECORD_EXISTS",
    "USER_AGENT",
    "RetryPolicy",
    "base_url",
    "batch_json_array",
    "check_write_answer",
    "record_path",
    "status_error",
]

logger = logging.getLogger("pyauditor")

USER_AGENT: Final = f"pyauditor/{__version__} (python-auditor compatible)"
RECORD_EXISTS: Final = "RECORD_EXISTS"
BODY_LIMIT: Final = 2 * 1024 * 1024
"""AUDITOR's limit for a request body (actix-web's JsonConfig default): larger bodies get 413."""


def base_url(address: str, *, tls: bool) -> str:
    """The URL every request path is appended to.

    As in python-auditor, ``http://`` (``https://`` when TLS is configured) is prepended unless
    the address already names a scheme.  Unlike python-auditor, the scheme is recognised in any
    letter case and trailing slashes are removed, so ``http://host:8000/`` does not lead to
    ``//records``.
    """
    lowered = address[:8].lower()
    if not (lowered.startswith("http://") or lowered.startswith("https://")):
        address = ("https://" if tls else "http://") + address
    return address.rstrip("/")


def record_path(record_id: str) -> str:
    """The path of ``GET /record/{record_id}``, with the id percent-encoded.

    The server percent-decodes the segment, so ids containing ``/``, ``?``, ``#``, ``%`` or
    spaces (the HTCondor collector's ids contain ``#``) must be encoded; python-auditor sends
    them raw and reaches the wrong URL.
    """
    return get_record_path(record_id=record_id)


def batch_json_array(
    items: Sequence[str], limit: int = BODY_LIMIT
) -> Iterator[tuple[int, int, bytes]]:
    """Group JSON texts into JSON-array request bodies of at most ``limit`` bytes.

    Yields ``(start, stop, body)`` where ``body`` is ``[items[start],...,items[stop-1]]``
    encoded as UTF-8, in order, covering every item exactly once.  ``POST /records`` is
    all-or-nothing per request, so callers know exactly which items a failed body held.  An
    item that alone exceeds ``limit`` is sent on its own (the server answers 413 for it, which
    the caller reports) rather than silently dropped.  An empty sequence yields nothing.
    """
    start = 0
    size = 2  # the brackets
    for index, item in enumerate(items):
        length = len(item) if item.isascii() else len(item.encode("utf-8"))
        added = length + (1 if index > start else 0)
        if index > start and size + added > limit:
            yield start, index, ("[" + ",".join(items[start:index]) + "]").encode("utf-8")
            start, size, added = index, 2, length
        size += added
    if start < len(items):
        yield start, len(items), ("[" + ",".join(items[start:]) + "]").encode("utf-8")


def _body_text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def status_error(status: int, body: bytes, method: str, url: str) -> APIStatusError:
    """The exception for an error answer (any status outside 2xx)."""
    text = _body_text(body)
    if text.strip() == RECORD_EXISTS:
        # str(error) stays "RECORD_EXISTS", the message python-auditor raises.
        return RecordExistsError(
            RECORD_EXISTS, status_code=status, body=text, method=method, url=url
        )
    cls: type[APIStatusError]
    if status == 400:
        cls = BadRequestError
    elif status == 404:
        cls = NotFoundError
    elif status == 413:
        cls = PayloadTooLargeError
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIStatusError
    return cls(
        APIStatusError.describe(status, text, method, url),
        status_code=status,
        body=text,
        method=method,
        url=url,
    )


def check_write_answer(status: int, body: bytes, method: str, url: str) -> None:
    """Judge the answer to ``POST /record``, ``POST /records`` or ``PUT /record``.

    Any status outside 2xx raises (python-auditor reports a failed insert as success unless the
    body is exactly ``RECORD_EXISTS``).  A 2xx answer to an insert (POST) whose body is
    ``RECORD_EXISTS`` raises too, as in python-auditor; its update accepts any 2xx.  A 2xx carrying ``{"warning": ...}`` (the server's
    ``ignore_record_exists_error`` mode) is a success; the warning is logged.

    Raises:
        APIStatusError: the matching subclass for the status and body.
    """
    if not 200 <= status < 300:
        raise status_error(status, body, method, url)
    if not body:
        return
    text = _body_text(body)
    if method == "POST" and text.strip() == RECORD_EXISTS:
        raise RecordExistsError(
            RECORD_EXISTS, status_code=status, body=text, method=method, url=url
        )
    warning = decode_warning(body)
    if warning is not None:
        logger.warning("AUDITOR accepted %s %s with a warning: %s", method, url, warning)


def decode_error(what: str, body: bytes, reason: str) -> ResponseDecodeError:
    """The exception for an answer whose body is not what the API promises."""
    text = _body_text(body)
    excerpt = text[:120]
    return ResponseDecodeError(f"{what}: {reason}; the body starts with {excerpt!r}", body=excerpt)


@attrs.frozen
class RetryPolicy:
    """When and how often reads are retried.

    Reads (``get``, ``advanced_query``, ``get_single_record``, ``health_check``) are retried
    after connection errors, timeouts and 5xx answers, with capped exponential backoff and
    jitter.  Writes are never retried blindly: an insert whose answer was lost may have been
    stored, and repeating it would turn into ``RECORD_EXISTS``.

    Attributes:
        max_retries: Retries after the first attempt; 0 turns retrying off.
        initial_delay: Seconds before the first retry.
        max_delay: Upper bound of a single wait.
        jitter: Fraction of each wait that is randomised (0 to 1), so that many collectors
            restarting together do not retry in lockstep.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25

    def __attrs_post_init__(self) -> None:
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise ValueError(f"max_retries must be an int >= 0, got {self.max_retries!r}")
        for name in ("initial_delay", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if not isinstance(self.jitter, int | float) or not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        base: float = min(self.initial_delay * 2.0 ** (retry - 1), self.max_delay)
        return base * (1 - self.jitter * random.random())

    @staticmethod
    def retryable_status(status: int) -> bool:
        """Whether an answer with this status is worth another attempt of a read."""
        return status >= 500 or status in (408, 429)

    def wait_before_retry(self, error: Exception, retries_done: int) -> float | None:
        """Seconds to wait before retrying a read that failed with ``error``; None: give up.

        Connection errors, timeouts and retryable statuses are retried until ``max_retries``
        retries were made; anything else (a 4xx, a malformed body) is final at once.
        """
        if retries_done >= self.max_retries:
            return None
        if isinstance(error, APIStatusError):
            if not self.retryable_status(error.status_code):
                return None
        elif not isinstance(error, APIConnectionError):
            return None
        return self.delay(retries_done + 1)
