"""Every public operation of the clients, described once as data: no I/O.

Requests as data, as in lightkube (``prepare_request``/``handle_response``) and openai-python's
``_base_client``: an operation is a :class:`Plan`, which says what to send (:class:`Request`:
route, path, body), how each answer is judged and decoded, and whether the operation may be
retried.  The async and the blocking client each have one small ``_call`` that runs a plan with
a :class:`Run` (which request next, wait and retry, or done) and does nothing but send; so the
two clients cannot differ in what they send or how they read the answers.

A plan's *flow* is a generator, like httpx's authentication flows: it yields a
:class:`Request`, receives the :class:`Answer` (or, thrown in, the
:class:`~pyauditor.AuditorError` the request failed with) and finally returns the result or
raises.  Most operations make one request; ``get_single_record`` may make a second one to tell a
missing record from a failing server.  ``bulk_insert`` is :class:`Driven` by the batch planner
instead, which every path that sends many records shares.

Calling an operation from other code::

    plan = operations.add(record)            # validates; nothing is sent yet
    await async_client._call(plan)           # AuditorClient: send it, judge the answer
    blocking_client._call(plan)              # AuditorClientBlocking: the same, blocking

Methods and paths come from the route table ``make generate`` writes from openapi.yaml
(:mod:`pyauditor_api.routes`) and are written nowhere else.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator
from typing import Any, Final, Generic, TypeVar

from pyauditor_api.routes import (
    ADD_RECORD,
    BULK_ADD_RECORDS,
    GET_RECORD,
    HEALTH_CHECK,
    QUERY_RECORDS,
    UPDATE_RECORD,
    Route,
    add_record_path,
    bulk_add_records_path,
    get_record_path,
    health_check_path,
    query_records_path,
    update_record_path,
)

from ._delivery import (
    Verdict,
    body_key,
    bulk_insert_async,
    bulk_insert_blocking,
    judge_existing,
    unclear_answer_error,
    unreadable,
    update_applied,
)
from ._errors import (
    APIConnectionError,
    APIStatusError,
    AuditorError,
    NotFoundError,
    RecordExistsError,
    ResponseDecodeError,
    ResponseTooLargeError,
    StreamDecodeError,
    ValidationError,
)
from ._protocol import (
    MAX_RETRY_AFTER,
    RECORD_EXISTS,
    BodyReader,
    ContentDecoder,
    RetryPolicy,
    WriteAnswer,
    check_write_answer,
    parse_retry_after,
    status_error,
    wants_retry_after,
)
from ._query import QueryBuilder
from ._record import Record
from ._record_codec import (
    BATCH_BYTES,
    decode_record_body,
    record_add_body,
    record_stream_decoder,
    record_update_body,
)
from ._time import format_offset, to_naive_utc
from ._validation import _name_problem, check_str, describe, type_error

__all__ = [
    "ADD_RECORD",
    "BULK_ADD_RECORDS",
    "GET_RECORD",
    "HEALTH_CHECK",
    "QUERY_RECORDS",
    "ROUTES",
    "UPDATE_RECORD",
    "Answer",
    "AnswerReader",
    "Done",
    "Driven",
    "Plan",
    "RecordStream",
    "RecordsReader",
    "Request",
    "Route",
    "Run",
    "Wait",
    "add",
    "advanced_query",
    "bulk_insert",
    "get",
    "get_single_record",
    "health_check",
    "iter_records",
    "since",
    "update",
    "write_request",
]

logger = logging.getLogger("pyauditor")

_T = TypeVar("_T")


# -- routes: generated from openapi.yaml, the one place for methods and paths -----------------

ROUTES: Final = (
    HEALTH_CHECK,
    ADD_RECORD,
    BULK_ADD_RECORDS,
    UPDATE_RECORD,
    GET_RECORD,
    QUERY_RECORDS,
)
"""Every route the clients use (``make generate`` writes them from openapi.yaml)."""

_WRITES: Final = {
    (route.method, path()): route
    for route, path in (
        (ADD_RECORD, add_record_path),
        (BULK_ADD_RECORDS, bulk_add_records_path),
        (UPDATE_RECORD, update_record_path),
    )
}


# -- requests and answers ---------------------------------------------------------------------


class Request:
    """One HTTP request of an operation.

    Attributes:
        route: The operation it belongs to (method, ``operationId``).
        path: The path to append to the client's base URL, query string included.
        body: The JSON body, or ``None``.
        records: True when a 2xx answer is a stream of records, decoded as it arrives
            (``GET /records``); the :class:`Answer` then carries them instead of the body.
    """

    __slots__ = ("body", "path", "records", "route")

    def __init__(
        self, route: Route, path: str, body: bytes | None = None, *, records: bool = False
    ) -> None:
        self.route = route
        self.path = path
        self.body = body
        self.records = records

    @property
    def method(self) -> str:
        """The HTTP method."""
        return self.route.method

    def __repr__(self) -> str:
        return f"<Request {self.route.method} {self.path}>"


class Answer:
    """What a shell hands back for a request: status, body (bounded) or records, and context.

    Attributes:
        status: The HTTP status.
        body: The body, decompressed; for a 2xx answer to a records request, empty.
        url: The URL the request went to (for messages).
        retry_after: The ``Retry-After`` of a 429 or 503 answer, in seconds, or ``None``.
        records: The decoded records of a 2xx answer to a records request, else ``None``.
    """

    __slots__ = ("body", "records", "retry_after", "status", "url")

    def __init__(
        self,
        status: int,
        body: bytes,
        url: str,
        *,
        retry_after: float | None = None,
        records: list[Record] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.url = url
        self.retry_after = retry_after
        self.records = records

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def error(self, method: str) -> APIStatusError:
        """The exception for this (error) answer."""
        return status_error(self.status, self.body, method, self.url, retry_after=self.retry_after)


class RecordsReader:
    """Decode the records of a streamed ``GET /records`` answer from its raw chunks.

    Undoes the ``Content-Encoding`` in bounded steps and hands the text to the record codec's
    stream decoder, which keeps each record within ``max_record_bytes``.  ``batch_bytes`` is
    the decoder's (``BATCH_BYTES`` for a whole result, 0 to hand records out as they arrive).
    """

    __slots__ = ("_content", "_decoder", "_limit", "_what")

    def __init__(
        self, encoding: str | None, what: str, max_record_bytes: int, batch_bytes: int = 0
    ) -> None:
        self._content = ContentDecoder(encoding, what)
        self._what = what
        self._decoder = record_stream_decoder(max_record_bytes, batch_bytes=batch_bytes)
        self._limit = max_record_bytes

    @property
    def count(self) -> int:
        """How many records were handed out so far."""
        return self._decoder.count

    def feed(self, data: bytes) -> list[Record]:
        """The records a raw chunk completes."""
        try:
            if self._content.identity:
                return self._decoder.feed(data)
            records: list[Record] = []
            for piece in self._content.decode(data):
                try:
                    records += self._decoder.feed(piece)
                except StreamDecodeError:
                    if not records:
                        raise
                    break  # the records before the problem first; the next call raises it
            return records
        except StreamDecodeError as error:
            raise self._judged(error) from None
        except (ValueError, RecursionError) as error:
            raise self._untyped(error) from None

    def finish(self) -> Iterator[Record]:
        """The records completed by the end of the body; raises if it is malformed or cut off.

        A generator: the records before a problem at the end are handed out before it raises.
        """
        try:
            for piece in self._content.finish():
                yield from self._decoder.feed(piece)
            yield from self._decoder.finish()
            yield from self._decoder.finish()  # raises a problem found after those records
        except StreamDecodeError as error:
            raise self._judged(error) from None
        except (ValueError, RecursionError) as error:
            raise self._untyped(error) from None

    def _judged(self, error: StreamDecodeError) -> ResponseDecodeError:
        # A record over the bound is not malformed: the client's size bound stopped it.
        if not self._decoder.too_large:
            return error
        return ResponseTooLargeError(
            f"{self._what}: record #{error.index} is larger than the client's bound of "
            f"{self._limit} bytes (AuditorClientBuilder.max_record_size)",
            limit=self._limit,
            body=error.body,
        )

    def _untyped(self, error: Exception) -> ResponseDecodeError:
        # The client's promise: whatever the bytes, only typed errors (absurd nesting or
        # numbers must not escape as RecursionError or ValueError from the decoder).
        return ResponseDecodeError(f"{self._what}: the records cannot be decoded ({error})")


class AnswerReader:
    """Turn a response into an :class:`Answer` as its raw chunks arrive (no I/O of its own).

    A shell makes one per response, feeds it every raw chunk while :meth:`feed` returns True,
    and hands :meth:`finish`'s Answer to the plan.  A 2xx answer to a records request is decoded
    into records; any other answer is read within ``max_answer_bytes`` (a success answer larger
    than that raises :class:`~pyauditor.ResponseTooLargeError`, an error answer is cut there).
    """

    __slots__ = ("_body", "_collected", "_records", "_retry_after", "_status", "_url")

    def __init__(
        self,
        request: Request,
        status: int,
        url: str,
        *,
        encoding: str | None,
        retry_after: str | None,
        max_answer_bytes: int,
        max_record_bytes: int,
    ) -> None:
        what = f"{request.route.method} {url}"
        self._status = status
        self._url = url
        self._retry_after = parse_retry_after(retry_after) if wants_retry_after(status) else None
        ok = 200 <= status < 300
        self._collected: list[Record] = []
        self._records: RecordsReader | None = None
        self._body: BodyReader | None = None
        if request.records and ok:
            # A whole result: nothing is handed out before its end, so decode in runs.
            self._records = RecordsReader(encoding, what, max_record_bytes, BATCH_BYTES)
        else:
            self._body = BodyReader(encoding, max_answer_bytes, what, error=not ok)

    def feed(self, data: bytes) -> bool:
        """Add a raw chunk; False once nothing more is needed."""
        if self._body is not None:
            return self._body.feed(data)
        assert self._records is not None
        self._collected += self._records.feed(data)
        return True

    def finish(self) -> Answer:
        """The answer, once the body ended (or reading stopped)."""
        if self._body is not None:
            return Answer(
                self._status, self._body.finish(), self._url, retry_after=self._retry_after
            )
        assert self._records is not None
        records = self._collected
        records += self._records.finish()
        return Answer(self._status, b"", self._url, records=records)


Flow = Generator[Request, Answer, _T]
"""A plan's conversation: yields requests, receives answers, returns the result."""


