"""A raw TCP server that answers the clients however a test scripts it: slowly, hugely, badly.

The embedded AUDITOR server answers like AUDITOR; these tests need answers no HTTP library
would produce on purpose (a head sent one byte at a time, a gzip bomb), so the bytes are
written to the socket by hand.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from types import TracebackType

Script = Callable[[socket.socket, bytes], None]
"""Answers one request: gets the connection and the request bytes read so far."""


def read_request(sock: socket.socket) -> bytes:
    """The request's head and body (by Content-Length), or what arrived before EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class RawServer:
    """Runs ``script`` for every request on 127.0.0.1, each connection in its own thread."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        try:  # wake the accept() call up; closing the socket alone does not
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._thread.join(5)
        self._listener.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            try:
                while not self._stop.is_set():
                    request = read_request(sock)
                    if not request:
                        return
                    self.requests.append(request)
                    self._script(sock, request)
            except OSError:
                return  # the client gave up and closed the connection: what the tests expect


def trickle(sock: socket.socket, data: bytes, pause: float, stop: Callable[[], bool]) -> None:
    """Send ``data`` one byte at a time, ``pause`` seconds apart."""
    for i in range(len(data)):
        if stop():
            return
        sock.sendall(data[i : i + 1])
        time.sleep(pause)


def head(status: int, headers: dict[str, str], length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(status: int, body: bytes, **headers: str) -> bytes:
    """A complete HTTP/1.1 answer."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return head(status, named, len(body)) + body


def gzip_bomb(mebibytes: int, *, fill: bytes = b"\0", prefix: bytes = b"") -> bytes:
    """A valid gzip body: ``prefix``, then ``mebibytes`` MiB of ``fill``; about 1 KiB per MiB.

    Built from identical fully-flushed deflate blocks instead of compressing gigabytes.
    """
    block = fill * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    steady = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush()
    crc = zlib.crc32(prefix)
    for _ in range(mebibytes):
        crc = zlib.crc32(block, crc)
    size = len(prefix) + (mebibytes << 20)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + start + first + steady * (mebibytes - 1) + end + trailer


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
