"""The delivery decisions, driven synchronously over an in-memory store and a fake server."""

from __future__ import annotations

import json

import pytest

from pyauditor._delivery import (
    EXISTS_FANOUT,
    MAX_BATCH_RECORDS,
    DeliveryPlanner,
    Flow,
    Send,
    failure_budget,
)
from pyauditor._errors import AuditorError
from pyauditor._queue import DatabaseLocation, QueueStatus, QueueStore, StoreCommit

from .fakes import FakeAuditor, body, error, refused


@pytest.fixture
def store() -> QueueStore:
    return QueueStore(DatabaseLocation(None))


def run(flow: Flow, fake: FakeAuditor, store: QueueStore) -> AuditorError | None:
    """The smallest possible driver: what _queued does, without asyncio."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Send):
                step = flow.send(fake.answer(step.method, step.path, step.body))
            else:
                assert isinstance(step, StoreCommit)
                store.apply(step)
                step = flow.send(None)
    except StopIteration as stop:
        result: AuditorError | None = stop.value
        return result


def deliver(
    store: QueueStore, fake: FakeAuditor, planner: DeliveryPlanner | None = None
) -> AuditorError | None:
    planner = planner or DeliveryPlanner()
    for fetch, flow_of in (
        (store.next_inserts, planner.inserts),
        (store.next_updates, planner.updates),
    ):
        cursor = 0
        while rows := fetch(cursor, 8000):
            cursor = rows[-1].seq
            outcome = run(flow_of(rows), fake, store)
            if outcome is not None:
                return outcome
    return None


def add(store: QueueStore, *ids: str) -> None:
    store.enqueue(("insert", i, body(i)) for i in ids)


def update(store: QueueStore, *ids: str, stop: str = "2022-08-08T12:30:00Z") -> None:
    store.enqueue(("update", i, body(i, stop)) for i in ids)


def test_10k_inserts_go_in_20_batches_and_leave_the_queue_empty(store: QueueStore) -> None:
    fake = FakeAuditor()
    add(store, *(f"r{i}" for i in range(10_000)))
    assert deliver(store, fake) is None
    assert MAX_BATCH_RECORDS == 500
    assert fake.requests == [("POST", "/records", MAX_BATCH_RECORDS)] * 20
    assert len(fake.stored) == 10_000
    assert store.status().queued == 0


def test_batches_respect_the_body_limit(store: QueueStore) -> None:
    fake = FakeAuditor()
    add(store, *(f"r{i}" for i in range(100)))
    size = len(body("r10")) + 1
    assert deliver(store, fake, DeliveryPlanner(body_limit=20 * size)) is None
    assert sum(n for _, _, n in fake.requests) == 100
    assert all(n <= 20 for _, _, n in fake.requests)
    assert len(fake.requests) <= 6


def test_bodies_are_the_queued_texts_in_queue_order(store: QueueStore) -> None:
    sent: list[bytes] = []
    fake = FakeAuditor()
    fake.fail = lambda m, p, b: sent.append(b)  # type: ignore[func-returns-value]
    add(store, "b", "a", "c")
    deliver(store, fake)
    assert sent == [("[" + ",".join(body(i) for i in "bac") + "]").encode()]


def test_record_exists_for_a_batch_settles_each_record_alone(store: QueueStore) -> None:
    fake = FakeAuditor()
    fake.stored["r1"] = {}  # stored before, e.g. by a pass that crashed before its commit
    add(store, "r0", "r1", "r2")
    assert deliver(store, fake) is None
    assert fake.requests == [("POST", "/records", 3)] + [("POST", "/record", 1)] * 3
    assert set(fake.stored) == {"r0", "r1", "r2"}
    assert store.status() == QueueStatus(0, 0, 0)


def test_a_resent_batch_the_server_already_stored_counts_as_delivered(store: QueueStore) -> None:
    # What a crash between the server's answer and the commit leaves behind.
    fake = FakeAuditor()
    ids = [f"r{i}" for i in range(MAX_BATCH_RECORDS)]
    add(store, *ids)
    for i in ids:
        fake.stored[i] = {}
    assert deliver(store, fake) is None
    assert store.status() == QueueStatus(0, 0, 0)
    singles = sum(1 for _, path, _ in fake.requests if path == "/record")
    assert singles == MAX_BATCH_RECORDS  # each record confirmed by its own RECORD_EXISTS
    assert len(fake.requests) == 1 + EXISTS_FANOUT + MAX_BATCH_RECORDS


def test_a_few_duplicates_in_a_batch_cost_few_requests(store: QueueStore) -> None:
    fake = FakeAuditor()
    ids = [f"r{i}" for i in range(MAX_BATCH_RECORDS)]
    add(store, *ids)
    fake.stored["r17"] = fake.stored["r400"] = {}
    assert deliver(store, fake) is None
    assert set(fake.stored) == set(ids)
    assert store.status().queued == 0
    # 1 batch, 16 parts of 31 or 32, and the 2 parts with a duplicate record by record
    assert len(fake.requests) <= 1 + EXISTS_FANOUT + 2 * 32


def test_duplicates_inside_the_queue_are_delivered_once(store: QueueStore) -> None:
    fake = FakeAuditor()
    add(store, "x", "y", "x")
    assert deliver(store, fake) is None
    assert sorted(fake.stored) == ["x", "y"]
    assert store.status().queued == 0


def test_an_invalid_record_is_dead_lettered_and_does_not_block_the_others(
    store: QueueStore,
) -> None:
    fake = FakeAuditor()
    fake.invalid.add("r1234")
    add(store, *(f"r{i}" for i in range(2000)))
    assert deliver(store, fake) is None
    assert len(fake.stored) == 1999
    status = store.status()
    assert (status.queued, status.dead_letters) == (0, 1)
    (dead,) = store.dead_letters()
    assert (dead.record_id, dead.status_code) == ("r1234", 400)
    assert dead.reason == "Json deserialize error: invalid record"
    assert dead.body == body("r1234")
    # Bisection: about 2*log2(2000) requests, not 2000.
    assert len(fake.requests) < 30


def test_413_for_a_batch_bisects_and_lowers_the_limit(store: QueueStore) -> None:
    size = len(body("r100")) + 1
    fake = FakeAuditor(limit=10 * size)
    add(store, *(f"r{i}" for i in range(100, 200)))
    planner = DeliveryPlanner()
    assert deliver(store, fake, planner) is None
    assert len(fake.stored) == 100
    assert planner.body_limit < 10 * size


def test_413_for_one_record_is_a_dead_letter(store: QueueStore) -> None:
    fake = FakeAuditor(limit=200)
    store.enqueue(
        [("insert", "big", body("big").replace("null", '{"k":["' + "x" * 300 + '"]}', 1))]
    )
    add(store, "small")
    assert deliver(store, fake) is None
    assert list(fake.stored) == ["small"]
    (dead,) = store.dead_letters()
    assert (dead.record_id, dead.status_code) == ("big", 413)


def test_connection_errors_keep_every_row_and_stop_the_pass(store: QueueStore) -> None:
    fake = FakeAuditor()
    fake.fail = lambda m, p, b: refused()
    add(store, "a", "b")
    update(store, "a")
    outcome = deliver(store, fake)
    assert isinstance(outcome, AuditorError)
    assert len(fake.requests) == 1
    assert store.status() == QueueStatus(2, 1, 0)
    rows = store.next_inserts(0, 10)
    assert [r.attempts for r in rows] == [1, 1]


def test_server_errors_keep_rows_and_the_pass_stops_after_the_budget(store: QueueStore) -> None:
    fake = FakeAuditor()
    fake.fail = lambda m, p, b: error(500, "UNEXPECTED_ERROR")
    add(store, *(f"r{i}" for i in range(3000)))
    outcome = deliver(store, fake)
    assert isinstance(outcome, AuditorError)
    assert "UNEXPECTED_ERROR" in str(outcome)
    assert len(fake.requests) == failure_budget(MAX_BATCH_RECORDS)
    assert store.status().queued == 3000
    assert store.status().dead_letters == 0


def test_a_record_the_server_cannot_store_stays_queued_without_blocking_others(
    store: QueueStore,
) -> None:
    fake = FakeAuditor()
    fake.fail = lambda m, p, b: error(500, "UNEXPECTED_ERROR") if b"poison" in b else None
    add(store, *(f"r{i}" for i in range(1000)), "poison", *(f"s{i}" for i in range(999)))
    update(store, "poison", "r5")
    planner = DeliveryPlanner()
    assert deliver(store, fake, planner) is None
    # The pass got through, but the driver must retry the poison record with backoff.
    assert planner.deferral is not None
    assert planner.deferral.status_code == 500  # type: ignore[attr-defined]
    assert len(fake.stored) == 1999
    assert store.status() == QueueStatus(1, 1, 0)  # poison insert + its update
    assert fake.stored["r5"]["stop_time"] == "2022-08-08T12:30:00Z"
    (row,) = store.next_inserts(0, 10)
    assert (row.record_id, row.attempts) == ("poison", 1)


def test_two_neighbouring_poison_records_do_not_stop_the_pass(store: QueueStore) -> None:
    fake = FakeAuditor()
    fake.fail = lambda m, p, b: error(500, "UNEXPECTED_ERROR") if b"poison" in b else None
    add(
        store, *(f"r{i}" for i in range(1000)), "poison1", "poison2", *(f"s{i}" for i in range(998))
    )
    assert deliver(store, fake) is None
    assert store.status().inserts == 2


def test_updates_wait_for_the_insert_of_their_record(store: QueueStore) -> None:
    fake = FakeAuditor()
    update(store, "a")  # queued before its insert: still sent after it
    add(store, "a")
    assert deliver(store, fake) is None
    assert [(m, p) for m, p, _ in fake.requests] == [("POST", "/record"), ("PUT", "/record")]
    assert fake.stored["a"]["stop_time"] == "2022-08-08T12:30:00Z"


def test_an_update_is_not_offered_while_its_insert_is_queued(store: QueueStore) -> None:
    add(store, "a")
    update(store, "a", "b")
    assert [r.record_id for r in store.next_updates(0, 10)] == ["b"]


def test_updates_of_one_record_are_applied_in_order(store: QueueStore) -> None:
    fake = FakeAuditor()
    add(store, "a")
    update(store, "a", stop="2022-08-08T12:00:00Z")
    update(store, "a", stop="2022-08-08T13:00:00Z")
    assert deliver(store, fake) is None
    assert fake.stored["a"]["stop_time"] == "2022-08-08T13:00:00Z"


def test_a_failed_update_holds_back_later_updates_of_the_same_record(store: QueueStore) -> None:
    fake = FakeAuditor()
    fake.stored["a"] = {}
    fake.stored["b"] = {}
    update(store, "a", stop="2022-08-08T12:00:00Z")
    update(store, "b")
    update(store, "a", stop="2022-08-08T13:00:00Z")
    calls = []

    def flaky(method: str, path: str, raw: bytes) -> AuditorError | None:
        calls.append(json.loads(raw)["record_id"])
        return error(503, "busy", method, path) if len(calls) == 1 else None

    fake.fail = flaky
    assert deliver(store, fake) is None
    assert calls == ["a", "b"]  # the second update of "a" waited
    fake.fail = None
    assert deliver(store, fake) is None
    assert fake.stored["a"]["stop_time"] == "2022-08-08T13:00:00Z"


def test_an_update_of_an_unknown_record_is_a_dead_letter(store: QueueStore) -> None:
    fake = FakeAuditor()
    update(store, "ghost")
    assert deliver(store, fake) is None
    (dead,) = store.dead_letters()
    assert (dead.kind, dead.record_id, dead.status_code) == ("update", "ghost", 404)
    assert dead.reason == "Updating unknown record ghost not possible."


def test_an_update_whose_insert_was_refused_says_so(store: QueueStore) -> None:
    fake = FakeAuditor()
    fake.invalid.add("bad")
    add(store, "bad")
    fake_update_allowed = FakeAuditor()
    assert deliver(store, fake) is None
    update(store, "bad")
    assert deliver(store, fake_update_allowed) is None
    insert, upd = store.dead_letters()
    assert (insert.kind, upd.kind) == ("insert", "update")
    assert "insert of this record is in the dead-letter table" in upd.reason


def test_a_404_update_stays_queued_if_its_insert_was_queued_meanwhile(store: QueueStore) -> None:
    fake = FakeAuditor()
    update(store, "late")

    def enqueue_insert_during_the_request(method: str, path: str, raw: bytes) -> None:
        add(store, "late")

    fake.fail = enqueue_insert_during_the_request  # type: ignore[assignment]
    planner = DeliveryPlanner()
    assert run(planner.updates(store.next_updates(0, 10)), fake, store) is None
    assert store.status() == QueueStatus(1, 1, 0)
    fake.fail = None
    assert deliver(store, fake) is None
    assert store.status() == QueueStatus(0, 0, 0)


def test_a_404_for_an_unknown_route_is_not_blamed_on_the_update(store: QueueStore) -> None:
    fake = FakeAuditor()
    fake.fail = lambda m, p, b: error(
        404, "The requested resource was not found. 404 Not Found", m, p
    )
    update(store, "a")
    assert isinstance(deliver(store, fake), AuditorError)
    assert store.status() == QueueStatus(0, 1, 0)


@pytest.mark.parametrize("status", [401, 403, 404, 405, 429])
def test_answers_that_say_nothing_about_the_record_keep_it_queued(
    store: QueueStore, status: int
) -> None:
    fake = FakeAuditor()
    fake.fail = lambda m, p, b: error(status, "nope", m, p)
    add(store, "a", "b")
    assert isinstance(deliver(store, fake), AuditorError)
    assert store.status() == QueueStatus(2, 0, 0)


def test_failure_budget_grows_with_the_batch_size() -> None:
    assert failure_budget(1) == 3
    assert failure_budget(500) == 12
    assert failure_budget(2000) == 14
