"""What the queued client sends, and what each answer means for the queue: no I/O.

Like httpx's authentication flows, a delivery flow is a generator.  It yields a :class:`Send`
(a request to make) and receives the outcome: ``None`` for a 2xx answer or the
:class:`~pyauditor.AuditorError` the client raised.  It yields a
:class:`~pyauditor._queue.StoreCommit` (what to write to the queue) and receives ``None`` once
it is committed.  It returns ``None`` when it got through its rows, or the error that made it
stop early (the driver then backs off).  The drivers (async in :mod:`pyauditor._queued`) are
thin; every decision is here and is tested without sockets or files.

The rules:

* **Inserts in batches.**  Rows go as JSON arrays through ``POST /records``, at most
  :data:`MAX_BATCH_RECORDS` records and :data:`~pyauditor._protocol.BODY_LIMIT` bytes per body
  (split by :func:`~pyauditor._protocol.batch_json_array`).  The server stores a batch
  all-or-nothing, so one answer settles every row of it.  The record cap bounds the cost of a
  crash (below); 10,000 records still take only 20 requests.
* **RECORD_EXISTS for a batch** means that at least one of its records is stored already:
  after a crash between the server's answer and the commit that removes the rows, all of them
  are; after a collector re-sent part of its history, some are.  Such a batch is split into
  :data:`EXISTS_FANOUT` parts, recursively; a part of at most ``2 * EXISTS_FANOUT`` records
  that is answered ``RECORD_EXISTS`` too is sent record by record through ``POST /record``,
  where ``RECORD_EXISTS`` counts as delivered: the server's table holds the record exactly
  once either way.  For a batch of 500 that costs 517 requests when every record exists (one
  by one would cost 500) and about 50 when one does (one by one: 500).  Only the server can
  tell which records it has, and a record is only ever counted as delivered on its own
  ``RECORD_EXISTS``: inferring it from a neighbour's answer could lose it.
* **400 and 413 for a batch** are narrowed down by bisection: the halves are sent as batches,
  recursively, so one bad record in 2,000 costs about 22 requests instead of 2,000.  A single
  record answered 400 or 413 goes to the dead-letter table with the server's message; the
  records around it are delivered.  A 413 also lowers the body limit of later batches, for
  servers behind a proxy with a smaller limit.
* **5xx other than RECORD_EXISTS** is treated as the server's trouble, never the record's: the
  rows stay queued.  A failed batch is still bisected, because a record the server cannot store
  (a ``UNEXPECTED_ERROR`` from its database) would otherwise block every record behind it
  forever: such a record stays queued and is retried on every pass, while its neighbours get
  through.  When the server answers 5xx to more requests in a row than a bisection can explain
  (:func:`failure_budget`), the pass stops and the driver backs off.
* **Connection errors, timeouts and any other answer** (401, 403, 404 for a route, 429, …) stop
  the pass at once; the rows stay queued.  These say nothing about a record.
* **Updates** go one by one through ``PUT /record`` (there is no bulk update), in queue order,
  and only once no insert of the same record id is queued (the store guarantees that).  A 404
  ``Updating unknown record …`` means the server does not have the record: the update goes to
  the dead-letter table, unless an insert of it was queued meanwhile.  When an update of a
  record stays queued, later updates of the same record wait too, so they are applied in order.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Generator, Sequence
from typing import Final, Literal

import attrs

from ._errors import APIStatusError, AuditorError, RecordExistsError
from ._protocol import BODY_LIMIT, batch_json_array
from ._queue import DeadLetterEntry, QueuedRow, StoreCommit

__all__ = [
    "EXISTS_FANOUT",
    "MAX_BATCH_RECORDS",
    "DeliveryPlanner",
    "Flow",
    "Send",
    "failure_budget",
]

MAX_BATCH_RECORDS: Final = 500
"""Records per ``POST /records`` body at most (and at most ``BODY_LIMIT`` bytes)."""

EXISTS_FANOUT: Final = 16
"""Parts a batch answered ``RECORD_EXISTS`` is split into."""

_UPDATE_FAILURE_BUDGET: Final = 3
_UNKNOWN_RECORD: Final = "Updating unknown record"


@attrs.frozen
class Send:
    """A request the driver has to make, and the queued rows it carries."""

    method: Literal["POST", "PUT"]
    path: str
    body: bytes
    rows: tuple[QueuedRow, ...]


Outcome = AuditorError | None
Step = Send | StoreCommit
Flow = Generator[Step, Outcome, AuditorError | None]


def failure_budget(batch_size: int) -> int:
    """Consecutive 5xx answers after which a pass stops.

    Bisecting a failed batch of ``n`` records down to one record that the server cannot store
    meets ``ceil(log2 n) + 1`` failures in a row before a neighbour succeeds; two such records
    side by side add one more.  Anything beyond that means the server is failing, not a record.
    """
    return max(3, math.ceil(math.log2(max(batch_size, 1))) + 3)


def _reason(error: AuditorError) -> str:
    if isinstance(error, APIStatusError):
        text = " ".join(error.body.split())
        if text:
            return text
    return str(error)


def _status(error: AuditorError) -> int | None:
    return error.status_code if isinstance(error, APIStatusError) else None


class DeliveryPlanner:
    """The decisions of one delivery pass over the queue.

    Create one per pass; feed it windows of rows in queue order, inserts first (through
    :meth:`inserts`), then updates (through :meth:`updates`).

    Attributes:
        body_limit: The largest batch body to send; lowered when the server answers 413.
        delivered: Rows acknowledged in this pass.
        dead: Rows moved to the dead-letter table in this pass.
        deferred: Rows that stay queued after a 5xx in this pass.
        deferral: The answer that made the last of them stay (``None`` if none did); the
            driver retries them with backoff rather than after a full interval.
    """

    def __init__(self, *, body_limit: int = BODY_LIMIT, max_batch: int = MAX_BATCH_RECORDS) -> None:
        if body_limit < 1 or max_batch < 1:
            raise ValueError("body_limit and max_batch must be positive")
        self.body_limit = body_limit
        self.max_batch = max_batch
        self.delivered = 0
        self.dead = 0
        self.deferred = 0
        self.deferral: AuditorError | None = None
        # Records with an update that stays queued in this pass: their later updates wait.
        self._held_updates: set[str] = set()

    # -- inserts -----------------------------------------------------------------------------

    def inserts(self, rows: Sequence[QueuedRow]) -> Flow:
        """Deliver queued inserts (in queue order)."""
        texts = [row.body for row in rows]
        # (start, stop, body or None): contiguous slices of ``rows``; body None = build it.
        work: deque[tuple[int, int, bytes | None]] = deque()
        for chunk in range(0, len(texts), self.max_batch):
            for first, end, array in batch_json_array(
                texts[chunk : chunk + self.max_batch], self.body_limit
            ):
                work.append((chunk + first, chunk + end, array))
        budget = failure_budget(self.max_batch)
        failures = 0
        while work:
            start, stop, body = work.popleft()
            part = tuple(rows[start:stop])
            seqs = tuple(row.seq for row in part)
            single = stop - start == 1
            if single:
                outcome = yield Send("POST", "/record", texts[start].encode("utf-8"), part)
            else:
                if body is None:
                    body = ("[" + ",".join(texts[start:stop]) + "]").encode("utf-8")
                outcome = yield Send("POST", "/records", body, part)

            if outcome is None or (single and isinstance(outcome, RecordExistsError)):
                failures = 0
                self.delivered += len(seqs)
                yield StoreCommit(delivered=seqs)
                continue
            if isinstance(outcome, RecordExistsError):
                # Some of the batch is stored already: narrow it down (see the module docs).
                failures = 0
                size = stop - start
                self._split(work, start, stop, size if size <= 2 * EXISTS_FANOUT else EXISTS_FANOUT)
                continue
            status = _status(outcome)
            if status in (400, 413):
                failures = 0
                if single:
                    self.dead += 1
                    yield StoreCommit(dead=(DeadLetterEntry(seqs[0], status, _reason(outcome)),))
                    continue
                if status == 413 and body is not None:
                    self.body_limit = min(self.body_limit, max(len(body) // 2, 1))
                self._split(work, start, stop, 2)
                continue
            if status is not None and status >= 500:
                failures += 1
                if failures >= budget:
                    yield StoreCommit(failed=seqs, error=_reason(outcome))
                    return outcome
                if single:
                    self.deferred += 1
                    self.deferral = outcome
                    yield StoreCommit(failed=seqs, error=_reason(outcome))
                else:
                    self._split(work, start, stop, 2)
                continue
            # Unreachable or refusing everything (connection, timeout, 401/403/404/429, ...).
            yield StoreCommit(failed=seqs, error=_reason(outcome))
            return outcome
        return None

    @staticmethod
    def _split(
        work: deque[tuple[int, int, bytes | None]], start: int, stop: int, parts: int
    ) -> None:
        """Put ``rows[start:stop]`` back at the front of ``work`` in ``parts`` slices."""
        size = stop - start
        bounds = [start + size * part // parts for part in range(parts + 1)]
        work.extendleft(
            (low, high, None)
            for low, high in reversed(list(itertools.pairwise(bounds)))
            if low < high
        )

    # -- updates -----------------------------------------------------------------------------

    def updates(self, rows: Sequence[QueuedRow]) -> Flow:
        """Deliver queued updates (in queue order; only of records with no queued insert)."""
        failures = 0
        for row in rows:
            if row.record_id in self._held_updates:
                continue
            outcome = yield Send("PUT", "/record", row.body.encode("utf-8"), (row,))
            if outcome is None:
                failures = 0
                self.delivered += 1
                yield StoreCommit(delivered=(row.seq,))
                continue
            self._held_updates.add(row.record_id)
            status = _status(outcome)
            reason = _reason(outcome)
            if (status == 404 and reason.startswith(_UNKNOWN_RECORD)) or status in (400, 413):
                failures = 0
                self.dead += 1
                entry = DeadLetterEntry(row.seq, status, reason, unless_insert_queued=True)
                yield StoreCommit(dead=(entry,))
                continue
            if status is not None and status >= 500:
                failures += 1
                yield StoreCommit(failed=(row.seq,), error=reason)
                if failures >= _UPDATE_FAILURE_BUDGET:
                    return outcome
                self.deferred += 1
                self.deferral = outcome
                continue
            yield StoreCommit(failed=(row.seq,), error=reason)
            return outcome
        return None
