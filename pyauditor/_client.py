"""AuditorClient (async) and AuditorClientBlocking: thin I/O shells that run operation plans.

The operations themselves (their signatures, documentation and plans) are declared once in
:mod:`pyauditor._api` and :mod:`pyauditor._operations`; everything that is not I/O (request
bodies, judging answers, retries, size bounds, the timeout rule) is there or in
:mod:`pyauditor._protocol`.  Each class here has one ``_call`` that sends a plan's requests and
one ``_stream`` for ``iter_records``; :mod:`pyauditor._http` makes their httpx connection pools.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Self, TypeVar

import httpx

from ._api import AsyncAPI, ReadAPI, SyncAPI, WriteAPI
from ._errors import AuditorError
from ._http import (
    JSON_BODY,
    async_pool,
    async_raw_chunks,
    blocking_pool,
    deadline,
    encoding_of,
    raw_chunks,
    transport_error,
    verify_context,
)
from ._operations import (
    Answer,
    AnswerReader,
    Done,
    Driven,
    Plan,
    RecordsReader,
    RecordStream,
    Request,
    Run,
    Wait,
    write_request,
)
from ._protocol import timeout_error
from ._record import Record
from ._settings import ClientSettings
from ._wire import gc_paused

__all__ = ["AuditorClient", "AuditorClientBlocking"]

logger = logging.getLogger("pyauditor")
_T = TypeVar("_T")

# The async HTTP stack that httpx imports on first use: httpcore's anyio backend when the first
# connection opens, anyio's asyncio backend when anyio first runs in a loop.  That is about
# 30 ms of imports, which python-auditor does not pay in its first request either (its set-up
# happens in build()).  Private module names: with a layout other than the one tested, the
# import simply happens in the first request again.
_ASYNC_HTTP_MODULES = ("httpcore._backends.anyio", "anyio._backends._asyncio")


def _import_async_http() -> None:
    for name in _ASYNC_HTTP_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - depends on the installed httpcore/anyio
            logger.debug("cannot preload %s", name)


class _ClientBase:
    """What both clients share: the settings and the TLS context."""

    __slots__ = ("__weakref__", "_base", "_settings", "_verify")

    def __init__(self, *, _settings: ClientSettings) -> None:
        self._settings = _settings
        self._base = _settings.base_url
        # Made once, at build time like python-auditor's TLS set-up, not in the first request:
        # httpx would otherwise load its CA bundle for every pool it creates (about 20 ms).
        self._verify = verify_context(_settings)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._base}>"

    def _url(self, path: str) -> str:
        """The URL of a request path (the batch planner's drivers name requests by it)."""
        return self._base + path

    def _build(self, pool: httpx.Client | httpx.AsyncClient, request: Request) -> httpx.Request:
        body = request.body
        return pool.build_request(
            request.route.method,
            self._base + request.path,
            content=body,
            headers=JSON_BODY if body is not None else None,
        )

    def _reader(self, request: Request, response: httpx.Response, url: str) -> AnswerReader:
        settings = self._settings
        return AnswerReader(
            request,
            response.status_code,
            url,
            encoding=encoding_of(response),
            retry_after=response.headers.get("retry-after"),
            max_answer_bytes=settings.max_answer_bytes,
            max_record_bytes=settings.max_record_bytes,
        )

    @staticmethod
    def _decoding(request: Request) -> AbstractContextManager[object]:
        # A whole result (get, advanced_query) is bounded by the timeout: the cyclic GC is
        # paused while it arrives and is decoded (see gc_paused for why).  Not for streams,
        # whose records the caller holds for as long as it likes.
        return gc_paused() if request.records else nullcontext()

    def _records(self, response: httpx.Response, url: str) -> RecordsReader:
        return RecordsReader(encoding_of(response), f"GET {url}", self._settings.max_record_bytes)

    def _failed(
        self, error: BaseException, request: Request, url: str, started: float
    ) -> AuditorError:
        logger.debug(
            "%s %s failed after %.3f s: %r",
            request.route.method,
            url,
            time.monotonic() - started,
            error,
        )
        return transport_error(error, request.route.method, url, self._settings.timeout)

    def _sent(self, request: Request, url: str, status: int, started: float) -> None:
        # For a stream: once its head arrived.
        logger.debug(
            "%s %s -> %d in %.3f s", request.route.method, url, status, time.monotonic() - started
        )

    def _open_bound(self, started: float, end: float | None) -> float:
        bound = started + self._settings.timeout
        return bound if end is None else min(bound, end)

    def _chunk_failed(
        self, error: BaseException, url: str, stream: RecordStream, end: float | None
    ) -> AuditorError:
        if stream.total_timeout is not None and end is not None and time.monotonic() >= end:
            return timeout_error("GET", url, stream.total_timeout)  # the whole-stream bound
        return transport_error(error, "GET", url, self._settings.timeout, whole=False)


class AuditorClient(_ClientBase, AsyncAPI, ReadAPI, WriteAPI):
    """Async client for an AUDITOR server; build it with :class:`AuditorClientBuilder`.

    Every method is a coroutine (``iter_records`` returns an async iterator).  One client can be
    shared by many tasks and keeps working across successive ``asyncio.run()`` calls (each event
    loop gets its own connection pool, closed when that loop shuts down).  Use it as an async
    context manager, or call :meth:`aclose`, to close the current loop's connections early.

    Example::

        client = AuditorClientBuilder().address("localhost", 8000).build()
        await client.add(record)
        records = await client.advanced_query(QueryBuilder().limit(10).build())
    """

    __slots__ = ("_lock", "_pools")

    def __init__(self, *, _settings: ClientSettings) -> None:
        super().__init__(_settings=_settings)
        _import_async_http()  # at build time, as the blocking client makes its pool then
        self._lock = threading.Lock()
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncIterator[None]]
        ] = weakref.WeakKeyDictionary()

    # -- connection pools, one per event loop ----------------------------------------------

    async def _pool(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._pools.get(loop)
        if entry is not None:
            return entry[0]
        pool = async_pool(self._settings, self._verify)
        sentinel = self._close_with_loop(pool)
        # Starting the generator registers it with the loop, whose shutdown (asyncio.run does it)
        # then runs the generator's cleanup while the loop still works: the pool closes cleanly.
        await sentinel.__anext__()
        with self._lock:
            self._pools[loop] = (pool, sentinel)
        return pool

    async def _close_with_loop(self, pool: httpx.AsyncClient) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # The loop is looked up only now: holding it here would keep the pool table's weak
            # key alive through its own value.
            loop = asyncio.get_running_loop()
            with self._lock:
                entry = self._pools.get(loop)
                if entry is not None and entry[0] is pool:
                    del self._pools[loop]
            await pool.aclose()

    async def aclose(self) -> None:
        """Close the connections this client holds in the current event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._pools.pop(loop, None)
        if entry is not None:
            await entry[0].aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- running plans ----------------------------------------------------------------------

    async def _call(self, plan: Plan[_T] | Driven[_T]) -> _T:
        """Run an operation's plan: send its requests, wait before retries, return its result."""
        if isinstance(plan, Driven):
            return await plan.run_async(self)
        run = Run(plan, self._settings.retry, self._settings.timeout)
        step: Request | Wait | Done[_T] = run.start()
        while True:
            if isinstance(step, Request):
                try:
                    outcome = await self._send(step)
                except AuditorError as error:
                    step = run.advance(error)
                else:
                    step = run.advance(outcome)
            elif isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
                step = run.again()
            else:
                return step.value

    async def _send(self, request: Request) -> Answer:
        """One request, bounded as a whole by the timeout; no retries."""
        pool = await self._pool()
        url = self._base + request.path
        started = time.monotonic()
        try:
            with self._decoding(request):
                async with asyncio.timeout(self._settings.timeout):
                    response = await pool.send(self._build(pool, request), stream=True)
                    answer = await self._answer(request, response, url)
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            raise self._failed(error, request, url, started) from None
        self._sent(request, url, answer.status, started)
        return answer

    async def _answer(self, request: Request, response: httpx.Response, url: str) -> Answer:
        """Read a response (within the size bound) into an Answer and close it."""
        try:
            reader = self._reader(request, response, url)
            async for chunk in async_raw_chunks(response):
                if not reader.feed(chunk):
                    break
        finally:
            await response.aclose()
        return reader.finish()

    async def _exchange(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """Send a prepared write; return its status and (bounded) body, unjudged; no retries.

        For callers that judge batch answers themselves (the batch planner's drivers).
        """
        answer = await self._send(write_request(method, path, body))
        return answer.status, answer.body

    async def _stream(self, stream: RecordStream) -> AsyncIterator[Record]:
        """``iter_records``: the records of a streamed answer as they arrive."""
        pool = await self._pool()
        request = stream.request
        url = self._base + request.path
        end = stream.deadline()
        while True:
            records: RecordsReader | None = None
            try:
                response = await self._open(pool, request, url, end)
                try:
                    records = self._records(response, url)
                    chunks = async_raw_chunks(response)
                    while (chunk := await self._next(chunks, url, stream, end)) is not None:
                        for record in records.feed(chunk):
                            yield record
                    for record in records.finish():
                        yield record
                    return
                finally:
                    await response.aclose()
            except AuditorError as error:
                handed_out = 0 if records is None else records.count
                settings = self._settings
                await asyncio.sleep(
                    stream.wait_or_raise(error, handed_out, settings.retry, settings.timeout)
                )

    async def _open(
        self, pool: httpx.AsyncClient, request: Request, url: str, end: float | None
    ) -> httpx.Response:
        """Send a streamed request; return the response once a 2xx head arrived.

        Opening the stream (connecting, sending, the head, an error answer's body) is bounded as
        a whole by the timeout, as any request; only the records are bounded per chunk.
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout_at(self._open_bound(started, end)):
                response = await pool.send(self._build(pool, request), stream=True)
                if 200 <= response.status_code < 300:
                    self._sent(request, url, response.status_code, started)
                    return response
                answer = await self._answer(request, response, url)
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            raise self._failed(error, request, url, started) from None
        self._sent(request, url, answer.status, started)
        raise answer.error(request.route.method)

    async def _next(
        self, chunks: AsyncIterator[bytes], url: str, stream: RecordStream, end: float | None
    ) -> bytes | None:
        """The next raw chunk of a stream (None at its end), within the deadline."""
        try:
            async with asyncio.timeout_at(end):
                return await anext(chunks, None)
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            raise self._chunk_failed(error, url, stream, end) from None


class AuditorClientBlocking(_ClientBase, SyncAPI, ReadAPI, WriteAPI):
    """Blocking client for an AUDITOR server; build it with :class:`AuditorClientBuilder`.

    Needs no event loop.  Safe to share between threads (one connection pool, used
    concurrently).  Use it as a context manager, or call :meth:`close`, to close its
    connections.

    Example::

        client = AuditorClientBuilder().address("localhost", 8000).build_blocking()
        client.add(record)
        for record in client.iter_records(QueryBuilder().limit(10).build()):
            ...
    """

    __slots__ = ("_pool",)

    def __init__(self, *, _settings: ClientSettings) -> None:
        super().__init__(_settings=_settings)
        self._pool = blocking_pool(_settings, self._verify)  # at build time, not in a request

    def close(self) -> None:
        """Close the connections this client holds."""
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- running plans ----------------------------------------------------------------------

    def _call(self, plan: Plan[_T] | Driven[_T]) -> _T:
        """Run an operation's plan: send its requests, wait before retries, return its result."""
        if isinstance(plan, Driven):
            return plan.run_blocking(self)
        run = Run(plan, self._settings.retry, self._settings.timeout)
        step: Request | Wait | Done[_T] = run.start()
        while True:
            if isinstance(step, Request):
                try:
                    outcome = self._send(step)
                except AuditorError as error:
                    step = run.advance(error)
                else:
                    step = run.advance(outcome)
            elif isinstance(step, Wait):
                time.sleep(step.seconds)
                step = run.again()
            else:
                return step.value

    def _send(self, request: Request) -> Answer:
        """One request, bounded as a whole by the timeout in every phase; no retries."""
        pool = self._pool
        url = self._base + request.path
        started = time.monotonic()
        end = started + self._settings.timeout
        try:
            with self._decoding(request), deadline(end):
                response = pool.send(self._build(pool, request), stream=True)
                answer = self._answer(request, response, url, end)
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            raise self._failed(error, request, url, started) from None
        self._sent(request, url, answer.status, started)
        return answer

    def _answer(self, request: Request, response: httpx.Response, url: str, end: float) -> Answer:
        """Read a response (within the size bound and ``end``) into an Answer and close it."""
        try:
            reader = self._reader(request, response, url)
            for chunk in raw_chunks(response):
                if not reader.feed(chunk):
                    break
                if time.monotonic() >= end:  # a transport that ignores the deadline
                    raise TimeoutError
        finally:
            response.close()
        return reader.finish()

    def _exchange(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send a prepared write; return its status and (bounded) body, unjudged; no retries.

        For callers that judge batch answers themselves (``pyauditor send``, the batch
        planner's drivers).
        """
        answer = self._send(write_request(method, path, body))
        return answer.status, answer.body

    def _stream(self, stream: RecordStream) -> Iterator[Record]:
        """``iter_records``: the records of a streamed answer as they arrive."""
        request = stream.request
        url = self._base + request.path
        end = stream.deadline()
        while True:
            records: RecordsReader | None = None
            try:
                response = self._open(request, url, end)
                try:
                    records = self._records(response, url)
                    chunks = raw_chunks(response)
                    while (chunk := self._next(chunks, url, stream, end)) is not None:
                        yield from records.feed(chunk)
                    yield from records.finish()
                    return
                finally:
                    response.close()
            except AuditorError as error:
                handed_out = 0 if records is None else records.count
                settings = self._settings
                time.sleep(
                    stream.wait_or_raise(error, handed_out, settings.retry, settings.timeout)
                )

    def _open(self, request: Request, url: str, end: float | None) -> httpx.Response:
        """Send a streamed request; return the response once a 2xx head arrived (see
        :meth:`AuditorClient._open`)."""
        pool = self._pool
        started = time.monotonic()
        bound = self._open_bound(started, end)
        try:
            with deadline(bound):
                response = pool.send(self._build(pool, request), stream=True)
                if 200 <= response.status_code < 300:
                    self._sent(request, url, response.status_code, started)
                    return response
                answer = self._answer(request, response, url, bound)
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            raise self._failed(error, request, url, started) from None
        self._sent(request, url, answer.status, started)
        raise answer.error(request.route.method)

    def _next(
        self, chunks: Iterator[bytes], url: str, stream: RecordStream, end: float | None
    ) -> bytes | None:
        """The next raw chunk of a stream (None at its end), within the deadline."""
        try:
            with deadline(end):
                chunk = next(chunks, None)
            if end is not None and time.monotonic() >= end:
                raise TimeoutError
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            raise self._chunk_failed(error, url, stream, end) from None
        return chunk
