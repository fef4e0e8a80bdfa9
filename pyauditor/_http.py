"""The httpx side of both clients: connection pools, transports, deadlines, failures.

What the shells in :mod:`pyauditor._client` share about httpx, so that they hold only their
send loops:

* :func:`blocking_pool` and :func:`async_pool` make the httpx clients (connection pools) from
  the settings: TLS context, headers, per-operation timeouts, and a transport given to the
  builder (kept the caller's: closing a pyauditor client does not close it).
* The blocking client's whole-request deadline.  httpx bounds each socket operation by its
  timeout, not a request as a whole, so a server that sends its answer one byte at a time
  holds a blocking caller indefinitely.  :func:`deadline` sets the instant a request must be
  done by; the network streams of the pool bound every connect, read and write by what is left
  of it (:class:`_DeadlineBackend`).  The async client uses ``asyncio.timeout_at`` instead.
* :func:`raw_chunks` and :func:`async_raw_chunks` read a body; a chunked one is handed over
  in as few pieces as it arrived in (:class:`_CoalescedChunks`).
* :func:`transport_error` turns httpx's exceptions into pyauditor's.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import h11
import httpcore
import httpx
from h11._readers import ChunkedReader
from h11._receivebuffer import ReceiveBuffer

from ._errors import APIConnectionError, AuditorError
from ._hints import connection_hint
from ._protocol import ACCEPT_ENCODING, USER_AGENT, timeout_error
from ._settings import ClientSettings

__all__ = [
    "async_pool",
    "async_raw_chunks",
    "blocking_pool",
    "deadline",
    "encoding_of",
    "has_deadline_streams",
    "raw_chunks",
    "reads_ahead",
    "transport_error",
    "verify_context",
]

logger = logging.getLogger("pyauditor")

HEADERS = {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING}
JSON_BODY = {"Content-Type": "application/json"}

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pyauditor_deadline", default=None
)
_WRITE_STEP = 64 * 1024
# httpcore's HTTP/1.1 and HTTP/2 connections read 64 KiB at a time, into a parser that buffers
# whatever it gets.  asyncio's transports read 256 KiB at a time, and anyio cuts that into
# pieces of the size asked for, copying the rest each time (see _ReadAheadStream).  The
# blocking client's sockets read 256 KiB as well: a quarter of the reads, each of which goes
# through httpcore, the deadline and h11.
_PARSER_READ = 64 * 1024
_READ_AHEAD = 256 * 1024


def _read_size(max_bytes: int) -> int:
    """How much to read when asked for ``max_bytes``: a parser's reads are enlarged to
    _READ_AHEAD; smaller ones (a SOCKS handshake's, which must not read past its reply) stay
    exact."""
    return _READ_AHEAD if _PARSER_READ <= max_bytes < _READ_AHEAD else max_bytes


@contextlib.contextmanager
def deadline(end: float | None) -> Iterator[None]:
    """Bound the blocking network operations in this block by ``end`` (a monotonic instant).

    Set around each step that waits for the network (sending a request, reading a chunk), never
    across a ``yield``: a generator may be resumed in another thread or context.
    """
    token = _DEADLINE.set(end)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of the current deadline."""
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the current deadline (and whose parser
    reads take 256 KiB, see _read_size)."""

    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(_read_size(max_bytes), _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # In steps, so that a server reading slowly cannot stretch one write past the deadline.
        view = memoryview(buffer)
        for start in range(0, len(view), _WRITE_STEP) or (0,):
            piece = bytes(view[start : start + _WRITE_STEP])
            self._inner.write(piece, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Opens :class:`_DeadlineStream` connections (connecting is bounded too)."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _ReadAheadStream(httpcore.AsyncNetworkStream):
    """An async network stream that reads what asyncio has read, whole, for a parser.

    For a 47 MB answer, anyio's 64 KiB pieces of asyncio's 256 KiB reads cost 0.08 s of CPU;
    reading 256 KiB when httpcore's HTTP connection asks for 64 KiB costs 0.05 s (see
    _read_size).
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(_read_size(max_bytes), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
    ) -> httpcore.AsyncNetworkStream:
        return _ReadAheadStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _ReadAheadBackend(httpcore.AsyncNetworkBackend):
    """Opens :class:`_ReadAheadStream` connections."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ReadAheadStream(
            await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ReadAheadStream(
            await self._inner.connect_unix_socket(path, timeout, socket_options)
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# httpx has no public way to choose the network backend of its transports, so the pools' streams
# are wrapped by reaching into private attributes (httpx's ``_transport``/``_mounts`` and
# ``_pool``, httpcore's ``_network_backend``), pinned by ``httpx<0.29``; tests/clients check
# that it took effect.  Transports that are not httpx's own (a ``MockTransport``) are left
# alone: for them the deadline is checked between chunks.


def _wrap_backends(client: httpx.Client | httpx.AsyncClient, base: type, wrapper: type) -> None:
    """Wrap the network backend of every httpcore pool of ``client`` (see _wrap_backend)."""
    for transport in (client._transport, *client._mounts.values()):
        _wrap_backend(transport, base, wrapper)


def _wrap_backend(transport: object, base: type, wrapper: type) -> None:
    """Give the httpcore pool of ``transport`` (if it has one) a ``wrapper`` of its backend, once,
    when that backend is a ``base``."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, base) and not isinstance(backend, wrapper):
        pool._network_backend = wrapper(backend)  # type: ignore[union-attr]


