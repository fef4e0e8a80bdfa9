"""Every method of both clients, over real sockets against pyauditor.testing (HTTP and mTLS)."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import pyauditor
from pyauditor import (
    AuditorClient,
    AuditorClientBlocking,
    AuditorClientBuilder,
    Component,
    Meta,
    MetaOperator,
    MetaQuery,
    NotFoundError,
    Operator,
    QueryBuilder,
    Record,
    RecordExistsError,
    Score,
    ServerError,
    SortBy,
    ValidationError,
    Value,
)
from pyauditor.testing import AuditorTestServer
from tests.clients.conftest import PKI, T0, T1, builder_for, logged

UTC = dt.UTC


class Blockingly:
    """Drive either client through one synchronous interface.

    The async client's coroutines each run in a fresh ``asyncio.run``: one client across many
    event loops is exactly how the HTCondor collector uses python-auditor.
    """

    def __init__(self, client: AuditorClient | AuditorClientBlocking) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        attr = getattr(self.client, name)
        if inspect.isasyncgenfunction(attr):

            def collect(*args: Any, **kwargs: Any) -> list[Any]:
                async def run() -> list[Any]:
                    return [item async for item in attr(*args, **kwargs)]

                return asyncio.run(run())

            return collect
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: asyncio.run(attr(*args, **kwargs))
        if name == "iter_records":

            def drain(*args: Any, **kwargs: Any) -> list[Any]:
                records = attr(*args, **kwargs)
                if hasattr(records, "__aiter__"):

                    async def run() -> list[Any]:
                        return [item async for item in records]

                    return asyncio.run(run())
                return list(records)

            return drain
        return attr  # type: ignore[no-any-return]


@pytest.fixture(params=["async", "blocking"])
def api(request: pytest.FixtureRequest, server: AuditorTestServer) -> Iterator[Blockingly]:
    builder = builder_for(server)
    if request.param == "async":
        yield Blockingly(builder.build())
    else:
        with builder.build_blocking() as client:
            yield Blockingly(client)


def job(record_id: str, *, site: str = "site1", cores: int = 4, stop: bool = True) -> Record:
    record = (
        Record(record_id, T0)
        .with_meta(Meta().insert("site_id", [site]).insert("group_id", ["atlas"]))
        .with_component(Component("cpu", cores).with_score(Score("HEPSPEC06", 9.2)))
        .with_component(Component("mem", 8192))
    )
    return record.with_stop_time(T1) if stop else record


def ids(records: list[Record]) -> list[str]:
    return [r.record_id for r in records]


def test_health_check(api: Blockingly) -> None:
    assert api.health_check() is True


def test_add_then_get_returns_an_equal_record(api: Blockingly, server: AuditorTestServer) -> None:
    record = job("r1")
    assert api.add(record) is None
    (got,) = api.get()
    assert got == record
    assert got.runtime == 86400
    assert got.start_time == dt.datetime(2022, 8, 8, 11, 30)
    assert got.meta is not None
    assert got.meta.get("site_id") == ["site1"]
    assert got.components[0].scores[0].value == 9.2
    assert server.record("r1") is not None


def test_add_duplicate_raises_record_exists(api: Blockingly) -> None:
    api.add(job("r1"))
    with pytest.raises(RecordExistsError) as caught:
        api.add(job("r1"))
    assert str(caught.value) == "RECORD_EXISTS"
    assert isinstance(caught.value, RuntimeError)


def test_bulk_insert_and_get(api: Blockingly, server: AuditorTestServer) -> None:
    api.bulk_insert([job(f"r{i}") for i in range(50)])
    assert server.count() == 50
    assert sorted(ids(api.get())) == sorted(f"r{i}" for i in range(50))


def test_bulk_insert_of_an_empty_list_sends_nothing(
    api: Blockingly, server: AuditorTestServer
) -> None:
    api.bulk_insert([])
    assert [r for r in server.requests if r.path == "/records"] == []


def test_update_sets_the_stop_time(api: Blockingly, server: AuditorTestServer) -> None:
    api.add(job("r1", stop=False))
    api.update(Record("r1", T0).with_stop_time(T0 + dt.timedelta(seconds=90)))
    got = api.get_single_record("r1")
    assert got.runtime == 90
    assert got.stop_time == dt.datetime(2022, 8, 8, 11, 31, 30)


def test_update_of_an_unknown_record_is_not_found(api: Blockingly) -> None:
    with pytest.raises(NotFoundError) as caught:
        api.update(job("nope"))
    assert caught.value.status_code == 404
    assert "Updating unknown record nope not possible." in caught.value.body


def test_update_without_stop_time_is_a_validation_error(
    api: Blockingly, server: AuditorTestServer
) -> None:
    with pytest.raises(ValidationError, match="stop_time"):
        api.update(job("r1", stop=False))
    assert server.requests == []


def test_invalid_meta_is_rejected_before_sending(
    api: Blockingly, server: AuditorTestServer
) -> None:
    bad = Record("r1", T0).with_meta(Meta().insert("", ["v"]))
    with pytest.raises(ValidationError):
        api.add(bad)
    with pytest.raises(ValidationError):
        api.bulk_insert([job("ok"), bad])
    assert server.requests == []


def test_get_single_record_and_its_alias(api: Blockingly) -> None:
    api.add(job("r1"))
    assert api.get_single_record("r1") == job("r1")
    assert api.get_one_record(record_id="r1") == job("r1")


@pytest.mark.parametrize(
    "record_id", ["host#123.0#1660000000", "a/b", "q?x=1", "100%", "sp ace", "ü😀", "a+b"]
)
def test_get_single_record_encodes_the_id(api: Blockingly, record_id: str) -> None:
    """python-auditor puts the id into the URL raw, so '#', '/' and '?' reach the wrong record."""
    pyauditor.allow_forbidden_characters(True)  # '/' is one of the seed's forbidden characters
    try:
        api.add(Record(record_id, T0))
    finally:
        pyauditor.allow_forbidden_characters(False)
    assert api.get_single_record(record_id).record_id == record_id


def test_get_single_record_of_an_unknown_id_is_not_found_after_one_confirming_query(
    api: Blockingly, server: AuditorTestServer
) -> None:
    api.add(job("present"))
    before = len(logged(server, 1))
    with pytest.raises(NotFoundError) as caught:
        api.get_single_record("missing")
    assert isinstance(caught.value, RuntimeError)
    assert caught.value.status_code == 500, "what AUDITOR answers; the class says what it means"
    assert "'missing'" in str(caught.value)
    seen = [(r.method, r.path, r.query) for r in logged(server, before + 2)[before:]]
    assert seen == [
        ("GET", "/record/missing", ""),
        ("GET", "/records", "record_id=missing&limit=1"),
    ], "one confirming query and no retries"


@pytest.mark.parametrize("record_id", ["", " ", "\t\n", "\u3000"])
def test_get_single_record_of_a_blank_id_sends_nothing(
    api: Blockingly, server: AuditorTestServer, record_id: str
) -> None:
    with pytest.raises(ValidationError, match="record_id") as caught:
        api.get_single_record(record_id)
    assert caught.value.field == "record_id"
    assert server.requests == []


def test_get_single_record_keeps_a_real_server_failure_a_server_error(
    server: AuditorTestServer,
) -> None:
    """A 500 for a record the confirming query finds is the server's trouble: retried."""
    from pyauditor.testing import Respond

    client = builder_for(server).retries(1, initial_delay=0.01).build_blocking()
    client.add(job("r1"))
    server.inject(
        Respond(500, '{"error":"database down"}'), method="GET", path="/record/r1", times=2
    )
    with pytest.raises(ServerError) as caught:
        client.get_single_record("r1")
    assert caught.value.status_code == 500
    gets = [r.path for r in logged(server, 5) if r.method == "GET"]
    assert gets == ["/record/r1", "/records", "/record/r1", "/records"], "retried once"


