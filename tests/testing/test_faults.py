"""The fault-injection API: what clients see when the server misbehaves on purpose."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest

from pyauditor.testing import (
    AuditorTestServer,
    Close,
    Delay,
    RecordsFormat,
    Reset,
    Respond,
    Truncate,
)

from .test_routes import record


def test_respond_replaces_matching_answers_a_number_of_times(
    server: AuditorTestServer, http: httpx.Client
) -> None:
    fault = server.inject(Respond(500, "UNEXPECTED_ERROR"), method="POST", path="/record", times=2)
    assert fault.active
    assert http.get("/health_check").status_code == 200  # not matching
    for _ in range(2):
        response = http.post("/record", json=record("a"))
        assert (response.status_code, response.content) == (500, b"UNEXPECTED_ERROR")
        assert "content-type" not in response.headers
    assert server.count() == 0  # not processed
    assert (fault.hits, fault.remaining, fault.active) == (2, 0, False)
    assert http.post("/record", json=record("a")).status_code == 200


def test_respond_after_processing_stores_the_record(
    server: AuditorTestServer, http: httpx.Client
) -> None:
    server.inject(Respond(503, b"busy", "text/plain", process=True), path="/record")
    assert http.post("/record", json=record("p")).status_code == 503
    assert server.record("p") is not None
    assert http.post("/record", json=record("p")).content == b"RECORD_EXISTS"


def test_path_patterns_methods_and_unlimited_faults(
    server: AuditorTestServer, http: httpx.Client
) -> None:
    fault = server.inject(Respond(418), path=re.compile(r"/record/.*"), times=None)
    assert http.get("/record/x").status_code == 418
    assert http.get("/record/y").status_code == 418
    assert http.get("/records").status_code == 200
    assert fault.remaining is None
    assert server.faults == [fault]
    fault.remove()
    assert http.get("/record/x").status_code == 500
    server.inject(Respond(429), method="put")
    assert http.put("/record", json=record("x")).status_code == 429
    server.inject(Respond(400))
    server.clear_faults()
    assert server.faults == []


def test_delay_past_a_client_timeout(server: AuditorTestServer) -> None:
    server.inject(Delay(1.0, process_first=True), method="POST")
    with httpx.Client(base_url=server.url, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/record", json=record("slow"))
        time.sleep(0.1)
        assert server.record("slow") is not None  # the write happened; a retry is a duplicate
        assert client.post("/record", json=record("slow")).content == b"RECORD_EXISTS"
    server.inject(Delay(0.2, then=Respond(502)))
    started = time.monotonic()
    assert httpx.get(server.url + "/health_check").status_code == 502
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("process", [False, True])
def test_reset_and_close_without_an_answer(server: AuditorTestServer, process: bool) -> None:
    server.inject(Reset(process=process), path="/record")
    with pytest.raises(httpx.TransportError):
        httpx.post(server.url + "/record", json=record("r"))
    server.inject(Close(process=process), path="/record")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(server.url + "/record", json=record("c"))
    assert (server.record("r") is not None) is process
    assert (server.record("c") is not None) is process
    assert [entry.status for entry in server.requests] == [None, None]


def test_reset_mid_stream_and_truncated_streams(
    server: AuditorTestServer, http: httpx.Client
) -> None:
    http.post("/records", json=[record(f"s{i}") for i in range(50)])
    full = http.get("/records").content
    server.inject(Reset(after_bytes=400), path="/records", method="GET")
    with pytest.raises(httpx.TransportError):
        http.get("/records")
    server.inject(Truncate(after_bytes=1000), path="/records")
    truncated = http.get("/records")
    assert truncated.status_code == 200  # AUDITOR's stream ends cleanly after a DB error
    assert truncated.content == full[:1000]
    server.inject(Truncate(after_bytes=5), path="/health_check")
    assert http.get("/health_check").status_code == 200  # an empty body is not cut


def test_records_formats_of_older_servers(server: AuditorTestServer, http: httpx.Client) -> None:
    server.inject(RecordsFormat("array"), times=2)  # POST /records does not use it up
    assert http.get("/records").content == b"[]"
    http.post("/records", json=[record("a"), record("b")])
    array = json.loads(http.get("/records").content)
    assert [r["record_id"] for r in array] == ["a", "b"]
    server.inject(RecordsFormat("ndjson"))
    lines = http.get("/records").content.splitlines()
    assert [json.loads(line)["record_id"] for line in lines] == ["a", "b"]


@pytest.mark.parametrize("mode", ["refuse", "reset", "close"])
def test_down_and_up(server: AuditorTestServer, http: httpx.Client, mode: str) -> None:
    assert http.get("/health_check").status_code == 200
    with server.down(mode):  # type: ignore[arg-type]
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/health_check")
        with pytest.raises(httpx.TransportError):
            http.get("/health_check")  # the pooled connection was dropped
    assert httpx.get(server.url + "/health_check").status_code == 200
    server.down(seconds=0.2)
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health_check")
    time.sleep(0.5)
    assert httpx.get(server.url + "/health_check").status_code == 200


def test_request_log_is_bounded_and_clearable(server_factory) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(request_log_size=3)
    with httpx.Client(base_url=server.url) as http:
        http.post("/record", json=record("log"))
        for _ in range(4):
            http.get("/records", params={"limit": "1"})
    entries = server.requests
    assert len(entries) == 3
    assert {(e.method, e.path, e.query, e.status) for e in entries} == {
        ("GET", "/records", "limit=1", 200)
    }
    server.clear_requests()
    assert server.requests == []


def test_an_answer_is_in_the_request_log_by_the_time_the_client_has_it(  # type: ignore[no-untyped-def]
    server_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``server.requests[-1]`` right after a call (the README's example) never misses it.

    Logging is made slow here: the exchange must still be logged before the answer's last
    bytes leave, whatever kind of answer it is.
    """
    original = AuditorTestServer._record

    def slow(self: AuditorTestServer, exchange: object) -> None:
        time.sleep(0.05)
        original(self, exchange)  # type: ignore[arg-type]

    monkeypatch.setattr(AuditorTestServer, "_record", slow)
    server = server_factory()
    calls = [
        ("GET", "/health_check"),  # an empty body: the head completes the answer
        ("HEAD", "/health_check"),
        ("POST", "/record"),
        ("GET", "/records"),  # a streamed answer
        ("GET", "/no/such/route"),
        ("GET", "/faulty"),  # an injected answer
    ]
    server.inject(Respond(503, "busy"), path="/faulty")
    with httpx.Client(base_url=server.url) as http:
        for count, (method, path) in enumerate(calls, 1):
            body = record("log") if method == "POST" else None
            http.request(method, path, json=body)
            assert len(server.requests) == count, (method, path)
            assert (server.requests[-1].method, server.requests[-1].path) == (method, path)
        server.inject(Reset(), path="/reset")
        with pytest.raises(httpx.TransportError):
            http.get("/reset")
        assert server.requests[-1].path == "/reset"


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Respond(99), ValueError),
        (lambda: Respond(200, 5), TypeError),  # type: ignore[arg-type]
        (lambda: Reset(after_bytes=-1), ValueError),
        (lambda: Truncate(after_bytes=1.5), ValueError),  # type: ignore[arg-type]
        (lambda: Delay(-1), ValueError),
        (lambda: RecordsFormat("xml"), ValueError),  # type: ignore[arg-type]
    ],
)
def test_bad_actions_are_rejected(make, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        make()


def test_bad_inject_and_constructor_arguments(server: AuditorTestServer) -> None:
    with pytest.raises(TypeError):
        server.inject("boom")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        server.inject(Respond(500), times=0)
    with pytest.raises(ValueError, match="method"):
        server.inject(Respond(500), method="GET /x")
    with pytest.raises(ValueError, match="mode"):
        server.down("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port"):
        AuditorTestServer(port=70000)
    with pytest.raises(ValueError, match="TLS"):
        AuditorTestServer(tls_cert="cert.pem")
    with pytest.raises(TypeError):
        server.record(1)  # type: ignore[arg-type]
    stopped = AuditorTestServer()
    with pytest.raises(RuntimeError, match="not running"):
        stopped.records()
    with pytest.raises(RuntimeError, match="not running"):
        _ = stopped.url


@pytest.mark.without_exchange_hook
def test_without_a_hook_bodies_are_counted_not_kept() -> None:
    with AuditorTestServer() as server, httpx.Client(base_url=server.url) as http:
        http.post("/records", json=[record(f"b{i}") for i in range(100)])
        body = http.get("/records").content
        # The server logs an exchange after its last byte is sent, which the client may read
        # first: wait for the entry.
        deadline = time.monotonic() + 10
        while server.requests[-1].method != "GET" and time.monotonic() < deadline:
            time.sleep(0.01)
        entry = server.requests[-1]
        assert entry.method == "GET"
        assert entry.response_size == len(body) > 20_000
        assert entry.fault is None


def test_stop_ends_injected_delays() -> None:
    server = AuditorTestServer().start()
    server.inject(Delay(60))
    errors: list[Exception] = []

    def call() -> None:
        try:
            httpx.get(server.url + "/health_check", timeout=30)
        except httpx.HTTPError as err:
            errors.append(err)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.stop()
    thread.join(10)
    assert time.monotonic() - started < 3
    assert not thread.is_alive()
