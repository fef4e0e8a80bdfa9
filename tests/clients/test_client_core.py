"""One client API, four classes: parity, the operation table, pickling, Retry-After, transports,
builder checks, the import graph and the ignore_record_exists_error silent loss (issue 12)."""

from __future__ import annotations

import ast
import asyncio
import copy
import datetime as dt
import inspect
import math
import pickle
import socket
import threading
from pathlib import Path
from typing import Any

import h11
import httpcore
import httpx
import pytest
import yaml

import pyauditor
from pyauditor import (
    APIStatusError,
    AuditorClient,
    AuditorClientBlocking,
    AuditorClientBuilder,
    ConfigurationError,
    QueuedAuditorClient,
    QueuedAuditorClientBlocking,
    Record,
    RecordExistsError,
    ServerError,
    _errors,
    _operations,
)
from pyauditor._http import async_raw_chunks, has_deadline_streams, raw_chunks, reads_ahead
from pyauditor._protocol import RetryPolicy, parse_retry_after
from pyauditor.testing import AuditorTestServer, Respond
from tests.clients.conftest import PKI, T0, builder_for, logged
from tests.clients.test_methods import Blockingly, job

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = [AuditorClient, AuditorClientBlocking, QueuedAuditorClient, QueuedAuditorClientBlocking]
# What only some classes have: connection handling and the queue's own methods.
OWN = {"aclose", "close", "pending", "dead_letters", "retry_dead_letters", "delete_dead_letters"}
OWN |= {"flush", "stop"}


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(cls, name), eval_str=True)
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name)) and name not in OWN
    }


# -- one API ---------------------------------------------------------------------------------


def test_the_four_clients_offer_the_same_operations_with_the_same_signatures() -> None:
    reference = public_methods(AuditorClient)
    assert set(reference) >= {
        "add", "bulk_insert", "update", "get", "get_started_since", "get_stopped_since",
        "advanced_query", "get_single_record", "get_one_record", "health_check", "iter_records",
    }  # fmt: skip
    for cls in CLIENTS[1:]:
        methods = public_methods(cls)
        assert set(methods) == set(reference), cls
        for name, signature in reference.items():
            other = methods[name]
            assert other.parameters == signature.parameters, (cls, name)
            if name != "iter_records":  # AsyncIterator vs Iterator
                assert other.return_annotation == signature.return_annotation, (cls, name)


def test_async_clients_have_coroutine_methods_and_blocking_ones_plain_ones() -> None:
    for cls in CLIENTS:
        asynchronous = cls in (AuditorClient, QueuedAuditorClient)
        for name in public_methods(cls):
            method = getattr(cls, name)
            if name == "iter_records":
                assert not inspect.iscoroutinefunction(method)
                continue
            assert inspect.iscoroutinefunction(method) is asynchronous, (cls, name)
            assert method.__doc__, (cls, name)
            assert method.__qualname__ == f"{cls.__name__}.{name}"


@pytest.mark.parametrize("blocking", [False, True])
def test_the_queued_clients_stream_records_too(
    server: AuditorTestServer, tmp_path: Path, blocking: bool
) -> None:
    builder = builder_for(server).database_path(tmp_path / "q.db")
    builder_for(server).build_blocking().bulk_insert([job("a"), job("b")])
    if blocking:
        with builder.build_queued_blocking() as queued:
            assert sorted(r.record_id for r in queued.iter_records()) == ["a", "b"]
        return

    async def run() -> list[str]:
        async with await builder.build_queued() as queued:
            return sorted([r.record_id async for r in queued.iter_records("limit=5")])

    assert asyncio.run(run()) == ["a", "b"]


