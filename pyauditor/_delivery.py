"""The batch planner: how records travel to AUDITOR in batches, and what each answer means.

Every path that sends many records uses it: ``bulk_insert`` of both clients, the queued
clients' background delivery and ``pyauditor send``.  It does no I/O.  Like httpx's
authentication flows, a plan is a generator: it yields a *step* and is sent the step's reply.

==============  ==================================================  ==========================
step            what the shell does                                 reply sent back
==============  ==================================================  ==========================
:class:`Write`  the request (``POST /records``, ``POST /record``,   the body of a 2xx answer
                ``PUT /record``), never retried by the shell         (``bytes``), else the
                                                                    :class:`AuditorError` (a
                                                                    status error for non-2xx)
:class:`Lookup` ``iter_records(step.query)``, handing every record  ``None``, or the error
                to ``step.sink`` as it arrives                      that ended the stream
:class:`Fetch`  ``get_single_record(step.record_id)``               the Record, or the error
:class:`Settled` report or commit the verdict on ``step.positions`` ``None``
==============  ==================================================  ==========================

A plan returns ``None`` when every record got a verdict, or the error that made it stop
early (the server is unreachable or failing): the records without a verdict were then not
stored as far as anyone knows.  :func:`drive_blocking` and :func:`drive_async` are the whole
shell loop; records are named by their *position* in the sequences given to
:meth:`BatchPlanner.plan`, so no per-record objects are made on the common path.

Verdicts (:class:`Verdict`):

* ``STORED``: a 2xx answer with AUDITOR's empty body.  Nothing else counts as stored: a
  ``{"warning": ...}`` answer (AUDITOR's ``ignore_record_exists_error`` mode) means the batch
  was refused and nothing of it stored, like ``500 RECORD_EXISTS``.  A 2xx answer that is
  neither (a proxy's page, garbage) is verified by asking the server for the records.
* ``DUPLICATE``: the server already holds this exact record (compared field by field, the
  runtime aside, which the server computes).
* ``CONFLICT``: the server holds a *different* record with this id; ``stored`` has its
  ``to_json()``.  Nothing was stored; the caller keeps both versions (the queue: a dead letter).
* ``REJECTED``: refused for the record's own sake: ``400``/``413`` for it alone, or a NUL
  character, which AUDITOR's database cannot store.
* ``FAILED``: not stored, and nothing learned about the record (server trouble).
  ``isolated`` says the server failed on this record *alone* while it worked otherwise: it
  answered a probe ``POST /records []`` and stored another record after it in the same plan
  (or the record is a known suspect, see :meth:`BatchPlanner.plan`), or it answered ``2xx``
  without storing it.  A record that keeps doing that can never be stored (the queue counts
  such failures and gives up on it).

How duplicates are found (a re-send of records that are all stored costs a query per batch,
not a request per record, whatever the records' timestamps):

1. A batch goes out optimistically.  ``RECORD_EXISTS`` (or the warning) means some of its
   records are stored.  The planner then asks the server which of them it has, with
   ``GET /records`` queries over the batch's start times: up to :data:`MAX_WINDOWS` windows
   (the batch's times split at their largest gaps), each sorted by start time and read in
   pages of :func:`page_size` records.  A full page is complete below its last start time and
   the next page starts there; a page that is one instant throughout (thousands of records
   sharing a start time) is followed by one unlimited query for that instant, the only way to
   see them all, since AUDITOR has no offset and no tie-breaker.
2. What a window returned is remembered (ids and a content key, :data:`MEMORY` ids at most),
   so later batches of the same send with start times in it need no query at all; and once a
   query found duplicates, later batches are looked up *before* they are sent (a re-send
   then costs no refused POSTs), until a lookup finds none.
3. Records found are settled as duplicates or conflicts; the rest of the batch is sent again.
   If that is refused too (a stored id under another start time, a record stored meanwhile),
   the batch is narrowed down by splitting it into :data:`EXISTS_FANOUT` parts, recursively,
   down to single ``POST /record`` requests; a single record answered ``RECORD_EXISTS`` is
   compared with ``GET /record/{id}``.
4. An id repeated within a batch is sent once; its later occurrences are settled after it,
   against what was stored.

Other answers: ``400``/``413`` for a batch are narrowed down by bisection (a ``413`` also
lowers the body limit of later batches).  A ``5xx`` other than ``RECORD_EXISTS`` bisects
too, so that a record the server cannot store does not block its neighbours; a single record
answered ``5xx`` is followed by the probe to tell "this record" from "the server".  More
``5xx`` answers in a row than a bisection explains (:func:`failure_budget`), a failed probe,
:data:`UNPROVEN_LIMIT` records in a row failing alone with none stored in between, a
connection error, a timeout or any other status stop the plan.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import enum
import itertools
import json
import logging
import math
import re
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Final, Protocol, overload

import attrs
from pyauditor_api.routes import (
    ADD_RECORD,
    BULK_ADD_RECORDS,
    UPDATE_RECORD,
    add_record_path,
    bulk_add_records_path,
    update_record_path,
)

from ._errors import (
    APIStatusError,
    AuditorError,
    NotFoundError,
    RecordExistsError,
    ResponseDecodeError,
    ValidationError,
)
from ._protocol import (
    BODY_LIMIT,
    RECORD_EXISTS,
    WriteAnswer,
    batch_json_array,
    classify_write_answer,
    status_error,
)
from ._query import Operator, QueryBuilder, SortBy, Value
from ._record import Record
from ._record_codec import record_from_server, records_wire_json
from ._time import parse_response_timestamp_utc
from ._validation import type_error

__all__ = [
    "EXISTS_FANOUT",
    "MAX_BATCH_RECORDS",
    "MAX_WINDOWS",
    "MEMORY",
    "NUL_REASON",
    "AsyncServer",
    "BatchPlanner",
    "BlockingServer",
    "BulkOutcome",
    "Counts",
    "Existing",
    "Fetch",
    "Flow",
    "Lookup",
    "Reply",
    "Settled",
    "Step",
    "Verdict",
    "Write",
    "body_key",
    "bulk_insert_async",
    "bulk_insert_blocking",
    "drive_async",
    "drive_blocking",
    "failure_budget",
    "judge_existing",
    "page_size",
    "truncate",
    "unclear_answer_error",
    "unreadable",
    "update_applied",
]

MAX_BATCH_RECORDS: Final = 500
"""Records per ``POST /records`` body at most by default (and at most ``BODY_LIMIT`` bytes)."""

EXISTS_FANOUT: Final = 16
"""Parts a batch is split into when a lookup could not settle its ``RECORD_EXISTS``."""

MAX_WINDOWS: Final = 4
"""Time windows one lookup asks about at most."""

MAX_PAGES: Final = 6
"""Pages read per window at most; records beyond stay to be narrowed down by splitting."""

UNPROVEN_LIMIT: Final = 3
"""Records failing alone in a row, with none stored in between, that stop a plan."""

MEMORY: Final = 250_000
"""Stored record ids a planner remembers from its lookups at most (a few tens of MB)."""

REASON_LIMIT: Final = 1000
"""Characters of a server's message kept in a verdict's ``reason``."""

NUL_REASON: Final = (
    "the record contains a NUL character (\\u0000), which AUDITOR's database (PostgreSQL) "
    "cannot store; the server would answer 500 UNEXPECTED_ERROR every time"
)

logger = logging.getLogger("pyauditor")

_UPDATE_FAILURE_BUDGET: Final = 3
_UNKNOWN_RECORD: Final = "Updating unknown record"
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_EPOCH_NAIVE: Final = _dt.datetime(1970, 1, 1)
_MICROSECOND: Final = _dt.timedelta(microseconds=1)
# The start time in a request body.  Only the top-level key can match: inside a JSON string
# the quotes would be escaped, and a meta key "start_time" is followed by an array.
_START_TIME = re.compile(r'"start_time":"([^"\\]*)"')
_STOP_TIME = re.compile(r'"stop_time":"([^"\\]*)"')


class Verdict(enum.Enum):
    """What became of records (see the module documentation)."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    FAILED = "failed"


