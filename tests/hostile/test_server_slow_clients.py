"""Hostile clients against the embedded server: slow-loris, floods, idle connections (issue 14
item 2).

Every request must arrive whole within ``request_timeout`` (``408`` otherwise), workers are
bounded, a full server answers ``503`` at once, and an idle keep-alive connection gives its
worker up to connections that wait.  No timing is asserted: each test only bounds how long it
waits for the outcome, far above what a correct server needs.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from pyauditor.testing import AuditorTestServer

# How long a test waits for an outcome that a correct server reaches in about a second.
PATIENCE = 30.0


def connect(server: AuditorTestServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=PATIENCE)
    sock.settimeout(PATIENCE)
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65_536):
            data += chunk
    return data


class Drip:
    """Sends ``data`` one byte every ``interval`` seconds until done or the socket fails."""

    def __init__(self, sock: socket.socket, data: bytes, interval: float = 0.25) -> None:
        self.sock = sock
        self.sent = 0
        self.failed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(data, interval), daemon=True)
        self._thread.start()

    def _run(self, data: bytes, interval: float) -> None:
        for byte in data:
            if self._stop.wait(interval):
                return
            try:
                self.sock.send(bytes([byte]))
            except OSError:
                self.failed.set()
                return
            self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(PATIENCE)


@pytest.fixture
def slow_server(auditor_server_factory) -> AuditorTestServer:  # type: ignore[no-untyped-def]
    return auditor_server_factory(max_workers=1, request_timeout=1.0, keep_alive=30.0)


@contextlib.contextmanager
def dripping(server: AuditorTestServer, data: bytes) -> Iterator[tuple[socket.socket, Drip]]:
    sock = connect(server)
    drip = Drip(sock, data)
    try:
        yield sock, drip
    finally:
        drip.stop()
        sock.close()


HEAD = b"GET /records HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"


def test_a_head_sent_one_byte_at_a_time_is_cut_off_with_408(
    slow_server: AuditorTestServer,
) -> None:
    with dripping(slow_server, HEAD) as (sock, drip):
        reply = answer(sock)
        assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), reply
        assert drip.sent < len(HEAD)  # cut off long before it was complete
    # The only worker is free again.
    assert httpx.get(slow_server.url + "/health_check", timeout=PATIENCE).status_code == 200


def test_a_body_sent_one_byte_at_a_time_is_cut_off_with_408(
    slow_server: AuditorTestServer,
) -> None:
    body = b'{"record_id":"slow","components":[],"start_time":"2022-01-01T00:00:00Z"}'
    head = (
        b"POST /record HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    sock = connect(slow_server)
    sock.sendall(head)
    drip = Drip(sock, body)
    try:
        reply = answer(sock)
    finally:
        drip.stop()
        sock.close()
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert slow_server.count() == 0
    assert httpx.get(slow_server.url + "/health_check", timeout=PATIENCE).status_code == 200


def test_connections_wait_for_a_busy_worker_then_a_full_server_answers_503(
    slow_server: AuditorTestServer,
) -> None:
    # One worker and four places in the queue: five slow clients fill both.
    with contextlib.ExitStack() as stack:
        slow = [stack.enter_context(dripping(slow_server, HEAD)) for _ in range(5)]
        for _, drip in slow:  # wait until each one has sent a byte (so it was accepted)
            deadline = time.monotonic() + PATIENCE
            while drip.sent == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
        # The next one gets 503 at once, from the accept loop.
        refused = httpx.get(slow_server.url + "/health_check", timeout=PATIENCE)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.content == b""
        assert slow_server.refused_connections >= 1
        # The slow clients are cut off one after the other; none holds the worker for long.
        for sock, _ in slow:
            assert answer(sock).startswith(b"HTTP/1.1 408 ")
    assert httpx.get(slow_server.url + "/health_check", timeout=PATIENCE).status_code == 200


def test_a_waiting_connection_is_served_while_a_slow_one_holds_the_worker(
    slow_server: AuditorTestServer,
) -> None:
    with dripping(slow_server, HEAD) as (sock, drip):
        while drip.sent == 0:
            time.sleep(0.01)
        # Queued behind the slow client, served once it is cut off.
        response = httpx.get(slow_server.url + "/records", timeout=PATIENCE)
        assert response.status_code == 200
        assert answer(sock).startswith(b"HTTP/1.1 408 ")


def test_an_idle_keep_alive_connection_yields_its_worker(
    slow_server: AuditorTestServer,
) -> None:
    # keep_alive is 30 s: without yielding, the second client would wait that long.
    with httpx.Client(base_url=slow_server.url, timeout=PATIENCE) as idle:
        assert idle.get("/health_check").status_code == 200  # now idle, connection kept
        with httpx.Client(base_url=slow_server.url, timeout=10.0) as other:
            assert other.get("/records").status_code == 200
        # The idle client's connection was closed; it reconnects transparently.
        assert idle.get("/health_check").status_code == 200


def test_silent_connections_are_closed_after_keep_alive(
    auditor_server_factory,  # type: ignore[no-untyped-def]
) -> None:
    server = auditor_server_factory(max_workers=1, keep_alive=0.5)
    sock = connect(server)
    assert answer(sock) == b""  # closed without a word, nothing was asked
    sock.close()
    assert httpx.get(server.url + "/health_check", timeout=PATIENCE).status_code == 200


def test_a_flood_of_connections_never_stops_the_listener(
    auditor_server_factory,  # type: ignore[no-untyped-def]
) -> None:
    server = auditor_server_factory(max_workers=2, request_timeout=1.0, keep_alive=1.0)
    socks = [connect(server) for _ in range(60)]
    try:
        for sock in socks[:30]:
            sock.sendall(b"GET /health_check HTTP/1.1\r\nHost: x\r\n\r\n")
        replies = [answer(sock) for sock in socks[:30]]
    finally:
        for sock in socks:
            sock.close()
    statuses = {reply.split(b" ", 2)[1] for reply in replies}
    assert statuses <= {b"200", b"503"}, statuses
    assert b"503" in statuses  # 2 workers, 8 places: most were refused
    assert server.refused_connections >= 1
    assert httpx.get(server.url + "/health_check", timeout=PATIENCE).status_code == 200


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, trustme.CA]:
    root = tmp_path_factory.mktemp("slow-tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
    server.private_key_pem.write_to_path(str(root / "server.key"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    client = ca.issue_cert("client.example", common_name="client.example")
    client.cert_chain_pems[0].write_to_path(str(root / "client.pem"))
    client.private_key_pem.write_to_path(str(root / "client.key"))
    return root, ca


def test_a_slow_tls_handshake_is_cut_off(
    auditor_server_factory,  # type: ignore[no-untyped-def]
    tls_files: tuple[Path, trustme.CA],
) -> None:
    root, _ = tls_files
    server = auditor_server_factory(
        tls_cert=root / "server.pem",
        tls_key=root / "server.key",
        tls_ca=root / "ca.pem",
        tls_only=True,
        max_workers=1,
        request_timeout=1.0,
    )
    assert server.tls_port is not None
    sock = socket.create_connection((server.host, server.tls_port), timeout=PATIENCE)
    sock.settimeout(PATIENCE)
    # The first bytes of a ClientHello, then nothing more for a long while.
    drip = Drip(sock, b"\x16\x03\x01\x02\x00" + b"\x01" * 200, interval=0.25)
    try:
        assert b"HTTP" not in answer(sock)  # the server gave up and closed
    finally:
        drip.stop()
        sock.close()
    context = ssl.create_default_context(cafile=str(root / "ca.pem"))
    context.load_cert_chain(root / "client.pem", root / "client.key")
    response = httpx.get(server.tls_url + "/health_check", verify=context, timeout=PATIENCE)
    assert response.status_code == 200
