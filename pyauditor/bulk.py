"""Send many records and learn what became of each one.

``bulk_insert`` stores a list of records and raises on the first problem
(``RecordExistsError`` if one of them is stored already, as python-auditor does).  A tool that
sends many records (an import, a collector catching up, ``pyauditor send``) usually wants every
record that can be stored to be stored, and to hear about each one that was not.
:class:`BulkSender` does that with a direct client (:class:`AsyncBulkSender` with the async
one)::

    from pyauditor.bulk import BulkSender, Verdict

    sender = BulkSender(client)
    result = sender.send(records)
    print(result.count(Verdict.STORED), "stored,", result.count(Verdict.DUPLICATE), "already there")
    for outcome in result.outcomes:
        if outcome.verdict in (Verdict.CONFLICT, Verdict.REJECTED):
            for index in outcome.indexes:
                print(records[index].record_id, outcome.reason)

It sends through the same batch planner as ``bulk_insert`` and the queued clients, so the same
rules hold:

* Every record gets one :class:`Outcome`, with a :class:`Verdict`: ``STORED`` (by this call),
  ``DUPLICATE`` (the server already held this exact record), ``CONFLICT`` (the server holds
  *another* record under this id; nothing is overwritten, :attr:`Outcome.stored` has the
  server's version), ``REJECTED`` (the server refused the record itself: ``400``, ``413``, a
  NUL character) or ``FAILED`` (not stored; the server failed, see :attr:`Outcome.isolated`).
* A record is ``STORED`` only when the server said so.  AUDITOR stores a batch all or nothing
  and refuses it if one record is stored already (or, configured with
  ``ignore_record_exists_error``, answers ``200`` with a warning and stores none of it); the
  planner finds which records are the server's with a few queries over their start times and
  sends the others again.  Sending the same records twice is therefore safe and cheap.
* When the server cannot be reached or fails whatever is sent, sending stops:
  :attr:`BulkResult.stopped` is the error, and :attr:`BulkResult.unsent` lists the records that
  may not be stored.  Sending those again later is safe.

One sender is meant for one session (a file, an import run): what it learns about the server
(which records it holds, a smaller body limit after a ``413``) carries over from one
:meth:`~BulkSender.send` to the next, so a large input can be sent in slices of a few thousand
records, in bounded memory.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from ._delivery import (
    AsyncServer,
    BatchPlanner,
    BlockingServer,
    Flow,
    Settled,
    Verdict,
    _bulk_items,
    drive_async,
    drive_blocking,
)
from ._errors import AuditorError, ConfigurationError
from ._record import Record

if TYPE_CHECKING:
    from ._client import AuditorClient, AuditorClientBlocking

__all__ = ["AsyncBulkSender", "BulkResult", "BulkSender", "Outcome", "Verdict"]


@attrs.frozen
class Outcome:
    """What became of some records of one :meth:`BulkSender.send` call.

    Attributes:
        verdict: What became of them.
        indexes: Which records: their positions in the records given to ``send``.
        reason: Why, for ``CONFLICT``, ``REJECTED`` and ``FAILED``: the server's message (at
            most 1,000 characters), else ``""``.
        status: The HTTP status of the answer it is based on (``None``: no answer, or no
            request was needed).
        error: For ``REJECTED`` and ``FAILED``: the answer as the exception a client method
            would have raised.
        stored: For ``CONFLICT``: the record the server holds under that id, as
            ``Record.to_json()`` writes it (``None`` if it could not be read).
        isolated: For ``FAILED``: the server failed on these records alone while it stored
            others (a record it cannot store, for a reason it does not say).  Otherwise a
            ``FAILED`` record met a server failing in general and may be stored by a later
            attempt.
    """

    verdict: Verdict
    indexes: Sequence[int]
    reason: str = ""
    status: int | None = None
    error: AuditorError | None = attrs.field(default=None, eq=False)
    stored: str | None = None
    isolated: bool = False

    @property
    def ok(self) -> bool:
        """True when the records are on the server: ``STORED`` or ``DUPLICATE``."""
        return self.verdict is Verdict.STORED or self.verdict is Verdict.DUPLICATE


def _outcome(settled: Settled) -> Outcome:
    return Outcome(
        settled.verdict,
        settled.positions,
        settled.reason,
        settled.status,
        settled.error,
        settled.stored,
        settled.isolated,
    )


@attrs.define
class BulkResult:
    """What became of the records of one ``send`` call.

    Attributes:
        total: How many records were given.
        outcomes: The outcomes, in the order they were decided (a batch stored in one request
            is one outcome).
        stopped: The error that stopped sending early (the server unreachable or failing
            everything), else ``None``.
    """

    total: int
    outcomes: list[Outcome] = attrs.Factory(list)
    stopped: AuditorError | None = None

    def count(self, verdict: Verdict) -> int:
        """How many records got ``verdict``."""
        return sum(len(o.indexes) for o in self.outcomes if o.verdict is verdict)

    @property
    def ok(self) -> bool:
        """True when every record is on the server (stored by this call, or already)."""
        return self.stopped is None and all(outcome.ok for outcome in self.outcomes)

    @property
    def unsent(self) -> list[int]:
        """Indexes of the records that may not be stored: ``FAILED`` ones and, when sending
        stopped, those it did not get to.  Sending them again is safe."""
        decided = bytearray(self.total)
        for outcome in self.outcomes:
            if outcome.verdict is not Verdict.FAILED:
                for index in outcome.indexes:
                    decided[index] = 1
        return [index for index, done in enumerate(decided) if not done]


class _Sender:
    """What both senders share: the checks, the planner, the outcome callback."""

    _asynchronous = False

    def __init__(
        self,
        client: object,
        *,
        batch_size: int | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        exchange = getattr(client, "_exchange", None)
        if exchange is None or inspect.iscoroutinefunction(exchange) != self._asynchronous:
            wanted = "AuditorClient" if self._asynchronous else "AuditorClientBlocking"
            raise ConfigurationError(
                f"{type(self).__name__} needs a direct {wanted}, not {type(client).__name__} (a "
                "queued client's bulk_insert already delivers through the same rules)"
            )
        if batch_size is not None and (type(batch_size) is not int or batch_size < 1):
            raise ConfigurationError(
                f"batch_size {batch_size!r} must be a positive whole number of records, or None"
            )
        self._planner = BatchPlanner(max_batch=batch_size)
        self._on_outcome = on_outcome

    @property
    def requests(self) -> int:
        """Requests made by this sender so far (writes and queries)."""
        return self._planner.counts.requests

    def _start(self, records: Iterable[Record]) -> tuple[Flow, BulkResult]:
        ids, bodies = _bulk_items(records)
        return self._planner.plan(ids, bodies), BulkResult(len(ids))

    def _settle(self, result: BulkResult, settled: Settled) -> None:
        outcome = _outcome(settled)
        result.outcomes.append(outcome)
        if self._on_outcome is not None:
            self._on_outcome(outcome)


class BulkSender(_Sender):
    """Sends records with a blocking client; every record gets an :class:`Outcome`.

    Args:
        client: An :class:`~pyauditor.AuditorClientBlocking` (not a queued client).
        batch_size: Records per request at most (``None``: as many as fit in AUDITOR's 2 MiB
            request limit).
        on_outcome: Called with each outcome as soon as it is decided (for progress displays,
            error files); it runs between requests, so keep it quick.

    Raises:
        ConfigurationError: not a direct blocking client, or a bad ``batch_size``.
    """

    def __init__(
        self,
        client: AuditorClientBlocking,
        *,
        batch_size: int | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        super().__init__(client, batch_size=batch_size, on_outcome=on_outcome)
        self._client: BlockingServer = client

    def send(self, records: Iterable[Record]) -> BulkResult:
        """Store ``records``; return what became of each.

        Every record is checked before anything is sent.  Server answers do not raise: they
        are outcomes, and an error that stops sending is :attr:`BulkResult.stopped`.

        Raises:
            ValidationError: a record is invalid (nothing was sent).
            TypeError: ``records`` is not an iterable of :class:`~pyauditor.Record`.
        """
        flow, result = self._start(records)
        result.stopped = drive_blocking(
            flow, self._client, lambda settled: self._settle(result, settled)
        )
        return result


class AsyncBulkSender(_Sender):
    """:class:`BulkSender` for the async :class:`~pyauditor.AuditorClient`.

    Args:
        client: An :class:`~pyauditor.AuditorClient` (not a queued client).
        batch_size: Records per request at most (``None``: as many as fit in 2 MiB).
        on_outcome: Called (not awaited) with each outcome as soon as it is decided.

    Raises:
        ConfigurationError: not a direct async client, or a bad ``batch_size``.
    """

    _asynchronous = True

    def __init__(
        self,
        client: AuditorClient,
        *,
        batch_size: int | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        super().__init__(client, batch_size=batch_size, on_outcome=on_outcome)
        self._client: AsyncServer = client

    async def send(self, records: Iterable[Record]) -> BulkResult:
        """Store ``records``; return what became of each (see :meth:`BulkSender.send`)."""
        flow, result = self._start(records)

        async def settle(settled: Settled) -> None:
            self._settle(result, settled)

        result.stopped = await drive_async(flow, self._client, settle)
        return result
