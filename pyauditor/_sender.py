"""The background task that delivers the send queue, driving the IO-free batch planner.

One :class:`AsyncSender` per queued client.  It runs delivery *passes*: the first right after
it starts, then one every ``send_interval`` seconds; a pass sends until the queue is empty or
the server fails.  Every decision inside a pass is made by :mod:`pyauditor._delivery` (what to
send, what each answer means) and :func:`pyauditor._queue.commit_for` (what a verdict means
for the queue); this module makes the requests, commits the verdicts and schedules the passes.

Why it is built this way:

* **The event loop never waits for the disk.**  Every store call runs on one dedicated worker
  thread (:meth:`AsyncSender.store_call`).  A commit under ``synchronous=FULL`` is an fsync,
  milliseconds on a busy disk; the loop stays free for the collector's own work meanwhile.  One
  thread (rather than the loop's default pool) keeps store calls in the order they were made and
  outlives the event loop, so a client keeps working across successive ``asyncio.run`` calls.
* **A cut-short pass is harmless.**  Rows leave the queue only in the commit that follows the
  server's acknowledgement.  A pass cancelled at any point (``stop``'s deadline, a closing loop)
  leaves its rows queued; a request that was already on the wire can at worst be answered
  ``RECORD_EXISTS`` next time, and the planner then finds the records stored as they are.  A commit that was running when its
  awaiting task was cancelled still completes on the worker thread.
* **Backoff.**  After a failed pass the next one comes sooner than ``send_interval`` but with
  capped exponential backoff (``RetryPolicy``: about 1 s, 2 s, 4 s … never longer than
  ``send_interval``; the builder's ``retries(initial_delay=, max_delay=)`` sets it), so a short
  outage is bridged quickly and a long one is not hammered.
* **The loop never dies.**  Storage errors and even bugs end the pass, not the task: they are
  logged (bugs with their traceback) and retried with the same backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, ParamSpec, TypeVar

from ._delivery import (
    MAX_BATCH_RECORDS,
    AsyncServer,
    BatchPlanner,
    Flow,
    Settled,
    Verdict,
    drive_async,
)
from ._errors import AuditorError, QueueError
from ._protocol import BODY_LIMIT, RetryPolicy
from ._queue import QueuedRow, QueueStore, commit_for

__all__ = ["DEFAULT_RETRY", "AsyncSender"]

logger = logging.getLogger("pyauditor")

_P = ParamSpec("_P")
_T = TypeVar("_T")

_INSERT_WINDOW: Final = 4 * MAX_BATCH_RECORDS
"""Queued inserts read per store call: a few batches, a few MB at most."""
_UPDATE_WINDOW: Final = 1000

DEFAULT_RETRY: Final = RetryPolicy(initial_delay=1.0, max_delay=300.0, jitter=0.25)
"""Backoff between failed passes (``max_retries`` is not used: the queue never gives up)."""

SHUT_DOWN: Final = "Send task is already shut down"
"""python-auditor's message for using a stopped sender (a second ``stop()``)."""


