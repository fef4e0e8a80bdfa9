"""A small threaded HTTP/1.1 server: one accept thread per listener, a bounded pool of workers.

It is written on plain sockets (no ``http.server``) because the embedded AUDITOR needs things
the standard handler hides or changes: the raw request target (``http.server`` rewrites a
leading ``//``), chunked request bodies, chunked streamed answers, body limits checked before a
body is read, TLS handshakes off the accept thread, and fault injection at the byte level
(resets after a number of bytes, truncated streams, refused connections).

It is also built to outlive hostile clients and an exhausted machine: every request must
arrive whole within a deadline (a client trickling bytes cannot hold a worker), workers are
bounded (:mod:`._workers`), a saturated server answers ``503`` from the accept loop, and the
accept loop survives anything (no threads left, no file descriptors left, no memory).
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import selectors
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import BinaryIO, cast

from ._workers import WorkerPool

__all__ = [
    "BodyTooLarge",
    "HttpRequest",
    "HttpResponse",
    "Listener",
    "RequestTimeout",
    "Timeouts",
]

_log = logging.getLogger("pyauditor.testing")

_MAX_LINE = 65_536
_MAX_HEADERS = 100
_STREAM_CHUNK = 32_768
# An unread body up to this size is read and dropped so that the client, still sending, sees
# the answer (a 413 for example) instead of a reset; a larger one ends the connection.
_DRAIN_LIMIT = 64 << 20
# An idle keep-alive connection checks this often whether connections wait for its worker.
_IDLE_POLL_S = 0.5
# A refused connection (503) is read and dropped for this long before it is closed, so that
# closing it with unread request bytes does not reset it before the client reads the 503.
_LINGER_S = 2.0
_MAX_LINGERING = 256
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\n"
    b"connection: close\r\n\r\n"
)


@dataclass(frozen=True)
class Timeouts:
    """How long the server waits for its clients, in seconds.

    Attributes:
        keep_alive: For the first byte of the next request on an open connection (actix-web's
            default keep-alive is 5 s); then the connection is closed.
        request: For a whole request, head and body, from its first byte, and for a TLS
            handshake; then the answer is ``408`` and the connection is closed.
        write: For any progress while sending an answer; then the connection is dropped.
    """

    keep_alive: float = 5.0
    request: float = 30.0
    write: float = 30.0


class BodyTooLarge(Exception):
    """The request body is larger than the limit.

    Attributes:
        length: The declared ``Content-Length``, or ``None`` when the body was chunked.
    """

    def __init__(self, length: int | None) -> None:
        super().__init__(length)
        self.length = length


class BadRequest(Exception):
    """The request is not valid HTTP/1.1; the connection is answered with ``status`` and closed."""

    status = 400


class RequestTimeout(BadRequest):
    """The request did not arrive whole in time (:attr:`Timeouts.request`)."""

    status = 408


class _Unsupported(BadRequest):
    """A transfer coding this server does not implement."""

    status = 501


class _SocketReader(io.RawIOBase):
    """Reads a socket under a deadline that the connection moves from phase to phase.

    ``socket.makefile`` cannot do this: its reads only know a per-call timeout (a client
    sending one byte every few seconds never trips it), and after one timeout it refuses to
    read again.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.deadline = time.monotonic()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimeout("request timeout")
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            raise RequestTimeout("request timeout") from None