def _wraps_backend(client: httpx.Client | httpx.AsyncClient, wrapper: type) -> bool:
    pool = getattr(client._transport, "_pool", None)
    return isinstance(getattr(pool, "_network_backend", None), wrapper)


def has_deadline_streams(client: httpx.Client) -> bool:
    """True if the default transport of ``client`` bounds its streams by the deadline."""
    return _wraps_backend(client, _DeadlineBackend)


class _Borrowed(httpx.BaseTransport):
    """A transport given to the builder: used, never closed (it stays the caller's)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


class _AsyncBorrowed(httpx.AsyncBaseTransport):
    """An async transport given to the builder: used, never closed."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


def verify_context(settings: ClientSettings) -> ssl.SSLContext:
    """The TLS context of a client's connection pools."""
    if settings.ssl_context is not None:
        return settings.ssl_context
    if settings.base_url[:8].lower() == "https://":
        return httpx.create_ssl_context()  # httpx's default trust store
    # Plain HTTP never negotiates TLS (redirects are not followed).  A context with
    # verification on but no trusted CA costs nothing to make and would refuse any TLS peer.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def blocking_pool(settings: ClientSettings, verify: ssl.SSLContext) -> httpx.Client:
    """The blocking client's connection pool."""
    given = settings.transport
    client = httpx.Client(
        timeout=httpx.Timeout(settings.timeout),
        verify=verify,
        headers=HEADERS,
        follow_redirects=False,
        transport=None if given is None else _Borrowed(given),
    )
    _wrap_backends(client, httpcore.NetworkBackend, _DeadlineBackend)
    # A transport of httpx's own given to the builder (a proxy, say) gets the deadline too.
    _wrap_backend(given, httpcore.NetworkBackend, _DeadlineBackend)
    return client


def async_pool(settings: ClientSettings, verify: ssl.SSLContext) -> httpx.AsyncClient:
    """A connection pool of the async client (it makes one per event loop)."""
    given = settings.async_transport
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout),
        verify=verify,
        headers=HEADERS,
        follow_redirects=False,
        transport=None if given is None else _AsyncBorrowed(given),
    )
    # A transport given to the builder stays as its owner made it: a speed-up is not worth
    # changing it (the blocking deadline is).
    _wrap_backends(client, httpcore.AsyncNetworkBackend, _ReadAheadBackend)
    return client


def reads_ahead(client: httpx.AsyncClient) -> bool:
    """True if the default transport of ``client`` reads what asyncio has read, whole."""
    return _wraps_backend(client, _ReadAheadBackend)


