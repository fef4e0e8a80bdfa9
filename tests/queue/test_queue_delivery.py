"""What the planner's verdicts do to the queue: delivered, dead letters, kept, given up.

The sender delivers an in-memory (or file) queue to the in-process fake AUDITOR; every test
looks at what the queue holds afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pyauditor._delivery import Settled, Verdict
from pyauditor._protocol import RetryPolicy
from pyauditor._queue import (
    DatabaseLocation,
    GiveUp,
    QueuedRow,
    QueueStatus,
    QueueStore,
    commit_for,
    parse_database_path,
)
from pyauditor._sender import AsyncSender

from .fakes import FakeAuditor, body, refused

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.01, jitter=0)
STOP = "2022-08-08T12:30:00Z"


class Queue:
    """A store, a fake server and a sender on them; ``flush()`` runs one pass."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        senders: list[AsyncSender],
        *,
        give_up: GiveUp | None = None,
        fake: FakeAuditor | None = None,
        path: Path | None = None,
    ) -> None:
        location = DatabaseLocation(None) if path is None else parse_database_path(str(path))
        self.store = QueueStore(location, give_up=give_up)
        self.fake = fake or FakeAuditor()
        self.executor = executor
        self.senders = senders
        self.sender: AsyncSender | None = None

    async def flush(self) -> QueueStatus:
        if self.sender is None:
            self.sender = AsyncSender(
                self.fake, self.store, self.executor, send_interval=3600, retry=FAST
            )
            self.senders.append(self.sender)
        await self.sender.flush()
        return self.store.status()

    def add(self, record_id: str, text: str | None = None) -> None:
        self.store.enqueue([("insert", record_id, text or body(record_id))])


@pytest.fixture
def queue(executor: ThreadPoolExecutor, senders: list[AsyncSender]) -> Queue:
    return Queue(executor, senders)


# -- issue 12: the silent loss ------------------------------------------------------------------


@pytest.mark.parametrize("ignore", [True, False], ids=["warning-200", "record-exists-500"])
async def test_a_queued_batch_with_a_stored_record_delivers_the_others(
    executor: ThreadPoolExecutor, senders: list[AsyncSender], ignore: bool
) -> None:
    queue = Queue(executor, senders, fake=FakeAuditor(ignore_record_exists_error=ignore))
    queue.fake.put(body("a"))  # add(a) went out earlier
    for i in "abc":
        queue.add(i)
    assert await queue.flush() == QueueStatus(0, 0, 0)
    assert set(queue.fake.stored) == {"a", "b", "c"}


# -- issue 14 item 4: an id the server holds is checked against the stored record ---------------


async def test_a_record_stored_identically_counts_as_delivered(queue: Queue) -> None:
    # After a crash between the server's answer and the commit, the rows are sent again.
    queue.fake.put(body("a"))
    queue.add("a")
    assert await queue.flush() == QueueStatus(0, 0, 0)


@pytest.mark.parametrize("alone", [True, False], ids=["single", "in-a-batch"])
async def test_an_id_stored_with_other_content_is_a_dead_letter_with_both_versions(
    queue: Queue, alone: bool, caplog: pytest.LogCaptureFixture
) -> None:
    theirs = body("a", STOP, meta={"site": ["other"]})
    queue.fake.put(theirs)
    queue.add("a")
    if not alone:
        queue.add("b")
    with caplog.at_level(logging.ERROR, logger="pyauditor"):
        assert await queue.flush() == QueueStatus(0, 0, 1)
    # No HTTP status told of the conflict: the log line names none (not "HTTP None").
    assert "insert of record 'a' for good: AUDITOR already stores a different" in caplog.text
    (dead,) = queue.store.dead_letters()
    assert dead.record_id == "a"
    assert dead.body == body("a")  # ours
    assert dead.stored is not None
    stored = json.loads(dead.stored)
    assert (stored["meta"], stored["stop_time"]) == ({"site": ["other"]}, STOP)  # theirs
    assert "different record" in dead.reason
    assert "both versions are kept" in dead.reason
    assert queue.fake.stored["a"]["meta"] == {"site": ["other"]}  # untouched


async def test_the_second_of_two_queued_records_with_one_id(queue: Queue) -> None:
    queue.add("a")
    queue.add("a")  # the same record twice: delivered once, nothing kept
    queue.add("b")
    queue.add("b", body("b", STOP))  # another record under the same id: kept
    assert await queue.flush() == QueueStatus(0, 0, 1)
    (dead,) = queue.store.dead_letters()
    assert (dead.record_id, dead.body) == ("b", body("b", STOP))
    assert dead.stored is not None
    assert json.loads(dead.stored)["stop_time"] is None
    assert [m for m, _, _ in queue.fake.requests].count("POST") <= 3