class _Body:
    """Reads a request body lazily, so that a route can refuse it before it is sent."""

    def __init__(self, rfile: BinaryIO, length: int | None, chunked: bool) -> None:
        self._rfile = rfile
        self.length = length
        self.chunked = chunked
        self.consumed = length in (None, 0) and not chunked
        self.data = b""

    def read(self, limit: int, keep: bool = True) -> bytes:
        if self.consumed:
            return self.data
        if self.length is not None and not self.chunked:
            if self.length > limit:
                raise BodyTooLarge(self.length)
            if not keep:
                remaining = self.length
                while remaining:
                    block = self._rfile.read(min(remaining, 65_536))
                    if not block:
                        raise BadRequest("incomplete body")
                    remaining -= len(block)
                self.consumed = True
                return b""
            data = self._rfile.read(self.length)
            if len(data) != self.length:
                raise BadRequest("incomplete body")
            self.data, self.consumed = data, True
            return data
        parts: list[bytes] = []
        size = 0
        while True:
            line = self._rfile.readline(_MAX_LINE)
            if not line.endswith(b"\n"):
                raise BadRequest("bad chunk size line")
            try:
                chunk_size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if chunk_size == 0:
                while self._rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            size += chunk_size
            if size > limit:
                # Too large: read the rest and drop it (up to a bound), so that the client
                # finishes sending and sees the answer.
                keep = False
                parts.clear()
                if size > max(limit, _DRAIN_LIMIT):
                    raise BodyTooLarge(None)
            remaining = chunk_size
            while remaining:
                block = self._rfile.read(min(remaining, 65_536))
                if not block:
                    raise BadRequest("bad chunk")
                remaining -= len(block)
                if keep:
                    parts.append(block)
            if self._rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n"):
                raise BadRequest("bad chunk")
        self.data, self.consumed = b"".join(parts), True
        if size > limit:
            raise BodyTooLarge(None)
        return self.data

    def drain(self, keep: bool = False) -> bool:
        """Read an unread body (kept in ``data`` if ``keep``); ``False`` if it is too large."""
        if self.consumed:
            return True
        try:
            self.read(_DRAIN_LIMIT, keep=keep)
        except (BodyTooLarge, BadRequest, OSError):
            return False
        return True


@dataclass
class HttpRequest:
    """One request as received, with the raw target and a lazily read body."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    tls: bool
    body_reader: _Body
    # The client certificate's subject: its first CN, "" when it has none; None without a
    # certificate (the plain listener).
    client_cn: str | None = None

    @property
    def path(self) -> str:
        """The raw path (no query string, not decoded)."""
        return self.target.split("?", 1)[0].split("#", 1)[0]

    @property
    def query(self) -> bytes:
        """The raw query string (after ``?``, without a fragment), as bytes."""
        if "?" not in self.target:
            return b""
        return self.target.split("?", 1)[1].split("#", 1)[0].encode("latin-1")

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive name)."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def read_body(self, limit: int) -> bytes:
        """The body, decompressed per ``Content-Encoding``.

        Raises:
            BodyTooLarge: the body is larger than ``limit`` bytes.
        """
        data = self.body_reader.read(limit)
        encoding = (self.header("content-encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            try:
                decompressor = zlib.decompressobj(
                    zlib.MAX_WBITS | 16 if "gzip" in encoding else zlib.MAX_WBITS
                )
                data = decompressor.decompress(data, limit + 1)
            except zlib.error:
                raise BadRequest("bad compressed body") from None
            if len(data) > limit:
                raise BodyTooLarge(None)
        return data


@dataclass
class HttpResponse:
    """An answer, plus the byte-level faults to apply while sending it."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    reset_after: int | None = None  # abort with RST after this many bytes
    truncate_after: int | None = None  # end the body after this many body bytes
    silent: str | None = None  # "close" or "reset": no answer at all
    close: bool = False  # close the connection after this answer
    fault: str | None = None  # the injected fault that shaped this answer, if any

    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Unknown"


@dataclass(frozen=True)
class Exchange:
    """A finished request and the answer actually sent (for logs and contract checks).

    ``response_body`` holds what was sent of the body (all of a stream, unless a fault cut it)
    when the listener captures bodies (only then: a stream is otherwise never held in memory);
    ``response_size`` counts the body bytes sent either way.
    ``status`` is ``None`` when no answer was sent.  ``fault`` names the injected fault
    (``"Respond"``, ``"Reset"``, ...) that shaped the answer, or is ``None``.
    """

    method: str
    target: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int | None
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes
    streamed: bool
    tls: bool
    started: float
    duration: float
    fault: str | None = None
    response_size: int = 0


Handler = Callable[[HttpRequest], HttpResponse]
ExchangeSink = Callable[[Exchange], None]


class _Sender:
    """Writes bytes to the socket, applying a reset or truncation budget."""

    def __init__(self, sock: socket.socket, reset_after: int | None) -> None:
        self.sock = sock
        self.budget = reset_after
        self.sent = 0

    def send(self, data: bytes) -> None:
        if self.budget is not None and self.sent + len(data) >= self.budget:
            part = data[: self.budget - self.sent]
            if part:
                self.sock.sendall(part)
            self.sent += len(part)
            raise _ResetNow
        self.sock.sendall(data)
        self.sent += len(data)


class _ResetNow(Exception):
    pass