# -- steps ------------------------------------------------------------------------------------


@attrs.frozen
class Write:
    """A request to make once (never retried by the shell).

    Attributes:
        method: ``POST`` or ``PUT``.
        path: ``/records``, ``/record`` (from the route table :mod:`pyauditor_api.routes`).
        body: The JSON body.
        positions: The records it carries (empty for the probe).
    """

    method: str
    path: str
    body: bytes
    positions: Sequence[int]


@attrs.frozen
class Lookup:
    """A ``GET /records`` query whose records the shell hands to ``sink`` one by one."""

    query: str
    sink: Callable[[Record], None] = attrs.field(eq=False, repr=False)


@attrs.frozen
class Fetch:
    """A ``GET /record/{record_id}`` (``get_single_record``)."""

    record_id: str


@attrs.frozen
class Settled:
    """The verdict on some records; the shell reports or commits it before going on.

    Attributes:
        verdict: What became of them.
        positions: Which records (positions in the sequences given to ``plan``).
        reason: Why (``REJECTED``, ``CONFLICT``, ``FAILED``): the server's message, at most
            :data:`REASON_LIMIT` characters.
        status: The HTTP status of the answer (``None``: no answer, or no request made).
        error: The answer as an exception (``REJECTED``, ``FAILED``), for shells that raise.
        stored: ``CONFLICT``: the server's record (its ``to_json()``), if it could be read.
        isolated: ``FAILED``: the server failed on these records alone (see the module docs).
    """

    verdict: Verdict
    positions: Sequence[int]
    reason: str = ""
    status: int | None = None
    error: AuditorError | None = attrs.field(default=None, eq=False)
    stored: str | None = None
    isolated: bool = False


Step = Write | Lookup | Fetch | Settled
Reply = bytes | Record | AuditorError | None
Flow = Generator[Step, Reply, AuditorError | None]


# -- small rules ------------------------------------------------------------------------------


def failure_budget(batch_size: int) -> int:
    """Consecutive 5xx answers after which a plan stops.

    Bisecting a failed batch of ``n`` records down to one record that the server cannot store
    meets ``ceil(log2 n) + 1`` failures in a row before a neighbour succeeds; two such records
    side by side add one more.  Anything beyond that means the server is failing, not a record.
    """
    return max(3, math.ceil(math.log2(max(batch_size, 1))) + 3)


def page_size(wanted: int) -> int:
    """Records per lookup page: room for the wanted ones and as many records of others."""
    return max(2 * wanted, 2000)


def truncate(text: str, limit: int = REASON_LIMIT) -> str:
    """``text`` on one line, cut to ``limit`` characters with a note of how much was cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    note = f"... ({len(flat) - limit:,} more characters)"
    return flat[: max(limit - len(note), 0)] + note


def _reason(error: AuditorError) -> str:
    """The server's message (its status is the verdict's ``status``), or the error's."""
    if isinstance(error, APIStatusError):
        text = truncate(error.body)
        if text:
            return text
    return truncate(str(error))


def _status(error: AuditorError) -> int | None:
    return error.status_code if isinstance(error, APIStatusError) else None


def unreadable(error: AuditorError) -> bool:
    """Whether a failed read of stored records says nothing of what the server holds.

    An answer that cannot be decoded, or a ``4xx`` (reads not allowed to this client, as
    AUDITOR's RBAC answers a write-only certificate): the records may well be stored.  A ``5xx``
    or no answer at all is an outage, reported as that error.
    """
    status = _status(error)
    return isinstance(error, ResponseDecodeError) or (status is not None and status < 500)


def _nul_error() -> ValidationError:
    return ValidationError(
        NUL_REASON, field="record", rule="no NUL character (PostgreSQL text cannot hold it)"
    )


def _has_nul(body: str) -> bool:
    """Whether a JSON text holds a NUL character (only ever written as ``\\u0000``)."""
    if "\\u0000" not in body:
        return False
    # "\\\\u0000" (an escaped backslash, then "u0000") is not a NUL: look at the strings.
    try:
        return _holds_nul(json.loads(body))
    except (ValueError, RecursionError):
        return True


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _micros(value: _dt.datetime) -> int:
    base = _EPOCH if value.tzinfo is not None else _EPOCH_NAIVE
    return (value - base) // _MICROSECOND


def _start_of(body: str) -> int | None:
    """The start time of a request body in microseconds since 1970 (None: unreadable)."""
    match = _START_TIME.search(body)
    try:
        if match is not None:
            text = match[1]
        else:
            value = json.loads(body).get("start_time")
            if not isinstance(value, str):
                return None
            text = value
        return _micros(parse_response_timestamp_utc(text))
    except (ValueError, AttributeError, OverflowError, RecursionError):
        return None


