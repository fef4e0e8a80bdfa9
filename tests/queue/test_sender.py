"""The background sender: passes, interval, backoff, flush, stop; against a fake server."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pyauditor import AuditorError, QueueError
from pyauditor._protocol import RetryPolicy
from pyauditor._queue import (
    DatabaseLocation,
    QueuedRow,
    QueueStatus,
    QueueStore,
    parse_database_path,
)
from pyauditor._sender import AsyncSender

from .fakes import FakeAuditor, body, error, refused

FAST = RetryPolicy(initial_delay=0.02, max_delay=0.02, jitter=0)


@pytest.fixture
def store() -> QueueStore:
    return QueueStore(DatabaseLocation(None))


def add(store: QueueStore, *ids: str) -> None:
    store.enqueue(("insert", i, body(i)) for i in ids)


async def wait_for(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def start(
    fake: FakeAuditor,
    store: QueueStore,
    executor: ThreadPoolExecutor,
    senders: list[AsyncSender],
    *,
    interval: float = 60,
    retry: RetryPolicy = FAST,
) -> AsyncSender:
    sender = AsyncSender(fake, store, executor, send_interval=interval, retry=retry)
    senders.append(sender)
    return sender


async def test_the_first_pass_runs_right_away(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    add(store, "a", "b")
    start(fake, store, executor, senders)
    await wait_for(lambda: len(fake.stored) == 2)
    assert fake.requests == [("POST", "/records", 2)]


async def test_later_records_wait_for_the_next_interval(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    sender = start(fake, store, executor, senders, interval=0.3)
    await sender.flush()
    begun = time.monotonic()
    add(store, "late")
    await asyncio.sleep(0.1)
    assert fake.stored == {}
    await wait_for(lambda: "late" in fake.stored)
    assert 0.15 < time.monotonic() - begun < 1.0


async def test_10k_records_take_20_posts(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    add(store, *(f"r{i}" for i in range(10_000)))
    sender = start(fake, store, executor, senders)
    assert await sender.flush() is None
    assert len(fake.stored) == 10_000
    assert [p for _, p, _ in fake.requests] == ["/records"] * 20
    assert store.status() == QueueStatus(0, 0, 0)


async def test_flush_reports_why_a_pass_stopped(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    fake.fail = lambda m, p, b: refused()
    add(store, "a")
    sender = start(fake, store, executor, senders)
    outcome = await sender.flush()
    assert isinstance(outcome, AuditorError)
    assert store.status().inserts == 1


async def test_a_server_failing_for_a_while_loses_nothing(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    failing = True
    fake.fail = lambda m, p, b: error(500, "UNEXPECTED_ERROR", m, p) if failing else None
    add(store, *(f"r{i}" for i in range(500)))
    store.enqueue([("update", "r1", body("r1", "2022-08-08T12:30:00Z"))])
    start(fake, store, executor, senders)
    await wait_for(lambda: len(fake.requests) > 30)
    assert fake.stored == {}
    assert store.status() == QueueStatus(500, 1, 0)
    failing = False
    await wait_for(lambda: store.status() == QueueStatus(0, 0, 0))
    assert len(fake.stored) == 500
    assert fake.stored["r1"]["stop_time"] == "2022-08-08T12:30:00Z"


async def test_a_server_down_at_start_gets_everything_once_it_is_up(
    store, executor, senders
) -> None:
    fake = FakeAuditor()
    down = True
    fake.fail = lambda m, p, b: refused() if down else None
    add(store, "a", "b")
    start(fake, store, executor, senders)
    await wait_for(lambda: len(fake.requests) >= 3)
    down = False
    add(store, "c")
    await wait_for(lambda: len(fake.stored) == 3)


async def test_retries_back_off_up_to_the_interval(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    moments: list[float] = []

    def down(method: str, path: str, raw: bytes) -> AuditorError:
        moments.append(time.monotonic())
        return refused()

    fake.fail = down
    add(store, "a")
    policy = RetryPolicy(initial_delay=0.02, max_delay=10, jitter=0)
    start(fake, store, executor, senders, interval=0.2, retry=policy)
    await wait_for(lambda: len(moments) >= 7)
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    # 0.02, 0.04, 0.08, 0.16, then capped by the 0.2 s interval
    for gap, expected in zip(gaps, [0.02, 0.04, 0.08, 0.16, 0.2, 0.2], strict=False):
        assert expected * 0.9 < gap < expected + 0.1, gaps


async def test_the_loop_survives_bugs_and_storage_errors(
    store: QueueStore,
    executor: ThreadPoolExecutor,
    senders: list[AsyncSender],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeAuditor()
    calls = {"send": 0, "read": 0}
    real_send, real_read = fake._exchange, store.next_inserts

    async def buggy_send(method: str, path: str, raw: bytes | None = None) -> tuple[int, bytes]:
        calls["send"] += 1
        if calls["send"] == 1:
            raise ValueError("a bug")
        return await real_send(method, path, raw)

    def flaky_read(after: int, limit: int) -> list[QueuedRow]:
        calls["read"] += 1
        if calls["read"] == 1:
            raise QueueError("disk I/O error")
        return real_read(after, limit)

    monkeypatch.setattr(fake, "_exchange", buggy_send)
    monkeypatch.setattr(store, "next_inserts", flaky_read)
    add(store, "a")
    start(fake, store, executor, senders)
    await wait_for(lambda: "a" in fake.stored)
    assert "disk I/O error" in caplog.text
    assert "ValueError: a bug" in caplog.text


async def test_stop_delivers_what_is_left(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    sender = start(fake, store, executor, senders)
    await sender.flush()
    add(store, "a")
    await sender.stop(5)
    assert "a" in fake.stored
    assert not sender.running
    with pytest.raises(AuditorError, match="Send task is already shut down"):
        await sender.stop(5)
    with pytest.raises(AuditorError, match="Send task is already shut down"):
        await sender.flush()


async def test_stop_gives_up_at_its_deadline_and_keeps_the_rows(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    hang = asyncio.Event()

    async def hanging(method: str, path: str, raw: bytes | None = None) -> tuple[int, bytes]:
        await hang.wait()
        return 200, b""

    fake._exchange = hanging  # type: ignore[method-assign]
    add(store, "a")
    sender = start(fake, store, executor, senders)
    begun = time.monotonic()
    await sender.stop(0.2)
    assert 0.15 < time.monotonic() - begun < 1.5
    assert store.status().inserts == 1


async def test_stop_during_a_running_pass_still_runs_a_final_pass(
    store: QueueStore, executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    fake = FakeAuditor()
    gate = asyncio.Event()
    real = fake._exchange

    async def slow(method: str, path: str, raw: bytes | None = None) -> tuple[int, bytes]:
        await gate.wait()
        return await real(method, path, raw)

    fake._exchange = slow  # type: ignore[method-assign]
    add(store, "a")
    sender = start(fake, store, executor, senders)
    await asyncio.sleep(0.05)  # the first pass is waiting for its answer
    add(store, "b")  # after that pass read its rows
    stopping = asyncio.ensure_future(sender.stop(5))
    await asyncio.sleep(0.05)
    gate.set()
    await stopping
    assert set(fake.stored) == {"a", "b"}


async def test_pending_rows_are_delivered_after_a_restart(
    tmp_path: Path, executor, senders
) -> None:
    path = tmp_path / "q.db"
    down = FakeAuditor()
    down.fail = lambda m, p, b: refused()
    first = QueueStore(parse_database_path(str(path)))
    add(first, "a", "b")
    first.enqueue([("update", "a", body("a", "2022-08-08T12:30:00Z"))])
    await start(down, first, executor, senders).stop(1)
    first.close()

    up = FakeAuditor()
    second = QueueStore(parse_database_path(str(path)))
    start(up, second, executor, senders)
    await wait_for(lambda: second.status() == QueueStatus(0, 0, 0))
    assert up.requests == [("POST", "/records", 2), ("PUT", "/record", 1)]