class AsyncSender:
    """Delivers one queue in the background, on the running event loop."""

    def __init__(
        self,
        client: AsyncServer,
        store: QueueStore,
        executor: ThreadPoolExecutor,
        *,
        send_interval: float,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._client = client
        self._store = store
        self._executor = executor
        self._interval = send_interval
        self._retry = retry
        self._body_limit = BODY_LIMIT
        self._wake = asyncio.Event()
        self._waiters: list[asyncio.Future[AuditorError | None]] = []
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name="pyauditor queued-client sender"
        )

    async def store_call(
        self, function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """Run a store method on the store's worker thread."""
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    @property
    def running(self) -> bool:
        """False once stopped (or once the loop it ran on is gone)."""
        return not self._task.done()

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        due = loop.time()  # the first pass right away, as python-auditor does
        while True:
            delay = due - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
            self._wake.clear()
            waiters, self._waiters = self._waiters, []
            started = loop.time()
            try:
                error = await self._pass()
            except Exception as unexpected:  # a bug must not end delivery for good
                logger.exception("pyauditor queue: a delivery pass failed unexpectedly")
                error = AuditorError(f"delivery pass failed unexpectedly: {unexpected!r}")
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(error)
            if self._stopping and not self._waiters:
                # Waiters that arrived during this pass (stop's own, for one) get one more.
                return
            if error is None:
                failures = 0
                due = started + self._interval
            else:
                failures += 1
                wait = min(self._retry.delay(failures), self._interval)
                due = loop.time() + wait
                logger.warning(
                    "pyauditor queue: delivery paused (%s); next attempt in %.1f s", error, wait
                )

    async def _pass(self) -> AuditorError | None:
        """Send until the queue is empty or the server fails.

        Returns what stopped the pass, or what made rows stay queued (a 5xx for single
        records): either way the next pass follows with backoff instead of an interval.
        """
        planner = BatchPlanner(body_limit=self._body_limit)
        kept: list[AuditorError | None] = [None]
        try:
            if self._store.give_up.max_age is not None:
                await self.store_call(self._store.expire)
            for fetch, window in (
                (self._store.next_inserts, _INSERT_WINDOW),
                (self._store.next_updates, _UPDATE_WINDOW),
            ):
                cursor = 0
                while rows := await self.store_call(fetch, cursor, window):
                    cursor = rows[-1].seq
                    ids, bodies = [r.record_id for r in rows], [r.body for r in rows]
                    if rows[0].kind == "insert":
                        # Rows that failed alone before need no neighbour to prove it again.
                        suspects = {i for i, r in enumerate(rows) if r.isolated_failures}
                        flow = planner.plan(ids, bodies, suspects=suspects)
                    else:
                        flow = planner.updates(ids, bodies)
                    error = await self._drive(flow, rows, kept)
                    if error is not None:
                        return error
            return kept[0]
        except QueueError as error:
            logger.error("pyauditor queue: %s", error)
            return error
        finally:
            self._body_limit = planner.body_limit
            counts = planner.counts
            if counts.requests:
                logger.info(
                    "pyauditor queue: stored %d, already stored %d, dead-lettered %d, "
                    "kept %d after failures (%d requests)",
                    counts.stored,
                    counts.duplicates,
                    counts.conflicts + counts.rejected,
                    counts.failed,
                    counts.requests,
                )

    async def _drive(
        self, flow: Flow, rows: list[QueuedRow], kept: list[AuditorError | None]
    ) -> AuditorError | None:
        """Run one plan: make its requests, commit its verdicts as they come."""

        async def commit(settled: Settled) -> None:
            if settled.verdict is Verdict.FAILED:
                # Rows stay queued: the next pass comes with backoff, not after an interval.
                kept[0] = settled.error or AuditorError(settled.reason)
            await self.store_call(self._store.apply, commit_for(settled, rows))

        return await drive_async(flow, self._client, commit)

    # -- control -----------------------------------------------------------------------------

    def _request_pass(self) -> asyncio.Future[AuditorError | None]:
        if self._task.done():
            raise AuditorError(SHUT_DOWN)
        waiter: asyncio.Future[AuditorError | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        return waiter

    async def flush(self) -> AuditorError | None:
        """Run a pass now (after the running one, if any); return what stopped it early.

        Raises:
            AuditorError: the sender was stopped.
        """
        # Shielded: cancelling the caller must not cancel the pass other callers wait for.
        return await asyncio.shield(self._request_pass())

    async def stop(self, deadline: float) -> None:
        """One last pass within ``deadline`` seconds, then end the task.

        Raises:
            AuditorError: the sender was stopped already.
        """
        waiter = self._request_pass()
        self._stopping = True
        try:
            async with asyncio.timeout(deadline):
                await asyncio.shield(waiter)
        except TimeoutError:
            logger.warning(
                "pyauditor queue: the final delivery did not finish within %s s; "
                "what is left stays queued",
                deadline,
            )
        finally:
            self._task.cancel()
            # wait() neither raises the task's CancelledError nor swallows our own.
            await asyncio.wait({self._task})
