"""Issue 14 item 3: the timeout bounds every phase of a request, however slowly a server answers.

Each server here sends a *valid, complete* answer, just slowly: a byte or a record at a time,
each well within the timeout, the whole far beyond it.  Without a whole-request bound the call
would succeed in the end; the tests assert that it fails with APITimeoutError instead (no
timing assertions: the behaviour differs, not just the duration).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
from typing import Any

import pytest

from pyauditor import APITimeoutError, AuditorClientBuilder, Record
from tests.clients.test_methods import Blockingly
from tests.hostile.client_server import RawServer, answer, head, trickle

T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.UTC)
RECORD = '{"record_id":"r%d","meta":null,"components":[],"start_time":"2022-08-08T11:30:00Z","stop_time":null,"runtime":null}'
PAUSE = 0.15  # between bytes: far within the 1 s timeout


def client(server: RawServer, kind: str, timeout: float = 1) -> Blockingly:
    builder = AuditorClientBuilder().connection_string(server.url).timeout(timeout).retries(0)
    return Blockingly(builder.build() if kind == "async" else builder.build_blocking())


@pytest.fixture(params=["async", "blocking"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def slow_server(data: bytes, *, first: int = 0) -> RawServer:
    """Answers every request with ``data``: ``first`` bytes at once, the rest byte by byte."""

    def script(sock: socket.socket, request: bytes) -> None:
        sock.sendall(data[:first])
        trickle(sock, data[first:], PAUSE, lambda: server.stopping)

    server = RawServer(script)
    return server


def test_a_head_sent_byte_by_byte_cannot_outlast_the_timeout(kind: str) -> None:
    """The reproduction: ``add()`` with ``timeout(2)`` returned after 43.5 s."""
    data = answer(200, b"")  # about 40 bytes: 6 s at this pace
    with slow_server(data) as server:
        with pytest.raises(APITimeoutError, match="timeout of 1 s"):
            client(server, kind).add(Record("r1", T0))
        assert server.requests, "the request was sent"


def test_a_health_check_body_sent_byte_by_byte_is_a_failed_check(kind: str) -> None:
    """The reproduction: ``health_check`` took 49 s while the body trickled (it is True after)."""
    body = b"x" * 40
    data = answer(200, body)
    with slow_server(data, first=len(data) - len(body)) as server:
        assert client(server, kind).health_check() is False


def test_a_single_record_sent_byte_by_byte_times_out(kind: str) -> None:
    body = (RECORD % 1).encode()
    data = answer(200, body, content_type="application/json")
    with slow_server(data, first=len(data) - len(body)) as server, pytest.raises(APITimeoutError):
        client(server, kind).get_single_record("r1")


def test_a_query_result_sent_byte_by_byte_times_out_as_a_whole(kind: str) -> None:
    body = (RECORD % 1).encode()
    data = answer(200, body)
    with slow_server(data, first=len(data) - len(body)) as server, pytest.raises(APITimeoutError):
        client(server, kind).get()


def test_opening_a_stream_is_bounded_as_a_whole(kind: str) -> None:
    """``iter_records`` bounds each chunk of records, but its head like any request."""
    with slow_server(answer(200, b"")) as server, pytest.raises(APITimeoutError):
        client(server, kind).iter_records()


def records_server(count: int, pause: float) -> RawServer:
    """Streams ``count`` records as chunks, one every ``pause`` seconds."""

    def script(sock: socket.socket, request: bytes) -> None:
        sock.sendall(head(200, {"Transfer-Encoding": "chunked"}, None))
        for i in range(count):
            if server.stopping:
                return
            chunk = (RECORD % i).encode()
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            time.sleep(pause)
        sock.sendall(b"0\r\n\r\n")

    server = RawServer(script)
    return server


def test_iter_records_bounds_each_chunk_not_the_whole_stream(kind: str) -> None:
    with records_server(6, 0.3) as server:
        records = client(server, kind).iter_records()
    assert [r.record_id for r in records] == [f"r{i}" for i in range(6)]


def test_iter_records_total_timeout_bounds_the_whole_stream(kind: str) -> None:
    seen: list[str] = []
    with records_server(40, 0.3) as server:
        api = client(server, kind)
        if kind == "async":

            async def collect() -> None:
                async for record in api.client.iter_records(total_timeout=1.2):
                    seen.append(record.record_id)

            with pytest.raises(APITimeoutError, match=r"1\.2 s"):
                asyncio.run(collect())
        else:

            def collect_blocking() -> None:
                for record in api.client.iter_records(total_timeout=1.2):
                    seen.append(record.record_id)

            with pytest.raises(APITimeoutError, match=r"1\.2 s"):
                collect_blocking()
    assert seen, "records that arrived in time were handed out"
    assert len(seen) < 40


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "1"])
def test_iter_records_total_timeout_must_be_finite_and_positive(kind: str, bad: Any) -> None:
    from pyauditor import ValidationError

    with slow_server(answer(200, b"")) as server:
        api = client(server, kind)
        with pytest.raises(ValidationError, match="total_timeout"):
            api.client.iter_records(total_timeout=bad)
        assert server.requests == []