# A transport may build its responses in memory (httpx.MockTransport, custom ones): httpx then
# reads and decodes the body before the client sees it, and its raw stream is gone.


def encoding_of(response: httpx.Response) -> str | None:
    """The ``Content-Encoding`` the raw chunks still have (none for a body read already)."""
    return None if response.is_stream_consumed else response.headers.get("content-encoding")


# A chunk header as AUDITOR (actix-web) writes it: hex digits, no extension, no whitespace.
_PLAIN_CHUNK_HEAD = re.compile(rb"([0-9A-Fa-f]{1,20})\r\n").match
_CRLF = b"\r\n"
# The shortcut reads and sets the state of h11's reader and its receive buffer: only if they
# have the state of the h11 versions it was written for.
_PLAIN_CHUNKS_OK = all(
    hasattr(ChunkedReader(), name)
    for name in ("_bytes_in_chunk", "_bytes_to_discard", "_reading_trailer")
) and all(
    hasattr(ReceiveBuffer(), name)
    for name in ("_data", "_next_line_search", "_multiple_lines_search")
)
# How much one event joins at most (a single larger chunk, or a piece of it, is one event):
# pieces of up to twice this stay below glibc's threshold for mapping memory fresh (128 KiB),
# which costs page faults (see BATCH_BYTES).
_EVENT_BYTES = 64 * 1024


class _CoalescedChunks:
    """h11's reader of a chunked body that hands over everything received in few events.

    AUDITOR streams every record as its own HTTP chunk.  h11 makes an event of each, and
    httpcore, httpx and the records reader pass each one on: for 100k records, 0.5 s of a 1 s
    ``get()``; h11's parsing of each chunk was most of the rest.  And h11 takes every piece
    off the front of its receive buffer on its own, copying it twice, and then the rest of the
    buffer as well whenever that shrinks to half.  So:

    * chunks in AUDITOR's plain form (a hex size, the data, CRLF) are parsed here, in one loop
      over all the buffer holds (:meth:`_take`): whole ones, the part of the last one that has
      arrived, and the rest of one whose start came in an earlier read.  Their data is joined
      into events of about 64 KiB, and the buffer loses what was taken at once;
    * anything else (an extension, the last chunk and its trailer, a malformed chunk, a footer
      that has not fully arrived) is h11's own reader's, which raises for what is malformed;
    * events wait in a queue, and the end or an error that follows data comes after it, so
      data that arrived before a problem is still handed over first.
    """

    __slots__ = ("_inner", "_queue")

    def __init__(self, inner: ChunkedReader) -> None:
        self._inner = inner
        self._queue: deque[h11.Data | h11.EndOfMessage | h11.ProtocolError] = deque()

    def __call__(self, buf: Any) -> h11.Data | h11.EndOfMessage | None:
        queue = self._queue
        if not queue:
            self._fill(buf)
            if not queue:
                return None
        item = queue.popleft()
        if isinstance(item, h11.ProtocolError):
            raise item
        return item

    def _fill(self, buf: Any) -> None:
        """Queue what ``buf`` holds: data events, and the end or an error after them."""
        inner = self._inner
        queue = self._queue
        plain = _PLAIN_CHUNKS_OK
        payloads: list[bytes] = []
        while True:
            if plain:
                self._take(buf, payloads)
            try:
                event = inner(buf)
            except h11.ProtocolError as error:
                if not payloads:
                    raise
                end: h11.EndOfMessage | h11.ProtocolError | None = error
                break
            if event is None:
                end = None
                break
            if not isinstance(event, h11.Data):
                end = event
                break
            payloads.append(bytes(event.data))
        # Neighbours that fit together are one event (h11's pieces are small).
        joined: list[bytes] = []
        size = 0
        for payload in payloads:
            if joined and size + len(payload) <= _EVENT_BYTES:
                joined[-1] += payload
                size += len(payload)
            else:
                joined.append(payload)
                size = len(payload)
        queue.extend(h11.Data(data=payload) for payload in joined)
        if end is not None:
            queue.append(end)

    def _take(self, buf: Any, payloads: list[bytes]) -> None:
        """Take the plain chunks at the front of ``buf`` (see the class doc) into
        ``payloads``, and leave h11's reader in the state it would have after taking them."""
        inner = self._inner
        data = buf._data
        if data.__class__ is not bytearray or inner._reading_trailer:
            return
        end = len(data)
        position = 0
        discard = inner._bytes_to_discard
        if discard:
            if not data.startswith(discard):
                return  # h11 checks what ends the chunk (or waits for the rest of it)
            position = len(discard)
            discard = b""
        view = memoryview(data)
        group: list[memoryview] = []
        size = 0
        left = inner._bytes_in_chunk  # of a chunk whose start was taken already
        try:
            while position < end:
                if left:
                    start = position
                else:
                    head = _PLAIN_CHUNK_HEAD(data, position)
                    if head is None:
                        break  # not plain, malformed, or not fully here: h11's
                    left = int(head[1], 16)
                    if not left:
                        break  # the last chunk: h11 reads the trailer
                    start = head.end()
                stop = start + left
                if size + left > _EVENT_BYTES and group:
                    payloads.append(b"".join(group))
                    group = []
                    size = 0
                if stop > end:
                    # The chunk goes on in data not received yet.
                    if start < end:
                        group.append(view[start:end])
                    left = stop - end
                    position = end
                    break
                group.append(view[start:stop])
                size += stop - start
                left = 0
                if not data.startswith(_CRLF, stop):
                    position = stop
                    discard = _CRLF  # h11 checks the footer, or waits for it
                    break
                position = stop + 2
            if group:
                payloads.append(b"".join(group))
        finally:
            group = []
            view.release()
        if position:
            del data[:position]
            buf._next_line_search = 0
            buf._multiple_lines_search = 0
            inner._bytes_in_chunk = left
            inner._bytes_to_discard = discard

    def read_eof(self) -> Any:
        return self._inner.read_eof()


