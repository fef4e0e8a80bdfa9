"""Fault injection: what the clients do when the server or the network misbehaves."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from pyauditor import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuditorClientBuilder,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    Record,
    RecordExistsError,
    ResponseDecodeError,
    ServerError,
    StreamDecodeError,
    ValidationError,
)
from pyauditor.testing import (
    AuditorTestServer,
    Close,
    Delay,
    RecordsFormat,
    Reset,
    Respond,
    Truncate,
)
from tests.clients.conftest import T0, TrafficCheck, builder_for, logged
from tests.clients.test_methods import Blockingly, job


@pytest.fixture(params=["async", "blocking"])
def api(request: pytest.FixtureRequest, server: AuditorTestServer) -> Iterator[Blockingly]:
    builder = builder_for(server, timeout=2).retries(2, initial_delay=0.01, max_delay=0.05)
    if request.param == "async":
        yield Blockingly(builder.build())
    else:
        with builder.build_blocking() as client:
            yield Blockingly(client)


def posts(server: AuditorTestServer, path: str = "/record") -> int:
    return sum(1 for r in logged(server) if r.method == "POST" and r.path == path)


# -- server down, slow, resetting ------------------------------------------------------------


def test_server_down(api: Blockingly, server: AuditorTestServer) -> None:
    with server.down("refuse"):
        assert api.health_check() is False
        with pytest.raises(APIConnectionError, match="cannot connect") as caught:
            api.add(job("r1"))
        assert not isinstance(caught.value, APITimeoutError)
        with pytest.raises(APIConnectionError):
            api.get()
    assert api.health_check() is True


def test_nothing_listening_at_all() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AuditorClientBuilder().address("127.0.0.1", port).retries(0).build_blocking()
    assert client.health_check() is False
    with pytest.raises(APIConnectionError, match=f"POST http://127.0.0.1:{port}/record"):
        client.add(job("r1"))


@pytest.mark.parametrize("mode", ["reset", "close"])
def test_server_dropping_connections(api: Blockingly, server: AuditorTestServer, mode: str) -> None:
    with server.down(mode):  # type: ignore[arg-type]
        with pytest.raises(APIConnectionError):
            api.add(job("r1"))
        assert api.health_check() is False


def test_slow_server_past_the_timeout(api: Blockingly, server: AuditorTestServer) -> None:
    server.inject(Delay(5), method="POST", times=None)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="timeout of 2 s"):
        api.add(job("r1"))
    assert time.monotonic() - started < 4.5


def test_slow_server_within_the_timeout(api: Blockingly, server: AuditorTestServer) -> None:
    server.inject(Delay(0.3), times=None)
    api.add(job("r1"))
    assert len(api.get()) == 1


def test_write_whose_answer_is_lost_is_not_retried(
    api: Blockingly, server: AuditorTestServer
) -> None:
    """The record may be stored; repeating the POST blindly would only give RECORD_EXISTS."""
    server.inject(Reset(process=True), method="POST")
    with pytest.raises(APIConnectionError):
        api.add(job("r1"))
    assert posts(server) == 1
    assert server.count() == 1
    with pytest.raises(RecordExistsError):
        api.add(job("r1"))


def test_reads_are_retried_after_connection_errors_and_5xx(
    api: Blockingly, server: AuditorTestServer
) -> None:
    api.add(job("r1"))
    server.inject(Close(), method="GET", path="/records")
    server.inject(Respond(503, "busy"), method="GET", path="/records")
    assert [r.record_id for r in api.get()] == ["r1"]
    assert sum(1 for r in logged(server, 4) if r.method == "GET") == 3


def test_retries_give_up_after_the_configured_number(
    api: Blockingly, server: AuditorTestServer
) -> None:
    server.inject(Respond(500, "boom"), method="GET", times=None)
    with pytest.raises(ServerError, match="HTTP 500: boom"):
        api.get()
    assert sum(1 for r in logged(server, 3) if r.method == "GET") == 3


def test_retries_can_be_switched_off(server: AuditorTestServer) -> None:
    client = builder_for(server).retries(0).build_blocking()
    server.inject(Respond(500, "boom"), method="GET", times=None)
    with pytest.raises(ServerError):
        client.get()
    assert len(logged(server, 2, timeout=0.5)) == 1


def test_client_errors_are_not_retried(api: Blockingly, server: AuditorTestServer) -> None:
    server.inject(Respond(400, '{"error":"bad"}', "application/json"), method="GET", times=None)
    with pytest.raises(BadRequestError):
        api.get()
    assert len(logged(server, 2, timeout=0.5)) == 1


# -- error answers to writes: never reported as success ----------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (500, "UNEXPECTED_ERROR", ServerError),
        (500, "", ServerError),
        (502, "<html>Bad Gateway</html>", ServerError),
        (400, "Json deserialize error: missing field `components`", BadRequestError),
        (404, "The requested resource was not found. 404 Not Found", NotFoundError),
        (
            413,
            "JSON payload (3000000 bytes) is larger than allowed (limit: 2097152 bytes).",
            PayloadTooLargeError,
        ),
        (500, "RECORD_EXISTS", RecordExistsError),
    ],
)
@pytest.mark.parametrize("method", ["add", "bulk_insert", "update"])
def test_error_answers_to_writes_raise(
    api: Blockingly,
    server: AuditorTestServer,
    traffic: TrafficCheck,
    status: int,
    body: str,
    error: type[APIStatusError],
    method: str,
) -> None:
    server.inject(Respond(status, body), times=None)
    record = job("r1")
    argument: Any = [record] if method == "bulk_insert" else record
    with pytest.raises(
        error if (method != "update" or error is not RecordExistsError) else RecordExistsError
    ) as caught:
        getattr(api, method)(argument)
    assert caught.value.status_code == status
    assert caught.value.body == body
    assert server.count() == 0


@pytest.mark.parametrize("kind", ["async", "blocking"])
def test_a_duplicate_on_an_ignoring_server_is_ignored_and_a_conflict_raised(
    kind: str, server_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """``ignore_record_exists_error`` answers a duplicate 200 with a warning and stores nothing.

    ``add`` and ``bulk_insert`` follow one rule: the record is read back; the very record is a
    duplicate that setting asks to ignore (logged at WARNING), another record under its id is a
    RecordExistsError.  Nothing the server does not hold is reported as stored.
    """
    server = server_factory(ignore_record_exists_error=True)
    builder = builder_for(server)
    client = Blockingly(builder.build() if kind == "async" else builder.build_blocking())
    client.add(job("r1"))
    with caplog.at_level(logging.WARNING, logger="pyauditor"):
        client.add(job("r1"))  # the same record: not an error on this server
        client.bulk_insert([job("r1"), job("r2")])
    assert "ignore_record_exists_error" in caplog.text
    assert "record 'r1' already" in caplog.text  # records appear in the log by their ids
    for call in (
        lambda: client.add(job("r1", site="elsewhere")),
        lambda: client.bulk_insert([job("r1", site="elsewhere")]),
    ):
        with pytest.raises(RecordExistsError) as caught:
            call()
        assert str(caught.value) == "RECORD_EXISTS"
    assert server.count() == 2
    assert server.record("r1")["meta"]["site_id"] == ["site1"]


PROXY_PAGE = Respond(200, "<html>Welcome to the proxy</html>", "text/html")


@pytest.mark.parametrize("method", ["add", "bulk_insert"])
def test_a_2xx_answer_auditor_never_sends_is_no_success_unless_the_record_is_stored(
    api: Blockingly, server: AuditorTestServer, method: str
) -> None:
    """A 2xx body AUDITOR never sends (a proxy's page) says nothing about the record: the
    clients read it back.  Not stored: a ResponseDecodeError (an answer problem, not a
    validation problem), for ``add`` as for ``bulk_insert``; stored: success."""
    server.inject(PROXY_PAGE, method="POST", times=None)
    call = api.add if method == "add" else lambda r: api.bulk_insert([r])
    with pytest.raises(
        ResponseDecodeError, match=r"AUDITOR never sends.*nothing was stored"
    ) as caught:
        call(job("r1"))
    assert not isinstance(caught.value, ValidationError)
    assert server.count() == 0
    if method == "bulk_insert":
        assert caught.value.records_stored == 0
    server.clear_faults()
    server.inject(replace(PROXY_PAGE, process=True), method="POST", times=None)
    call(job("r2"))  # stored behind the page: success
    assert server.count() == 1


@pytest.mark.parametrize("method", ["add", "bulk_insert"])
def test_a_2xx_answer_auditor_never_sends_and_a_refused_read_back_is_no_success(
    api: Blockingly, server: AuditorTestServer, method: str
) -> None:
    """A write-only client (AUDITOR's RBAC answers its reads 403) cannot read the record
    back: nothing says it was stored, so it is not reported as stored, nor as a conflict.
    ``add`` and ``bulk_insert`` say so in the same words (not as a failed ``GET``)."""
    server.inject(replace(PROXY_PAGE, process=True), method="POST", times=None)
    server.inject(Respond(403, "Access denied by RBAC policy"), method="GET", times=None)
    call = api.add if method == "add" else lambda r: api.bulk_insert([r])
    with pytest.raises(ResponseDecodeError, match="whether it was stored is unknown") as caught:
        call(job("r1"))
    assert "403" in str(caught.value)
    assert "AUDITOR never sends" in str(caught.value)
    if method == "bulk_insert":
        assert caught.value.records_stored == 0


def test_an_update_answered_with_a_2xx_body_auditor_never_sends_is_checked(
    api: Blockingly, server: AuditorTestServer
) -> None:
    api.add(job("r1", stop=False))
    server.inject(PROXY_PAGE, method="PUT", times=1)
    with pytest.raises(ResponseDecodeError, match="does not have the stop time sent"):
        api.update(job("r1"))
    assert server.record("r1")["stop_time"] is None
    server.inject(replace(PROXY_PAGE, process=True), method="PUT", times=1)
    api.update(job("r1"))  # applied behind the page: success
    assert server.record("r1")["stop_time"] is not None


# -- broken GET /records streams ----------------------------------------------------------------


def test_truncated_stream_is_an_error_not_a_short_list(
    api: Blockingly, server: AuditorTestServer
) -> None:
    """AUDITOR ends the stream early on a database error and still answered 200."""
    api.bulk_insert([job(f"r{i}") for i in range(20)])
    server.inject(Truncate(after_bytes=1000), method="GET", path="/records", times=None)
    with pytest.raises(StreamDecodeError) as caught:
        api.get()
    assert caught.value.index >= 1
    assert "value #" in str(caught.value)


def test_truncation_at_a_record_boundary_cannot_be_detected(
    api: Blockingly, server: AuditorTestServer
) -> None:
    """What AUDITOR itself cannot tell apart: document the limit of detection."""
    api.bulk_insert([job("r1"), job("r2")])
    first = len(server.records()[0]) and len(
        __import__("json")
        .dumps(server.records()[0], separators=(",", ":"), ensure_ascii=False)
        .encode()
    )
    server.inject(Truncate(after_bytes=first), method="GET", path="/records")
    assert len(api.get()) == 1


def test_connection_reset_in_the_middle_of_a_stream(
    api: Blockingly, server: AuditorTestServer
) -> None:
    api.bulk_insert([job(f"r{i}") for i in range(200)])
    server.inject(Reset(after_bytes=5000), method="GET", path="/records", times=None)
    with pytest.raises(APIConnectionError):
        api.get()


@pytest.mark.parametrize("after_bytes", [150, 250, 350])
def test_iter_records_retries_a_stream_broken_before_its_first_record(
    api: Blockingly, server: AuditorTestServer, after_bytes: int
) -> None:
    """The retry starts from a clean slate, not from the half record the first attempt saw.

    The reset comes after the headers and part of the first record (about 290 bytes).
    """
    api.bulk_insert([job(f"r{i:03d}") for i in range(3)])
    server.inject(Reset(after_bytes=after_bytes), method="GET", path="/records")
    assert [r.record_id for r in api.iter_records()] == ["r000", "r001", "r002"]
    assert sum(1 for r in logged(server, 3) if r.method == "GET") == 2


def test_iter_records_keeps_what_it_yielded_before_a_reset(server: AuditorTestServer) -> None:
    client = builder_for(server).retries(0).build_blocking()
    client.bulk_insert([job(f"r{i:04d}") for i in range(2000)])
    server.inject(Reset(after_bytes=200_000), method="GET", path="/records")
    got: list[str] = []

    def consume() -> None:
        for record in client.iter_records():
            got.append(record.record_id)

    with pytest.raises(APIConnectionError, match="connection broke"):
        consume()
    assert 0 < len(got) < 2000
    # The server orders by stop time, equal here: compare with its own order, not the ids'.
    assert got == [r.record_id for r in client.get()][: len(got)], "what was yielded is intact"


@pytest.mark.parametrize("body_format", ["array", "ndjson", "concatenated"])
def test_every_body_format_of_every_server_version(
    api: Blockingly, server: AuditorTestServer, traffic: TrafficCheck, body_format: str
) -> None:
    api.bulk_insert([job("r1"), job("r2")])
    traffic.allow_invalid_requests = False
    server.inject(RecordsFormat(body_format), method="GET", path="/records")  # type: ignore[arg-type]
    assert sorted(r.record_id for r in api.get()) == ["r1", "r2"]


@pytest.mark.parametrize(
    ("body", "offset"),
    [
        ("hello", 0),
        ('{"foo":1}', 0),
        ("[[{}]]", 1),
        ("null", 0),
        (
            '{"record_id":"a","meta":null,"components":[],"start_time":"2022-08-08T11:30:00Z"}'
            '{"record_id":"b",',
            81,
        ),
    ],
)
def test_malformed_bodies_raise_instead_of_vanishing(
    api: Blockingly, server: AuditorTestServer, body: str, offset: int
) -> None:
    server.inject(Respond(200, body, "application/json"), method="GET", path="/records", times=None)
    with pytest.raises(StreamDecodeError) as caught:
        api.get()
    assert caught.value.offset == offset
    assert f"at byte {offset}" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"record_id":"x","start_time":"2022-08-08T13:30:00"}', "start_time"),
        ('{"record_id":"x","components":[{"name":"c","amount":-1,"scores":[]}]}', "amount"),
        ('{"record_id":"x","meta":{"k":"v"}}', "meta"),
        ('{"record_id":"x","runtime":"5"}', "runtime"),
        ('{"record_id":"x","meta":null}', "start_time is missing"),
    ],
)
def test_malformed_records_raise_naming_the_record(
    api: Blockingly, server: AuditorTestServer, body: str, field: str
) -> None:
    """Each record is checked on arrival, against the contract; get() names the bad one."""
    if field != "start_time" and "start_time is" not in field:
        body = body[:-1] + ',"start_time":"2022-08-08T11:30:00Z"}'
    server.inject(Respond(200, "\n" + body, "application/json"), method="GET", path="/records")
    with pytest.raises(StreamDecodeError) as caught:
        api.get()
    assert caught.value.index == 0
    assert caught.value.offset == 1
    assert "record #0 at byte 1" in str(caught.value)
    assert field in str(caught.value)


def test_a_large_record_is_fine(api: Blockingly) -> None:
    """python-auditor's async client panics on any record of 10 kB or more."""
    from pyauditor import Meta

    values = [f"value-{i:04d}-" + "v" * 200 for i in range(100)]
    big = Record("big", T0).with_meta(Meta().insert("k", values))
    api.add(big)
    (got,) = api.get()
    assert got.meta.get("k") == values  # type: ignore[union-attr]
    assert len(got.to_json()) > 20000


async def test_timeout_bounds_the_whole_request_not_each_chunk(server: AuditorTestServer) -> None:
    client = builder_for(server, timeout=1).retries(0).build()
    server.inject(Delay(0.6, then=Delay(0.6)), method="GET")
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        await client.get()
    assert time.monotonic() - started < 1.5


def test_streaming_timeout_is_per_chunk(server: AuditorTestServer) -> None:
    client = builder_for(server, timeout=1).retries(0).build_blocking()
    client.add(job("r1"))
    server.inject(Delay(0.7), method="GET")
    assert [r.record_id for r in client.iter_records()] == ["r1"]


def test_bulk_insert_failure_says_how_many_records_this_call_stored(
    server: AuditorTestServer,
) -> None:
    client = builder_for(server, timeout=60).build_blocking()  # 20k records, busy machine
    records = [job(f"r{i:05d}") for i in range(20000)]
    failing = server.inject(Respond(500, "UNEXPECTED_ERROR"), method="POST", times=None)
    with pytest.raises(ServerError) as caught:
        client.bulk_insert(records)
    assert caught.value.records_stored == 0
    failing.remove()
    client.bulk_insert(records[:3000])
    with pytest.raises(RecordExistsError) as exists:
        client.bulk_insert(records)
    assert exists.value.records_stored == 17000, "every record but the stored ones"
    assert server.count() == 20000
    assert posts(server, "/records") > 3, "20000 records do not fit in one 2 MiB body"
    assert all(r.request_size <= 2 * 1024 * 1024 for r in server.requests)


def test_bulk_insert_gets_past_a_passing_server_failure(server: AuditorTestServer) -> None:
    """Two 5xx answers in a 2000-record batch: the planner narrows them down and goes on."""
    client = builder_for(server, timeout=60).build_blocking()
    server.inject(Respond(500, "UNEXPECTED_ERROR"), method="POST", path="/records", times=2)
    client.bulk_insert([job(f"r{i:04d}") for i in range(2000)])
    assert server.count() == 2000


def test_async_client_surfaces_a_record_exists_after_partial_bulk(
    server: AuditorTestServer,
) -> None:
    client = builder_for(server, timeout=60).build()
    records = [job(f"r{i:05d}") for i in range(20000)]
    asyncio.run(client.bulk_insert(records[:9000]))
    stored_before = server.count()
    # A later chunk collides; the chunks before it are stored.
    with pytest.raises(RecordExistsError) as caught:
        asyncio.run(client.bulk_insert([*records[9000:], records[0]]))
    assert caught.value.records_stored is not None
    assert server.count() == stored_before + caught.value.records_stored