class _SentBody:
    """Counts the body bytes sent and keeps a copy only when someone wants to see them."""

    def __init__(self, capture: bool) -> None:
        self.size = 0
        self.data: bytearray | None = bytearray() if capture else None

    def add(self, piece: bytes | bytearray) -> None:
        self.size += len(piece)
        if self.data is not None:
            self.data += piece


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    with contextlib.suppress(OSError):
        raw = sock
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Connection:
    """An accepted connection waiting for (or served by) a worker."""

    __slots__ = ("conn", "listener")

    def __init__(self, listener: Listener, conn: socket.socket) -> None:
        self.listener = listener
        self.conn = conn

    def run(self) -> None:
        self.listener._serve(self.conn)

    def discard(self) -> None:
        self.listener._forget(self.conn)
        with contextlib.suppress(OSError):
            self.conn.close()


def _first_cn(sock: ssl.SSLSocket) -> str | None:
    cert = sock.getpeercert()
    if not cert:
        return None
    subject = cast(tuple[tuple[tuple[str, str], ...], ...], cert.get("subject", ()))
    for rdn in subject:
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return ""


class Listener:
    """One listening socket (plain or TLS) and the connections it accepted.

    Accepted connections are served by ``pool``'s workers; when the pool is full they are
    answered ``503`` (plain HTTP) or closed (TLS) by the accept thread itself.
    """

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        sink: ExchangeSink,
        ssl_context: ssl.SSLContext | None = None,
        capture_bodies: bool = False,
        *,
        pool: WorkerPool,
        timeouts: Timeouts,
    ) -> None:
        self.host = host
        self.capture_bodies = capture_bodies
        self.handler = handler
        self.sink = sink
        self.ssl_context = ssl_context
        self.pool = pool
        self.timeouts = timeouts
        self._sock: socket.socket | None = self._bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.down_mode: str | None = None
        self.refused = 0  # connections answered 503 (or closed) because the pool was full
        self._stopping = False
        self._want_closed = False
        self._closed = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._registered: socket.socket | None = None
        self._lingering: dict[socket.socket, float] = {}
        # Made here, not in the accept thread: if they cannot be made, start() says so.
        self._spare: int | None = None
        self._selector: selectors.BaseSelector | None = None
        try:
            self._selector = selectors.DefaultSelector()
            self._spare = _open_spare()
            self._thread = threading.Thread(
                target=self._accept_loop, name=f"pyauditor-accept-{self.port}", daemon=True
            )
            self._thread.start()
        except BaseException:
            self._sock.close()
            if self._selector is not None:
                self._selector.close()
            if self._spare is not None:
                os.close(self._spare)
            raise

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, socktype, proto, _, address = infos[0]
        sock = socket.socket(family, socktype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
            # The accept loop waits in select(); a connection that vanished in between must not
            # block it in accept().
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    # -- availability ------------------------------------------------------------------------

    def go_down(self, mode: str) -> None:
        """Stop answering: ``refuse`` (nothing listens), ``reset`` or ``close`` (accept, then
        reset or close).  Open connections are dropped in every mode."""
        with self._lock:
            self.down_mode = mode
            if mode == "refuse":
                # The accept thread closes the socket itself: closing it under a running
                # select() would leave the kernel socket listening (and resetting) until the
                # select returns.
                self._closed.clear()
                self._want_closed = True
        if mode == "refuse":
            self._closed.wait(5)
        self.drop_connections()

    def come_up(self) -> None:
        with self._lock:
            self.down_mode = None
            self._want_closed = False
            if self._sock is None and not self._stopping:
                self._sock = self._bind(self.host, self.port)

    def drop_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Stop accepting and drop the open connections (the pool's workers then end)."""
        with self._lock:
            self._stopping = True
        if self._thread is not threading.current_thread():
            self._thread.join(5)
        self.drop_connections()

    # -- accepting ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        try:
            while not self._stopping:
                try:
                    self._accept_step()
                except Exception:
                    # Whatever happens (no memory, no descriptors, a bug), the listener lives
                    # as long as the server: log, breathe, go on.
                    _log.exception("pyauditor.testing: accept loop error")
                    time.sleep(0.05)
        finally:
            with self._lock:
                sock, self._sock = self._sock, None
            if sock is not None:
                sock.close()
            for conn in list(self._lingering):
                self._end_lingering(conn)
            if self._selector is not None:
                self._selector.close()
            if self._spare is not None:
                os.close(self._spare)
            self._closed.set()

    def _watch(self, sock: socket.socket | None) -> None:
        """Make the selector watch ``sock`` (``None``: no listening socket) for connections."""
        assert self._selector is not None
        if sock is self._registered:
            return
        if self._registered is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(self._registered)
        self._registered = None
        if sock is not None:
            self._selector.register(sock, selectors.EVENT_READ)
            self._registered = sock

    def _accept_step(self) -> None:
        assert self._selector is not None
        if self._want_closed:
            with self._lock:
                sock, self._sock = self._sock, None
                self._want_closed = False
            self._watch(None)
            if sock is not None:
                sock.close()
            self._closed.set()
        sock = self._sock
        self._watch(sock)
        if sock is None and not self._lingering:
            time.sleep(0.02)
            return
        events = self._selector.select(0.05)
        for key, _ in events:
            if key.fileobj is sock:
                assert sock is not None
                self._accept(sock)
            else:
                self._linger_read(cast(socket.socket, key.fileobj))
        if self._lingering:
            now = time.monotonic()
            for conn, until in list(self._lingering.items()):
                if until <= now:
                    self._end_lingering(conn)

    def _accept(self, sock: socket.socket) -> None:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno in (errno.EMFILE, errno.ENFILE):
                self._shed(sock)
            elif err.errno in (errno.ENOBUFS, errno.ENOMEM):
                time.sleep(0.05)
            return  # ECONNABORTED and the like: that client is gone
        self._dispatch(conn)

    def _shed(self, sock: socket.socket) -> None:
        """Out of file descriptors: answer one waiting client ``503`` through the spare one.

        Without this the connection stays in the backlog, select() reports it again at once,
        and the loop spins at full CPU while clients hang.
        """
        if self._spare is None:
            time.sleep(0.05)
            self._spare = _open_spare()
            return
        os.close(self._spare)
        self._spare = None
        try:
            conn, _ = sock.accept()
        except OSError:
            pass
        else:
            self.refused += 1
            with contextlib.suppress(OSError):
                if self.ssl_context is None:
                    conn.setblocking(False)
                    conn.send(_BUSY)
            conn.close()
        self._spare = _open_spare()

    def _dispatch(self, conn: socket.socket) -> None:
        mode = self.down_mode
        if mode == "reset":
            _reset(conn)
            return
        if mode is not None:
            conn.close()
            return
        try:
            conn.setblocking(True)
            # Answers go out as a head and a body write; with Nagle's algorithm the second
            # write waits for the client's delayed ACK, about 40 ms per answer.
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(conn)
            accepted = self.pool.submit(_Connection(self, conn))
        except BaseException:
            self._forget(conn)
            conn.close()
            raise
        if not accepted:
            self._forget(conn)
            self._refuse(conn)

    def _refuse(self, conn: socket.socket) -> None:
        """The pool is full: ``503`` on plain HTTP (a TLS handshake would need a worker)."""
        self.refused += 1
        if self.ssl_context is not None or len(self._lingering) >= _MAX_LINGERING:
            with contextlib.suppress(OSError):
                if self.ssl_context is None:
                    conn.setblocking(False)
                    conn.send(_BUSY)
            conn.close()
            return
        try:
            conn.setblocking(False)
            conn.send(_BUSY)
            conn.shutdown(socket.SHUT_WR)
            assert self._selector is not None
            self._selector.register(conn, selectors.EVENT_READ)
        except (OSError, ValueError, KeyError):
            conn.close()
            return
        self._lingering[conn] = time.monotonic() + _LINGER_S

    def _linger_read(self, conn: socket.socket) -> None:
        try:
            if conn.recv(65_536):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._end_lingering(conn)

    def _end_lingering(self, conn: socket.socket) -> None:
        self._lingering.pop(conn, None)
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def _forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    # -- one connection ----------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        sock: socket.socket = conn
        try:
            client_cn: str | None = None
            if self.ssl_context is not None:
                # CPython bounds the whole handshake by the socket timeout, not each read.
                conn.settimeout(self.timeouts.request)
                tls_sock = self.ssl_context.wrap_socket(
                    conn, server_side=True, do_handshake_on_connect=False
                )
                sock = tls_sock
                tls_sock.do_handshake()
                client_cn = _first_cn(tls_sock)
            self._serve_requests(sock, client_cn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with contextlib.suppress(OSError):
                conn.close()
            self._forget(conn)

    def _serve_requests(self, sock: socket.socket, client_cn: str | None) -> None:
        reader = _SocketReader(sock)
        rfile = io.BufferedReader(reader, 65_536)
        try:
            while not self._stopping:
                if not self._wait_for_request(reader, rfile):
                    return
                reader.deadline = time.monotonic() + self.timeouts.request
                try:
                    request = self._read_request(rfile, sock, client_cn)
                except BadRequest as error:
                    self._send_plain(sock, error.status)
                    return
                if request is None:
                    return
                if not self._exchange(sock, request):
                    return
        finally:
            rfile.close()

    def _wait_for_request(
        self, reader: _SocketReader, rfile: io.BufferedReader[_SocketReader]
    ) -> bool:
        """Wait (keep-alive) for the first byte of a request; ``False``: close the connection.

        An idle connection gives its worker up early when other connections wait for one.
        """
        end = time.monotonic() + self.timeouts.keep_alive
        while not self._stopping:
            now = time.monotonic()
            if now >= end:
                return False
            reader.deadline = min(end, now + _IDLE_POLL_S)
            try:
                return bool(rfile.peek(1))
            except RequestTimeout:
                if self.pool.waiting:
                    return False
        return False

    def _read_request(
        self, rfile: BinaryIO, sock: socket.socket, client_cn: str | None
    ) -> HttpRequest | None:
        line = rfile.readline(_MAX_LINE + 1)
        while line in (b"\r\n", b"\n"):  # RFC 9112: ignore empty lines before a request
            line = rfile.readline(_MAX_LINE + 1)
        if not line:
            return None
        if len(line) > _MAX_LINE or not line.endswith(b"\n"):
            raise BadRequest("request line too long")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest("bad request line")
        method, target, version = parts
        if not method.isalpha() or not target:
            raise BadRequest("bad request line")
        headers: list[tuple[str, str]] = []
        while True:
            raw = rfile.readline(_MAX_LINE + 1)
            if raw in (b"\r\n", b"\n"):
                break
            if not raw or len(raw) > _MAX_LINE or len(headers) >= _MAX_HEADERS:
                raise BadRequest("bad headers")
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep or not name or name != name.strip():
                raise BadRequest("bad header line")
            headers.append((name, value.strip()))
        length, chunked = _framing(version, headers)
        expect = [v for k, v in headers if k.lower() == "expect"]
        if expect and expect[-1].lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return HttpRequest(
            method=method,
            target=target,
            version=version,
            headers=headers,
            tls=self.ssl_context is not None,
            body_reader=_Body(rfile, length, chunked),
            client_cn=client_cn,
        )

    def _send_plain(self, sock: socket.socket, status: int) -> None:
        with contextlib.suppress(OSError):
            # Whoever gets this answer is misbehaving: it must not hold the worker.
            sock.settimeout(1.0)
            sock.sendall(
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                "content-length: 0\r\nconnection: close\r\n\r\n".encode()
            )

    def _keep_alive(self, request: HttpRequest) -> bool:
        connection = (request.header("connection") or "").lower()
        if request.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def _exchange(self, sock: socket.socket, request: HttpRequest) -> bool:
        """Answer one request; ``False`` when the connection must end."""
        started = time.time()
        clock = time.monotonic()
        try:
            response = self.handler(request)
        except BadRequest as error:  # RequestTimeout included: the body did not come in time
            self._send_plain(sock, error.status)
            return False
        except Exception:  # a bug or a store closed under us: answer, don't kill the thread
            _log.exception("pyauditor.testing: request handler failed")
            response = HttpResponse(500, close=True)
        keep = self._keep_alive(request) and not response.close
        # A body the handler never read (an injected answer, an unknown route) is still read
        # before answering, and kept when exchanges are reported, so a contract check sees
        # the request as the client sent it.
        if (keep or self.capture_bodies) and not request.body_reader.drain(self.capture_bodies):
            keep = False
        sock.settimeout(self.timeouts.write)
        sent_body = _SentBody(self.capture_bodies)
        status: int | None = response.status
        streamed = response.stream is not None
        headers = list(response.headers)
        logged = False

        def log() -> None:
            # Called before the last bytes of the answer go out: a client that has the answer
            # finds the exchange in the server's request log (``server.requests[-1]``).
            nonlocal logged
            if not logged:
                logged = True
                self._log(request, response, status, headers, sent_body, started, clock)

        try:
            if response.silent is not None:
                status = None
                log()
                if response.silent == "reset":
                    _reset(sock)
                return False
            sender = _Sender(sock, response.reset_after)
            headers.append(("date", formatdate(usegmt=True)))
            if streamed:
                headers.append(("transfer-encoding", "chunked"))
            else:
                headers.append(("content-length", str(len(response.body))))
            if not keep:
                headers.append(("connection", "close"))
            head = f"HTTP/1.1 {response.status} {response.reason()}\r\n" + "".join(
                f"{name}: {value}\r\n" for name, value in headers
            )
            if request.method == "HEAD":
                log()
                sender.send(head.encode("latin-1") + b"\r\n")
                return keep
            if response.stream is not None:
                sender.send(head.encode("latin-1") + b"\r\n")
                keep = self._send_stream(sender, response, sent_body, log) and keep
            else:
                body = response.body
                if response.truncate_after is not None and response.truncate_after < len(body):
                    body = body[: response.truncate_after]
                    keep = False
                sent_body.add(body)
                log()
                sender.send(head.encode("latin-1") + b"\r\n" + body)
            return keep
        except _ResetNow:
            log()
            _reset(sock)
            return False
        finally:
            if response.stream is not None:
                # Unsent or cut short: the stream may hold a database connection.
                _close_stream(response.stream)
            log()

    def _send_stream(
        self,
        sender: _Sender,
        response: HttpResponse,
        sent: _SentBody,
        before_last: Callable[[], None],
    ) -> bool:
        """Send a chunked body; ``False`` if the connection cannot be reused.

        ``before_last`` is called before the last chunk goes out.
        """
        assert response.stream is not None
        budget = response.truncate_after
        buffer = bytearray()

        def flush() -> None:
            if buffer:
                sender.send(b"%x\r\n" % len(buffer) + bytes(buffer) + b"\r\n")
                sent.add(buffer)
                buffer.clear()

        try:
            for piece in response.stream:
                if budget is not None and sent.size + len(buffer) + len(piece) >= budget:
                    buffer += piece[: budget - sent.size - len(buffer)]
                    break
                buffer += piece
                if len(buffer) >= _STREAM_CHUNK:
                    flush()
            flush()
        except _ResetNow:
            raise
        except OSError:
            return False
        except Exception:
            with contextlib.suppress(OSError, _ResetNow):
                flush()
        finally:
            _close_stream(response.stream)
        before_last()
        sender.send(b"0\r\n\r\n")
        return True

    def _log(
        self,
        request: HttpRequest,
        response: HttpResponse,
        status: int | None,
        headers: list[tuple[str, str]],
        body: _SentBody,
        started: float,
        clock: float,
    ) -> None:
        exchange = Exchange(
            method=request.method,
            target=request.target,
            request_headers=tuple(request.headers),
            request_body=request.body_reader.data,
            status=status,
            response_headers=tuple(headers),
            response_body=bytes(body.data or b""),
            response_size=body.size,
            streamed=response.stream is not None,
            tls=request.tls,
            started=started,
            duration=time.monotonic() - clock,
            fault=response.fault,
        )
        self.sink(exchange)


def _framing(version: str, headers: list[tuple[str, str]]) -> tuple[int | None, bool]:
    """The body's framing, ``(Content-Length, chunked)``, refusing anything ambiguous.

    RFC 9112 section 6: a request with both Transfer-Encoding and Content-Length, or with
    Content-Lengths that disagree, could be read differently by a proxy in front of the server
    (request smuggling); a careful server refuses it with 400.

    Raises:
        BadRequest: ambiguous or malformed framing (400), or a transfer coding other than
            chunked (501).
    """
    lengths: list[str] = []
    codings: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-length":
            lengths += [part.strip() for part in value.split(",")]
        elif lowered == "transfer-encoding":
            codings += [part.strip().lower() for part in value.split(",")]
    if codings:
        if lengths:
            raise BadRequest("both Transfer-Encoding and Content-Length")
        if version == "HTTP/1.0" or codings[-1] != "chunked":
            raise BadRequest("the final transfer coding is not chunked")
        if codings != ["chunked"]:
            raise _Unsupported("transfer codings other than chunked")
        return None, True
    if not lengths:
        return None, False
    if len(set(lengths)) != 1 or not lengths[0].isdigit() or not lengths[0].isascii():
        raise BadRequest("bad Content-Length")
    return int(lengths[0]), False


def _open_spare() -> int | None:
    """A file descriptor held in reserve, to answer a client when none are left."""
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


def _close_stream(stream: Iterator[bytes]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()
