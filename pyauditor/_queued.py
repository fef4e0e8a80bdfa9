"""QueuedAuditorClient: writes go to a durable local queue; a background task delivers them.

``add``, ``bulk_insert`` and ``update`` validate the record, build its request body (the exact
JSON text ``AuditorClient`` would send) and commit it to the queue (:mod:`pyauditor._queue`);
they never touch the network.  :class:`~pyauditor._sender.AsyncSender` delivers the queue in the
background; reads go straight to the server through the ``AuditorClient`` the builder made.

Validation happens here, at enqueue time, as in python-auditor: a record the client can tell is
invalid is refused by ``add`` with a ``ValidationError`` instead of being queued and refused by
the server later.

:class:`QueuedAuditorClientBlocking` offers the same to synchronous collectors (python-auditor
has no such client).  It shares everything but the calling convention: its writes commit to the
same store from the caller's thread (the store is thread-safe), and the same
:class:`~pyauditor._sender.AsyncSender` delivers, on an event loop of its own in a daemon
thread, through an async ``AuditorClient``.  Re-implementing delivery with threads would have
meant a second copy of the scheduling, backoff and stop logic to keep in step.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import warnings
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar, final

from ._api import AsyncAPI, ReadAPI, SyncAPI
from ._client import AuditorClientBlocking
from ._delivery import AsyncServer
from ._errors import AuditorError, ConfigurationError, QueueError
from ._protocol import RetryPolicy
from ._queue import (
    IN_MEMORY_WARNING,
    DatabaseLocation,
    DeadLetter,
    GiveUp,
    Kind,
    QueueStatus,
    QueueStore,
    Synchronous,
    parse_database_path,
)
from ._record import Record
from ._record_codec import record_add_body, record_update_body, records_wire_json
from ._sender import DEFAULT_RETRY, SHUT_DOWN, AsyncSender
from ._validation import type_error

__all__ = ["QueuedAuditorClient", "QueuedAuditorClientBlocking"]

_T = TypeVar("_T")


@final
class QueuedAuditorClient(AsyncAPI, ReadAPI):
    """An AUDITOR client whose writes go through a durable local queue.

    Build it with ``await AuditorClientBuilder()...database_path(path).build_queued()``.
    ``add``, ``bulk_insert`` and ``update`` validate the record and commit it to a SQLite file;
    once they return, the record is on disk and reaches the server exactly once, whatever
    happens to the process, the network or the server.  A background task delivers the queue
    right after the client is built and then every ``send_interval`` seconds, in batches of up
    to 2,000 records (``POST /records``).  Reads (``get``, ``advanced_query``, ``iter_records``,
    ``get_single_record``, ``get_started_since``, ``get_stopped_since``, ``health_check``) go
    straight to the server, exactly as in :class:`AuditorClient`.

    What the server refuses for good (400 invalid record, 413 too large, 404 update of a record
    it does not have) is kept in a dead-letter table with the server's message
    (:meth:`dead_letters`), never silently dropped and never in the way of other records.  So
    is a record whose id the server already holds with *other* content (both versions are
    kept: ``DeadLetter.body`` and ``DeadLetter.stored``), one the server fails to store again
    and again while it stores others, and one with a NUL character, which AUDITOR cannot
    store.  A record the server holds identically counts as delivered (a re-send after a
    crash).  Everything else (server down, timeouts, 5xx) stays queued and is retried with
    backoff, for as long as it takes unless ``AuditorClientBuilder.queue_give_up`` says
    otherwise.  A queue file that is damaged or belongs to another program is refused when
    the client is built, and left as it is.

    Call :meth:`stop` when done, or use ``async with``: it delivers what it can within the
    client's timeout and ends the background task.  What is not delivered stays in the file and
    goes out when a client is next built on the same ``database_path``.  A queue file written
    by python-auditor 0.11 is imported when opened.

    Without ``database_path`` the queue is in memory, and a warning says that undelivered
    records are lost when the process exits.

    Example::

        client = await (
            AuditorClientBuilder()
            .address("auditor.example.org", 8000)
            .database_path("/var/lib/collector/auditor-queue.db")
            .send_interval(60)
            .build_queued()
        )
        async with client:
            await client.add(record)
            print(await client.pending())
    """

    __slots__ = ("_client", "_sender", "_stop_timeout", "_stopped", "_store")
    _delegate = "_client"  # the reads: AuditorClient's

    _client: AsyncServer
    _store: QueueStore
    _sender: AsyncSender
    _stop_timeout: float
    _stopped: bool

    def __init__(self) -> None:
        raise TypeError(
            "QueuedAuditorClient cannot be created directly; use "
            "await AuditorClientBuilder()...build_queued()"
        )

    @classmethod
    async def _start(
        cls,
        client: AsyncServer,
        *,
        database_path: str | os.PathLike[str] | None,
        send_interval: float,
        stop_timeout: float,
        synchronous: Synchronous = "FULL",
        retry: RetryPolicy | None = None,
        give_up: GiveUp | None = None,
    ) -> QueuedAuditorClient:
        """Open (or create) the queue and start delivering: what ``build_queued()`` awaits.

        Args:
            client: The ``AuditorClient`` that sends and reads.
            database_path: The queue file (forms: see ``AuditorClientBuilder.database_path``);
                ``None`` for an in-memory queue.
            send_interval: Seconds between delivery passes; > 0.
            stop_timeout: Seconds ``stop()`` may spend on its final delivery (the client's
                ``timeout``).
            synchronous: SQLite's ``synchronous`` for the file: ``FULL`` (default) survives
                power loss; ``NORMAL`` may lose the last commits then (never on a crash of the
                process).
            retry: Backoff between failed passes (``initial_delay``, ``max_delay``,
                ``jitter``; ``max_retries`` is not used: see ``give_up``).
            give_up: When rows stop being retried and become dead letters (by default only
                records the server can never store).

        Raises:
            ConfigurationError: an unusable path, interval or ``synchronous`` value.
            QueueError: the file cannot be created or opened, is damaged or another program's.
        """
        location = _checked(database_path, send_interval)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyauditor-queue")
        try:
            store = await asyncio.get_running_loop().run_in_executor(
                executor,
                functools.partial(QueueStore, location, synchronous=synchronous, give_up=give_up),
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self = object.__new__(cls)
        self._client = client
        self._store = store
        self._stop_timeout = float(stop_timeout)
        self._stopped = False
        self._sender = AsyncSender(
            client,
            store,
            executor,
            send_interval=float(send_interval),
            retry=retry or DEFAULT_RETRY,
        )
        return self

    def __repr__(self) -> str:
        where = self._store.location.path or ":memory:"
        state = "sending" if self._sender.running else "stopped"
        return f"<QueuedAuditorClient queue={str(where)!r} {state}>"

    # -- writes: queued ----------------------------------------------------------------------

    async def add(self, record: Record) -> None:
        """Queue ``record`` for insertion; return once it is committed to the queue.

        Raises:
            TypeError: ``record`` is not a Record.
            ValidationError: the record breaks a rule (its meta is checked here).
            QueueError: the queue could not be written.
        """
        body = record_add_body(record)
        await self._enqueue([("insert", record.record_id, body)])

    async def bulk_insert(self, records: Iterable[Record]) -> None:
        """Queue many records for insertion in one transaction: all of them or none.

        Raises:
            TypeError: ``records`` is not a list or tuple of Record.
            ValidationError: a record breaks a rule (nothing is queued); the message starts
                with its position.
            QueueError: the queue could not be written.
        """
        await self._enqueue(_insert_items(records))

    async def update(self, record: Record) -> None:
        """Queue an update of a record (its stop time); return once it is committed.

        The update is sent only after the insert of the same record id, if one is queued.

        Raises:
            TypeError: ``record`` is not a Record.
            ValidationError: the record has no stop time or breaks a rule.
            QueueError: the queue could not be written.
        """
        body = record_update_body(record)
        await self._enqueue([("update", record.record_id, body)])

    async def _enqueue(self, items: list[tuple[Kind, str, str]]) -> None:
        await self._sender.store_call(self._store.enqueue, items)

    # -- the queue ---------------------------------------------------------------------------

    async def pending(self) -> QueueStatus:
        """How many inserts and updates are queued, and how many dead letters are kept."""
        return await self._sender.store_call(self._store.status)

    async def dead_letters(self) -> list[DeadLetter]:
        """The requests the server refused for good, oldest first, with its messages."""
        return await self._sender.store_call(self._store.dead_letters)

    async def retry_dead_letters(self, ids: Iterable[int] | None = None) -> int:
        """Queue dead letters again (all, or those with these ids); return how many.

        For use once the cause is fixed (a server option, a proxy's body limit, ...).
        """
        chosen = None if ids is None else list(ids)
        return await self._sender.store_call(self._store.retry_dead_letters, chosen)

    async def delete_dead_letters(self, ids: Iterable[int] | None = None) -> int:
        """Delete dead letters for good (all, or those with these ids); return how many."""
        chosen = None if ids is None else list(ids)
        return await self._sender.store_call(self._store.delete_dead_letters, chosen)

    async def flush(self) -> QueueStatus:
        """Deliver now, wait for that pass to end, and return what is still queued.

        A pass ends early when the server fails; what failed stays queued and is retried with
        backoff (``pending().last_error`` says why).  Not bounded by a timeout: wrap it in
        ``asyncio.timeout`` if needed.

        Raises:
            QueueError: the queue file could not be read or written (nothing was delivered
                from it, or what was delivered could not be recorded).
            AuditorError: the client was stopped.
        """
        _raise_storage_failure(await self._sender.flush())
        return await self.pending()

    async def stop(self) -> None:
        """Deliver what can be delivered within the client's timeout, then stop sending.

        What is not delivered stays in the queue file.  Afterwards ``add`` and friends still
        queue (nothing sends those until a client is built on the same file again), and reads
        still work, as in python-auditor.

        Raises:
            AuditorError: (a RuntimeError) ``Send task is already shut down`` on a second call.
        """
        if self._stopped:
            raise AuditorError(SHUT_DOWN)
        self._stopped = True
        if self._sender.running:
            await self._sender.stop(self._stop_timeout)

    async def __aenter__(self) -> QueuedAuditorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._stopped:
            await self.stop()


def _raise_storage_failure(error: AuditorError | None) -> None:
    """flush() raises what kept the queue file from being used; server trouble it reports."""
    if isinstance(error, QueueError):
        raise QueueError(str(error)) from error


def _checked(
    database_path: str | os.PathLike[str] | None, send_interval: float
) -> DatabaseLocation:
    """The checks both queued clients make before opening their queue."""
    if isinstance(send_interval, bool) or not isinstance(send_interval, int | float):
        raise type_error(send_interval, "float")
    if not send_interval > 0:
        # python-auditor's message for a negative interval (it panics on 0).
        raise ConfigurationError(
            f"INVALID_TIME_INTERVAL: send_interval must be > 0 seconds, got {send_interval!r}"
        )
    location = parse_database_path(database_path)
    if location.in_memory:
        warnings.warn(IN_MEMORY_WARNING, UserWarning, stacklevel=3)
    return location


def _insert_items(records: Iterable[Record]) -> list[tuple[Kind, str, str]]:
    if isinstance(records, str | bytes | dict) or not isinstance(records, Iterable):
        raise type_error(records, "Sequence")
    records = list(records)  # iterated twice below
    bodies = records_wire_json(records)
    return [
        ("insert", record.record_id, body) for record, body in zip(records, bodies, strict=True)
    ]


class _LoopThread:
    """An event loop in a daemon thread; blocking code runs coroutines on it with :meth:`call`.

    Daemon, so a program that never calls ``stop()`` still exits; what was not delivered then
    stays in the queue file (a write cut short by the exit is rolled back by SQLite).
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="pyauditor-queue-sender", daemon=True
        )
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        # What asyncio.run does last: let the clients close their connection pools.
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()