def test_the_operation_table_matches_openapi_yaml() -> None:
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    declared = {
        operation["operationId"]: (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for route in _operations.ROUTES:
        assert declared[route.operation_id] == (route.method, route.path), route


def test_paths_come_only_from_the_generated_route_table() -> None:
    """No client module writes an API path itself (the batch planner and the CLI included).

    The embedded server (pyauditor/testing/) is exempt: it plays AUDITOR's side of the
    contract, which the contract tests check against openapi.yaml.
    """
    package = ROOT / "pyauditor"
    checked = 0
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(package / "testing"):
            continue
        text = path.read_text()
        checked += 1
        for literal in ('"/record"', '"/records"', '"/health_check"', '"/record/', "'/record"):
            assert literal not in text, (str(path.relative_to(ROOT)), literal)
    assert checked > 30


# -- exceptions pickle -----------------------------------------------------------------------


def _every_error_class() -> list[type[BaseException]]:
    return [getattr(_errors, name) for name in _errors.__all__]


def _example(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, APIStatusError):
        return cls(
            "GET u failed", status_code=503, body="busy", method="GET", url="u", retry_after=2.5
        )
    if cls is _errors.StreamDecodeError:
        return cls("bad record", index=3, offset=77, body="{")
    if cls is _errors.ResponseTooLargeError:
        return cls("too large", limit=1024, body="x")
    if cls is _errors.ResponseDecodeError:
        return cls("bad", body="x")
    if issubclass(cls, _errors.APIConnectionError):
        return cls("refused", method="POST", url="u")
    if cls is _errors.ValidationError:
        return cls("bad id", field="record_id", value="", rule="not blank")
    return cls("message")


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda c: c.__name__)
def test_every_exception_pickles_with_its_attributes(cls: type[BaseException]) -> None:
    error = _example(cls)
    error.records_stored = 7  # type: ignore[attr-defined]
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(again) is cls
        assert str(again) == str(error)
        assert again.args == error.args
        assert vars(again) == vars(error)
    assert vars(copy.copy(error)) == vars(error)


def test_a_raised_status_error_survives_a_process_boundary(server: AuditorTestServer) -> None:
    client = builder_for(server).retries(0).build_blocking()
    server.inject(Respond(500, "UNEXPECTED_ERROR"), method="POST")
    with pytest.raises(ServerError) as caught:
        client.add(job("r1"))
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.status_code, again.body, again.method) == (500, "UNEXPECTED_ERROR", "POST")


# -- Retry-After -----------------------------------------------------------------------------


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    now = 1_445_412_400.0  # 2015-10-21 07:26:40 UTC
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 80.0
    for unreadable in (None, "", "soon", "-5", "1.5", "9" * 40):
        assert parse_retry_after(unreadable) is None


def test_retry_after_replaces_the_backoff_within_its_bounds() -> None:
    policy = RetryPolicy(max_retries=3, initial_delay=4.0, jitter=0.0)

    def busy(seconds: float | None, status: int = 503) -> APIStatusError:
        return APIStatusError("busy", status_code=status, retry_after=seconds)

    assert policy.wait_before_retry(busy(0.2), 0, budget=30) == 0.2
    assert policy.wait_before_retry(busy(2, 429), 0, budget=30) == 2
    assert policy.wait_before_retry(busy(None), 0, budget=30) == 4.0
    assert policy.wait_before_retry(busy(31), 0, budget=30) is None, "longer than the timeout"
    assert policy.wait_before_retry(busy(61), 0, budget=600) is None, "longer than 60 s"
    assert policy.wait_before_retry(busy(1), 3, budget=30) is None, "retries used up"


@pytest.fixture(params=["async", "blocking"])
def api_factory(request: pytest.FixtureRequest) -> Any:
    def make(builder: AuditorClientBuilder) -> Blockingly:
        if request.param == "async":
            return Blockingly(builder.build())
        return Blockingly(builder.build_blocking())

    return make


def test_a_503_with_retry_after_is_retried_after_that_wait(
    api_factory: Any, server: AuditorTestServer
) -> None:
    api = api_factory(builder_for(server).retries(1, initial_delay=30))
    server.inject(Respond(503, "busy", headers=(("Retry-After", "0"),)), method="GET")
    assert api.get() == []  # an initial_delay of 30 s would have hit the test's timeout
    assert len(logged(server, 2)) == 2


def test_a_429_asking_for_longer_than_the_timeout_is_not_retried(
    api_factory: Any, server: AuditorTestServer
) -> None:
    api = api_factory(builder_for(server, timeout=2).retries(3, initial_delay=0.01))
    server.inject(Respond(429, "slow down", headers=(("Retry-After", "3600"),)), method="GET")
    with pytest.raises(APIStatusError) as caught:
        api.get()
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 3600
    assert len(logged(server)) == 1


# -- the transport seam ----------------------------------------------------------------------


def _mock() -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    body = b'{"record_id":"r1","meta":null,"components":[],"start_time":"2022-08-08T11:30:00Z","stop_time":null,"runtime":null}'

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/records" and request.method == "GET":
            return httpx.Response(200, content=body)
        if request.url.path == "/record/r1":
            return httpx.Response(200, content=body)
        return httpx.Response(200)

    return httpx.MockTransport(handler), seen