async def test_a_conflict_found_in_a_later_pass_is_kept_too(queue: Queue) -> None:
    queue.add("a")
    await queue.flush()
    queue.add("a", body("a", STOP))
    assert await queue.flush() == QueueStatus(0, 0, 1)


# -- issue 14 item 8: records that can never be stored -------------------------------------------


async def test_a_nul_record_is_a_dead_letter_and_never_sent(queue: Queue) -> None:
    # Queued by an older version, before validation refused NUL characters.
    queue.add("bad\x00id")
    queue.add("good")
    queue.store.enqueue([("update", "x", body("x\x00", STOP))])
    assert await queue.flush() == QueueStatus(0, 0, 2)
    assert set(queue.fake.stored) == {"good"}
    assert all("NUL" in d.reason for d in queue.store.dead_letters())
    assert not any(b"\\u0000" in str(r).encode() for r in queue.fake.requests)


async def test_a_record_the_server_fails_on_alone_ends_in_the_dead_letters(queue: Queue) -> None:
    queue.fake.poison.add("poison")
    for i in ("a", "poison", "b"):
        queue.add(i)
    status = await queue.flush()
    assert status == QueueStatus(1, 0, 0)
    assert set(queue.fake.stored) == {"a", "b"}
    (row,) = queue.store.next_inserts(0, 10)
    assert row.attempts == 1
    for _ in range(GiveUp().isolated_failures - 1):
        status = await queue.flush()
    assert status == QueueStatus(0, 0, 1)
    (dead,) = queue.store.dead_letters()
    assert dead.record_id == "poison"
    assert "failed to store this record 5 times while it stored others" in dead.reason
    assert "UNEXPECTED_ERROR" in dead.reason


async def test_a_server_down_is_not_blamed_on_the_records(queue: Queue) -> None:
    queue.fake.fail = lambda m, p, b: (500, b"UNEXPECTED_ERROR")
    queue.add("a")
    for _ in range(2 * GiveUp().isolated_failures):
        status = await queue.flush()
    assert status == QueueStatus(1, 0, 0)  # retried for ever: the server is failing


async def test_an_answer_that_cannot_be_understood_is_not_resent_for_ever(queue: Queue) -> None:
    queue.fake.fail = lambda m, p, b: (
        (200, b'{"a":' * 100_000) if m == "POST" and b != b"[]" else None
    )
    queue.add("a")
    passes = 0
    while (await queue.flush()).queued:
        passes += 1
        assert passes < 10
    (dead,) = queue.store.dead_letters()
    assert "AUDITOR never sends" in dead.reason
    assert len(dead.reason) <= 1000


# -- the give-up rule (off by default) ---------------------------------------------------------


async def test_giving_up_after_attempts(
    executor: ThreadPoolExecutor, senders: list[AsyncSender]
) -> None:
    queue = Queue(executor, senders, give_up=GiveUp(max_attempts=3))
    queue.fake.fail = lambda m, p, b: refused()
    queue.add("a")
    assert await queue.flush() == QueueStatus(1, 0, 0)
    await queue.flush()
    assert await queue.flush() == QueueStatus(0, 0, 1)
    (dead,) = queue.store.dead_letters()
    assert dead.reason.startswith("gave up after 3 failed attempts; last error: ")
    assert "connection refused" in dead.reason
    assert dead.status_code is None


async def test_giving_up_by_age(executor: ThreadPoolExecutor, senders: list[AsyncSender]) -> None:
    queue = Queue(executor, senders, give_up=GiveUp(max_age=0.2))
    queue.fake.fail = lambda m, p, b: refused()
    queue.add("old")
    assert await queue.flush() == QueueStatus(1, 0, 0)
    await asyncio.sleep(0.25)
    queue.add("new")
    assert await queue.flush() == QueueStatus(1, 0, 1)
    (dead,) = queue.store.dead_letters()
    assert dead.record_id == "old"
    assert "still not delivered 0.2 s after it was queued" in dead.reason


async def test_by_default_the_queue_never_gives_up(queue: Queue) -> None:
    queue.fake.fail = lambda m, p, b: refused()
    queue.add("a")
    for _ in range(20):
        status = await queue.flush()
    assert status == QueueStatus(1, 0, 0)
    assert queue.store.next_inserts(0, 1)[0].attempts == 20


