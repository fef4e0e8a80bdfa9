"""Issue 14 items 1 and 5 (client side): answers are bounded in size and decoded into typed errors.

A 2 MB gzip answer once grew the process to 6.2 GB; a 100,000-deep nested answer raised
RecursionError from ``add``.  Every answer the clients read whole now has a size bound after
decompression, compressed answers are inflated in bounded steps, and whatever the bytes, only
pyauditor's typed errors come out.
"""

from __future__ import annotations

import datetime as dt
import socket
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from pyauditor import (
    AuditorClientBuilder,
    AuditorError,
    Record,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
)
from tests.clients.test_methods import Blockingly
from tests.hostile.client_server import RawServer, answer, gzip_bomb

T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.UTC)
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """2 MB of gzip that inflates to 2000 MiB."""
    return gzip_bomb(2000)


@pytest.fixture(params=["async", "blocking"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def serving(data: bytes) -> RawServer:
    def script(sock: socket.socket, request: bytes) -> None:
        sock.sendall(data)

    return RawServer(script)


def client(server: RawServer, kind: str, **limits: int) -> Blockingly:
    builder = AuditorClientBuilder().connection_string(server.url).timeout(30).retries(0)
    if "answer" in limits:
        builder.max_answer_size(limits["answer"])
    return Blockingly(builder.build() if kind == "async" else builder.build_blocking())


def peak_of(call: Callable[[], Any]) -> tuple[BaseException | None, int]:
    """Run ``call``; return what it raised and the peak of Python memory it allocated."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            call()
        except BaseException as error:
            raised: BaseException | None = error
        else:
            raised = None
        return raised, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("operation", "argument"),
    [("get_single_record", "r1"), ("add", Record("r1", T0)), ("health_check", None)],
)
def test_a_gzip_bomb_answer_stops_at_the_bound_in_bounded_memory(
    kind: str, bomb: bytes, operation: str, argument: Any
) -> None:
    data = answer(200, bomb, content_encoding="gzip", content_type="application/json")
    with serving(data) as server:
        method = getattr(client(server, kind), operation)
        raised, peak = peak_of(lambda: method() if argument is None else method(argument))
    if operation == "health_check":
        assert raised is None  # it never raises; the answer was too large: not healthy
    else:
        assert isinstance(raised, ResponseTooLargeError), raised
        assert raised.limit == 8 * MiB
        assert "max_answer_size" in str(raised)
    assert peak < 40 * MiB, f"peak {peak / MiB:.1f} MiB for a 2 MB answer that inflates to 2 GB"


def test_the_queued_clients_sender_reads_a_gzip_bomb_within_the_bound(
    bomb: bytes, tmp_path: Any
) -> None:
    """The issue's 4-6 GB for ``add`` happened in the queued client's background sender too."""
    data = answer(200, bomb, content_encoding="gzip", content_type="application/json")
    with serving(data) as server:
        builder = AuditorClientBuilder().connection_string(server.url).timeout(30).retries(0)
        queued = builder.database_path(tmp_path / "q.db").send_interval(3600)
        client = queued.build_queued_blocking()
        try:
            client.add(Record("r1", T0))
            client.add(Record("r2", T0))
            raised, peak = peak_of(client.flush)
            status = client.pending()
        finally:
            client.stop()
    assert raised is None, raised  # a failed delivery is not a flush() error
    assert status.inserts == 2  # kept: nothing was acknowledged
    assert "max_answer_size" in (status.last_error or "")
    assert peak < 40 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_a_gzip_bomb_error_answer_is_cut_and_raised_as_its_status(kind: str, bomb: bytes) -> None:
    data = answer(500, bomb, content_encoding="gzip")
    with serving(data) as server:
        api = client(server, kind, answer=64 * 1024)
        raised, peak = peak_of(lambda: api.add(Record("r1", T0)))
    assert isinstance(raised, ServerError)
    assert raised.status_code == 500
    assert len(raised.body) == 64 * 1024
    assert peak < 40 * MiB


def test_a_huge_plain_error_answer_is_cut(kind: str) -> None:
    data = answer(503, b"e" * (20 * MiB))
    with serving(data) as server, pytest.raises(ServerError) as caught:
        client(server, kind, answer=4096).get_single_record("r1")
    assert len(caught.value.body) == 4096
    assert len(str(caught.value)) < 400


def test_a_plain_answer_over_the_bound_is_too_large(kind: str) -> None:
    body = b'{"record_id":"' + b"a" * (2 * MiB) + b'","start_time":"2022-08-08T11:30:00Z"}'
    with serving(answer(200, body)) as server, pytest.raises(ResponseTooLargeError):
        client(server, kind, answer=MiB).get_single_record("r1")
    with serving(answer(200, body)) as server:
        api = client(server, kind, answer=4 * MiB)
        assert len(api.get_single_record("r1").record_id) == 2 * MiB  # within the bound


NESTED = b"[" * 100_000 + b"]" * 100_000
HOSTILE_BODIES = [
    NESTED,
    b'{"warning":' + NESTED + b"}",
    b'{"record_id":"r1","runtime":' + b"9" * 5000 + b"}",
    b'{"warning":' + b"9" * 5000 + b"}",
    b'{"record_id":"r1","meta":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001,
    b"\xff\xfe garbage",
    b"null",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
@pytest.mark.parametrize("operation", ["add", "bulk_insert", "get_single_record", "health_check"])
def test_hostile_answers_give_typed_errors_only(kind: str, operation: str, body: bytes) -> None:
    calls: dict[str, Callable[[Blockingly], Any]] = {
        "add": lambda api: api.add(Record("r1", T0)),
        "bulk_insert": lambda api: api.bulk_insert([Record("r1", T0), Record("r2", T0)]),
        "get_single_record": lambda api: api.get_single_record("r1"),
        "health_check": lambda api: api.health_check(),
    }
    raised: AuditorError | None = None
    with serving(answer(200, body, content_type="application/json")) as server:
        try:
            calls[operation](client(server, kind))
        except AuditorError as error:  # anything else fails the test
            raised = error
    if raised is not None:
        assert "\n" not in str(raised)
    else:
        # Success is possible for health checks, and for writes whose answer is no warning.
        assert operation != "get_single_record"
        assert b'"warning"' not in body or operation == "health_check"


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("br", b"\x0b\x02\x80hello\x03", "Content-Encoding 'br'"),
        ("gzip", b"\x1f\x8b not gzip at all", "corrupt"),
        ("gzip", gzip_bomb(1)[:500], "cut off"),
        ("gzip, gzip", b"", "Content-Encoding"),
    ],
)
def test_bad_encodings_are_decode_errors(
    kind: str, encoding: str, body: bytes, message: str
) -> None:
    data = answer(200, body, content_encoding=encoding)
    with serving(data) as server, pytest.raises(ResponseDecodeError, match=message):
        client(server, kind).get_single_record("r1")


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
def test_compressed_answers_are_read(kind: str, encoding: str) -> None:
    import zlib

    record = b'{"record_id":"r1","meta":null,"components":[],"start_time":"2022-08-08T11:30:00Z","stop_time":null,"runtime":null}'
    wbits = {"gzip": 31, "deflate": 15, "deflate-raw": -15}[encoding]
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(record) + packer.flush()
    header = "gzip" if encoding == "gzip" else "deflate"
    with serving(answer(200, packed, content_encoding=header)) as server:
        api = client(server, kind)
        assert api.get_single_record("r1").record_id == "r1"
        assert [r.record_id for r in api.get()] == ["r1"]


def test_a_streamed_record_over_the_bound_stops_the_stream(kind: str) -> None:
    small = b'{"record_id":"r1","meta":null,"components":[],"start_time":"2022-08-08T11:30:00Z","stop_time":null,"runtime":null}'
    huge = small.replace(b'"meta":null', b'"meta":{"k":["' + b"v" * (2 * MiB) + b'"]}')
    with serving(answer(200, small + huge)) as server:
        builder = AuditorClientBuilder().connection_string(server.url).retries(0)
        builder.max_record_size(MiB)
        api = Blockingly(builder.build() if kind == "async" else builder.build_blocking())
        with pytest.raises(ResponseTooLargeError, match="record #1 is larger") as caught:
            api.get()
        assert caught.value.limit == MiB
        with pytest.raises(ResponseTooLargeError):
            api.iter_records()
        builder.max_record_size(4 * MiB)
        roomy = Blockingly(builder.build() if kind == "async" else builder.build_blocking())
        assert [r.record_id for r in roomy.get()] == ["r1", "r1"]


@pytest.fixture(scope="module")
def record_bomb() -> bytes:
    """2 MB of gzip: a record whose id is a string of 2000 MiB that never ends."""
    return gzip_bomb(2000, fill=b"a", prefix=b'{"record_id":"')


def test_a_gzip_bomb_of_one_endless_record_stops_at_the_record_bound_in_bounded_memory(
    kind: str, record_bomb: bytes
) -> None:
    with serving(answer(200, record_bomb, content_encoding="gzip")) as server:
        builder = AuditorClientBuilder().connection_string(server.url).retries(0)
        api = Blockingly(builder.build() if kind == "async" else builder.build_blocking())
        raised, peak = peak_of(api.get)
    assert isinstance(raised, ResponseTooLargeError), raised
    assert peak < 60 * MiB, f"peak {peak / MiB:.1f} MiB for a 2 MB answer that inflates to 2 GB"
