"""Ambiguous and malformed request framing against the embedded server (issue 14, "Smaller").

A request whose body length two parties could read differently (Content-Length and
Transfer-Encoding together, disagreeing Content-Lengths, a final coding other than chunked) is
how requests are smuggled past a proxy; RFC 9112 section 6 has a careful server refuse it with
400 and close the connection, as actix-web does.
"""

from __future__ import annotations

import contextlib
import socket

import pytest

from pyauditor.testing import AuditorTestServer

BODY = b'{"record_id":"smuggled","components":[],"start_time":"2022-01-01T00:00:00Z"}'


def exchange(server: AuditorTestServer, request: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65_536):
                data += chunk
    return data


def post(headers: bytes, body: bytes = BODY, version: bytes = b"HTTP/1.1") -> bytes:
    return (
        b"POST /record "
        + version
        + b"\r\nHost: x\r\nContent-Type: application/json\r\n"
        + headers
        + b"\r\n"
        + body
    )


def chunked(body: bytes) -> bytes:
    return b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        # Both: which one frames the body?
        (b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(BODY), BODY, b"400"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", chunked(BODY), b"400"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", chunked(BODY), b"400"),
        # Content-Lengths that disagree, or are not a plain number.
        (b"Content-Length: %d\r\nContent-Length: 5\r\n" % len(BODY), BODY, b"400"),
        (b"Content-Length: %d, 5\r\n" % len(BODY), BODY, b"400"),
        (b"Content-Length: +%d\r\n" % len(BODY), BODY, b"400"),
        (b"Content-Length: \xb9\r\n", BODY, b"400"),  # "¹" in latin-1: str.isdigit() says yes
        # A final coding that is not chunked leaves the length unknown.
        (b"Transfer-Encoding: gzip\r\n", BODY, b"400"),
        (b"Transfer-Encoding: chunked, identity\r\n", chunked(BODY), b"400"),
        (b"Transfer-Encoding: xchunked\r\n", chunked(BODY), b"400"),
        # Understood framing, but a coding this server does not implement.
        (b"Transfer-Encoding: gzip, chunked\r\n", chunked(BODY), b"501"),
    ],
)
def test_ambiguous_framing_is_refused(
    auditor_server: AuditorTestServer, headers: bytes, body: bytes, status: bytes
) -> None:
    reply = exchange(auditor_server, post(headers, body))
    assert reply.startswith(b"HTTP/1.1 " + status + b" "), reply
    assert b"connection: close" in reply
    # Nothing after the refusal is read as a request (no smuggled second answer).
    assert reply.count(b"HTTP/1.1") == 1
    assert auditor_server.count() == 0


def test_chunked_in_http_1_0_is_refused(auditor_server: AuditorTestServer) -> None:
    request = post(b"Transfer-Encoding: chunked\r\n", chunked(BODY), version=b"HTTP/1.0")
    assert exchange(auditor_server, request).startswith(b"HTTP/1.1 400 ")
    assert auditor_server.count() == 0


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (b"Content-Length: %d\r\n" % len(BODY), BODY),
        # Repeating the same length is allowed (RFC 9112 section 6.3).
        (b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(BODY), len(BODY)), BODY),
        (b"Content-Length: %d, %d\r\n" % (len(BODY), len(BODY)), BODY),
        (b"Transfer-Encoding: chunked\r\n", chunked(BODY)),
        (b"transfer-encoding: Chunked\r\n", chunked(BODY)),
    ],
)
def test_unambiguous_framing_is_accepted(
    auditor_server: AuditorTestServer, headers: bytes, body: bytes
) -> None:
    reply = exchange(auditor_server, post(headers + b"Connection: close\r\n", body))
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply
    assert auditor_server.record("smuggled") is not None