@pytest.mark.parametrize(
    "options",
    [
        {"max_attempts": 0},
        {"max_attempts": 1.5},
        {"max_age": 0},
        {"max_age": float("nan")},
        {"max_age": "1"},
    ],
)
def test_give_up_settings_are_checked(options: dict[str, object]) -> None:
    from pyauditor import ConfigurationError

    with pytest.raises(ConfigurationError):
        GiveUp(**options)  # type: ignore[arg-type]


# -- what status says --------------------------------------------------------------------------


async def test_status_tells_the_oldest_row_and_the_last_error(queue: Queue) -> None:
    before = time.time()
    queue.add("a")
    queue.fake.fail = lambda m, p, b: (503, b"maintenance until noon")
    status = await queue.flush()
    assert status.oldest is not None
    assert before - 1 < status.oldest.timestamp() <= time.time()
    assert status.last_error == "maintenance until noon"
    assert status.last_error_at is not None
    assert status.last_error_at >= status.oldest


# -- updates ------------------------------------------------------------------------------------


async def test_updates_wait_for_their_insert_and_apply_in_order(queue: Queue) -> None:
    queue.store.enqueue([("update", "a", body("a", "2022-08-08T12:00:00Z"))])
    queue.add("a")
    queue.store.enqueue([("update", "a", body("a", STOP))])
    assert await queue.flush() == QueueStatus(0, 0, 0)
    assert queue.fake.stored["a"]["stop_time"] == STOP
    assert [m for m, _, _ in queue.fake.requests] == ["POST", "PUT", "PUT"]


async def test_an_update_of_an_unknown_record_is_a_dead_letter(queue: Queue) -> None:
    queue.store.enqueue([("update", "x", body("x", STOP))])
    assert await queue.flush() == QueueStatus(0, 0, 1)
    (dead,) = queue.store.dead_letters()
    assert (dead.kind, dead.status_code) == ("update", 404)


async def test_an_update_whose_insert_was_refused_says_so(queue: Queue) -> None:
    queue.fake.invalid.add("a")
    queue.add("a")
    queue.store.enqueue([("update", "a", body("a", STOP))])
    assert await queue.flush() == QueueStatus(0, 0, 2)
    update = next(d for d in queue.store.dead_letters() if d.kind == "update")
    assert "the insert of this record is in the dead-letter table" in update.reason


def test_an_update_refused_while_its_insert_was_queued_stays_queued() -> None:
    store = QueueStore(DatabaseLocation(None))
    store.enqueue([("update", "a", body("a", STOP))])
    (update,) = store.next_updates(0, 10)
    store.enqueue([("insert", "a", body("a"))])  # while the update was in flight
    refusal = Settled(Verdict.REJECTED, (0,), "Updating unknown record a not possible.", 404)
    store.apply(commit_for(refusal, [update]))
    assert store.status() == QueueStatus(1, 1, 0)


# -- the schema a queue file gets ----------------------------------------------------------------


async def test_a_file_queue_end_to_end(
    executor: ThreadPoolExecutor, senders: list[AsyncSender], tmp_path: Path
) -> None:
    queue = Queue(executor, senders, path=tmp_path / "q.db")
    queue.fake.put(body("c", meta={"x": ["y"]}))
    for i in "abc":
        queue.add(i)
    assert await queue.flush() == QueueStatus(0, 0, 1)
    queue.store.close()
    with sqlite3.connect(tmp_path / "q.db") as conn:
        stored = conn.execute("SELECT stored FROM pyauditor_dead_letters").fetchone()[0]
    conn.close()
    assert json.loads(stored)["meta"] == {"x": ["y"]}


def test_verdicts_map_to_commits() -> None:
    rows = [QueuedRow(10, "insert", "a", body("a")), QueuedRow(11, "insert", "b", body("b"))]
    assert commit_for(Settled(Verdict.STORED, (0, 1)), rows).delivered == (10, 11)
    assert commit_for(Settled(Verdict.DUPLICATE, (1,)), rows).delivered == (11,)
    failed = commit_for(Settled(Verdict.FAILED, (0,), "busy", 503, isolated=True), rows)
    assert (failed.failed, failed.error, failed.isolated) == ((10,), "busy", True)
    (dead,) = commit_for(Settled(Verdict.CONFLICT, (1,), "differs", stored="{}"), rows).dead
    assert (dead.seq, dead.stored, dead.unless_insert_queued) == (11, "{}", False)
