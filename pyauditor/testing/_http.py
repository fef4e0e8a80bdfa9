"""A small threaded HTTP/1.1 server: one accept thread per listener, one thread per connection.

It is written on plain sockets (no ``http.server``) because the embedded AUDITOR needs things
the standard handler hides or changes: the raw request target (``http.server`` rewrites a
leading ``//``), chunked request bodies, chunked streamed answers, body limits checked before a
body is read, TLS handshakes off the accept thread, and fault injection at the byte level
(resets after a number of bytes, truncated streams, refused connections).
"""

from __future__ import annotations

import contextlib
import logging
import select
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

__all__ = ["BodyTooLarge", "HttpRequest", "HttpResponse", "Listener"]

_log = logging.getLogger("pyauditor.testing")

_MAX_LINE = 65_536
_MAX_HEADERS = 100
_KEEP_ALIVE_S = 5.0  # actix-web's default keep-alive
_REQUEST_TIMEOUT_S = 30.0
_STREAM_CHUNK = 32_768
# An unread body up to this size is read and dropped so that the client, still sending, sees
# the answer (a 413 for example) instead of a reset; a larger one ends the connection.
_DRAIN_LIMIT = 64 << 20


class BodyTooLarge(Exception):
    """The request body is larger than the limit.

    Attributes:
        length: The declared ``Content-Length``, or ``None`` when the body was chunked.
    """

    def __init__(self, length: int | None) -> None:
        super().__init__(length)
        self.length = length


class BadRequest(Exception):
    """The request is not valid HTTP/1.1; the connection is answered with 400 and closed."""


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


class Listener:
    """One listening socket (plain or TLS) and the connections it accepted."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        sink: ExchangeSink,
        ssl_context: ssl.SSLContext | None = None,
        capture_bodies: bool = False,
    ) -> None:
        self.host = host
        self.capture_bodies = capture_bodies
        self.handler = handler
        self.sink = sink
        self.ssl_context = ssl_context
        self._sock: socket.socket | None = self._bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.down_mode: str | None = None
        self._stopping = False
        self._want_closed = False
        self._closed = threading.Event()
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"pyauditor-accept-{self.port}", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, socktype, proto, _, address = infos[0]
        sock = socket.socket(family, socktype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
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
        with self._lock:
            self._stopping = True
        self._thread.join(5)
        self.drop_connections()
        with self._lock:
            threads = list(self._threads)
        deadline = time.monotonic() + 5
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- accepting ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        try:
            self._accept_until_stopped()
        finally:
            with self._lock:
                sock, self._sock = self._sock, None
            if sock is not None:
                sock.close()
            self._closed.set()

    def _accept_until_stopped(self) -> None:
        while not self._stopping:
            if self._want_closed:
                with self._lock:
                    sock, self._sock = self._sock, None
                    self._want_closed = False
                if sock is not None:
                    sock.close()
                self._closed.set()
            sock = self._sock
            if sock is None:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([sock], [], [], 0.05)
                if not ready:
                    continue
                conn, _ = sock.accept()
            except (OSError, ValueError):
                continue
            mode = self.down_mode
            if mode == "reset":
                _reset(conn)
                continue
            # Answers go out as a head and a body write; with Nagle's algorithm the second
            # write waits for the client's delayed ACK, about 40 ms per answer.
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if mode is not None:
                conn.close()
                continue
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="pyauditor-connection", daemon=True
            )
            with self._lock:
                self._connections.add(conn)
                self._threads.add(thread)
            thread.start()

    # -- one connection ----------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        sock: socket.socket = conn
        try:
            if self.ssl_context is not None:
                conn.settimeout(_REQUEST_TIMEOUT_S)
                tls_sock = self.ssl_context.wrap_socket(
                    conn, server_side=True, do_handshake_on_connect=False
                )
                sock = tls_sock
                tls_sock.do_handshake()
            self._serve_requests(sock)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self._connections.discard(conn)
                self._threads.discard(threading.current_thread())

    def _serve_requests(self, sock: socket.socket) -> None:
        rfile = cast(BinaryIO, sock.makefile("rb", buffering=65_536))
        try:
            while not self._stopping:
                sock.settimeout(_KEEP_ALIVE_S)
                try:
                    request = self._read_request(rfile, sock)
                except BadRequest:
                    self._send_plain(sock, 400)
                    return
                except TimeoutError:
                    return
                if request is None:
                    return
                sock.settimeout(_REQUEST_TIMEOUT_S)
                if not self._exchange(sock, request):
                    return
        finally:
            rfile.close()

    def _read_request(self, rfile: BinaryIO, sock: socket.socket) -> HttpRequest | None:
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
        lowered = {k.lower(): v for k, v in headers}
        chunked = "chunked" in lowered.get("transfer-encoding", "").lower()
        length: int | None = None
        if not chunked and "content-length" in lowered:
            text = lowered["content-length"]
            if not text.isdigit():
                raise BadRequest("bad content-length")
            length = int(text)
        if lowered.get("expect", "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return HttpRequest(
            method=method,
            target=target,
            version=version,
            headers=headers,
            tls=self.ssl_context is not None,
            body_reader=_Body(rfile, length, chunked),
        )

    def _send_plain(self, sock: socket.socket, status: int) -> None:
        with contextlib.suppress(OSError):
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
        except BadRequest:
            self._send_plain(sock, 400)
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
        sent_body = _SentBody(self.capture_bodies)
        status: int | None = response.status
        streamed = response.stream is not None
        headers = list(response.headers)
        try:
            if response.silent is not None:
                status = None
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
            sender.send(head.encode("latin-1") + b"\r\n")
            if request.method == "HEAD":
                if response.stream is not None:
                    _close_stream(response.stream)
                return keep
            if response.stream is not None:
                keep = self._send_stream(sender, response, sent_body) and keep
            else:
                body = response.body
                if response.truncate_after is not None and response.truncate_after < len(body):
                    body = body[: response.truncate_after]
                    keep = False
                sender.send(body)
                sent_body.add(body)
            return keep
        except _ResetNow:
            _reset(sock)
            return False
        finally:
            self._log(request, response, status, headers, sent_body, started, clock)

    def _send_stream(self, sender: _Sender, response: HttpResponse, sent: _SentBody) -> bool:
        """Send a chunked body; ``False`` if the connection cannot be reused."""
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


def _close_stream(stream: Iterator[bytes]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()
