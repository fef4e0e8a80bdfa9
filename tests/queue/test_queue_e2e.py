"""The queued clients end to end: builder, AuditorClient, real sockets, pyauditor.testing."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pyauditor import (
    AuditorClientBuilder,
    Component,
    Meta,
    QueuedAuditorClient,
    QueueStatus,
    Record,
    Score,
)
from pyauditor.testing import AuditorTestServer, Close, Delay, Reset, Respond
from tests.contract.exchange_check import TrafficCheck

T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.UTC)
T1 = dt.datetime(2022, 8, 8, 12, 30, tzinfo=dt.UTC)

Build = Callable[..., Awaitable[QueuedAuditorClient]]


@pytest.fixture
async def build(tmp_path: Path, auditor_server: AuditorTestServer) -> AsyncIterator[Build]:
    clients: list[QueuedAuditorClient] = []

    async def make(*, interval: float = 0.05, request_timeout: float = 5) -> QueuedAuditorClient:
        client = await (
            AuditorClientBuilder()
            .connection_string(auditor_server.url)
            .database_path(str(tmp_path / "queue.db"))
            .send_interval(interval)
            .timeout(request_timeout)
            .build_queued()
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        if client._sender.running:
            await client.stop()


def record(record_id: str) -> Record:
    return (
        Record(record_id, T0)
        .with_meta(Meta().insert("site_id", ["site1"]).insert("group_id", ["group1"]))
        .with_component(Component("cpu", 4).with_score(Score("HEPSPEC06", 9.2)))
    )


def ids_of(server: AuditorTestServer) -> list[str]:
    return sorted(r["record_id"] for r in server.records())


def posts(server: AuditorTestServer) -> list[str]:
    return [r.path for r in server.requests if r.method == "POST"]


async def settle(client: QueuedAuditorClient, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while (await client.pending()).queued:
        assert time.monotonic() < deadline, await client.pending()
        await asyncio.sleep(0.02)


async def test_10k_records_are_delivered_in_20_posts(
    auditor_server: AuditorTestServer, build: Build
) -> None:
    client = await build(interval=3600)
    await client.flush()  # the first pass found nothing
    await client.bulk_insert([record(f"r{i:05}") for i in range(10_000)])
    begun = time.monotonic()
    assert await client.flush() == QueueStatus(0, 0, 0)
    print(f"10k queued records delivered in {time.monotonic() - begun:.3f} s")
    assert ids_of(auditor_server) == [f"r{i:05}" for i in range(10_000)]
    assert posts(auditor_server) == ["/records"] * 20
    stored = auditor_server.record("r00042")
    assert stored is not None
    assert stored["meta"] == {"site_id": ["site1"], "group_id": ["group1"]}


async def test_a_server_answering_500_for_a_while_loses_nothing(
    auditor_server: AuditorTestServer, build: Build
) -> None:
    fault = auditor_server.inject(Respond(500, "UNEXPECTED_ERROR"), times=None)
    client = await build(interval=3600)
    await client.bulk_insert([record(f"r-{i}") for i in range(1200)])
    await client.update(record("r-7").with_stop_time(T1))
    for _ in range(3):  # three failing passes
        assert await client.flush() == QueueStatus(1200, 1, 0)
    assert fault.hits >= 3
    assert auditor_server.count() == 0
    fault.remove()
    assert await client.flush() == QueueStatus(0, 0, 0)
    assert len(ids_of(auditor_server)) == 1200
    assert auditor_server.record("r-7")["stop_time"] == "2022-08-08T12:30:00Z"  # type: ignore[index]


async def test_a_server_down_at_start_gets_everything_when_it_comes_up(
    auditor_server: AuditorTestServer, build: Build
) -> None:
    auditor_server.down()
    client = await build()
    await client.add(record("a"))
    await client.add(record("b"))
    assert (await client.flush()).inserts == 2
    auditor_server.up()
    await client.add(record("c"))
    await settle(client)
    assert ids_of(auditor_server) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "fault",
    [
        Respond(500, "UNEXPECTED_ERROR", process=True),
        Reset(process=True),
        Close(process=True),
        Delay(10, process_first=True),
    ],
    ids=[
        "500-after-storing",
        "reset-after-storing",
        "close-after-storing",
        "timeout-after-storing",
    ],
)
async def test_a_lost_answer_to_a_stored_batch_still_means_exactly_once(
    auditor_server: AuditorTestServer, build: Build, fault: Respond | Reset | Close | Delay
) -> None:
    auditor_server.inject(fault, method="POST", path="/records")
    client = await build(interval=3600, request_timeout=0.5)
    await client.flush()
    await client.bulk_insert([record(f"r{i:02}") for i in range(50)])
    status = await client.flush()
    assert auditor_server.count() == 50  # stored, although the client never heard so
    if isinstance(fault, Respond):
        # A 5xx is bisected at once: the halves are answered RECORD_EXISTS, and so on.
        assert status == QueueStatus(0, 0, 0)
    else:
        # No answer at all stops the pass; nothing is deleted until the next one settles it.
        assert status.inserts == 50
        assert await client.flush() == QueueStatus(0, 0, 0)
    assert ids_of(auditor_server) == [f"r{i:02}" for i in range(50)]


async def test_a_record_the_server_refuses_becomes_a_dead_letter(
    auditor_server: AuditorTestServer, build: Build, contract_for_every_server: TrafficCheck
) -> None:
    contract_for_every_server.allow_invalid_requests = True  # the invalid record is the point
    client = await build(interval=3600)
    await client.flush()
    await client.add(record("a"))
    # A body the server refuses (as from an older client version): a timestamp it cannot parse.
    bad = (
        '{"record_id":"bad","meta":null,"components":[],"start_time":"yesterday","stop_time":null}'
    )
    client._store.enqueue([("insert", "bad", bad)])
    await client.add(record("c"))
    assert await client.flush() == QueueStatus(0, 0, 1)
    assert ids_of(auditor_server) == ["a", "c"]
    (dead,) = await client.dead_letters()
    assert (dead.record_id, dead.status_code, dead.body) == ("bad", 400, bad)
    assert dead.reason.startswith("Json deserialize error")


async def test_an_update_of_a_record_the_server_lacks_becomes_a_dead_letter(
    build: Build,
) -> None:
    client = await build(interval=3600)
    await client.update(record("ghost").with_stop_time(T1))
    assert await client.flush() == QueueStatus(0, 0, 1)
    (dead,) = await client.dead_letters()
    assert (dead.kind, dead.status_code) == ("update", 404)
    assert dead.reason == "Updating unknown record ghost not possible."


async def test_an_update_queued_before_its_insert_is_applied_after_it(
    auditor_server: AuditorTestServer, build: Build
) -> None:
    client = await build(interval=3600)
    await client.flush()
    await client.update(record("r5").with_stop_time(T1))
    await client.add(record("r5"))
    assert await client.flush() == QueueStatus(0, 0, 0)
    assert auditor_server.record("r5")["stop_time"] == "2022-08-08T12:30:00Z"  # type: ignore[index]
    assert [(r.method, r.path) for r in auditor_server.requests] == [
        ("POST", "/record"),
        ("PUT", "/record"),
    ]


async def test_what_a_stopped_client_left_goes_out_with_the_next(
    auditor_server: AuditorTestServer, build: Build
) -> None:
    auditor_server.down()
    first = await build()
    await first.bulk_insert([record("a"), record("b")])
    await first.stop()
    auditor_server.up()
    second = await build()
    await settle(second)
    assert ids_of(auditor_server) == ["a", "b"]


async def test_reads_go_to_the_server(auditor_server: AuditorTestServer, build: Build) -> None:
    client = await build(interval=3600)
    await client.add(record("r1"))
    await client.flush()
    assert await client.health_check() is True
    assert [r.record_id for r in await client.get()] == ["r1"]
    assert (await client.get_single_record("r1")).record_id == "r1"
    assert [r.record_id for r in await client.advanced_query("record_id=r1")] == ["r1"]


def test_the_blocking_queued_client_end_to_end(
    tmp_path: Path, auditor_server: AuditorTestServer
) -> None:
    client = (
        AuditorClientBuilder()
        .connection_string(auditor_server.url)
        .database_path(str(tmp_path / "queue.db"))
        .send_interval(3600)
        .build_queued_blocking()
    )
    with client:
        client.bulk_insert([record(f"b{i}") for i in range(1000)])
        client.update(record("b1").with_stop_time(T1))
        assert client.flush() == QueueStatus(0, 0, 0)
        assert [r.record_id for r in client.advanced_query("record_id=b1")] == ["b1"]
    assert len(ids_of(auditor_server)) == 1000
    assert auditor_server.record("b1")["stop_time"] == "2022-08-08T12:30:00Z"  # type: ignore[index]