def test_a_mock_transport_serves_both_kinds_of_client() -> None:
    transport, seen = _mock()
    builder = AuditorClientBuilder().address("auditor.invalid", 8000).transport(transport)
    with builder.build_blocking() as blocking:
        blocking.add(Record("r1", T0))
        assert [r.record_id for r in blocking.iter_records()] == ["r1"]

    async def run() -> None:
        async with builder.build() as client:
            assert (await client.get_single_record("r1")).record_id == "r1"
            assert await client.health_check()

    asyncio.run(run())
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/record"),
        ("GET", "/records"),
        ("GET", "/record/r1"),
        ("GET", "/health_check"),
    ]
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].headers["user-agent"].startswith("pyauditor/")
    # The transport stays the caller's: closing both clients did not close it.
    with builder.build_blocking() as again:
        again.add(Record("r2", T0))


def test_a_transport_of_one_kind_cannot_build_the_other_client() -> None:
    sync_only = AuditorClientBuilder().transport(httpx.HTTPTransport())
    sync_only.build_blocking()
    with pytest.raises(ConfigurationError, match="AsyncBaseTransport"):
        sync_only.build()
    async_only = AuditorClientBuilder().transport(httpx.AsyncHTTPTransport())
    async_only.build()
    with pytest.raises(ConfigurationError, match=r"httpx\.BaseTransport"):
        async_only.build_blocking()
    with pytest.raises(TypeError, match="transport"):
        AuditorClientBuilder().transport("http://proxy:3128")  # type: ignore[arg-type]


def test_httpx_transports_get_the_whole_request_deadline(server: AuditorTestServer) -> None:
    """The blocking client's deadline lives in httpx internals: a change must fail here."""
    plain = builder_for(server).build_blocking()
    assert has_deadline_streams(plain._pool)
    given = httpx.HTTPTransport()
    with builder_for(server).transport(given).build_blocking() as client:
        assert client.get() == []
    assert isinstance(given._pool._network_backend, pyauditor._http._DeadlineBackend)


async def test_the_async_client_reads_what_asyncio_read_whole(server: AuditorTestServer) -> None:
    """The read-ahead lives in httpx internals: a change must fail here.  A transport given to
    the builder is left as its owner made it."""
    client = builder_for(server).build()
    assert await client.get() == []
    assert reads_ahead(await client._pool())
    given = httpx.AsyncHTTPTransport()
    assert await builder_for(server).transport(given).build().get() == []
    assert not isinstance(given._pool._network_backend, pyauditor._http._ReadAheadBackend)


async def test_read_ahead_enlarges_only_a_parser_s_reads() -> None:
    asked: list[int] = []

    class Inner(httpcore.AsyncNetworkStream):
        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
            asked.append(max_bytes)
            return b"x"

    stream = pyauditor._http._ReadAheadStream(Inner())
    for size in (1, 4096, 65535, 65536, 1 << 20):
        assert await stream.read(size) == b"x"
    # httpcore's HTTP connections ask for 64 KiB; a SOCKS handshake reads 4 KiB exactly.
    assert asked == [1, 4096, 65535, 256 * 1024, 1 << 20]


def test_the_blocking_client_s_deadline_streams_read_ahead_too() -> None:
    asked: list[tuple[int, float | None]] = []

    class Inner(httpcore.NetworkStream):
        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            asked.append((max_bytes, timeout))
            return b"x"

    stream = pyauditor._http._DeadlineStream(Inner())
    for size in (1, 4096, 65535, 65536, 1 << 20):
        assert stream.read(size, 5.0) == b"x"
    assert asked == [(1, 5.0), (4096, 5.0), (65535, 5.0), (256 * 1024, 5.0), (1 << 20, 5.0)]


# AUDITOR streams every record as its own HTTP chunk: the clients take whatever has arrived in
# few pieces, partial chunks included (pyauditor._http._CoalescedChunks).


def _chunked_reader() -> tuple[Any, h11._receivebuffer.ReceiveBuffer]:
    reader = pyauditor._http._CoalescedChunks(h11._readers.ChunkedReader())
    return reader, h11._receivebuffer.ReceiveBuffer()


