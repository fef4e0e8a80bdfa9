"""AuditorClient (async) and AuditorClientBlocking: thin I/O shells over the shared rules.

Everything that is not I/O (URLs, request bodies, which answers are errors, retry decisions,
stream decoding) lives in :mod:`pyauditor._protocol`, :mod:`pyauditor._stream` and
:mod:`pyauditor._records`, shared by both classes here, which only send and receive.  HTTP goes
through the generated low-level client (:mod:`pyauditor_api`), which owns the httpx connection
pools, the base URL, the TLS context and the default headers.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import ssl
import threading
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx
import pyauditor_api
from pyauditor_api.api.operations import health_check as _health_check_operation
from pyauditor_api.routes import (
    ADD_RECORD,
    BULK_ADD_RECORDS,
    GET_RECORD,
    QUERY_RECORDS,
    UPDATE_RECORD,
    add_record_path,
    bulk_add_records_path,
    health_check_path,
    query_records_path,
    update_record_path,
)

from ._errors import APIConnectionError, APIStatusError, APITimeoutError, AuditorError
from ._protocol import (
    USER_AGENT,
    RetryPolicy,
    batch_json_array,
    check_write_answer,
    record_path,
    status_error,
)
from ._records import (
    BATCH_BYTES,
    Record,
    decode_record_body,
    record_add_body,
    record_stream_decoder,
    record_update_body,
    records_wire_json,
)
from ._time import format_offset, to_naive_utc
from ._wire import gc_paused

if TYPE_CHECKING:
    from ._builder import ClientSettings

__all__ = ["AuditorClient", "AuditorClientBlocking"]

logger = logging.getLogger("pyauditor")
_T = TypeVar("_T")
_JSON_HEADERS = {"Content-Type": "application/json"}
_DEPRECATED_SINCE = (
    "{name} is deprecated since AUDITOR 0.4: use advanced_query(QueryBuilder().{field}("
    "Operator().gte(Value.set_datetime(timestamp))).build()) instead"
)


def _since_query(name: str, field: str, timestamp: object) -> str:
    """The query of get_started_since/get_stopped_since, with python-auditor's warning."""
    when = to_naive_utc(timestamp, "timestamp")
    warnings.warn(
        _DEPRECATED_SINCE.format(name=name, field=f"with_{field}"), DeprecationWarning, stacklevel=3
    )
    value = format_offset(when).replace(":", "%3A").replace("+", "%2B")
    return f"{field}[gte]={value}"


def _transport_error(error: Exception, method: str, url: str, timeout: float) -> AuditorError:
    """Translate an httpx (or asyncio) failure into pyauditor's exception tree."""
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return APITimeoutError(
            f"{method} {url} got no answer within the timeout of {timeout:g} s",
            method=method,
            url=url,
        )
    detail = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError):
        reason = f"cannot connect: {detail}"
    elif isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        reason = f"the connection broke: {detail}"
    else:
        reason = detail
    return APIConnectionError(f"{method} {url} failed: {reason}", method=method, url=url)