def test_advanced_query_with_every_filter_kind(api: Blockingly) -> None:
    api.bulk_insert(
        [
            job("a", site="site1", cores=4),
            job("b", site="site2", cores=8),
            job("c", site="site1", cores=16, stop=False),
        ]
    )
    qb = QueryBuilder
    since = Value.set_datetime(T0 - dt.timedelta(hours=1))
    assert sorted(ids(api.advanced_query(qb().with_start_time(Operator().gte(since)).build()))) == [
        "a",
        "b",
        "c",
    ]
    assert sorted(ids(api.advanced_query(qb().with_stop_time(Operator().gte(since)).build()))) == [
        "a",
        "b",
    ]
    assert ids(
        api.advanced_query(qb().with_runtime(Operator().gt(Value.set_runtime(0))).build())
    ) in (
        ["a", "b"],
        ["b", "a"],
    )
    site1 = MetaQuery().meta_operator("site_id", MetaOperator().contains("site1"))
    assert sorted(ids(api.advanced_query(qb().with_meta_query(site1).build()))) == ["a", "c"]
    not_site1 = MetaQuery().meta_operator("site_id", MetaOperator().does_not_contain(["site1"]))
    assert ids(api.advanced_query(qb().with_meta_query(not_site1).build())) == ["b"]
    from pyauditor import ComponentQuery

    big = ComponentQuery().component_operator("cpu", Operator().gte(Value.set_count(8)))
    assert sorted(ids(api.advanced_query(qb().with_component_query(big).build()))) == ["b", "c"]
    assert ids(api.advanced_query(qb().with_record_id("b").build())) == ["b"]
    newest = qb().sort_by(SortBy().descending("record_id")).limit(2).build()
    assert ids(api.advanced_query(newest)) == ["c", "b"]
    assert api.advanced_query("") != []


