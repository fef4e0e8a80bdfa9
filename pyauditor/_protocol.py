"""The rules of talking to AUDITOR, independent of any I/O.

The async and the blocking client are thin shells: they send what :mod:`pyauditor._operations`
describes and hand status, headers and body back.  The rules they share live here: URL rules,
which answers are errors and which exception each becomes, when to retry and how long to wait
(``Retry-After`` included), the one timeout rule (:class:`Deadline`), and how an answer is read
within a size bound whatever its ``Content-Encoding`` (:class:`BodyReader`).  Keeping them here
means the clients cannot drift apart, and the rules are testable without sockets.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import enum
import logging
import math
import random
import time
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, Final

import attrs

from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RecordExistsError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
)
from ._record_codec import decode_warning
from ._version import __version__

__all__ = [
    "ACCEPT_ENCODING",
    "BODY_LIMIT",
    "DEFAULT_MAX_ANSWER_BYTES",
    "MAX_RETRY_AFTER",
    "RECORD_EXISTS",
    "USER_AGENT",
    "BodyReader",
    "ContentDecoder",
    "Deadline",
    "RetryPolicy",
    "WriteAnswer",
    "base_url",
    "batch_json_array",
    "check_write_answer",
    "classify_write_answer",
    "decode_error",
    "parse_retry_after",
    "status_error",
    "timeout_error",
    "wants_retry_after",
]

logger = logging.getLogger("pyauditor")

USER_AGENT: Final = f"pyauditor/{__version__} (python-auditor compatible)"
RECORD_EXISTS: Final = "RECORD_EXISTS"
_RECORD_EXISTS_BYTES: Final = RECORD_EXISTS.encode()
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


def status_error(
    status: int, body: bytes, method: str, url: str, *, retry_after: float | None = None
) -> APIStatusError:
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
        retry_after=retry_after,
    )


class WriteAnswer(enum.Enum):
    """What a 2xx answer to a write (``POST /record``, ``POST /records``, ``PUT /record``) says."""

    STORED = "stored"
    """AUDITOR's empty body: the record(s) are stored (the update is applied)."""
    EXISTS = "exists"
    """``RECORD_EXISTS`` (python-auditor's reading: the body decides, whatever the status)."""
    WARNING = "warning"
    """``{"warning": ...}`` of ``ignore_record_exists_error``: nothing sent was stored."""
    UNCLEAR = "unclear"
    """A body AUDITOR never sends (a proxy's page, garbage): whether anything was stored is
    unknown until the server is asked."""


_WARNING_LIMIT: Final = 65536
"""Largest 2xx body read as a possible warning (AUDITOR's is about 100 bytes)."""


def classify_write_answer(body: bytes) -> WriteAnswer:
    """What the body of a 2xx answer to an insert says; never raises, whatever the bytes.

    The one reading of such answers, for :func:`check_write_answer` and the batch planner.
    """
    text = body.strip()
    if not text:
        return WriteAnswer.STORED
    if text == _RECORD_EXISTS_BYTES:
        return WriteAnswer.EXISTS
    if (
        text[:1] == b"{"
        and len(text) <= _WARNING_LIMIT
        and b'"warning"' in text
        and decode_warning(text) is not None
    ):
        return WriteAnswer.WARNING
    return WriteAnswer.UNCLEAR


def check_write_answer(status: int, body: bytes, method: str, url: str) -> WriteAnswer:
    """Judge the answer to ``POST /record``, ``POST /records`` or ``PUT /record``.

    Raises for an answer that says the write failed:

    * any status outside 2xx (python-auditor reports a failed insert as success unless the
      body is exactly ``RECORD_EXISTS``);
    * a 2xx answer to an insert whose body is ``RECORD_EXISTS``, as python-auditor does.

    Otherwise returns what the 2xx body says: ``STORED`` for AUDITOR's empty body; for an
    insert, ``WARNING`` for the ``{"warning": ...}`` of a server configured with
    ``ignore_record_exists_error`` (nothing sent was stored: for ``POST /record`` the id is
    stored already, for ``POST /records`` the whole batch was rolled back); ``UNCLEAR`` for any
    other body, which AUDITOR never sends (a proxy's page, garbage; for an update, any body).
    Neither of the last two says whether the records sent are stored now: the caller asks the
    server (see :func:`pyauditor._delivery.judge_existing`), and reports nothing as stored
    that the server does not hold.

    Raises:
        APIStatusError: the matching subclass for the status and body.
    """
    if not 200 <= status < 300:
        raise status_error(status, body, method, url)
    if method != "POST":
        return WriteAnswer.STORED if not body.strip() else WriteAnswer.UNCLEAR
    kind = classify_write_answer(body)
    if kind is WriteAnswer.EXISTS:
        raise RecordExistsError(
            RECORD_EXISTS, status_code=status, body=_body_text(body), method=method, url=url
        )
    return kind