def _verify_context(settings: ClientSettings) -> ssl.SSLContext:
    """The TLS context of a client's connection pools."""
    if settings.ssl_context is not None:
        return settings.ssl_context
    if settings.base_url[:8].lower() == "https://":
        return httpx.create_ssl_context()  # httpx's default trust store
    # Plain HTTP never negotiates TLS (redirects are not followed).  A context with
    # verification on but no trusted CA costs nothing to make and would refuse any TLS peer.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _next_wait(policy: RetryPolicy, error: Exception, retries_done: int) -> float | None:
    """The policy's wait before retrying a read, logged; None when the error is final."""
    wait = policy.wait_before_retry(error, retries_done)
    if wait is not None:
        logger.info(
            "retrying in %.2f s (retry %d of %d) after: %s",
            wait,
            retries_done + 1,
            policy.max_retries,
            error,
        )
    return wait


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
    """What both clients share: configuration, request building, answer handling."""

    __slots__ = ("__weakref__", "_base", "_settings", "_verify")

    def __init__(self, *, _settings: ClientSettings) -> None:
        self._settings = _settings
        self._base = _settings.base_url
        # Made once, at build time like python-auditor's TLS set-up, not in the first request:
        # httpx would otherwise load its CA bundle for every pool it creates (about 20 ms).
        self._verify = _verify_context(_settings)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._base}>"

    def _generated(self) -> pyauditor_api.Client:
        """A generated low-level client configured from the settings (owns its httpx pools)."""
        settings = self._settings
        return pyauditor_api.Client(
            base_url=self._base,
            timeout=httpx.Timeout(settings.timeout),
            verify_ssl=self._verify,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            raise_on_unexpected_status=False,
        )

    def _url(self, path: str) -> str:
        return self._base + path

    @staticmethod
    def _query_path(query_string: str) -> str:
        # Verbatim, as python-auditor: QueryBuilder.build() output is already encoded, and a
        # hand-written string is sent as the caller wrote it (httpx only escapes what a URL
        # cannot carry, as reqwest does).
        if not isinstance(query_string, str):
            raise TypeError(f"'{type(query_string).__name__}' object is not an instance of 'str'")
        return query_records_path(query=query_string)

    @staticmethod
    def _bulk_bodies(records: Iterable[Record]) -> Iterator[tuple[int, int, bytes]]:
        # Every record is validated (records_wire_json returns a list) before the first body
        # is sent, so a bad record never leaves a partial upload behind.
        return batch_json_array(records_wire_json(records))


