"""QueuedAuditorClientBlocking: the queued client for synchronous code."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyauditor import AuditorError, Meta, QueueStatus, Record, ValidationError
from pyauditor._protocol import RetryPolicy
from pyauditor._queued import QueuedAuditorClientBlocking

from .fakes import FakeAuditor, refused

T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.UTC)
T1 = dt.datetime(2022, 8, 8, 12, 30, tzinfo=dt.UTC)
QUICK = RetryPolicy(initial_delay=0.02, max_delay=0.02, jitter=0)


class Reader:
    """A stand-in for AuditorClientBlocking's reads."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _answer(self, name: str) -> Any:
        self.calls.append(name)
        return True if name == "health_check" else [Record("server", T0)]

    def health_check(self) -> bool:
        return self._answer("health_check")  # type: ignore[no-any-return]

    def get(self) -> list[Record]:
        return self._answer("get")  # type: ignore[no-any-return]

    def advanced_query(self, query_string: str) -> list[Record]:
        return self._answer("advanced_query")  # type: ignore[no-any-return]

    def get_single_record(self, record_id: str) -> Record:
        return self._answer("get_single_record")[0]  # type: ignore[no-any-return]

    def get_started_since(self, timestamp: dt.datetime) -> list[Record]:
        return self._answer("get_started_since")  # type: ignore[no-any-return]

    def get_stopped_since(self, timestamp: dt.datetime) -> list[Record]:
        return self._answer("get_stopped_since")  # type: ignore[no-any-return]


Start = Callable[..., QueuedAuditorClientBlocking]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    clients: list[QueuedAuditorClientBlocking] = []

    def make(fake: FakeAuditor | None = None, **options: Any) -> QueuedAuditorClientBlocking:
        options.setdefault("database_path", str(tmp_path / "queue.db"))
        options.setdefault("send_interval", 60)
        options.setdefault("stop_timeout", 5)
        options.setdefault("retry", QUICK)
        reader = options.pop("reader", Reader())
        client = QueuedAuditorClientBlocking._start(fake or FakeAuditor(), reader, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        if not client._stopped:
            client.stop()


def test_it_cannot_be_constructed_directly() -> None:
    with pytest.raises(TypeError, match="build_queued_blocking"):
        QueuedAuditorClientBlocking()


def test_writes_are_queued_then_delivered(start: Start) -> None:
    fake = FakeAuditor()
    client = start(fake)
    client.add(Record("a", T0))
    client.bulk_insert([Record("b", T0), Record("c", T0)])
    client.update(Record("a", T0).with_stop_time(T1))
    assert client.flush() == QueueStatus(0, 0, 0)
    assert sorted(fake.stored) == ["a", "b", "c"]
    assert fake.stored["a"]["stop_time"] == "2022-08-08T12:30:00Z"


def test_the_first_pass_runs_right_after_start(start: Start) -> None:
    down = FakeAuditor()
    down.fail = lambda m, p, b: refused()
    first = start(down)
    first.add(Record("left", T0))
    first.stop()
    fake = FakeAuditor()
    start(fake)
    deadline = time.monotonic() + 5
    while "left" not in fake.stored:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_validation_errors_are_raised_at_enqueue(start: Start) -> None:
    client = start()
    with pytest.raises(ValidationError):
        client.add(Record("x", T0).with_meta(Meta().insert("", ["v"])))
    with pytest.raises(ValidationError):
        client.update(Record("x", T0))
    with pytest.raises(TypeError):
        client.bulk_insert("records")  # type: ignore[arg-type]
    assert client.pending() == QueueStatus(0, 0, 0)


def test_threads_can_share_it(start: Start) -> None:
    fake = FakeAuditor()
    client = start(fake, send_interval=0.01)

    def work(n: int) -> None:
        for i in range(25):
            client.add(Record(f"{n}-{i}", T0))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.stop()
    assert len(fake.stored) == 100


def test_stop_delivers_ends_the_thread_and_a_second_stop_raises(start: Start) -> None:
    fake = FakeAuditor()
    client = start(fake)
    client.flush()
    client.add(Record("last", T0))
    client.stop()
    assert "last" in fake.stored
    assert not any(t.name == "pyauditor-queue-sender" for t in threading.enumerate())
    with pytest.raises(AuditorError, match="Send task is already shut down"):
        client.stop()
    with pytest.raises(AuditorError, match="Send task is already shut down"):
        client.flush()
    client.add(Record("after", T0))  # still queues, as python-auditor's queued client does
    assert client.pending().inserts == 1
    assert "stopped" in repr(client)


def test_with_stops_it(start: Start) -> None:
    fake = FakeAuditor()
    with start(fake) as client:
        client.add(Record("ctx", T0))
    assert "ctx" in fake.stored


def test_reads_go_to_the_blocking_client(start: Start) -> None:
    reader = Reader()
    client = start(reader=reader)
    assert client.health_check() is True
    client.get()
    client.advanced_query("limit=1")
    client.get_single_record("a")
    client.get_one_record("a")
    with pytest.warns(DeprecationWarning, match="get_started_since is deprecated") as started:
        client.get_started_since(T0)
    with pytest.warns(DeprecationWarning, match="get_stopped_since is deprecated") as stopped:
        client.get_stopped_since(T0)
    assert started[0].filename == stopped[0].filename == __file__
    assert reader.calls == [
        "health_check",
        "get",
        "advanced_query",
        "get_single_record",
        "get_single_record",
        "advanced_query",
        "advanced_query",
    ]


def test_dead_letters(start: Start) -> None:
    fake = FakeAuditor()
    fake.invalid.add("bad")
    client = start(fake)
    client.add(Record("bad", T0))
    assert client.flush() == QueueStatus(0, 0, 1)
    (dead,) = client.dead_letters()
    assert dead.status_code == 400
    fake.invalid.clear()
    assert client.retry_dead_letters([dead.id]) == 1
    assert client.flush() == QueueStatus(0, 0, 0)
    assert client.delete_dead_letters() == 0


def test_without_a_path_it_warns(start: Start) -> None:
    with pytest.warns(UserWarning, match="lost when the process exits"):
        start(database_path=None)