def decode_error(what: str, body: bytes, reason: str) -> ResponseDecodeError:
    """The exception for an answer whose body is not what the API promises."""
    text = _body_text(body[: _EXCERPT * 4])
    excerpt = text[:_EXCERPT]
    return ResponseDecodeError(f"{what}: {reason}; the body starts with {excerpt!r}", body=excerpt)


_EXCERPT = 120


# -- Retry-After ------------------------------------------------------------------------------

MAX_RETRY_AFTER: Final = 60.0
"""Longest ``Retry-After`` wait a read honours; a server asking for more is not retried."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from now that a ``Retry-After`` header asks for; None if absent or unreadable.

    Both forms of RFC 9110 are understood: delta-seconds (``"120"``) and an HTTP date.  A date
    in the past means "now" (0).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return float(value) if len(value) <= 12 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=_dt.UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def wants_retry_after(status: int) -> bool:
    """Whether an answer's ``Retry-After`` header means something (429 and 503 only)."""
    return status == 429 or status == 503


# -- time limits ------------------------------------------------------------------------------


class Deadline:
    """When a request must be finished: the one timeout rule of both clients.

    * A **non-streaming operation** (every method but ``iter_records``) is bounded as a whole:
      connecting, sending, waiting for the head and reading the body all count against one
      ``timeout`` (:meth:`whole`).  A server that trickles its answer byte by byte cannot hold
      the caller longer.
    * A **streamed result** (``iter_records``) bounds the wait for each chunk by ``timeout``
      (the shells give that to httpx as its per-operation timeout), so that a long result is
      not cut off; a whole-stream bound is optional (:meth:`stream`).

    ``end`` is a :func:`time.monotonic` instant (``None``: no overall bound).  The shells enforce
    it in every phase: the async one with ``asyncio.timeout_at``, the blocking one by bounding
    every socket operation by what is left (:mod:`pyauditor._http`), and both between chunks.
    """

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + seconds

    @classmethod
    def whole(cls, timeout: float) -> Deadline:
        """The deadline of a non-streaming request: ``timeout`` seconds from now."""
        return cls(timeout)

    @classmethod
    def stream(cls, total_timeout: float | None) -> Deadline:
        """The deadline of a streamed result: ``total_timeout`` seconds from now, or none."""
        return cls(total_timeout)

    def remaining(self) -> float | None:
        """Seconds left (may be negative), or None without an overall bound."""
        return None if self.end is None else self.end - time.monotonic()

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.end is not None and time.monotonic() >= self.end


def timeout_error(method: str, url: str, seconds: float, *, whole: bool = True) -> APITimeoutError:
    """The exception for a request that ran out of time."""
    if whole:
        detail = f"did not complete within the timeout of {seconds:g} s"
    else:
        detail = f"got no data within the timeout of {seconds:g} s"
    return APITimeoutError(f"{method} {url} {detail}", method=method, url=url)


# -- reading answers: size bounds and content decoding --------------------------------------

DEFAULT_MAX_ANSWER_BYTES: Final = 8 * 1024 * 1024
"""Default bound of an answer read whole, after decompression (8 MiB).

The largest legitimate one is a single stored record (``GET /record/{id}``), and AUDITOR
refuses request bodies over 2 MiB, so no stored record comes near this.
"""

_PIECE: Final = 256 * 1024
"""Most bytes one decompression step produces: what a compressed answer costs in memory."""

_ACCEPTED_ENCODINGS: Final = ("gzip", "deflate", "identity")
ACCEPT_ENCODING: Final = "gzip, deflate"
"""What the clients accept: the encodings :class:`ContentDecoder` undoes in bounded steps."""