def _stored_key(record: Record) -> int | None:
    """The content key of a server record (None: it cannot be decoded)."""
    try:
        text = record.to_json()
        runtime = record.runtime
    except (AuditorError, ValueError, TypeError):
        return None
    if runtime is not None:
        # The server computes the runtime; requests carry none.  to_json's keys are sorted, and
        # nothing before "runtime" can contain this text unescaped (see _START_TIME).
        text = text.replace(f',"runtime":{runtime},', ',"runtime":null,', 1)
    return hash(text)


def body_key(body: str) -> int | None:
    """The content key of a request body, comparable with :func:`_stored_key`."""
    try:
        return hash(record_from_server(json.loads(body)).to_json())
    except (AuditorError, ValueError, TypeError, RecursionError):
        return None


def _as_datetime(micros: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=micros)


# -- what the server holds, compared with what was sent ---------------------------------------
#
# One rule for every write, whoever sends it (add, update, bulk_insert, the queue, send):
# nothing the server does not hold is reported as stored.  An answer that does not say so
# plainly (AUDITOR's warning, RECORD_EXISTS, a 2xx body AUDITOR never sends) is settled by
# reading the record back and comparing it with what was sent.


@attrs.frozen
class Existing:
    """What the server's record under an id says about the record sent with that id.

    Attributes:
        verdict: ``DUPLICATE`` (the very record sent), ``CONFLICT`` (another record, or one
            that cannot be read to compare) or ``FAILED`` (the read failed: ``error``).
        reason: Why, for ``CONFLICT`` and ``FAILED``.
        stored: ``CONFLICT``: the server's record (its ``to_json()``), if it could be read.
        error: ``FAILED``: the error of the read.
    """

    verdict: Verdict
    reason: str = ""
    stored: str | None = None
    error: AuditorError | None = attrs.field(default=None, eq=False)


def judge_existing(reply: Record | AuditorError, key: int | None) -> Existing:
    """Compare the server's record under an id with the record sent (content ``key``).

    ``reply`` is what ``get_single_record`` gave: the record, or the error it raised.  A
    record that is stored but cannot be read (malformed, or reads are not allowed to this
    client) cannot be told from another record, so it is never counted as the one sent.
    """
    if isinstance(reply, Record):
        stored_key = _stored_key(reply)
        if stored_key is not None and stored_key == key:
            return Existing(Verdict.DUPLICATE)
        try:
            stored: str | None = reply.to_json()
        except (AuditorError, ValueError, TypeError):
            stored = None
        return Existing(
            Verdict.CONFLICT, "AUDITOR already stores a different record with this id", stored
        )
    if unreadable(reply):
        return Existing(
            Verdict.CONFLICT,
            "AUDITOR stores a record with this id, and it could not be read to compare: "
            + truncate(str(reply), 300),
        )
    return Existing(Verdict.FAILED, _reason(reply), error=reply)


def update_applied(stored: Record, body: str) -> bool:
    """Whether the server's record has the stop time a ``PUT /record`` ``body`` sets."""
    match = _STOP_TIME.search(body)
    if match is None:
        return False
    try:
        stop = stored.stop_time
        return stop is not None and _micros(stop) == _micros(parse_response_timestamp_utc(match[1]))
    except (AuditorError, ValueError, TypeError, OverflowError):
        return False


def unclear_answer_error(
    what: str, answer: bytes, outcome: str, *, stored: str = "nothing was stored"
) -> ResponseDecodeError:
    """The error for a 2xx answer AUDITOR never sends, after which the server lacks the write.

    Args:
        what: The request (``"POST http://host/record"``).
        answer: The answer's body.
        outcome: What the server was found to hold (``"the server does not hold the
            record"``).
        stored: The conclusion.
    """
    excerpt = truncate(answer.decode("utf-8", "replace"), 200)
    return ResponseDecodeError(
        f"{what} was answered 2xx with a body AUDITOR never sends ({excerpt!r}), and "
        f"{outcome}: {stored}",
        body=excerpt,
    )


def _window_query(low: int, low_inclusive: bool, high: int, limit: int | None) -> str:
    start = Value.set_datetime(_as_datetime(low))
    operator = Operator().gte(start) if low_inclusive else Operator().gt(start)
    operator.lte(Value.set_datetime(_as_datetime(high)))
    query = QueryBuilder().with_start_time(operator).sort_by(SortBy().ascending("start_time"))
    if limit is not None:
        query.limit(limit)
    return query.build()


