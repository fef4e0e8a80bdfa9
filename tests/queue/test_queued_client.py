"""QueuedAuditorClient: the public API over the queue, with a fake AuditorClient."""

from __future__ import annotations

import datetime as dt
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pyauditor import (
    AuditorError,
    Component,
    ConfigurationError,
    DeadLetter,
    Meta,
    QueuedAuditorClient,
    QueueStatus,
    Record,
    Score,
    ValidationError,
)
from pyauditor._protocol import RetryPolicy
from pyauditor._queue import IN_MEMORY_WARNING
from pyauditor._record_codec import record_add_body, record_update_body

from .fakes import FakeAuditor, refused

UTC = dt.UTC
T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=UTC)
T1 = dt.datetime(2022, 8, 8, 12, 30, tzinfo=UTC)
QUICK = RetryPolicy(initial_delay=0.02, max_delay=0.02, jitter=0)


class FakeClient(FakeAuditor):
    """FakeAuditor plus the reads, which return canned answers and record their calls."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, tuple[Any, ...]]] = []

    async def _read(self, name: str, *args: Any) -> Any:
        self.reads.append((name, args))
        return [Record("server", T0)] if name != "health_check" else True

    async def health_check(self) -> bool:
        return await self._read("health_check")  # type: ignore[no-any-return]

    async def get(self) -> list[Record]:
        return await self._read("get")  # type: ignore[no-any-return]

    async def advanced_query(self, query_string: str) -> list[Record]:
        return await self._read("advanced_query", query_string)  # type: ignore[no-any-return]

    async def get_single_record(self, record_id: str) -> Record:
        return (await self._read("get_single_record", record_id))[0]  # type: ignore[no-any-return]

    async def get_started_since(self, timestamp: dt.datetime) -> list[Record]:
        return await self._read("get_started_since", timestamp)  # type: ignore[no-any-return]

    async def get_stopped_since(self, timestamp: dt.datetime) -> list[Record]:
        return await self._read("get_stopped_since", timestamp)  # type: ignore[no-any-return]


Start = Callable[..., Awaitable[QueuedAuditorClient]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    clients: list[QueuedAuditorClient] = []

    async def make(fake: FakeClient | None = None, **options: Any) -> QueuedAuditorClient:
        options.setdefault("database_path", str(tmp_path / "queue.db"))
        options.setdefault("send_interval", 60)
        options.setdefault("stop_timeout", 5)
        options.setdefault("retry", QUICK)
        client = await QueuedAuditorClient._start(fake or FakeClient(), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        if not client._stopped:
            await client.stop()


def record(record_id: str = "r1") -> Record:
    return (
        Record(record_id, T0)
        .with_meta(Meta().insert("site_id", ["site1"]))
        .with_component(Component("cpu", 2).with_score(Score("HEPSPEC06", 9.2)))
    )


def test_it_cannot_be_constructed_directly() -> None:
    with pytest.raises(TypeError, match="build_queued"):
        QueuedAuditorClient()


async def test_writes_are_queued_as_the_clients_request_bodies(start: Start) -> None:
    fake = FakeClient()
    fake.fail = lambda m, p, b: refused()  # nothing gets through: the rows stay
    client = await start(fake)
    await client.add(record("a"))
    await client.bulk_insert([record("b"), record("c")])
    await client.update(record("a").with_stop_time(T1))
    assert await client.pending() == QueueStatus(3, 1, 0)
    rows = client._store.next_inserts(0, 10)
    assert [r.body for r in rows] == [record_add_body(record(i)) for i in "abc"]
    (upd,) = client._store.next_updates(0, 10) or [None]
    assert upd is None  # held back: the insert of "a" is still queued
    status = await client.flush()
    assert status == QueueStatus(3, 1, 0)


async def test_the_first_pass_delivers_right_after_start(start: Start, tmp_path: Path) -> None:
    down = FakeClient()
    down.fail = lambda m, p, b: refused()
    first = await start(down)
    await first.add(record("a"))
    await first.update(record("a").with_stop_time(T1))
    await first.stop()
    fake = FakeClient()
    second = await start(fake)
    status = await second.flush()
    assert status == QueueStatus(0, 0, 0)
    assert fake.requests == [("POST", "/record", 1), ("PUT", "/record", 1)]
    assert fake.stored["a"]["stop_time"] == "2022-08-08T12:30:00Z"


async def test_bulk_insert_of_10k_is_one_quick_transaction(start: Start) -> None:
    fake = FakeClient()
    fake.fail = lambda m, p, b: refused()
    client = await start(fake)
    records = [record(f"r{i}") for i in range(10_000)]
    begun = time.perf_counter()
    await client.bulk_insert(records)
    elapsed = time.perf_counter() - begun
    assert (await client.pending()).inserts == 10_000
    assert elapsed < 5  # generous; about 0.1 s here


async def test_bulk_insert_accepts_tuples_and_empty_lists(start: Start) -> None:
    fake = FakeClient()
    fake.fail = lambda m, p, b: refused()
    client = await start(fake)
    await client.bulk_insert(())
    await client.bulk_insert([])
    await client.bulk_insert((record("t"),))
    assert (await client.pending()).inserts == 1


@pytest.mark.parametrize("bad", ["abc", None, {"a": 1}, 5])
async def test_bulk_insert_needs_a_sequence(start: Start, bad: object) -> None:
    client = await start()
    with pytest.raises(TypeError):
        await client.bulk_insert(bad)  # type: ignore[arg-type]


async def test_validation_errors_are_raised_at_enqueue_and_queue_nothing(start: Start) -> None:
    fake = FakeClient()
    fake.fail = lambda m, p, b: refused()
    client = await start(fake)
    bad = Record("bad", T0).with_meta(Meta().insert("", ["v"]))
    with pytest.raises(ValidationError):
        await client.add(bad)
    with pytest.raises(ValidationError, match=r"^records\[1\]: "):
        await client.bulk_insert([record("ok"), bad])
    with pytest.raises(ValidationError):
        await client.update(record("no-stop"))
    with pytest.raises(TypeError):
        await client.add("r1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await client.bulk_insert([record("x"), "y"])  # type: ignore[list-item]
    assert await client.pending() == QueueStatus(0, 0, 0)


async def test_dead_letters_can_be_listed_retried_and_deleted(start: Start) -> None:
    fake = FakeClient()
    fake.invalid.add("bad")
    client = await start(fake)
    await client.bulk_insert([record("a"), record("bad")])
    assert await client.flush() == QueueStatus(0, 0, 1)
    (dead,) = await client.dead_letters()
    assert isinstance(dead, DeadLetter)
    assert (dead.record_id, dead.kind, dead.status_code) == ("bad", "insert", 400)
    fake.invalid.clear()
    assert await client.retry_dead_letters() == 1
    assert await client.flush() == QueueStatus(0, 0, 0)
    assert "bad" in fake.stored
    fake.invalid.add("bad2")
    await client.add(record("bad2"))
    await client.flush()
    assert await client.delete_dead_letters([d.id for d in await client.dead_letters()]) == 1
    assert await client.pending() == QueueStatus(0, 0, 0)


async def test_reads_go_straight_to_the_client(start: Start) -> None:
    fake = FakeClient()
    client = await start(fake)
    assert await client.health_check() is True
    assert (await client.get())[0].record_id == "server"
    await client.advanced_query("limit=1")
    assert (await client.get_single_record("x")).record_id == "server"
    assert (await client.get_one_record("y")).record_id == "server"
    assert fake.reads == [
        ("health_check", ()),
        ("get", ()),
        ("advanced_query", ("limit=1",)),
        ("get_single_record", ("x",)),
        ("get_single_record", ("y",)),
    ]


async def test_the_deprecated_since_queries_warn_at_the_callers_line(start: Start) -> None:
    fake = FakeClient()
    client = await start(fake)
    with pytest.warns(DeprecationWarning, match="get_started_since is deprecated") as started:
        await client.get_started_since(T0)
    with pytest.warns(DeprecationWarning, match="get_stopped_since is deprecated") as stopped:
        await client.get_stopped_since(T1)
    assert started[0].filename == stopped[0].filename == __file__
    assert fake.reads == [
        ("advanced_query", ("start_time[gte]=2022-08-08T11%3A30%3A00%2B00%3A00",)),
        ("advanced_query", ("stop_time[gte]=2022-08-08T12%3A30%3A00%2B00%3A00",)),
    ]


async def test_stop_delivers_then_a_second_stop_raises(start: Start) -> None:
    fake = FakeClient()
    client = await start(fake)
    await client.flush()
    await client.add(record("last"))
    await client.stop()
    assert "last" in fake.stored
    with pytest.raises(RuntimeError, match=r"^Send task is already shut down$") as raised:
        await client.stop()
    assert isinstance(raised.value, AuditorError)
    with pytest.raises(AuditorError, match="Send task is already shut down"):
        await client.flush()
    assert "stopped" in repr(client)


async def test_after_stop_writes_still_queue_and_reads_still_work(start: Start) -> None:
    fake = FakeClient()
    client = await start(fake)
    await client.stop()
    await client.add(record("after"))
    assert (await client.pending()).inserts == 1
    assert "after" not in fake.stored
    assert await client.health_check() is True


async def test_async_with_stops_the_client(start: Start) -> None:
    fake = FakeClient()
    client = await start(fake)
    async with client as entered:
        assert entered is client
        await entered.add(record("ctx"))
    assert "ctx" in fake.stored
    with pytest.raises(AuditorError):
        await client.stop()


async def test_without_a_path_the_queue_is_in_memory_and_says_so(start: Start) -> None:
    with pytest.warns(UserWarning, match="lost when the process exits") as warned:
        client = await start(database_path=None)
    assert str(warned[0].message) == IN_MEMORY_WARNING
    assert "':memory:'" in repr(client)
    await client.add(record())
    assert await client.flush() == QueueStatus(0, 0, 0)


async def test_a_file_queue_does_not_warn(start: Start, recwarn: pytest.WarningsRecorder) -> None:
    await start()
    assert not [w for w in recwarn if w.category is UserWarning]


async def test_the_queue_file_is_owner_only(start: Start, tmp_path: Path) -> None:
    client = await start()
    await client.add(record())
    for name in ("queue.db", "queue.db-wal", "queue.db-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


@pytest.mark.parametrize("interval", [0, -1, float("nan")])
async def test_a_send_interval_must_be_positive(start: Start, interval: float) -> None:
    with pytest.raises(ConfigurationError, match="send_interval"):
        await start(send_interval=interval)


async def test_a_send_interval_must_be_a_number(start: Start) -> None:
    with pytest.raises(TypeError):
        await start(send_interval="60")
    with pytest.raises(TypeError):
        await start(send_interval=True)


async def test_an_unusable_path_is_reported_at_build(start: Start, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"):
        await start(database_path=str(tmp_path))


async def test_updates_body_is_the_clients_update_body(start: Start) -> None:
    fake = FakeClient()
    fake.fail = lambda m, p, b: refused()
    client = await start(fake)
    finished = record("u").with_stop_time(T1)
    await client.update(finished)
    (row,) = client._store.next_updates(0, 10)
    assert row.body == record_update_body(finished)


# -- the builder's queue settings ---------------------------------------------------------------


def tuned_builder(path: Path) -> Any:
    from pyauditor import AuditorClientBuilder

    return (
        AuditorClientBuilder()
        .address("127.0.0.1", 9)
        .send_interval(3600)
        .database_path(path)
        .retries(5, initial_delay=0.25, max_delay=30)
        .queue_give_up(max_attempts=10, max_age=86400)
    )


async def test_the_builder_passes_retry_and_give_up_settings(tmp_path: Path) -> None:
    from pyauditor import AuditorClientBuilder
    from pyauditor._queue import GiveUp
    from pyauditor._sender import DEFAULT_RETRY

    plain = AuditorClientBuilder().address("127.0.0.1", 9).database_path(tmp_path / "a.db")
    async with await plain.send_interval(3600).build_queued() as client:
        assert client._sender._retry == DEFAULT_RETRY  # the queue's own backoff by default
        assert client._store.give_up == GiveUp()  # never gives up on storable records
    async with await tuned_builder(tmp_path / "b.db").build_queued() as client:
        assert (client._sender._retry.initial_delay, client._sender._retry.max_delay) == (0.25, 30)
        assert client._store.give_up == GiveUp(max_attempts=10, max_age=86400)


def test_the_builder_passes_them_to_the_blocking_queued_client_too(tmp_path: Path) -> None:
    from pyauditor._queue import GiveUp

    with tuned_builder(tmp_path / "c.db").build_queued_blocking() as client:
        assert (client._sender._retry.initial_delay, client._sender._retry.max_delay) == (0.25, 30)
        assert client._store.give_up == GiveUp(max_attempts=10, max_age=86400)


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"max_attempts": "3"}, {"max_age": -1}, {"max_age": float("inf")}],
)
def test_queue_give_up_is_checked(options: dict[str, Any]) -> None:
    from pyauditor import AuditorClientBuilder

    with pytest.raises(ConfigurationError):
        AuditorClientBuilder().queue_give_up(**options)