@final
class QueuedAuditorClientBlocking(SyncAPI, ReadAPI):
    """:class:`QueuedAuditorClient` for synchronous code: the same queue, no ``await``.

    Writes commit to the durable queue before they return; a background thread delivers the
    queue right after the client is built and then every ``send_interval`` seconds, exactly as
    the async queued client does.  Safe to use from several threads.  Call :meth:`stop` when
    done (or use ``with``).

    Example::

        client = (
            AuditorClientBuilder()
            .address("auditor.example.org", 8000)
            .database_path("/var/lib/collector/auditor-queue.db")
            .build_queued_blocking()
        )
        with client:
            client.add(record)
    """

    __slots__ = ("_loop", "_reader", "_sender", "_stop_timeout", "_stopped", "_store")
    _delegate = "_reader"  # the reads: AuditorClientBlocking's

    _reader: AuditorClientBlocking
    _store: QueueStore
    _loop: _LoopThread
    _sender: AsyncSender
    _stop_timeout: float
    _stopped: bool

    def __init__(self) -> None:
        raise TypeError(
            "QueuedAuditorClientBlocking cannot be created directly; use "
            "AuditorClientBuilder()...build_queued_blocking()"
        )

    @classmethod
    def _start(
        cls,
        client: AsyncServer,
        reader: AuditorClientBlocking,
        *,
        database_path: str | os.PathLike[str] | None,
        send_interval: float,
        stop_timeout: float,
        synchronous: Synchronous = "FULL",
        retry: RetryPolicy | None = None,
        give_up: GiveUp | None = None,
    ) -> QueuedAuditorClientBlocking:
        """Open (or create) the queue and start delivering: what the builder calls.

        Args:
            client: The async ``AuditorClient`` that delivers (on the sender's own loop).
            reader: The ``AuditorClientBlocking`` that reads.
            database_path, send_interval, stop_timeout, synchronous, retry, give_up: As for
                ``QueuedAuditorClient._start``.

        Raises:
            ConfigurationError: an unusable path, interval or ``synchronous`` value.
            QueueError: the file cannot be created or opened, is damaged or another program's.
        """
        location = _checked(database_path, send_interval)
        store = QueueStore(location, synchronous=synchronous, give_up=give_up)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyauditor-queue")
        loop = _LoopThread()

        async def start_sender() -> AsyncSender:
            return AsyncSender(
                client,
                store,
                executor,
                send_interval=float(send_interval),
                retry=retry or DEFAULT_RETRY,
            )

        self = object.__new__(cls)
        self._reader = reader
        self._store = store
        self._loop = loop
        self._sender = loop.call(start_sender())
        self._stop_timeout = float(stop_timeout)
        self._stopped = False
        return self

    def __repr__(self) -> str:
        where = self._store.location.path or ":memory:"
        state = "stopped" if self._stopped else "sending"
        return f"<QueuedAuditorClientBlocking queue={str(where)!r} {state}>"

    # -- writes: queued ----------------------------------------------------------------------

    def add(self, record: Record) -> None:
        """Queue ``record`` for insertion; return once it is committed (see ``QueuedAuditorClient``)."""
        body = record_add_body(record)
        self._store.enqueue([("insert", record.record_id, body)])

    def bulk_insert(self, records: Iterable[Record]) -> None:
        """Queue many records in one transaction: all of them or none."""
        self._store.enqueue(_insert_items(records))

    def update(self, record: Record) -> None:
        """Queue an update (the record's stop time); sent after the record's queued insert."""
        body = record_update_body(record)
        self._store.enqueue([("update", record.record_id, body)])

    # -- the queue ---------------------------------------------------------------------------

    def pending(self) -> QueueStatus:
        """How many inserts and updates are queued, and how many dead letters are kept."""
        return self._store.status()

    def dead_letters(self) -> list[DeadLetter]:
        """The requests the server refused for good, oldest first, with its messages."""
        return self._store.dead_letters()

    def retry_dead_letters(self, ids: Iterable[int] | None = None) -> int:
        """Queue dead letters again (all, or those with these ids); return how many."""
        return self._store.retry_dead_letters(None if ids is None else list(ids))

    def delete_dead_letters(self, ids: Iterable[int] | None = None) -> int:
        """Delete dead letters for good (all, or those with these ids); return how many."""
        return self._store.delete_dead_letters(None if ids is None else list(ids))

    def flush(self) -> QueueStatus:
        """Deliver now, wait for that pass to end, and return what is still queued.

        Raises:
            QueueError: the queue file could not be read or written.
            AuditorError: the client was stopped.
        """
        if self._stopped:
            raise AuditorError(SHUT_DOWN)
        _raise_storage_failure(self._loop.call(self._sender.flush()))
        return self.pending()

    def stop(self) -> None:
        """Deliver what can be delivered within the client's timeout, then stop sending.

        Raises:
            AuditorError: (a RuntimeError) ``Send task is already shut down`` on a second call.
        """
        if self._stopped:
            raise AuditorError(SHUT_DOWN)
        self._stopped = True
        try:
            self._loop.call(self._sender.stop(self._stop_timeout))
        finally:
            self._loop.close()

    def __enter__(self) -> QueuedAuditorClientBlocking:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._stopped:
            self.stop()