class ContentDecoder:
    """Undo an answer's ``Content-Encoding`` in steps of bounded size.

    httpx inflates a compressed chunk in one call, so 64 KiB of a gzip bomb become 64 MiB at
    once; this produces at most 256 KiB per step, so the size bound of the reader can stop
    reading long before the memory is gone.  ``gzip``, ``deflate`` (zlib-wrapped or raw, as
    servers send both) and ``identity`` are supported; anything else is a typed error.
    """

    __slots__ = ("_inflate", "_raw_fallback", "_what")

    def __init__(self, encoding: str | None, what: str) -> None:
        self._what = what
        self._inflate: Any = None
        self._raw_fallback = False
        codings = [c.strip().lower() for c in (encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            return
        if len(codings) > 1 or codings[0] not in _ACCEPTED_ENCODINGS:
            raise ResponseDecodeError(
                f"{what}: the answer's Content-Encoding {encoding!r} is not one the client "
                f"asked for ({ACCEPT_ENCODING})"
            )
        if codings[0] == "gzip":
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        else:
            self._inflate = zlib.decompressobj()
            self._raw_fallback = True

    @property
    def identity(self) -> bool:
        """True when the body is not encoded (:meth:`decode` hands chunks through)."""
        return self._inflate is None

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, in pieces of at most 256 KiB."""
        if self._inflate is None:
            if data:
                yield data
            return
        while True:
            piece = self._step(data)
            data = b""
            if piece:
                yield piece
            if not self._inflate.unconsumed_tail and len(piece) < _PIECE:
                return
            data = self._inflate.unconsumed_tail

    def finish(self) -> Iterator[bytes]:
        """What is left once the body ended; raises if the compressed data is cut off."""
        if self._inflate is None:
            return
        yield from self.decode(b"")
        if not self._inflate.eof:
            raise ResponseDecodeError(f"{self._what}: the compressed answer is cut off")

    def _step(self, data: bytes) -> bytes:
        try:
            piece: bytes = self._inflate.decompress(data, _PIECE)
        except zlib.error as error:
            if not self._raw_fallback:
                raise ResponseDecodeError(
                    f"{self._what}: the compressed answer is corrupt ({error})"
                ) from None
            # "deflate" without the zlib wrapper, which some servers send.
            self._raw_fallback = False
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._step(data)
        self._raw_fallback = False
        return piece


class BodyReader:
    """Collect an answer that is read whole, within a size bound, decoding as it arrives.

    Feed it the raw (still encoded) chunks; :meth:`feed` returns False once no more is wanted.
    A success answer larger than ``limit`` raises :class:`ResponseTooLargeError`; an error
    answer is only ever quoted, so it is cut at ``limit`` (:attr:`cut` says so) and the error
    for its status is raised as usual.
    """

    __slots__ = ("_content", "_limit", "_parts", "_size", "_what", "_whole", "cut")

    def __init__(self, encoding: str | None, limit: int, what: str, *, error: bool) -> None:
        self._content = ContentDecoder(encoding, what)
        self._limit = limit
        self._what = what
        self._whole = not error
        self._parts: list[bytes] = []
        self._size = 0
        self.cut = False

    def feed(self, data: bytes) -> bool:
        """Add a raw chunk; False once the answer is complete enough (an error answer cut)."""
        # all() stops at the first piece that does not fit: the rest is never inflated.
        return all(self._add(piece) for piece in self._content.decode(data))

    def finish(self) -> bytes:
        """The decoded body; raises if the compressed data is cut off."""
        if not self.cut:
            for piece in self._content.finish():
                if not self._add(piece):
                    break
        return b"".join(self._parts)

    def _add(self, piece: bytes) -> bool:
        room = self._limit - self._size
        if len(piece) > room:
            if self._whole:
                raise ResponseTooLargeError(
                    f"{self._what}: the answer is larger than the client's bound of "
                    f"{self._limit} bytes (AuditorClientBuilder.max_answer_size)",
                    limit=self._limit,
                )
            self._parts.append(piece[:room])
            self._size = self._limit
            self.cut = True
            return False
        self._parts.append(piece)
        self._size += len(piece)
        return True


def _seconds_field(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """When and how often reads are retried.

    Reads (``get``, ``advanced_query``, ``get_single_record``, ``health_check``) are retried
    after connection errors, timeouts and 5xx answers, with capped exponential backoff and
    jitter.  A ``Retry-After`` header on a 429 or 503 answer replaces the backoff when it asks
    for at most :data:`MAX_RETRY_AFTER` seconds and no more than the request's own timeout;
    a server asking for longer is not retried (the error carries ``retry_after``).  Writes are
    never retried blindly: an insert whose answer was lost may have been stored, and repeating
    it would turn into ``RECORD_EXISTS``.

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
        _seconds_field("initial_delay", self.initial_delay)
        _seconds_field("max_delay", self.max_delay)
        if (
            isinstance(self.jitter, bool)
            or not isinstance(self.jitter, int | float)
            or not 0 <= self.jitter <= 1
        ):
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        # min() before the power would overflow: 2.0 ** 1100 raises OverflowError.
        base: float = min(self.initial_delay * 2.0 ** min(retry - 1, 64), self.max_delay)
        return base * (1 - self.jitter * random.random())

    @staticmethod
    def retryable_status(status: int) -> bool:
        """Whether an answer with this status is worth another attempt of a read."""
        return status >= 500 or status in (408, 429)

    def wait_before_retry(
        self, error: Exception, retries_done: int, budget: float = MAX_RETRY_AFTER
    ) -> float | None:
        """Seconds to wait before retrying a read that failed with ``error``; None: give up.

        Connection errors, timeouts and retryable statuses are retried until ``max_retries``
        retries were made; anything else (a 4xx, a malformed body, a record that does not
        exist) is final at once.  ``budget`` is the longest ``Retry-After`` wait worth making
        (the request's timeout; never more than :data:`MAX_RETRY_AFTER`).
        """
        if retries_done >= self.max_retries:
            return None
        if isinstance(error, APIStatusError):
            if isinstance(error, NotFoundError | RecordExistsError):
                return None  # answers about a record, whatever the status says
            if not self.retryable_status(error.status_code):
                return None
            if error.retry_after is not None:
                if error.retry_after > min(budget, MAX_RETRY_AFTER):
                    return None
                return error.retry_after
        elif not isinstance(error, APIConnectionError):
            return None
        return self.delay(retries_done + 1)