def _windows(times: Sequence[int], most: int) -> list[tuple[int, int]]:
    """Sorted distinct ``times`` as at most ``most`` ranges, split at their large gaps.

    A gap is large when it is more than ten times the median one: evenly spread times make one
    window (one query); a cluster far from the others gets its own, so the time between them,
    which may hold many records of others, is not read.
    """
    if not times:
        return []
    gaps = [b - a for a, b in itertools.pairwise(times)]
    large = 10 * sorted(gaps)[len(gaps) // 2] if gaps else 0
    cuts = [i for i, gap in enumerate(gaps, 1) if gap > large]
    cuts.sort(key=lambda i: gaps[i - 1], reverse=True)
    bounds = [0, *sorted(cuts[: most - 1]), len(times)]
    return [(times[a], times[b - 1]) for a, b in itertools.pairwise(bounds)]


def _repeats(ids: Sequence[str], positions: Sequence[int]) -> tuple[list[int], list[int]]:
    """``positions`` split into first occurrences of each id and later ones (order kept)."""
    seen: set[str] = set()
    firsts: list[int] = []
    later: list[int] = []
    for position in positions:
        record_id = ids[position]
        if record_id in seen:
            later.append(position)
        else:
            seen.add(record_id)
            firsts.append(position)
    return firsts, later


# -- what the planner knows about the server --------------------------------------------------


class _Knowledge:
    """Stored ids (with content keys) and the start-time ranges whose ids are all known.

    Bounded: past :data:`MEMORY` ids it forgets everything and starts again, which costs
    queries, never correctness (an unknown id is simply sent, and the server decides).
    """

    __slots__ = ("_highs", "_lows", "limit", "stored")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stored: dict[str, int | None] = {}
        # Disjoint, sorted, inclusive ranges of microseconds.
        self._lows: list[int] = []
        self._highs: list[int] = []

    def covers(self, micros: int) -> bool:
        index = bisect.bisect_right(self._lows, micros) - 1
        return index >= 0 and micros <= self._highs[index]

    def cover(self, low: int, high: int) -> None:
        if low > high:
            return
        lows, highs = self._lows, self._highs
        start = bisect.bisect_left(highs, low - 1)
        end = bisect.bisect_right(lows, high + 1)
        if start < end:
            low = min(low, lows[start])
            high = max(high, highs[end - 1])
        lows[start:end] = [low]
        highs[start:end] = [high]

    def learn(self, record_id: str, key: int | None) -> None:
        if len(self.stored) >= self.limit and record_id not in self.stored:
            self.forget()
        self.stored[record_id] = key

    def forget(self) -> None:
        self.stored.clear()
        self._lows.clear()
        self._highs.clear()


class _Page:
    """One lookup page: what it returned, as a sink for the shell to feed."""

    __slots__ = ("count", "first", "found", "knowledge", "last", "wanted")

    def __init__(
        self, knowledge: _Knowledge, wanted: set[str], found: dict[str, int | None]
    ) -> None:
        self.knowledge = knowledge
        self.wanted = wanted
        self.found = found
        self.count = 0
        self.first: int | None = None
        self.last: int | None = None

    def __call__(self, record: Record) -> None:
        self.count += 1
        record_id = record.record_id
        key = _stored_key(record)
        try:
            start = record.start_time
        except (AuditorError, ValueError, TypeError):
            start = None
        if start is not None:
            micros = _micros(start)
            if self.first is None:
                self.first = micros
            self.last = micros if self.last is None else max(self.last, micros)
        if record_id in self.wanted:
            self.found[record_id] = key
        self.knowledge.learn(record_id, key)


# -- the planner ------------------------------------------------------------------------------


@attrs.define
class Counts:
    """What a planner did so far (for logs and progress displays)."""

    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    failed: int = 0
    writes: int = 0
    lookups: int = 0
    fetches: int = 0

    @property
    def requests(self) -> int:
        """Every request made: writes, lookups and fetches."""
        return self.writes + self.lookups + self.fetches


class _Round:
    """The state of one :meth:`BatchPlanner.plan` call."""

    __slots__ = ("asked", "bodies", "found", "ids", "keys", "starts", "suspects", "unproven")

    def __init__(
        self, ids: Sequence[str], bodies: Sequence[str], suspects: Collection[int]
    ) -> None:
        self.ids = ids
        self.bodies = bodies
        self.suspects = suspects
        # Records answered 5xx alone, waiting for another record to be stored after them.
        self.unproven: list[tuple[int, AuditorError]] = []
        self.asked: set[int] = set()  # positions a lookup has been made for
        self.found: dict[str, int | None] = {}  # wanted ids the lookups found
        self.starts: dict[int, int | None] = {}
        self.keys: dict[int, int | None] = {}

    def start(self, position: int) -> int | None:
        try:
            return self.starts[position]
        except KeyError:
            value = self.starts[position] = _start_of(self.bodies[position])
            return value

    def key(self, position: int) -> int | None:
        try:
            return self.keys[position]
        except KeyError:
            value = self.keys[position] = body_key(self.bodies[position])
            return value


class BatchPlanner:
    """The decisions of one sending session (a ``send`` command, a ``bulk_insert``, a queue pass).

    Call :meth:`plan` once per batch of records, in order; what it learns about the server
    (stored ids, a lower body limit after a ``413``) carries over to the next batches.

    Args:
        max_batch: Records per ``POST /records`` body at most (``None``: only the byte limit).
        body_limit: Bytes per body at most; lowered when the server answers ``413``.
        memory: Stored ids remembered at most (see :data:`MEMORY`).

    Example (the whole of a blocking shell)::

        planner = BatchPlanner()
        error = drive_blocking(planner.plan(ids, bodies), client, on_settled)
    """

    def __init__(
        self,
        *,
        max_batch: int | None = MAX_BATCH_RECORDS,
        body_limit: int = BODY_LIMIT,
        memory: int = MEMORY,
    ) -> None:
        if body_limit < 1 or (max_batch is not None and max_batch < 1) or memory < 1:
            raise ValueError("max_batch, body_limit and memory must be positive")
        self.max_batch = max_batch
        self.body_limit = body_limit
        self.counts = Counts()
        self.server_ignores_duplicates = False
        """True once the server answered a duplicate with AUDITOR's 2xx warning."""
        self._known = _Knowledge(memory)
        self._ask_first = False
        # False once a lookup was refused (a write-only certificate under AUDITOR's RBAC, say):
        # duplicates are then found by splitting batches only.
        self._can_look = True
        # Records whose update stays queued in this session: their later updates wait.
        self._held_updates: set[str] = set()

    # -- inserts ---------------------------------------------------------------------------

    def plan(
        self, ids: Sequence[str], bodies: Sequence[str], *, suspects: Collection[int] = ()
    ) -> Flow:
        """Store the records whose ids and ``POST /record`` bodies are given (same length).

        Yields the steps of the module documentation; every position gets exactly one
        :class:`Settled`, unless the plan stops early (it then returns the error).

        Args:
            ids: The records' ids.
            bodies: Their ``POST /record`` bodies.
            suspects: Positions of records that failed alone before (the queue knows): a
                ``5xx`` for one of them alone is its own trouble as soon as the probe succeeds.
                For any other record that needs another record stored after it in the same
                plan, so that a server failing every insert (a full disk, say) is not taken
                for records it cannot store.
        """
        if len(ids) != len(bodies):
            raise ValueError("ids and bodies must have the same length")
        state = _Round(ids, bodies, suspects)
        todo: Sequence[int] = range(len(ids))
        while todo:
            todo, halted = yield from self._round(state, todo)
            for position, error in state.unproven:
                # Nothing was stored after it: the server's trouble as much as the record's.
                yield self._settle(
                    Verdict.FAILED, (position,), _reason(error), _status(error), error
                )
            state.unproven.clear()
            if halted is not None:
                return halted
        return None

    def _round(
        self, state: _Round, positions: Sequence[int]
    ) -> Generator[Step, Reply, tuple[list[int], AuditorError | None]]:
        """Send ``positions`` once each; return the later occurrences of repeated ids."""
        deferred: list[int] = []
        send: Sequence[int] = positions
        if self._known.stored or self._ask_first:
            send, halted = yield from self._screen(state, positions)
            if halted is not None:
                return deferred, halted
        work: deque[tuple[Sequence[int], bytes | None]] = deque(self._parts(state, send))
        budget = failure_budget(len(positions) if self.max_batch is None else self.max_batch)
        failures = 0
        while work:
            part, body = work.popleft()
            single = len(part) == 1
            if body is None:
                body = ("[" + ",".join(state.bodies[i] for i in part) + "]").encode("utf-8")
            # A backslash is rare and found at memchr speed; only then look for a NUL.
            if b"\\" in body and b"\\u0000" in body:
                clean = []
                for position in part:
                    if _has_nul(state.bodies[position]):
                        yield self._settle(
                            Verdict.REJECTED, (position,), NUL_REASON, error=_nul_error()
                        )
                    else:
                        clean.append(position)
                if len(clean) < len(part):
                    work.extendleft(reversed(self._parts(state, clean)))
                    continue
            if single:
                reply = yield Write(
                    ADD_RECORD.method, add_record_path(), state.bodies[part[0]].encode(), part
                )
            else:
                reply = yield Write(BULK_ADD_RECORDS.method, bulk_add_records_path(), body, part)
            self.counts.writes += 1

            if isinstance(reply, bytes):
                answer = classify_write_answer(reply)
                if answer is WriteAnswer.STORED:
                    failures = 0
                    self._learn_stored(state, part, deferred)
                    yield self._settle(Verdict.STORED, part)
                    for position, error in state.unproven:
                        # Stored after it failed alone: that failure was the record's.
                        yield self._failed_alone(position, error)
                    state.unproven.clear()
                    continue
                if answer is WriteAnswer.UNCLEAR:
                    failures = 0
                    halted = yield from self._verify(state, part, reply)
                    if halted is not None:
                        return deferred, halted
                    continue
                # A duplicate (the ignore_record_exists_error warning): nothing was stored.
                failures = 0
                if answer is WriteAnswer.WARNING:
                    self.server_ignores_duplicates = True
                if single:
                    halted = yield from self._settle_existing(state, part[0])
                    if halted is not None:
                        return deferred, halted
                    continue
                halted = yield from self._narrow(state, part, work, deferred)
                if halted is not None:
                    return deferred, halted
                continue

            error = reply if isinstance(reply, AuditorError) else _bad_reply(reply)
            status = _status(error)
            if isinstance(error, RecordExistsError):
                failures = 0
                if single:
                    halted = yield from self._settle_existing(state, part[0])
                else:
                    halted = yield from self._narrow(state, part, work, deferred)
                if halted is not None:
                    return deferred, halted
                continue
            if status in (400, 413):
                failures = 0
                if single:
                    yield self._settle(
                        Verdict.REJECTED, part, _reason(error), status=status, error=error
                    )
                    continue
                if status == 413:
                    self.body_limit = min(self.body_limit, max(len(body) // 2, 1))
                work.extendleft(reversed(self._split(part, 2)))
                continue
            if status is not None and status >= 500:
                failures += 1
                if failures >= budget:
                    yield self._settle(Verdict.FAILED, part, _reason(error), status, error)
                    return deferred, error
                if not single:
                    work.extendleft(reversed(self._split(part, 2)))
                    continue
                probe = yield Write(BULK_ADD_RECORDS.method, bulk_add_records_path(), b"[]", ())
                self.counts.writes += 1
                if not isinstance(probe, bytes):
                    yield self._settle(Verdict.FAILED, part, _reason(error), status, error)
                    return deferred, error
                failures = 0  # the server answers: perhaps the record's trouble
                position = part[0]
                if position in state.suspects:
                    yield self._failed_alone(position, error)
                    continue
                state.unproven.append((position, error))
                if len(state.unproven) >= UNPROVEN_LIMIT:
                    return deferred, error  # record after record fails: the server's trouble
                continue
            # Unreachable or refusing everything (connection, timeout, 401/403/404/429, ...).
            yield self._settle(Verdict.FAILED, part, _reason(error), status, error)
            return deferred, error
        return deferred, None

    def _failed_alone(self, position: int, error: AuditorError) -> Settled:
        return self._settle(
            Verdict.FAILED, (position,), _reason(error), _status(error), error, isolated=True
        )

    def _settle(
        self,
        verdict: Verdict,
        positions: Sequence[int],
        reason: str = "",
        status: int | None = None,
        error: AuditorError | None = None,
        *,
        stored: str | None = None,
        isolated: bool = False,
    ) -> Settled:
        counts = self.counts
        count = len(positions)
        if verdict is Verdict.STORED:
            counts.stored += count
        elif verdict is Verdict.DUPLICATE:
            counts.duplicates += count
        elif verdict is Verdict.CONFLICT:
            counts.conflicts += count
        elif verdict is Verdict.REJECTED:
            counts.rejected += count
        else:
            counts.failed += count
        return Settled(verdict, positions, reason, status, error, stored, isolated)

    def _parts(
        self, state: _Round, positions: Sequence[int]
    ) -> list[tuple[Sequence[int], bytes | None]]:
        """``positions`` in bodies of at most ``max_batch`` records and ``body_limit`` bytes."""
        parts: list[tuple[Sequence[int], bytes | None]] = []
        step = self.max_batch or max(len(positions), 1)
        bodies = state.bodies
        for chunk in range(0, len(positions), step):
            group = positions[chunk : chunk + step]
            if isinstance(group, range) and group.step == 1:
                texts: Sequence[str] = bodies[group.start : group.stop]
            else:
                texts = [bodies[i] for i in group]
            for first, end, body in batch_json_array(texts, self.body_limit):
                parts.append((group[first:end], body))
        return parts

    @staticmethod
    def _split(part: Sequence[int], count: int) -> list[tuple[Sequence[int], bytes | None]]:
        size = len(part)
        bounds = [size * k // count for k in range(count + 1)]
        return [(part[a:b], None) for a, b in itertools.pairwise(bounds) if a < b]

    def _learn_stored(self, state: _Round, part: Sequence[int], deferred: list[int]) -> None:
        """Remember stored records that later records of this session may repeat."""
        known = self._known
        if not known.stored and not deferred:
            return
        repeated = {state.ids[i] for i in deferred}
        for position in part:
            record_id = state.ids[position]
            if record_id in repeated:
                known.learn(record_id, state.key(position))
            elif known.stored:
                start = state.start(position)
                if start is not None and known.covers(start):
                    known.learn(record_id, state.key(position))

    # -- duplicates ------------------------------------------------------------------------

    def _screen(
        self, state: _Round, positions: Sequence[int]
    ) -> Generator[Step, Reply, tuple[Sequence[int], AuditorError | None]]:
        """Settle what is known to be stored; look up first when re-sending seems likely."""
        if self._ask_first:
            failed = yield from self._lookup(state, positions)
            if failed is not None or not state.found:
                self._ask_first = False  # that batch was new: back to sending optimistically
        rest, halted = yield from self._settle_known(state, positions)
        return rest, halted

    def _known_key(self, state: _Round, position: int) -> tuple[bool, int | None]:
        record_id = state.ids[position]
        if record_id in state.found:
            return True, state.found[record_id]
        stored = self._known.stored
        if record_id in stored:
            return True, stored[record_id]
        return False, None

    def _settle_known(
        self, state: _Round, positions: Sequence[int], same_verdict: Verdict = Verdict.DUPLICATE
    ) -> Generator[Step, Reply, tuple[list[int], AuditorError | None]]:
        """Settle the records known to be stored; return the others."""
        rest: list[int] = []
        same: list[int] = []
        other: list[int] = []
        for position in positions:
            known, key = self._known_key(state, position)
            if not known:
                rest.append(position)
            elif key is not None and key == state.key(position):
                same.append(position)
            else:
                other.append(position)
        if same:
            yield self._settle(same_verdict, same)
        for position in other:
            halted = yield from self._settle_existing(state, position)
            if halted is not None:
                return rest, halted
        return rest, None

    def _settle_existing(
        self, state: _Round, position: int
    ) -> Generator[Step, Reply, AuditorError | None]:
        """Compare a record whose id the server has with the stored one: duplicate or conflict."""
        reply = yield Fetch(state.ids[position])
        self.counts.fetches += 1
        if not isinstance(reply, Record | AuditorError):
            reply = _bad_reply(reply)
        existing = judge_existing(reply, state.key(position))
        if existing.verdict is Verdict.DUPLICATE:
            yield self._settle(Verdict.DUPLICATE, (position,))
            return None
        if existing.verdict is Verdict.CONFLICT:
            yield self._settle(
                Verdict.CONFLICT, (position,), existing.reason, stored=existing.stored
            )
            return None
        error = existing.error
        assert error is not None
        yield self._settle(Verdict.FAILED, (position,), existing.reason, _status(error), error)
        return error

    def _narrow(
        self,
        state: _Round,
        part: Sequence[int],
        work: deque[tuple[Sequence[int], bytes | None]],
        deferred: list[int],
    ) -> Generator[Step, Reply, AuditorError | None]:
        """A batch was refused as holding a stored id: find out which, queue the rest."""
        firsts, later = _repeats(state.ids, part)
        if later:
            # An id twice in one batch: send it once, settle the rest after it.
            deferred.extend(later)
            work.extendleft(reversed(self._parts(state, firsts)))
            return None
        rest, halted = yield from self._settle_known(state, part)
        if halted is not None:
            return halted
        if len(rest) < len(part):
            # Records learned about since the batch was made up: the rest may go through now.
            work.extendleft(reversed(self._parts(state, rest)))
            return None
        unasked = [p for p in part if p not in state.asked and not self._covered(state, p)]
        if unasked:
            failed = yield from self._lookup(state, unasked)
            if failed is None:
                if state.found:
                    self._ask_first = True
                rest, halted = yield from self._settle_known(state, part)
                if halted is not None:
                    return halted
                work.extendleft(reversed(self._parts(state, rest)))
                return None
        # The lookups cannot explain it (an id stored under another start time, or stored
        # meanwhile): split until single records tell.
        if len(part) <= 2 * EXISTS_FANOUT:
            work.extendleft(((p,), None) for p in reversed(part))
        else:
            work.extendleft(reversed(self._split(part, EXISTS_FANOUT)))
        return None

    def _covered(self, state: _Round, position: int) -> bool:
        if state.ids[position] in self._known.stored:
            return True
        start = state.start(position)
        return start is not None and self._known.covers(start)

    def _lookup(
        self, state: _Round, positions: Sequence[int], *, fresh: bool = False
    ) -> Generator[Step, Reply, AuditorError | None]:
        """Ask the server which of ``positions`` it has (see the module documentation).

        Returns the error of a lookup that failed (what it found before stays found).  A
        refused one (4xx) turns lookups off for the session.  Either way the positions count
        as asked: what no lookup settles is narrowed down by splitting.
        """
        for position in positions:
            state.asked.add(position)
        if not self._can_look:
            return AuditorError("lookups are refused by the server")
        error = yield from self._read_windows(state, positions, fresh)
        if error is not None:
            status = _status(error)
            if status is not None and 400 <= status < 500:
                self._can_look = False
            logger.info("pyauditor: a lookup of stored records failed: %s", error)
        return error

    def _read_windows(
        self, state: _Round, positions: Sequence[int], fresh: bool
    ) -> Generator[Step, Reply, AuditorError | None]:
        known = self._known
        wanted: set[str] = set()
        times: set[int] = set()
        for position in positions:
            if not fresh and self._covered(state, position):
                continue
            start = state.start(position)
            if start is not None:
                times.add(start)
                wanted.add(state.ids[position])
        if fresh:
            for record_id in wanted:
                state.found.pop(record_id, None)
        for low, high in _windows(sorted(times), MAX_WINDOWS):
            limit = page_size(len(wanted))
            cursor, inclusive = low, True
            for _ in range(MAX_PAGES):
                page = _Page(known, wanted, state.found)
                reply = yield Lookup(_window_query(cursor, inclusive, high, limit), page)
                self.counts.lookups += 1
                if reply is not None:
                    return reply if isinstance(reply, AuditorError) else _bad_reply(reply)
                bottom = cursor if inclusive else cursor + 1
                if page.count < limit:
                    known.cover(bottom, high)
                    break
                if page.last is None:
                    break  # no readable start times: nothing can be said about the window
                known.cover(bottom, page.last - 1)
                if page.first != page.last:
                    cursor, inclusive = page.last, True
                    continue
                # A whole page of one instant: read that instant whole.
                instant = page.last
                whole = _Page(known, wanted, state.found)
                reply = yield Lookup(_window_query(instant, True, instant, None), whole)
                self.counts.lookups += 1
                if reply is not None:
                    return reply if isinstance(reply, AuditorError) else _bad_reply(reply)
                known.cover(instant, instant)
                if instant >= high:
                    break
                cursor, inclusive = instant, False
        return None

    def _verify(
        self, state: _Round, part: Sequence[int], answer: bytes
    ) -> Generator[Step, Reply, AuditorError | None]:
        """A 2xx answer that is neither success nor a warning: ask whether it stored them."""
        path = add_record_path() if len(part) == 1 else bulk_add_records_path()
        what = f"{ADD_RECORD.method} {path}"
        halted = yield from self._lookup(state, part, fresh=True)
        if halted is not None:
            if unreadable(halted) or not self._can_look:
                # Unreadable, or not ours to read: as add() says it, nothing says they are
                # stored (a 5xx or an unreachable server stays that error, as for add()).
                them, it = (
                    ("the record", "it was") if len(part) == 1 else ("its records", "they were")
                )
                halted = unclear_answer_error(
                    what,
                    answer,
                    f"{them} could not be read back ({truncate(str(halted), 300)})",
                    stored=f"whether {it} stored is unknown",
                )
            yield self._settle(Verdict.FAILED, part, _reason(halted), _status(halted), halted)
            return halted
        rest, halted = yield from self._settle_known(state, part, Verdict.STORED)
        if halted is not None:
            return halted
        if rest:
            missing = "the record" if len(rest) == 1 else f"{len(rest)} of its records"
            error = unclear_answer_error(what, answer, f"the server does not hold {missing}")
            yield self._settle(Verdict.FAILED, rest, _reason(error), error=error, isolated=True)
        return None

    # -- updates (the queue's) ---------------------------------------------------------------

    def updates(self, ids: Sequence[str], bodies: Sequence[str]) -> Flow:
        """Send ``PUT /record`` bodies one by one, in order (the queued clients' updates).

        ``STORED``: applied (AUDITOR's empty ``2xx``; after any other ``2xx`` body, the record
        is read back and must have the stop time sent).  ``REJECTED``: ``404 Updating unknown
        record ...`` (the server does not have the record), ``400`` or ``413``.  ``FAILED``:
        anything else; later updates of the same record then wait for the next session, so
        they apply in order.
        """
        failures = 0
        for position, record_id in enumerate(ids):
            if record_id in self._held_updates:
                continue
            body = bodies[position]
            if _has_nul(body):
                self._held_updates.add(record_id)
                yield self._settle(Verdict.REJECTED, (position,), NUL_REASON, error=_nul_error())
                continue
            reply = yield Write(
                UPDATE_RECORD.method, update_record_path(), body.encode(), (position,)
            )
            self.counts.writes += 1
            if isinstance(reply, bytes) and reply.strip():
                # A body AUDITOR never sends: whether the update is applied, the record tells.
                checked = yield from self._verify_update(position, record_id, body, reply)
                if isinstance(checked, Settled):
                    failures = 0
                    self._held_updates.add(record_id)
                    yield checked
                    continue
                reply = checked
            if isinstance(reply, bytes):
                failures = 0
                yield self._settle(Verdict.STORED, (position,))
                continue
            error = reply if isinstance(reply, AuditorError) else _bad_reply(reply)
            self._held_updates.add(record_id)
            status = _status(error)
            reason = _reason(error)
            unknown = isinstance(error, APIStatusError) and (
                status == 404 and error.body.startswith(_UNKNOWN_RECORD)
            )
            if unknown or status in (400, 413):
                failures = 0
                yield self._settle(Verdict.REJECTED, (position,), reason, status, error)
                continue
            if status is not None and status >= 500:
                failures += 1
                yield self._settle(Verdict.FAILED, (position,), reason, status, error)
                if failures >= _UPDATE_FAILURE_BUDGET:
                    return error
                continue
            yield self._settle(Verdict.FAILED, (position,), reason, status, error)
            return error
        return None

    def _verify_update(
        self, position: int, record_id: str, body: str, answer: bytes
    ) -> Generator[Step, Reply, Settled | bytes | AuditorError]:
        """An update answered 2xx with a body AUDITOR never sends: is it applied?

        Returns ``b""`` if the server's record has the stop time sent, the verdict if it has
        not (or holds no such record), or the error that kept the record from being read.
        """
        reply = yield Fetch(record_id)
        self.counts.fetches += 1
        if isinstance(reply, Record) and update_applied(reply, body):
            return b""
        if isinstance(reply, Record | NotFoundError):
            error = unclear_answer_error(
                f"{UPDATE_RECORD.method} {update_record_path()}",
                answer,
                "the server's record does not have the stop time sent"
                if isinstance(reply, Record)
                else "the server does not hold the record",
            )
            return self._settle(
                Verdict.FAILED, (position,), _reason(error), error=error, isolated=True
            )
        return reply if isinstance(reply, AuditorError) else _bad_reply(reply)


def _bad_reply(reply: object) -> AuditorError:
    """A shell sent something the step does not take: a bug, reported as a failure."""
    return AuditorError(f"internal error: unexpected reply {type(reply).__name__} to a step")


# -- the shells' loops ------------------------------------------------------------------------


class BlockingServer(Protocol):
    """What :func:`drive_blocking` needs of a blocking client (``AuditorClientBlocking``)."""

    def _exchange(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request, never retried; its status and whole body."""
        ...

    def _url(self, path: str) -> str:
        """The request's URL (for error messages)."""
        ...

    def iter_records(self, query_string: str = "") -> Iterator[Record]:
        """``GET /records?query_string``, record by record."""
        ...

    def get_single_record(self, record_id: str) -> Record:
        """``GET /record/{record_id}``."""
        ...


class AsyncServer(Protocol):
    """What :func:`drive_async` needs of an async client (``AuditorClient``)."""

    async def _exchange(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """One request, never retried; its status and whole body."""
        ...

    def _url(self, path: str) -> str:
        """The request's URL (for error messages)."""
        ...

    def iter_records(self, query_string: str = "") -> AsyncIterator[Record]:
        """``GET /records?query_string``, record by record."""
        ...

    async def get_single_record(self, record_id: str) -> Record:
        """``GET /record/{record_id}``."""
        ...


def _write_reply(
    server: BlockingServer | AsyncServer, step: Write, status: int, body: bytes
) -> Reply:
    if 200 <= status < 300:
        return body
    return status_error(status, body, step.method, server._url(step.path))


def drive_blocking(
    flow: Flow, server: BlockingServer, on_settled: Callable[[Settled], None]
) -> AuditorError | None:
    """Run a plan with a blocking client; return what stopped it early (None: it finished).

    ``on_settled`` is called with every verdict before the plan goes on (commit it, count it).
    """
    reply: Reply = None
    try:
        while True:
            step = flow.send(reply)
            reply = None
            if isinstance(step, Settled):
                on_settled(step)
            elif isinstance(step, Write):
                try:
                    status, body = server._exchange(step.method, step.path, step.body)
                except AuditorError as error:
                    reply = error
                else:
                    reply = _write_reply(server, step, status, body)
            elif isinstance(step, Lookup):
                try:
                    for record in server.iter_records(step.query):
                        step.sink(record)
                except AuditorError as error:
                    reply = error
            else:
                try:
                    reply = server.get_single_record(step.record_id)
                except AuditorError as error:
                    reply = error
    except StopIteration as finished:
        result: AuditorError | None = finished.value
        return result
    finally:
        flow.close()


async def drive_async(
    flow: Flow, server: AsyncServer, on_settled: Callable[[Settled], Awaitable[None]]
) -> AuditorError | None:
    """:func:`drive_blocking` for an async client; ``on_settled`` is awaited."""
    reply: Reply = None
    try:
        while True:
            step = flow.send(reply)
            reply = None
            if isinstance(step, Settled):
                await on_settled(step)
            elif isinstance(step, Write):
                try:
                    status, body = await server._exchange(step.method, step.path, step.body)
                except AuditorError as error:
                    reply = error
                else:
                    reply = _write_reply(server, step, status, body)
            elif isinstance(step, Lookup):
                try:
                    async for record in server.iter_records(step.query):
                        step.sink(record)
                except AuditorError as error:
                    reply = error
            else:
                try:
                    reply = await server.get_single_record(step.record_id)
                except AuditorError as error:
                    reply = error
    except StopIteration as finished:
        result: AuditorError | None = finished.value
        return result
    finally:
        flow.close()


# -- bulk_insert: the planner driven by a direct client ---------------------------------------


class BulkOutcome:
    """What became of the records of one ``bulk_insert`` call; the ``on_settled`` of its plan.

    Attributes:
        stored: Records this call stored.
        duplicates: Positions of records the server already held, identically.
        conflicts: Positions of records whose id the server holds with other content.
        problems: The verdicts that make the call fail (rejections, conflicts, failures).
    """

    def __init__(self) -> None:
        self.stored = 0
        self.duplicates: list[int] = []
        self.conflicts: list[int] = []
        self.problems: list[Settled] = []

    def __call__(self, settled: Settled) -> None:
        verdict = settled.verdict
        if verdict is Verdict.STORED:
            self.stored += len(settled.positions)
        elif verdict is Verdict.DUPLICATE:
            self.duplicates.extend(settled.positions)
        else:
            if verdict is Verdict.CONFLICT:
                self.conflicts.extend(settled.positions)
            self.problems.append(settled)

    async def settle(self, settled: Settled) -> None:
        """:meth:`__call__` for :func:`drive_async`."""
        self(settled)

    def raise_for(self, halted: AuditorError | None, planner: BatchPlanner) -> None:
        """Raise what the call's caller must hear of; return if every record is stored.

        * The plan stopped early: that error (the rest of the records were not sent).
        * A record was refused (``400``/``413``, a NUL, a ``5xx`` for it alone): the first
          such answer.
        * A record's id is stored with other content, or already stored while the server
          reports duplicates as errors (AUDITOR's default): ``RecordExistsError``
          (``str()`` is ``"RECORD_EXISTS"``, as python-auditor raises).  A server running with
          ``ignore_record_exists_error`` has said it wants identical duplicates ignored, so
          those are only logged, as ``add`` does.

        Every record not named by the exception is stored; ``records_stored`` says how many
        this call stored.

        Raises:
            AuditorError: as above.
        """
        error: AuditorError | None = halted
        if error is None:
            for settled in self.problems:
                if settled.verdict is not Verdict.CONFLICT:
                    error = settled.error or AuditorError(settled.reason)
                    break
        if error is None and (
            self.conflicts or (self.duplicates and not planner.server_ignores_duplicates)
        ):
            count = len(self.conflicts) + len(self.duplicates)
            error = RecordExistsError(
                RECORD_EXISTS,
                status_code=500,
                body=f"{count} of the records are stored already "
                f"({len(self.conflicts)} of them with other content)",
            )
        if self.duplicates and error is None:
            logger.warning(
                "AUDITOR already stored %d of the records (ignore_record_exists_error)",
                len(self.duplicates),
            )
        if error is not None:
            error.records_stored = self.stored
            raise error


class _RecordIds(Sequence[str]):
    """The ids of a list of records, read when the planner needs one (rarely, on duplicates)."""

    __slots__ = ("_records",)

    def __init__(self, records: list[Record]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [record.record_id for record in self._records[index]]
        return self._records[index].record_id


def _bulk_items(records: Iterable[Record]) -> tuple[Sequence[str], list[str]]:
    """Ids and bodies of ``records``, every one validated before anything is sent."""
    if isinstance(records, str | bytes | dict) or not isinstance(records, Iterable):
        raise type_error(records, "Sequence")
    items = list(records)
    bodies = records_wire_json(items)  # checks every record; raises before any request
    return _RecordIds(items), bodies


def bulk_insert_blocking(server: BlockingServer, records: Iterable[Record]) -> None:
    """``AuditorClientBlocking.bulk_insert``: the whole shell (see :meth:`BulkOutcome.raise_for`)."""
    ids, bodies = _bulk_items(records)
    planner = BatchPlanner(max_batch=None)
    outcome = BulkOutcome()
    halted = drive_blocking(planner.plan(ids, bodies), server, outcome)
    outcome.raise_for(halted, planner)


async def bulk_insert_async(server: AsyncServer, records: Iterable[Record]) -> None:
    """``AuditorClient.bulk_insert``: the whole shell (see :meth:`BulkOutcome.raise_for`)."""
    ids, bodies = _bulk_items(records)
    planner = BatchPlanner(max_batch=None)
    outcome = BulkOutcome()
    halted = await drive_async(planner.plan(ids, bodies), server, outcome.settle)
    outcome.raise_for(halted, planner)