class AuditorClient(_ClientBase):
    """Async client for an AUDITOR server; build it with :class:`AuditorClientBuilder`.

    Every method is a coroutine.  One client can be shared by many tasks and keeps working
    across successive ``asyncio.run()`` calls (each event loop gets its own connection pool,
    closed when that loop shuts down).  Use it as an async context manager, or call
    :meth:`aclose`, to close the current loop's connections early.

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
            asyncio.AbstractEventLoop, tuple[pyauditor_api.Client, AsyncIterator[None]]
        ] = weakref.WeakKeyDictionary()

    # -- connection pools, one per event loop ----------------------------------------------

    async def _client(self) -> pyauditor_api.Client:
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._pools.get(loop)
        if entry is not None:
            return entry[0]
        generated = self._generated()
        sentinel = self._close_with_loop(generated)
        # Starting the generator registers it with the loop, whose shutdown (asyncio.run does it)
        # then runs the generator's cleanup while the loop still works: the pool closes cleanly.
        await sentinel.__anext__()
        with self._lock:
            self._pools[loop] = (generated, sentinel)
        return generated

    async def _close_with_loop(self, generated: pyauditor_api.Client) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # The loop is looked up only now: holding it here would keep the pool table's weak
            # key alive through its own value.
            loop = asyncio.get_running_loop()
            with self._lock:
                entry = self._pools.get(loop)
                if entry is not None and entry[0] is generated:
                    del self._pools[loop]
            await generated.get_async_httpx_client().aclose()

    async def aclose(self) -> None:
        """Close the connections this client holds in the current event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._pools.pop(loop, None)
        if entry is not None:
            await entry[0].get_async_httpx_client().aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- sending ----------------------------------------------------------------------------

    async def _exchange(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """One request whose whole duration is bounded by the timeout; no retries."""
        client = (await self._client()).get_async_httpx_client()
        url = self._url(path)
        timeout = self._settings.timeout
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                response = await client.request(
                    method, url, content=body, headers=_JSON_HEADERS if body is not None else None
                )
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            logger.debug(
                "%s %s failed after %.3f s: %r", method, url, time.monotonic() - started, error
            )
            raise _transport_error(error, method, url, timeout) from None
        logger.debug(
            "%s %s -> %d in %.3f s", method, url, response.status_code, time.monotonic() - started
        )
        return response.status_code, response.content

    async def _send_body(self, method: str, path: str, body: bytes) -> None:
        """Send a JSON body (POST /record, POST /records, PUT /record); raise on any failure.

        Used by the queued client, which does its own retrying; never retries by itself.
        """
        status, answer = await self._exchange(method, path, body)
        check_write_answer(status, answer, method, self._url(path))

    async def _with_retries(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        retries = 0
        while True:
            try:
                return await attempt()
            except (APIConnectionError, APIStatusError) as error:
                wait = _next_wait(self._settings.retry, error, retries)
                if wait is None:
                    raise
                retries += 1
                await asyncio.sleep(wait)

    @asynccontextmanager
    async def _open_stream(
        self, path: str, *, whole_timeout: bool
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        client = (await self._client()).get_async_httpx_client()
        url = self._url(path)
        timeout = self._settings.timeout
        try:
            async with asyncio.timeout(timeout if whole_timeout else None) as deadline:
                request = client.build_request(QUERY_RECORDS.method, url)
                response = await client.send(request, stream=True)
                try:
                    if not 200 <= response.status_code < 300:
                        await response.aread()
                        raise status_error(response.status_code, response.content, "GET", url)
                    if not whole_timeout:
                        # The streaming API bounds each chunk (httpx's read timeout), not the
                        # whole result, so long results are not cut off.
                        deadline.reschedule(None)
                    yield response.aiter_bytes()
                finally:
                    await response.aclose()
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            raise _transport_error(error, "GET", url, timeout) from None

    async def _query(self, path: str) -> list[Record]:
        async def attempt() -> list[Record]:
            records: list[Record] = []
            extend = records.extend
            decoder = record_stream_decoder(batch_bytes=BATCH_BYTES)
            # A bounded result (whole-request timeout): see gc_paused for why.
            with gc_paused():
                async with self._open_stream(path, whole_timeout=True) as chunks:
                    async for chunk in chunks:
                        extend(decoder.feed(chunk))
                extend(decoder.finish())
            return records

        return await self._with_retries(attempt)

    # -- the API ----------------------------------------------------------------------------

    async def health_check(self) -> bool:
        """Return True if the server answers its health check with a 2xx status.

        Never raises: a refused connection, a timeout or an error status give False.
        """

        async def attempt() -> bool:
            client = await self._client()
            url = self._url(health_check_path())
            try:
                async with asyncio.timeout(self._settings.timeout):
                    response = await _health_check_operation.asyncio_detailed(client=client)
            except (httpx.HTTPError, TimeoutError, OSError) as error:
                raise _transport_error(error, "GET", url, self._settings.timeout) from None
            if not 200 <= response.status_code < 400:
                raise status_error(response.status_code, response.content, "GET", url)
            return 200 <= response.status_code < 300

        try:
            return await self._with_retries(attempt)
        except AuditorError as error:
            logger.info("health check failed: %s", error)
            return False

    async def add(self, record: Record) -> None:
        """Store one record (``POST /record``).

        Raises:
            ValidationError: the record (its meta) breaks a rule; nothing was sent.
            RecordExistsError: the server already has a record with this id.
            APIStatusError: any other error answer (python-auditor reports those as success).
            APIConnectionError: no answer (APITimeoutError after the timeout).
        """
        if not isinstance(record, Record):
            raise TypeError(f"'{type(record).__name__}' object is not an instance of 'Record'")
        await self._send_body(
            ADD_RECORD.method, add_record_path(), record_add_body(record).encode("utf-8")
        )

    async def bulk_insert(self, records: Iterable[Record]) -> None:
        """Store many records (``POST /records``), split into requests under the 2 MiB limit.

        Each request is all-or-nothing on the server.  If one fails, the requests before it
        were stored, it and the ones after it were not; the exception's ``records_stored``
        attribute says how many records (from the start of ``records``) are stored, so
        ``records[error.records_stored:]`` is what remains to be sent.

        Raises:
            ValidationError: a record breaks a rule; nothing was sent.
            RecordExistsError: a record id is already stored (or repeated within a request).
            APIStatusError: any other error answer.
            APIConnectionError: no answer; whether that request was stored is unknown.
        """
        for start, _stop, body in self._bulk_bodies(records):
            try:
                await self._send_body(BULK_ADD_RECORDS.method, bulk_add_records_path(), body)
            except AuditorError as error:
                error.records_stored = start
                raise

    async def update(self, record: Record) -> None:
        """Set the stop time of a stored record (``PUT /record``); only stop_time changes.

        Raises:
            ValidationError: the record has no stop time or breaks a rule; nothing was sent.
            NotFoundError: the server has no record with this id.
            APIStatusError: any other error answer.
            APIConnectionError: no answer.
        """
        if not isinstance(record, Record):
            raise TypeError(f"'{type(record).__name__}' object is not an instance of 'Record'")
        await self._send_body(
            UPDATE_RECORD.method, update_record_path(), record_update_body(record).encode("utf-8")
        )

    async def get(self) -> list[Record]:
        """Return every record the server stores, ordered by stop time."""
        return await self._query(query_records_path())

    async def get_started_since(self, timestamp: Any) -> list[Record]:
        """Return the records that started at or after ``timestamp`` (deprecated).

        Use :meth:`advanced_query` with ``start_time[gte]`` instead.  ``timestamp`` must be
        timezone-aware; it is converted to UTC.
        """
        return await self._query(
            self._query_path(_since_query("get_started_since", "start_time", timestamp))
        )

    async def get_stopped_since(self, timestamp: Any) -> list[Record]:
        """Return the records that stopped at or after ``timestamp`` (deprecated).

        Use :meth:`advanced_query` with ``stop_time[gte]`` instead.  ``timestamp`` must be
        timezone-aware; it is converted to UTC.
        """
        return await self._query(
            self._query_path(_since_query("get_stopped_since", "stop_time", timestamp))
        )

    async def advanced_query(self, query_string: str) -> list[Record]:
        """Return the records matching a query built with :class:`QueryBuilder`.

        Example::

            query = QueryBuilder().with_start_time(Operator().gte(Value.set_datetime(since))).build()
            records = await client.advanced_query(query)

        For large results prefer :meth:`iter_records`, which does not hold them all in memory.
        """
        return await self._query(self._query_path(query_string))

    async def iter_records(self, query_string: str = "") -> AsyncIterator[Record]:
        """Yield the records matching ``query_string`` one by one as they arrive.

        Memory stays bounded however large the result; the timeout bounds the wait for each
        chunk rather than the whole result.  Connection failures before the first record are
        retried like other reads; after it they raise (records already yielded stay valid).

        Example::

            async for record in client.iter_records(QueryBuilder().build()):
                ...
        """
        path = self._query_path(query_string)
        retry = 0
        policy = self._settings.retry
        while True:
            # A fresh decoder per attempt: a failed one may hold the start of a record.
            decoder = record_stream_decoder()
            try:
                async with self._open_stream(path, whole_timeout=False) as chunks:
                    async for chunk in chunks:
                        for record in decoder.feed(chunk):
                            yield record
                break
            except (APIConnectionError, APIStatusError) as error:
                wait = None if decoder.count else _next_wait(policy, error, retry)
                if wait is None:
                    raise
                retry += 1
                await asyncio.sleep(wait)
        for record in decoder.finish():
            yield record

    async def get_single_record(self, record_id: str) -> Record:
        """Return the record with this id (``GET /record/{record_id}``).

        The id is percent-encoded, so ids containing ``/``, ``?`` or ``#`` work.

        Raises:
            ServerError: the server does not have it (AUDITOR answers 500, not 404).
            ResponseDecodeError: the answer is not a record.
        """
        if not isinstance(record_id, str):
            raise TypeError(f"'{type(record_id).__name__}' object is not an instance of 'str'")
        path = record_path(record_id)

        async def attempt() -> Record:
            status, body = await self._exchange(GET_RECORD.method, path)
            if not 200 <= status < 300:
                raise status_error(status, body, "GET", self._url(path))
            return _single_record(body, self._url(path))

        return await self._with_retries(attempt)

    get_one_record = get_single_record


def _single_record(body: bytes, url: str) -> Record:
    """The record in the body of ``GET /record/{id}``: exactly one JSON object."""
    return decode_record_body(body, f"GET {url}")


class AuditorClientBlocking(_ClientBase):
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

    __slots__ = ("_client_lock", "_generated_client")

    def __init__(self, *, _settings: ClientSettings) -> None:
        super().__init__(_settings=_settings)
        self._generated_client = self._generated()
        self._client_lock = threading.Lock()
        self._httpx()  # the pool is made at build time, not in the first request

    def _httpx(self) -> httpx.Client:
        # The generated client creates its httpx.Client lazily; the lock keeps two threads from
        # creating two of them.
        with self._client_lock:
            return self._generated_client.get_httpx_client()

    def close(self) -> None:
        """Close the connections this client holds."""
        self._httpx().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- sending ----------------------------------------------------------------------------

    @contextmanager
    def _response(
        self, method: str, path: str, body: bytes | None, *, whole_timeout: bool
    ) -> Iterator[tuple[int, Iterator[bytes]]]:
        """Send a request; yield its status and its body as chunks; translate failures."""
        client = self._httpx()
        url = self._url(path)
        timeout = self._settings.timeout
        # httpx bounds each network operation; a deadline checked between chunks bounds the
        # whole request (to within one read timeout) as python-auditor's timeout does.
        deadline = time.monotonic() + timeout if whole_timeout else None
        started = time.monotonic()
        try:
            request = client.build_request(
                method, url, content=body, headers=_JSON_HEADERS if body is not None else None
            )
            response = client.send(request, stream=True)
            try:
                logger.debug(
                    "%s %s -> %d in %.3f s",
                    method,
                    url,
                    response.status_code,
                    time.monotonic() - started,
                )
                yield (
                    response.status_code,
                    self._chunks(response.iter_bytes(), deadline, method, url),
                )
            finally:
                response.close()
        except (httpx.HTTPError, OSError) as error:
            logger.debug(
                "%s %s failed after %.3f s: %r", method, url, time.monotonic() - started, error
            )
            raise _transport_error(error, method, url, timeout) from None

    def _chunks(
        self, chunks: Iterator[bytes], deadline: float | None, method: str, url: str
    ) -> Iterator[bytes]:
        for chunk in chunks:
            if deadline is not None and time.monotonic() > deadline:
                raise APITimeoutError(
                    f"{method} {url} did not complete within the timeout of {self._settings.timeout:g} s",
                    method=method,
                    url=url,
                )
            yield chunk

    def _exchange(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request whose whole duration is bounded by the timeout; no retries."""
        with self._response(method, path, body, whole_timeout=True) as (status, chunks):
            return status, b"".join(chunks)

    def _send_body(self, method: str, path: str, body: bytes) -> None:
        """Send a JSON body (POST /record, POST /records, PUT /record); raise on any failure."""
        status, answer = self._exchange(method, path, body)
        check_write_answer(status, answer, method, self._url(path))

    def _with_retries(self, attempt: Callable[[], _T]) -> _T:
        retries = 0
        while True:
            try:
                return attempt()
            except (APIConnectionError, APIStatusError) as error:
                wait = _next_wait(self._settings.retry, error, retries)
                if wait is None:
                    raise
                retries += 1
                time.sleep(wait)

    def _record_batches(self, path: str, *, whole_timeout: bool) -> Iterator[list[Record]]:
        """The records of a GET /records answer, a list per chunk received."""
        decoder = record_stream_decoder(batch_bytes=BATCH_BYTES if whole_timeout else 0)
        url = self._url(path)
        with self._response(QUERY_RECORDS.method, path, None, whole_timeout=whole_timeout) as (
            status,
            chunks,
        ):
            if not 200 <= status < 300:
                raise status_error(status, b"".join(chunks), "GET", url)
            for chunk in chunks:
                yield decoder.feed(chunk)
        yield decoder.finish()

    def _query(self, path: str) -> list[Record]:
        def attempt() -> list[Record]:
            records: list[Record] = []
            # A bounded result (whole-request timeout): see gc_paused for why.
            with gc_paused():
                for batch in self._record_batches(path, whole_timeout=True):
                    records += batch
            return records

        return self._with_retries(attempt)

    # -- the API ----------------------------------------------------------------------------

    def health_check(self) -> bool:
        """Return True if the server answers its health check with a 2xx status.

        Never raises: a refused connection, a timeout or an error status give False.
        """
        url = self._url(health_check_path())

        def attempt() -> bool:
            try:
                response = _health_check_operation.sync_detailed(client=self._generated_client)
            except (httpx.HTTPError, OSError) as error:
                raise _transport_error(error, "GET", url, self._settings.timeout) from None
            if not 200 <= response.status_code < 400:
                raise status_error(response.status_code, response.content, "GET", url)
            return 200 <= response.status_code < 300

        try:
            self._httpx()
            return self._with_retries(attempt)
        except AuditorError as error:
            logger.info("health check failed: %s", error)
            return False

    def add(self, record: Record) -> None:
        """Store one record (``POST /record``); see :meth:`AuditorClient.add`."""
        if not isinstance(record, Record):
            raise TypeError(f"'{type(record).__name__}' object is not an instance of 'Record'")
        self._send_body(
            ADD_RECORD.method, add_record_path(), record_add_body(record).encode("utf-8")
        )

    def bulk_insert(self, records: Iterable[Record]) -> None:
        """Store many records (``POST /records``) in requests under the 2 MiB limit.

        See :meth:`AuditorClient.bulk_insert` for what happens when one request fails.
        """
        for start, _stop, body in self._bulk_bodies(records):
            try:
                self._send_body(BULK_ADD_RECORDS.method, bulk_add_records_path(), body)
            except AuditorError as error:
                error.records_stored = start
                raise

    def update(self, record: Record) -> None:
        """Set the stop time of a stored record (``PUT /record``); see :meth:`AuditorClient.update`."""
        if not isinstance(record, Record):
            raise TypeError(f"'{type(record).__name__}' object is not an instance of 'Record'")
        self._send_body(
            UPDATE_RECORD.method, update_record_path(), record_update_body(record).encode("utf-8")
        )

    def get(self) -> list[Record]:
        """Return every record the server stores, ordered by stop time."""
        return self._query(query_records_path())

    def get_started_since(self, timestamp: Any) -> list[Record]:
        """Return the records that started at or after ``timestamp`` (deprecated)."""
        return self._query(
            self._query_path(_since_query("get_started_since", "start_time", timestamp))
        )

    def get_stopped_since(self, timestamp: Any) -> list[Record]:
        """Return the records that stopped at or after ``timestamp`` (deprecated)."""
        return self._query(
            self._query_path(_since_query("get_stopped_since", "stop_time", timestamp))
        )

    def advanced_query(self, query_string: str) -> list[Record]:
        """Return the records matching a query built with :class:`QueryBuilder`.

        For large results prefer :meth:`iter_records`, which does not hold them all in memory.
        """
        return self._query(self._query_path(query_string))

    def iter_records(self, query_string: str = "") -> Iterator[Record]:
        """Yield the records matching ``query_string`` one by one as they arrive.

        Memory stays bounded however large the result; the timeout bounds the wait for each
        chunk rather than the whole result.  Failures before the first record are retried like
        other reads; after it they raise (records already yielded stay valid).
        """
        path = self._query_path(query_string)
        policy = self._settings.retry
        retry = 0
        while True:
            yielded = 0
            try:
                for batch in self._record_batches(path, whole_timeout=False):
                    for record in batch:
                        yielded += 1
                        yield record
                return
            except (APIConnectionError, APIStatusError) as error:
                wait = None if yielded else _next_wait(policy, error, retry)
                if wait is None:
                    raise
                retry += 1
                time.sleep(wait)

    def get_single_record(self, record_id: str) -> Record:
        """Return the record with this id; see :meth:`AuditorClient.get_single_record`."""
        if not isinstance(record_id, str):
            raise TypeError(f"'{type(record_id).__name__}' object is not an instance of 'str'")
        path = record_path(record_id)

        def attempt() -> Record:
            status, body = self._exchange(GET_RECORD.method, path)
            if not 200 <= status < 300:
                raise status_error(status, body, "GET", self._url(path))
            return _single_record(body, self._url(path))

        return self._with_retries(attempt)

    get_one_record = get_single_record