def test_get_since_is_deprecated_but_works(api: Blockingly) -> None:
    api.add(job("r1"))
    with pytest.warns(DeprecationWarning, match="get_started_since is deprecated"):
        assert ids(api.get_started_since(T0)) == ["r1"]
    with pytest.warns(DeprecationWarning, match="get_stopped_since is deprecated"):
        assert ids(api.get_stopped_since(T1 + dt.timedelta(seconds=1))) == []


def test_get_since_takes_any_aware_datetime(api: Blockingly) -> None:
    api.add(job("r1"))
    berlin = dt.timezone(dt.timedelta(hours=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert ids(api.get_started_since(dt.datetime(2022, 8, 8, 13, 30, tzinfo=berlin))) == ["r1"]
        with pytest.raises(TypeError, match="timezone-aware"):
            api.get_started_since(dt.datetime(2022, 8, 8))


def test_iter_records_streams_every_record(api: Blockingly) -> None:
    api.bulk_insert([job(f"r{i:04d}") for i in range(300)])
    streamed = api.iter_records(QueryBuilder().sort_by(SortBy().ascending("record_id")).build())
    assert ids(streamed) == [f"r{i:04d}" for i in range(300)]
    assert len(api.iter_records()) == 300


def test_requests_look_like_python_auditor(api: Blockingly, server: AuditorTestServer) -> None:
    calls = [
        lambda: api.add(job("r1")),
        lambda: api.bulk_insert([job("r2"), job("r3")]),
        lambda: api.update(job("r1")),
        api.get,
        lambda: api.advanced_query("limit=1"),
    ]
    seen = []
    for count, call in enumerate(calls, 1):
        call()
        # Each request once it is logged: the server's workers log in the order they finish.
        request = logged(server, count)[count - 1]
        seen.append((request.method, request.path, request.query))
    assert seen == [
        ("POST", "/record", ""),
        ("POST", "/records", ""),
        ("PUT", "/record", ""),
        ("GET", "/records", ""),
        ("GET", "/records", "limit=1"),
    ]
    body = server.requests[0].request_body.decode()
    assert body.startswith('{"record_id":"r1","meta":{"site_id":["site1"],"group_id":["atlas"]},')
    assert '"runtime"' not in body


def test_user_agent_names_pyauditor(server: AuditorTestServer, traffic: Any) -> None:
    seen: list[str] = []

    def on_exchange(exchange: Any) -> None:
        traffic(exchange)
        seen.extend(v for k, v in exchange.request_headers if k.lower() == "user-agent")

    with AuditorTestServer(on_exchange=on_exchange) as own:
        assert builder_for(own).build_blocking().health_check()
    assert seen
    assert seen[0].startswith(f"pyauditor/{pyauditor.__version__}")


def test_trailing_slash_in_the_connection_string(server: AuditorTestServer) -> None:
    client = AuditorClientBuilder().connection_string(server.url + "/").build_blocking()
    assert client.get() == []
    assert logged(server)[-1].path == "/records"


def test_address_and_port(server: AuditorTestServer) -> None:
    client = AuditorClientBuilder().address("127.0.0.1", server.port).build_blocking()
    assert client.health_check()


def test_one_async_client_across_event_loops(server: AuditorTestServer) -> None:
    client = builder_for(server).build()
    for i in range(4):
        asyncio.run(client.add(job(f"r{i}")))
        assert len(asyncio.run(client.get())) == i + 1


async def test_async_client_serves_concurrent_tasks(client: AuditorClient) -> None:
    await asyncio.gather(*(client.add(job(f"r{i}")) for i in range(40)))
    results = await asyncio.gather(*(client.get_single_record(f"r{i}") for i in range(40)))
    assert ids(results) == [f"r{i}" for i in range(40)]
    async with client:
        assert await client.health_check()


async def test_async_methods_are_coroutines(client: AuditorClient) -> None:
    call = client.health_check()
    assert inspect.iscoroutine(call)
    assert await call is True


def test_blocking_client_is_safe_to_share_between_threads(blocking: AuditorClientBlocking) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                blocking.add(job(f"t{n}-{i}"))
                assert blocking.get_single_record(f"t{n}-{i}").record_id == f"t{n}-{i}"
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(blocking.get()) == 80


def test_mutual_tls(server_factory: Any, pki: PKI) -> None:
    server = server_factory(
        tls_cert=str(pki.server_cert), tls_key=str(pki.server_key), tls_ca=str(pki.ca)
    )
    assert server.tls_url is not None
    builder = (
        AuditorClientBuilder()
        .address("127.0.0.1", server.tls_port)
        .with_tls(str(pki.client_cert), str(pki.client_key), str(pki.ca))
    )
    blocking = builder.build_blocking()
    assert blocking.health_check()
    blocking.add(job("tls1"))
    assert ids(blocking.get()) == ["tls1"]
    client = builder.build()
    asyncio.run(client.add(job("tls2")))
    assert sorted(ids(asyncio.run(client.get()))) == ["tls1", "tls2"]
    assert all(r.tls for r in server.requests)


def test_keyword_arguments_of_with_tls(server_factory: Any, pki: PKI) -> None:
    server = server_factory(
        tls_cert=str(pki.server_cert), tls_key=str(pki.server_key), tls_ca=str(pki.ca)
    )
    client = (
        AuditorClientBuilder()
        .address("localhost", server.tls_port)
        .with_tls(
            ca_cert_path=pki.ca, client_key_path=pki.client_key, client_cert_path=pki.client_cert
        )
        .build_blocking()
    )
    assert client.health_check()


def test_tls_with_an_untrusted_server(server_factory: Any, pki: PKI) -> None:
    from pyauditor import APIConnectionError

    server = server_factory(
        tls_cert=str(pki.server_cert), tls_key=str(pki.server_key), tls_ca=str(pki.ca)
    )
    client = (
        AuditorClientBuilder()
        .address("127.0.0.1", server.tls_port)
        .with_tls(pki.client_cert, pki.client_key, pki.other_ca)
        .retries(0)
        .build_blocking()
    )
    assert client.health_check() is False
    with pytest.raises(
        APIConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"
    ):
        client.get()


def test_no_record_payload_is_logged_at_info(
    api: Blockingly, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="pyauditor"):
        api.add(job("secret-job-id"))
        api.get()
    info = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert all("secret-job-id" not in r.getMessage() for r in info)
    assert all("HEPSPEC06" not in r.getMessage() for r in caplog.records)