def test_whole_chunks_that_arrived_are_one_piece_and_the_end_follows() -> None:
    reader, buffer = _chunked_reader()
    buffer += b"5\r\nhello\r\n3;ext=1\r\nabc\r\n3\r\nxy"
    event = reader(buffer)
    assert isinstance(event, h11.Data)
    assert event.data == b"helloabcxy"  # and a part of the third chunk
    assert reader(buffer) is None  # nothing more arrived
    buffer += b"z\r\n0\r\nTrailer: t\r\n\r\n"
    event = reader(buffer)
    assert isinstance(event, h11.Data)
    assert event.data == b"z"
    end = reader(buffer)
    assert isinstance(end, h11.EndOfMessage)
    assert end.headers == [(b"trailer", b"t")]


def test_data_before_a_malformed_chunk_comes_first_then_the_error() -> None:
    reader, buffer = _chunked_reader()
    buffer += b"5\r\nhello\r\n3\r\nabc\r\nzz\r\nmore"
    event = reader(buffer)
    assert isinstance(event, h11.Data)
    assert event.data == b"helloabc"
    with pytest.raises(h11.LocalProtocolError, match="illegal chunk header"):
        reader(buffer)
    reader, buffer = _chunked_reader()
    buffer += b"zz\r\n"
    with pytest.raises(h11.LocalProtocolError):
        reader(buffer)


class _OneChunkPerPiece:
    """Answers one GET with ``pieces`` as a chunked body, each its own chunk, sent at once."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/records"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self._listener, self._listener.accept()[0] as connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(4096)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + self.body
            )


_PIECES = [b'{"record_id":"r%d"}' % i for i in range(20_000)]


def test_a_body_of_many_chunks_is_read_in_few_pieces() -> None:
    server = _OneChunkPerPiece(_PIECES)
    with httpx.Client() as client, client.stream("GET", server.url) as response:
        chunks = list(raw_chunks(response))
    assert b"".join(chunks) == b"".join(_PIECES)
    # 20k chunks, 0.5 MB: one piece per read of the socket, not one per chunk.
    assert len(chunks) < 200


async def test_a_body_of_many_chunks_is_read_in_few_pieces_async() -> None:
    server = _OneChunkPerPiece(_PIECES)
    async with httpx.AsyncClient() as client, client.stream("GET", server.url) as response:
        chunks = [chunk async for chunk in async_raw_chunks(response)]
    assert b"".join(chunks) == b"".join(_PIECES)
    assert len(chunks) < 200


# -- builder checks --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0, 0.0, -1, -0.5])
@pytest.mark.parametrize("build", ["build", "build_blocking"])
def test_timeouts_must_be_finite_and_positive(value: float, build: str) -> None:
    builder = AuditorClientBuilder().timeout(value)
    with pytest.raises(ConfigurationError) as caught:
        getattr(builder, build)()
    message = str(caught.value)
    assert "timeout must be a finite number of seconds > 0" in message
    assert repr(value) in message


@pytest.mark.parametrize("value", [math.inf, math.nan, 0, -1])
def test_send_intervals_must_be_finite_and_positive(value: float, tmp_path: Path) -> None:
    builder = AuditorClientBuilder().send_interval(value).database_path(tmp_path / "q.db")
    with pytest.raises(ConfigurationError, match="send_interval must be a finite number"):
        builder.build_queued_blocking()
    AuditorClientBuilder().send_interval(value).build_blocking()  # direct clients do not care


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": math.inf},
        {"max_delay": math.nan},
        {"initial_delay": -1},
        {"max_retries": -1},
    ],
)
def test_retry_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        AuditorClientBuilder().retries(**kwargs)  # type: ignore[arg-type]


def test_size_bounds_are_checked() -> None:
    for method in ("max_answer_size", "max_record_size"):
        with pytest.raises(ConfigurationError, match=f"{method} must be at least 1024 bytes"):
            getattr(AuditorClientBuilder(), method)(10)
        with pytest.raises(TypeError):
            getattr(AuditorClientBuilder(), method)(1.5e6)
    settings = AuditorClientBuilder().max_answer_size(4096).max_record_size(2048)._settings()
    assert (settings.max_answer_bytes, settings.max_record_bytes) == (4096, 2048)


@pytest.mark.parametrize("address", ["http://localhost:8443", "HTTP://localhost:8443/x"])
def test_tls_with_a_plain_http_address_is_refused(pki: PKI, address: str) -> None:
    """Issue 14 item 7a: it sent records in clear text without the client certificate."""
    builder = (
        AuditorClientBuilder()
        .connection_string(address)
        .with_tls(pki.client_cert, pki.client_key, pki.ca)
    )
    for build in (builder.build, builder.build_blocking):
        with pytest.raises(ConfigurationError, match=r"with_tls\(\) needs an https:// address"):
            build()


def test_the_builders_retry_settings_reach_the_queue(tmp_path: Path, server: Any) -> None:
    builder = builder_for(server).database_path(tmp_path / "q.db")
    with builder.build_queued_blocking() as default:
        assert default._sender._retry.max_delay == 300.0  # the queue's own patient backoff
    with builder.retries(5, initial_delay=0.25, max_delay=3).build_queued_blocking() as tuned:
        assert (tuned._sender._retry.initial_delay, tuned._sender._retry.max_delay) == (0.25, 3)


# -- no import cycle -------------------------------------------------------------------------


def _imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / "pyauditor" / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_builder_client_and_queued_client_import_each_other_one_way_only() -> None:
    modules = {path.stem for path in (ROOT / "pyauditor").glob("_*.py")}
    graph = {module: _imports(module) & modules for module in modules}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or reaches(nxt, goal, seen | {nxt}) for nxt in graph[start] - seen)

    for module in ("_builder", "_client", "_queued", "_api", "_operations", "_settings"):
        assert not reaches(module, module, set()), f"{module} imports itself through a cycle"


# -- the silent loss of issue 12 -------------------------------------------------------------


@pytest.mark.parametrize("ignore", [True, False], ids=["ignore-duplicates", "default"])
def test_bulk_insert_after_a_duplicate_stores_every_other_record(
    api_factory: Any, server_factory: Any, ignore: bool
) -> None:
    """``add(a)``, then ``bulk_insert([a, b, c])``.  With ignore_record_exists_error the server
    answers the batch 200 with a warning and stores nothing of it; that returned normally with
    only ``a`` stored.  Now the batch planner stores ``b`` and ``c`` whatever the server's mode."""
    server = server_factory(ignore_record_exists_error=ignore)
    api = api_factory(builder_for(server))
    a, b, c = job("a"), job("b"), job("c")
    api.add(a)
    if ignore:
        api.bulk_insert([a, b, c])  # an identical duplicate, which the server was told to ignore
    else:
        with pytest.raises(RecordExistsError) as caught:
            api.bulk_insert([a, b, c])
        assert caught.value.records_stored == 2
    assert sorted(r.record_id for r in api.get()) == ["a", "b", "c"]