class Plan(Generic[_T]):
    """One call of a public operation: its flow, and whether it may be retried.

    Attributes:
        flow: Starts the conversation (called again for each retry).
        retryable: Reads are retried as the client's :class:`RetryPolicy` says; writes never.
        fallback: Turns a final error into the result instead of raising it (``health_check``
            answers False rather than raising).
        same_as: The public operation and arguments this plan is identical to, when it is one
            operation expressed by another (``get_started_since`` is an ``advanced_query``);
            clients that forward operations to another client forward that one.
    """

    __slots__ = ("fallback", "flow", "retryable", "same_as")

    def __init__(
        self,
        flow: Callable[[], Flow[_T]],
        *,
        retryable: bool,
        fallback: Callable[[AuditorError], _T] | None = None,
        same_as: tuple[str, tuple[Any, ...]] | None = None,
    ) -> None:
        self.flow = flow
        self.retryable = retryable
        self.fallback = fallback
        self.same_as = same_as


class Done(Generic[_T]):
    """A plan's result."""

    __slots__ = ("value",)

    def __init__(self, value: _T) -> None:
        self.value = value


class Wait:
    """Sleep ``seconds``, then send the request :meth:`Run.again` returns."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def _log_retry(error: Exception, wait: float, retry: int, policy: RetryPolicy) -> None:
    logger.info(
        "retrying in %.2f s (retry %d of %d) after: %s", wait, retry, policy.max_retries, error
    )


class Run(Generic[_T]):
    """Drives one plan for a shell: the next request, a wait before a retry, or the result.

    A shell's ``_call`` is then just::

        run = Run(plan, policy, timeout)
        step = run.start()
        while True:
            if type(step) is Request: step = run.advance(<send step: Answer or AuditorError>)
            elif type(step) is Wait: <sleep step.seconds>; step = run.again()
            else: return step.value
    """

    __slots__ = ("_budget", "_flow", "_plan", "_policy", "_retries")

    def __init__(self, plan: Plan[_T], policy: RetryPolicy, timeout: float) -> None:
        self._plan = plan
        self._policy = policy
        self._budget = min(timeout, MAX_RETRY_AFTER)
        self._retries = 0
        self._flow = plan.flow()

    def start(self) -> Request | Done[_T]:
        """The first request (or the result of a plan with nothing to send)."""
        try:
            return next(self._flow)
        except StopIteration as done:
            return Done(done.value)

    def again(self) -> Request | Done[_T]:
        """The first request of a retry (after a :class:`Wait`)."""
        self._flow = self._plan.flow()
        return self.start()

    def advance(self, outcome: Answer | AuditorError) -> Request | Wait | Done[_T]:
        """Hand the outcome of the last request to the flow; say what to do next.

        Raises:
            AuditorError: the operation failed for good.
        """
        try:
            if type(outcome) is Answer:
                return self._flow.send(outcome)
            assert isinstance(outcome, AuditorError)
            return self._flow.throw(outcome)
        except StopIteration as done:
            return Done(done.value)
        except AuditorError as error:
            if self._plan.retryable and isinstance(error, APIConnectionError | APIStatusError):
                wait = self._policy.wait_before_retry(error, self._retries, self._budget)
                if wait is not None:
                    self._retries += 1
                    _log_retry(error, wait, self._retries, self._policy)
                    return Wait(wait)
            if self._plan.fallback is None:
                raise
            return Done(self._plan.fallback(error))


# -- the operations ---------------------------------------------------------------------------


def _record_arg(record: object) -> Record:
    if not isinstance(record, Record):
        raise type_error(record, "Record")
    return record


def _insert_flow(request: Request, record_id: str, sent: str) -> Flow[None]:
    """``POST /record``, and what its answer says about the record (body ``sent``).

    AUDITOR's empty 2xx answer: stored.  Two other 2xx answers do not say whether *this*
    record is stored, so the record is read back and compared with it, by the rule every
    path that sends records follows (:func:`pyauditor._delivery.judge_existing`):

    * the ``{"warning": ...}`` of a server configured with ``ignore_record_exists_error``: the
      id was stored already.  The very record sent is a duplicate that setting asks to ignore
      (logged at WARNING, not raised, as ``bulk_insert`` does); another record under the id is
      a :class:`RecordExistsError`.
    * a body AUDITOR never sends (a proxy's page): success only if the server holds the very
      record sent; a :class:`ResponseDecodeError` if it holds none, a
      :class:`RecordExistsError` if it holds another.
    """
    answer = yield request
    kind = check_write_answer(answer.status, answer.body, request.method, answer.url)
    if kind is WriteAnswer.STORED:
        return
    what = f"{request.method} {answer.url}"
    try:
        stored: Record | AuditorError = yield from _single_record_flow(record_id)
    except NotFoundError as error:
        if kind is WriteAnswer.UNCLEAR:
            raise unclear_answer_error(
                what, answer.body, "the server does not hold the record"
            ) from None
        stored = error
    except AuditorError as error:
        if kind is WriteAnswer.UNCLEAR and unreadable(error):
            # Nothing says the record is stored (the batch planner says it alike).
            raise unclear_answer_error(
                what,
                answer.body,
                f"the record could not be read back ({error})",
                stored="whether it was stored is unknown",
            ) from error
        stored = error
    existing = judge_existing(stored, body_key(sent))
    if existing.verdict is Verdict.DUPLICATE:
        if kind is WriteAnswer.WARNING:
            logger.warning(
                "%s: AUDITOR holds record %s already, unchanged; not raised, as its "
                "ignore_record_exists_error setting asks",
                what,
                describe(record_id),
            )
        else:
            logger.info(
                "%s answered 2xx with a body AUDITOR never sends; it holds record %s",
                what,
                describe(record_id),
            )
        return
    if existing.verdict is Verdict.CONFLICT:
        logger.info("%s: record %s: %s", what, describe(record_id), existing.reason)
        raise RecordExistsError(
            RECORD_EXISTS,
            status_code=answer.status,
            body=answer.body.decode("utf-8", "replace"),
            method=request.method,
            url=answer.url,
        )
    assert existing.error is not None
    raise existing.error


def _update_flow(request: Request, record_id: str, sent: str) -> Flow[None]:
    """``PUT /record``: AUDITOR answers an applied update with an empty 2xx.

    After any other 2xx body the record is read back: the update counts only if the server's
    record has the stop time sent (:class:`ResponseDecodeError` if it has not).
    """
    answer = yield request
    if check_write_answer(answer.status, answer.body, request.method, answer.url) is (
        WriteAnswer.STORED
    ):
        return
    try:
        stored = yield from _single_record_flow(record_id)
    except NotFoundError:
        outcome = "the server does not hold the record"
    else:
        if update_applied(stored, sent):
            return
        outcome = "the server's record does not have the stop time sent"
    raise unclear_answer_error(f"{request.method} {answer.url}", answer.body, outcome)


def health_check() -> Plan[bool]:
    """``GET /health_check``: True for a 2xx answer; every failure (after retries) is False."""

    def flow() -> Flow[bool]:
        answer = yield Request(HEALTH_CHECK, health_check_path())
        if answer.ok:
            return True
        if 300 <= answer.status < 400:
            return False  # a redirect is not a healthy AUDITOR (redirects are not followed)
        raise answer.error(HEALTH_CHECK.method)

    return Plan(flow, retryable=True, fallback=_unhealthy)


def _unhealthy(error: AuditorError) -> bool:
    logger.info("health check failed: %s", error)
    return False


def add(record: Record) -> Plan[None]:
    """``POST /record``; the record is validated now."""
    text = record_add_body(_record_arg(record))
    request = Request(ADD_RECORD, add_record_path(), text.encode("utf-8"))
    record_id = record.record_id
    return Plan(lambda: _insert_flow(request, record_id, text), retryable=False)


def update(record: Record) -> Plan[None]:
    """``PUT /record``; the record is validated now (it needs a stop time)."""
    text = record_update_body(_record_arg(record))
    request = Request(UPDATE_RECORD, update_record_path(), text.encode("utf-8"))
    record_id = record.record_id
    return Plan(lambda: _update_flow(request, record_id, text), retryable=False)


class Driven(Generic[_T]):
    """An operation whose driver talks to the client itself, through the client's seams.

    ``bulk_insert`` is driven by the batch planner (:mod:`pyauditor._delivery`), the one every
    path that sends many records shares: it decides request by request (batches, lookups of
    what the server already holds, narrowing down refusals) and streams its lookups, so it is
    not a fixed :class:`Plan`.  The shells' ``_call`` hands the client to ``run_async`` or
    ``run_blocking``; the driver uses ``_exchange``, ``iter_records`` and
    ``get_single_record``.
    """

    __slots__ = ("run_async", "run_blocking")

    def __init__(
        self,
        run_blocking: Callable[[Any], _T],
        run_async: Callable[[Any], Coroutine[Any, Any, _T]],
    ) -> None:
        self.run_blocking = run_blocking
        self.run_async = run_async


def bulk_insert(records: Iterable[Record]) -> Driven[None]:
    """``POST /records`` through the batch planner (see ``WriteAPI.bulk_insert``)."""
    return Driven(
        lambda client: bulk_insert_blocking(client, records),
        lambda client: bulk_insert_async(client, records),
    )


def write_request(method: str, path: str, body: bytes | None) -> Request:
    """The request of a write whose JSON body is already built.

    ``(method, path)`` must be one of ``POST /record``, ``POST /records``, ``PUT /record``.
    """
    route = _WRITES.get((method, path))
    if route is None or body is None:
        raise ValueError(
            f"{method} {path} with body {body!r:.20} is not a write of the AUDITOR API"
        )
    return Request(route, path, body)


def _records_of(request: Request) -> Flow[list[Record]]:
    answer = yield request
    if answer.records is None:
        raise answer.error(request.method)
    return answer.records


def _query_path(query_string: str) -> str:
    # Verbatim, as python-auditor: QueryBuilder.build() output is already encoded, and a
    # hand-written string is sent as the caller wrote it (httpx only escapes what a URL cannot
    # carry, as reqwest does).
    if type(query_string) is not str:
        query_string = check_str(query_string)
    return query_records_path(query=query_string)


def get() -> Plan[list[Record]]:
    """``GET /records``: every record."""
    request = Request(QUERY_RECORDS, query_records_path(), records=True)
    return Plan(lambda: _records_of(request), retryable=True)


def advanced_query(query_string: str) -> Plan[list[Record]]:
    """``GET /records?<query_string>``."""
    request = Request(QUERY_RECORDS, _query_path(query_string), records=True)
    return Plan(lambda: _records_of(request), retryable=True)


_DEPRECATED_SINCE = (
    "{name} is deprecated since AUDITOR 0.4: use advanced_query(QueryBuilder().{field}("
    "Operator().gte(Value.set_datetime(timestamp))).build()) instead"
)


def _stacklevel_outside_pyauditor() -> int:
    """The ``stacklevel`` that makes a warning name the first caller outside pyauditor."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == (
        "pyauditor"
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def since(name: str, field: str, timestamp: object) -> Plan[list[Record]]:
    """``get_started_since``/``get_stopped_since``, with python-auditor's deprecation warning."""
    when = to_naive_utc(timestamp, "timestamp")
    warnings.warn(
        _DEPRECATED_SINCE.format(name=name, field=f"with_{field}"),
        DeprecationWarning,
        stacklevel=_stacklevel_outside_pyauditor(),
    )
    value = format_offset(when).replace(":", "%3A").replace("+", "%2B")
    query_string = f"{field}[gte]={value}"
    plan = advanced_query(query_string)
    plan.same_as = ("advanced_query", (query_string,))
    return plan


def _lookup_id(record_id: object) -> str:
    """A record id to look up: the server's rule for names (blank, too long, not Unicode).

    Not the client's stricter rule for new records: a stored id is looked up as it is.
    """
    if type(record_id) is not str:
        record_id = check_str(record_id)
    problem = _name_problem(record_id, False)
    if problem is None:
        return record_id
    what, rule = problem
    raise ValidationError(
        f"record_id {describe(record_id)} {what}: {rule}; no record can have it",
        field="record_id",
        value=record_id,
        rule=rule,
    )


def get_single_record(record_id: str) -> Plan[Record]:
    """``GET /record/{record_id}``, telling a missing record from a failing server.

    AUDITOR answers a missing record with the same 500 as a database failure.  After a 500 the
    flow asks ``GET /records?record_id=<id>&limit=1``: no record means the id is not stored
    (:class:`NotFoundError`, final); otherwise, or if that query fails too, the server is in
    trouble and the 500 stands (a :class:`ServerError`, retried as reads are).
    """
    record_id = _lookup_id(record_id)
    return Plan(lambda: _single_record_flow(record_id), retryable=True)


def _single_record_flow(record_id: str) -> Flow[Record]:
    """``GET /record/{record_id}``, then the confirming query after a 500 (see above)."""
    answer = yield Request(GET_RECORD, get_record_path(record_id=record_id))
    if answer.ok:
        return decode_record_body(answer.body, f"GET {answer.url}")
    failure = answer.error(GET_RECORD.method)
    if answer.status != 500:
        raise failure
    confirm = QueryBuilder().with_record_id(record_id).limit(1).build()
    try:
        found = yield Request(QUERY_RECORDS, query_records_path(query=confirm), records=True)
    except AuditorError:
        raise failure from None
    if found.records is None or any(r.record_id == record_id for r in found.records):
        raise failure
    raise NotFoundError(
        f"GET {answer.url}: there is no record with id {describe(record_id)} (the server "
        f"answered {answer.status} and a record_id query found none)",
        status_code=answer.status,
        body=failure.body,
        method=GET_RECORD.method,
        url=answer.url,
    )


# -- streamed results -------------------------------------------------------------------------


class RecordStream:
    """``iter_records``: a records request whose records are handed out as they arrive.

    One per call; it keeps the call's retry count and whole-stream deadline.

    Attributes:
        request: ``GET /records?<query>``.
        total_timeout: Seconds the whole stream may take, or ``None`` (each chunk is still
            bounded by the client's timeout).
    """

    __slots__ = ("_retries", "request", "total_timeout")

    def __init__(self, request: Request, total_timeout: float | None) -> None:
        self.request = request
        self.total_timeout = total_timeout
        self._retries = 0

    def deadline(self) -> float | None:
        """The monotonic instant the stream must end by, counted from now (None: no bound)."""
        total = self.total_timeout
        return None if total is None else time.monotonic() + total

    def wait_or_raise(
        self, error: AuditorError, handed_out: int, policy: RetryPolicy, timeout: float
    ) -> float:
        """The wait before opening the stream again; raises ``error`` when it is final.

        A stream is retried like any read until its first record was handed out; after that
        the caller holds records of this attempt, and another attempt would repeat them.
        """
        if handed_out or not isinstance(error, APIConnectionError | APIStatusError):
            raise error
        wait = policy.wait_before_retry(error, self._retries, min(timeout, MAX_RETRY_AFTER))
        if wait is None:
            raise error
        self._retries += 1
        _log_retry(error, wait, self._retries, policy)
        return wait


def iter_records(query_string: str = "", *, total_timeout: float | None = None) -> RecordStream:
    """The stream of ``iter_records``; ``total_timeout`` must be finite and > 0, or None."""
    if total_timeout is not None and (
        isinstance(total_timeout, bool)
        or not isinstance(total_timeout, int | float)
        or not math.isfinite(total_timeout)
        or total_timeout <= 0
    ):
        raise ValidationError(
            f"total_timeout must be a finite number of seconds > 0 or None, got {total_timeout!r}",
            field="total_timeout",
            value=total_timeout,
            rule="a finite number of seconds > 0, or None",
        )
    request = Request(QUERY_RECORDS, _query_path(query_string), records=True)
    return RecordStream(request, None if total_timeout is None else float(total_timeout))