def _coalesce_chunks(response: httpx.Response) -> None:
    """Have the h11 connection of ``response`` hand over its chunked body coalesced.

    httpx has no public way to reach the HTTP parser, so this follows private attributes of
    httpx, httpcore and h11 (httpx pinned <0.29); when any of them is not as expected the body
    is read as before.  tests/clients check that it takes effect.
    """
    bound = getattr(response.stream, "_stream", None)  # httpx's BoundSyncStream/BoundAsyncStream
    stream = getattr(bound, "_httpcore_stream", None)  # httpx's (Async)ResponseStream
    connection = getattr(getattr(stream, "_stream", None), "_connection", None)
    state = getattr(connection, "_h11_state", None)
    reader = getattr(state, "_reader", None)
    if reader.__class__ is ChunkedReader:
        state._reader = _CoalescedChunks(reader)  # type: ignore[union-attr]


def raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body as it came off the wire, in chunks (or the body a transport built)."""
    if response.is_stream_consumed:
        return iter((response.content,))
    _coalesce_chunks(response)
    return response.iter_raw()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def async_raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as it came off the wire, in chunks (or the body a transport built)."""
    if response.is_stream_consumed:
        return _one(response.content)
    _coalesce_chunks(response)
    return response.aiter_raw()


def transport_error(
    error: BaseException, method: str, url: str, timeout: float, *, whole: bool = True
) -> AuditorError:
    """Translate an httpx (or asyncio) failure into pyauditor's exception tree."""
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return timeout_error(method, url, timeout, whole=whole)
    detail = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError):
        reason = f"cannot connect: {detail}"
    elif isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        reason = f"the connection broke: {detail}"
    else:
        reason = detail
    hint = connection_hint(detail, url)
    if hint is not None:
        reason = f"{reason}; {hint}"
    return APIConnectionError(f"{method} {url} failed: {reason}", method=method, url=url)