def test_bulk_insert_never_takes_other_content_under_a_stored_id_for_stored(
    api_factory: Any, server_factory: Any
) -> None:
    server = server_factory(ignore_record_exists_error=True)
    api = api_factory(builder_for(server))
    api.add(job("a", site="elsewhere"))
    with pytest.raises(RecordExistsError) as caught:
        api.bulk_insert([job("a"), job("b"), job("c")])
    assert caught.value.records_stored == 2
    assert api.get_single_record("a").meta.get("site_id") == ["elsewhere"]
    assert sorted(r.record_id for r in api.get()) == ["a", "b", "c"]


def test_a_duplicate_inside_many_batches_costs_none_of_the_others(server_factory: Any) -> None:
    server = server_factory(ignore_record_exists_error=True)
    client = builder_for(server, timeout=60).build_blocking()
    records = [job(f"r{i:05d}") for i in range(12000)]
    client.add(records[9000])
    client.bulk_insert(records)
    assert server.count() == 12000


def test_retry_policy_never_retries_answers_about_a_record() -> None:
    policy = RetryPolicy(max_retries=5)
    exists = RecordExistsError("RECORD_EXISTS", status_code=500)
    missing = _errors.NotFoundError("no such record", status_code=500)
    assert policy.wait_before_retry(exists, 0) is None
    assert policy.wait_before_retry(missing, 0) is None


def test_since_queries_warn_at_the_callers_line(server: AuditorTestServer) -> None:
    client = builder_for(server).build_blocking()
    with pytest.warns(DeprecationWarning, match="get_started_since is deprecated") as warned:
        client.get_started_since(dt.datetime(2022, 1, 1, tzinfo=dt.UTC))
    assert warned[0].filename == __file__
