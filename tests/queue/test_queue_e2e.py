"""The queue end to end over real sockets, against pyauditor.testing with injected faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pyauditor._protocol import RetryPolicy
from pyauditor._queue import QueueStatus, QueueStore, parse_database_path
from pyauditor._sender import AsyncSender
from pyauditor.testing import AuditorTestServer, Close, Delay, Reset, Respond

from .crash_child import HttpSender, insert_body, stop_time, update_body

Factory = Callable[[QueueStore], AsyncSender]
QUICK = RetryPolicy(initial_delay=0.05, max_delay=0.05, jitter=0)


@pytest.fixture
async def make_sender(auditor_server: AuditorTestServer) -> AsyncIterator[Factory]:
    executor = ThreadPoolExecutor(max_workers=1)
    senders: list[AsyncSender] = []

    def make(store: QueueStore) -> AsyncSender:
        sender = AsyncSender(
            HttpSender(auditor_server.url), store, executor, send_interval=0.05, retry=QUICK
        )
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        if sender.running:
            await sender.stop(5)
    executor.shutdown()


def queue(tmp_path: Path) -> QueueStore:
    return QueueStore(parse_database_path(str(tmp_path / "queue.db")))


def add(store: QueueStore, *ids: str) -> None:
    store.enqueue(("insert", i, insert_body(i)) for i in ids)


def ids_of(server: AuditorTestServer) -> list[str]:
    return [r["record_id"] for r in server.records()]


async def settle(store: QueueStore, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while store.status().queued:
        assert time.monotonic() < deadline, store.status()
        await asyncio.sleep(0.02)


def posts(server: AuditorTestServer) -> list[str]:
    return [r.path for r in server.requests if r.method == "POST"]


async def test_10k_records_are_delivered_in_20_posts(
    tmp_path: Path, auditor_server: AuditorTestServer, make_sender: Factory
) -> None:
    store = queue(tmp_path)
    add(store, *(f"r{i:05}" for i in range(10_000)))
    sender = make_sender(store)
    begun = time.monotonic()
    assert await sender.flush() is None
    elapsed = time.monotonic() - begun
    assert sorted(ids_of(auditor_server)) == [f"r{i:05}" for i in range(10_000)]
    assert posts(auditor_server) == ["/records"] * 20
    assert store.status() == QueueStatus(0, 0, 0)
    print(f"10k queued records delivered in {elapsed:.3f} s")


async def test_a_server_answering_500_for_a_while_loses_nothing(
    tmp_path: Path, auditor_server: AuditorTestServer, make_sender: Factory
) -> None:
    fault = auditor_server.inject(Respond(500, "UNEXPECTED_ERROR"), times=None)
    store = queue(tmp_path)
    add(store, *(f"r-{i}" for i in range(1200)))
    store.enqueue([("update", "r-7", update_body("r-7"))])
    sender = make_sender(store)
    for _ in range(3):  # three failing passes
        assert await sender.flush() is not None
    assert fault.hits >= 3
    assert auditor_server.count() == 0
    assert store.status() == QueueStatus(1200, 1, 0)
    fault.remove()
    await settle(store)
    assert len(ids_of(auditor_server)) == 1200
    assert auditor_server.record("r-7")["stop_time"] == stop_time("r-7")  # type: ignore[index]


async def test_a_server_down_at_start_gets_everything_when_it_comes_up(
    tmp_path: Path, auditor_server: AuditorTestServer, make_sender: Factory
) -> None:
    auditor_server.down()
    store = queue(tmp_path)
    add(store, "a", "b")
    sender = make_sender(store)
    assert await sender.flush() is not None
    add(store, "c")
    auditor_server.up()
    await settle(store)
    assert sorted(ids_of(auditor_server)) == ["a", "b", "c"]


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
    tmp_path: Path,
    auditor_server: AuditorTestServer,
    make_sender: Factory,
    fault: Respond | Reset | Close | Delay,
) -> None:
    auditor_server.inject(fault, method="POST", path="/records")
    store = queue(tmp_path)
    add(store, *(f"r{i}" for i in range(50)))
    sender = make_sender(store)
    if isinstance(fault, Delay):
        sender._client.http.timeout = __import__("httpx").Timeout(0.3)  # type: ignore[attr-defined]
    await settle(store)
    assert sorted(ids_of(auditor_server)) == sorted(f"r{i}" for i in range(50))
    assert store.status() == QueueStatus(0, 0, 0)


async def test_an_invalid_record_becomes_a_dead_letter_with_the_servers_message(
    tmp_path: Path, auditor_server: AuditorTestServer, make_sender: Factory
) -> None:
    store = queue(tmp_path)
    add(store, "a")
    store.enqueue(
        [("insert", "bad", insert_body("bad").replace('"2022-08-08T11:30:00Z"', '"yesterday"'))]
    )
    add(store, "c")
    sender = make_sender(store)
    assert await sender.flush() is None
    assert sorted(ids_of(auditor_server)) == ["a", "c"]
    (dead,) = store.dead_letters()
    assert (dead.record_id, dead.status_code) == ("bad", 400)
    assert dead.reason.startswith("Json deserialize error")


async def test_an_update_of_a_record_the_server_lacks_becomes_a_dead_letter(
    tmp_path: Path, auditor_server: AuditorTestServer, make_sender: Factory
) -> None:
    store = queue(tmp_path)
    store.enqueue([("update", "ghost-1", update_body("ghost-1"))])
    sender = make_sender(store)
    assert await sender.flush() is None
    (dead,) = store.dead_letters()
    assert (dead.kind, dead.status_code) == ("update", 404)
    assert dead.reason == "Updating unknown record ghost-1 not possible."


async def test_an_update_queued_before_its_insert_is_applied_after_it(
    tmp_path: Path, auditor_server: AuditorTestServer, make_sender: Factory
) -> None:
    store = queue(tmp_path)
    store.enqueue([("update", "r-5", update_body("r-5"))])
    add(store, "r-5")
    sender = make_sender(store)
    assert await sender.flush() is None
    assert auditor_server.record("r-5")["stop_time"] == stop_time("r-5")  # type: ignore[index]
    assert [(r.method, r.path) for r in auditor_server.requests] == [
        ("POST", "/record"),
        ("PUT", "/record"),
    ]


async def test_records_left_by_a_stopped_client_go_out_with_the_next_one(
    tmp_path: Path, auditor_server: AuditorTestServer, make_sender: Factory
) -> None:
    auditor_server.down()
    first = queue(tmp_path)
    add(first, "a", "b")
    await make_sender(first).stop(1)
    first.close()
    auditor_server.up()
    second = queue(tmp_path)
    make_sender(second)
    await settle(second)
    assert sorted(ids_of(auditor_server)) == ["a", "b"]
