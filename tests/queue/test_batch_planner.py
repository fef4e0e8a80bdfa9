"""The batch planner's decisions, driven synchronously against an in-process fake AUDITOR.

No sockets and no files: :class:`~tests.queue.fakes.BlockingFake` answers like AUDITOR 0.11
(all-or-nothing batches, ``RECORD_EXISTS`` or the ``ignore_record_exists_error`` warning, the
query grammar of ``GET /records``), and :func:`~pyauditor._delivery.drive_blocking` runs plans.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyauditor._delivery import (
    EXISTS_FANOUT,
    MAX_BATCH_RECORDS,
    UNPROVEN_LIMIT,
    BatchPlanner,
    Fetch,
    Flow,
    Lookup,
    Settled,
    Verdict,
    Write,
    _windows,
    drive_blocking,
    failure_budget,
    truncate,
)
from pyauditor._errors import (
    AuditorError,
    BadRequestError,
    ResponseDecodeError,
    ValidationError,
)

from .fakes import T0, BlockingFake, body, decoded, refused

SECOND = dt.timedelta(seconds=1)


def at(seconds: float) -> dt.datetime:
    return T0 + seconds * SECOND


class Run:
    """One plan's outcome: its verdicts, and what became of every position."""

    def __init__(self, settled: list[Settled], halted: AuditorError | None) -> None:
        self.settled = settled
        self.halted = halted
        self.verdicts: dict[int, Verdict] = {}
        for step in settled:
            for position in step.positions:
                assert position not in self.verdicts, f"position {position} settled twice"
                self.verdicts[position] = step.verdict

    def count(self, verdict: Verdict) -> int:
        return sum(1 for v in self.verdicts.values() if v is verdict)

    def of(self, verdict: Verdict) -> list[int]:
        return sorted(p for p, v in self.verdicts.items() if v is verdict)

    def step(self, position: int) -> Settled:
        return next(s for s in self.settled if position in s.positions)


def plan(
    fake: BlockingFake,
    ids: Sequence[str],
    bodies: Sequence[str] | None = None,
    planner: BatchPlanner | None = None,
) -> Run:
    planner = planner or BatchPlanner()
    settled: list[Settled] = []
    bodies = bodies if bodies is not None else [body(i) for i in ids]
    halted = drive_blocking(planner.plan(ids, bodies), fake, settled.append)
    return Run(settled, halted)


def methods(fake: BlockingFake) -> Counter[tuple[str, str]]:
    return Counter((m, "/record/" if p.startswith("/record/") else p) for m, p, _ in fake.requests)


# -- the first send ---------------------------------------------------------------------------


def test_new_records_go_in_batches_and_are_stored() -> None:
    fake = BlockingFake()
    ids = [f"r{i}" for i in range(10_000)]
    run = plan(fake, ids)
    assert run.halted is None
    assert run.count(Verdict.STORED) == 10_000
    assert MAX_BATCH_RECORDS == 500
    assert fake.requests == [("POST", "/records", MAX_BATCH_RECORDS)] * 20
    assert len(fake.stored) == 10_000


def test_batches_respect_the_body_limit_and_the_texts_are_sent_as_given() -> None:
    fake = BlockingFake()
    texts = [body(f"r{i}") for i in range(300)]
    sent: list[bytes] = []
    fake.fail = lambda m, p, b: sent.append(b) and None  # type: ignore[func-returns-value]
    planner = BatchPlanner(body_limit=10_000, max_batch=None)
    run = plan(fake, [f"r{i}" for i in range(300)], texts, planner)
    assert run.count(Verdict.STORED) == 300
    assert all(len(b) <= 10_000 for b in sent)
    assert b"".join(sent) == b"".join(
        ("[" + ",".join(texts[a:b]) + "]").encode()
        for a, b in _bounds([json.loads(b) for b in sent])
    )


def _bounds(batches: list[list[object]]) -> list[tuple[int, int]]:
    start, out = 0, []
    for batch in batches:
        out.append((start, start + len(batch)))
        start += len(batch)
    return out


def test_one_record_goes_through_post_record() -> None:
    fake = BlockingFake()
    assert plan(fake, ["a"]).count(Verdict.STORED) == 1
    assert fake.requests == [("POST", "/record", 1)]


# -- the silent loss of issue 12: duplicates in a batch --------------------------------------


@pytest.mark.parametrize("ignore", [True, False], ids=["warning-200", "record-exists-500"])
def test_a_batch_with_a_stored_record_stores_the_others(ignore: bool) -> None:
    # add(a), then bulk_insert([a, b, c]): AUDITOR stores none of a batch holding a duplicate,
    # and with ignore_record_exists_error it even answers 200.
    fake = BlockingFake(ignore_record_exists_error=ignore)
    fake.put(body("a"))
    run = plan(fake, ["a", "b", "c"])
    assert run.halted is None
    assert run.verdicts == {0: Verdict.DUPLICATE, 1: Verdict.STORED, 2: Verdict.STORED}
    assert set(fake.stored) == {"a", "b", "c"}
    # One refused POST, one query, one POST of the rest.
    assert [(m, p) for m, p, _ in fake.requests] == [
        ("POST", "/records"),
        ("GET", "/records"),
        ("POST", "/records"),
    ]


def test_a_stored_record_with_other_content_is_a_conflict_never_stored() -> None:
    fake = BlockingFake(ignore_record_exists_error=True)
    theirs = body("a", meta={"site": ["elsewhere"]})
    fake.put(theirs)
    run = plan(fake, ["a", "b"])
    assert run.verdicts == {0: Verdict.CONFLICT, 1: Verdict.STORED}
    conflict = run.step(0)
    assert "different record" in conflict.reason
    assert conflict.stored is not None
    assert json.loads(conflict.stored)["meta"] == {"site": ["elsewhere"]}
    assert fake.stored["a"]["meta"] == {"site": ["elsewhere"]}  # not overwritten


def test_identical_means_every_field_but_the_runtime() -> None:
    fake = BlockingFake()
    fake.put(body("a", "2022-08-08T12:30:00Z"))
    fake.put(body("b", "2022-08-08T12:30:00Z"))
    run = plan(fake, ["a", "b"], [body("a", "2022-08-08T12:30:00Z"), body("b")])
    assert run.verdicts == {0: Verdict.DUPLICATE, 1: Verdict.CONFLICT}


def test_a_single_record_answered_record_exists_is_compared_with_the_stored_one() -> None:
    fake = BlockingFake()
    fake.put(body("a"))
    fake.put(body("b", meta={"x": ["y"]}))
    run = plan(fake, ["a"])
    assert run.verdicts == {0: Verdict.DUPLICATE}
    assert methods(fake) == Counter({("POST", "/record"): 1, ("GET", "/record/"): 1})
    assert plan(fake, ["b"]).verdicts == {0: Verdict.CONFLICT}


def test_the_2xx_record_exists_quirk_is_a_duplicate_too() -> None:
    fake = BlockingFake()
    fake.put(body("a"))
    fake.fail = lambda m, p, b: (200, b"RECORD_EXISTS") if p == "/record" else None
    assert plan(fake, ["a"]).verdicts == {0: Verdict.DUPLICATE}


# -- finding duplicates cheaply ----------------------------------------------------------------


def resend_records(count: int, shared_every: int = 8) -> tuple[list[str], list[str]]:
    """Records one second apart, every ``shared_every``-th of them at T0 (shared start)."""
    ids = [f"job-{i}" for i in range(count)]
    bodies = [body(i, start=T0 if k % shared_every == 0 else at(k)) for k, i in enumerate(ids)]
    return ids, bodies


def test_resending_stored_records_that_share_a_start_time_costs_a_query_per_batch() -> None:
    # 12,000 records, 1,500 of them with one start time (more than a page): issue 12's case.
    fake = BlockingFake(ignore_record_exists_error=True)
    ids, bodies = resend_records(12_000)
    planner = BatchPlanner(max_batch=None)
    for start in range(0, 12_000, 1000):
        plan(fake, ids[start : start + 1000], bodies[start : start + 1000], planner)
    fake.requests.clear()
    again = BatchPlanner(max_batch=None)
    verdicts: Counter[Verdict] = Counter()
    for start in range(0, 12_000, 1000):
        run = plan(fake, ids[start : start + 1000], bodies[start : start + 1000], again)
        verdicts.update(run.verdicts.values())
    assert verdicts == Counter({Verdict.DUPLICATE: 12_000})
    counted = methods(fake)
    assert counted[("POST", "/records")] == 1  # the first batch only: then it asks first
    assert counted[("POST", "/record")] == 0
    assert counted[("GET", "/record/")] == 0
    # The shared instant is read once; each batch's own second-by-second window once.
    assert counted[("GET", "/records")] <= 12 + 3


def test_what_a_lookup_learned_serves_later_batches_without_requests() -> None:
    fake = BlockingFake()
    ids = [f"r{i}" for i in range(3000)]
    bodies = [body(i, start=T0) for i in ids]  # one start time for all
    for start in range(0, 3000, 1000):
        fake.put(bodies[start])
    for text in bodies:
        fake.put(text)
    fake.requests.clear()
    planner = BatchPlanner(max_batch=None)
    first = plan(fake, ids[:1000], bodies[:1000], planner)
    assert first.count(Verdict.DUPLICATE) == 1000
    spent = len(fake.requests)
    assert spent <= 4  # a refused POST, a page, the instant read whole
    for start in (1000, 2000):
        run = plan(fake, ids[start : start + 1000], bodies[start : start + 1000], planner)
        assert run.count(Verdict.DUPLICATE) == 1000
    assert len(fake.requests) == spent  # known already: not even a query


def test_after_a_new_batch_it_sends_optimistically_again() -> None:
    fake = BlockingFake()
    ids = [f"r{i}" for i in range(200)]
    bodies = [body(i, start=at(k)) for k, i in enumerate(ids)]
    for text in bodies[:100]:
        fake.put(text)
    planner = BatchPlanner(max_batch=None)
    plan(fake, ids[:100], bodies[:100], planner)  # a re-send: refused, looked up
    plan(fake, ids[100:150], bodies[100:150], planner)  # looked up first: nothing there
    fake.requests.clear()
    run = plan(fake, ids[150:], bodies[150:], planner)
    assert run.count(Verdict.STORED) == 50
    assert [m for m, _, _ in fake.requests] == ["POST"]  # no query first any more


def test_a_page_full_of_other_records_is_paged_through() -> None:
    fake = BlockingFake()
    # 6,000 records of others in the window of a batch of 100 of ours, one of them stored.
    for k in range(6000):
        fake.put(body(f"other-{k}", start=at(k / 100)))
    ids = [f"mine-{k}" for k in range(100)]
    bodies = [body(i, start=at(k * 0.6)) for k, i in enumerate(ids)]
    fake.put(bodies[70])
    run = plan(fake, ids, bodies)
    assert run.of(Verdict.DUPLICATE) == [70]
    assert run.count(Verdict.STORED) == 99
    queries = [decoded(q) for m, p, _ in fake.requests if m == "GET" for q in [p]]
    assert 2 <= len(queries) <= 6


def test_queries_ask_for_start_time_windows_sorted_by_start_time() -> None:
    planner = BatchPlanner()
    flow = planner.plan(["a", "b"], [body("a", start=at(0)), body("b", start=at(5))])
    step = next(flow)
    assert isinstance(step, Write)
    step = flow.send(b'{"warning":"One or more records already exist"}')
    assert isinstance(step, Lookup)
    assert decoded(step.query) == (
        "start_time[gte]=2022-08-08T11:30:00+00:00&start_time[lte]=2022-08-08T11:30:05+00:00"
        "&sort_by[asc]=start_time&limit=2000"
    )
    flow.close()


def test_far_apart_clusters_of_start_times_get_windows_of_their_own() -> None:
    day = 86_400_000_000
    assert _windows([0, 1, 2, 3], 4) == [(0, 3)]
    assert _windows([0, 1, 2, 100 * day, 100 * day + 5], 4) == [(0, 2), (100 * day, 100 * day + 5)]
    assert len(_windows([*list(range(0, 100)), 10**9, 2 * 10**9, 3 * 10**9, 4 * 10**9], 4)) == 4


def test_an_id_stored_under_another_start_time_is_found_by_splitting() -> None:
    fake = BlockingFake()
    fake.put(body("r50", start=T0 - dt.timedelta(days=400)))
    ids = [f"r{i}" for i in range(200)]
    run = plan(fake, ids, [body(i, start=at(k)) for k, i in enumerate(ids)])
    assert run.of(Verdict.CONFLICT) == [50]
    assert run.count(Verdict.STORED) == 199
    assert len(fake.requests) < 40


def test_when_lookups_are_refused_splitting_still_finds_the_duplicates() -> None:
    # A write-only certificate under AUDITOR's RBAC may not read.
    fake = BlockingFake()
    fake.fail = _forbid_reads
    ids = [f"r{i}" for i in range(1000)]
    for i in ("r10", "r999"):
        fake.put(body(i))
    planner = BatchPlanner(max_batch=None)
    run = plan(fake, ids, None, planner)
    assert (run.count(Verdict.STORED), run.of(Verdict.CONFLICT)) == (998, [10, 999])
    assert all("could not be read" in run.step(p).reason for p in (10, 999))
    assert methods(fake)[("GET", "/records")] == 1  # refused once, then not asked again
    assert len(fake.requests) < 120  # record by record would be 1,000


def _forbid_reads(method: str, path: str, raw: bytes) -> AuditorError | None:
    if method == "GET":
        from pyauditor._protocol import status_error

        return status_error(403, b"Insufficient permissions", "GET", "http://fake" + path)
    return None


def test_an_id_twice_in_one_batch_is_sent_once() -> None:
    fake = BlockingFake()
    ids = ["a", "b", "a", "c", "b"]
    bodies = [body("a"), body("b"), body("a"), body("c"), body("b", meta={"k": ["v"]})]
    run = plan(fake, ids, bodies)
    assert run.verdicts == {
        0: Verdict.STORED,
        1: Verdict.STORED,
        2: Verdict.DUPLICATE,
        3: Verdict.STORED,
        4: Verdict.CONFLICT,
    }
    assert fake.stored["b"]["meta"] is None


def test_a_small_memory_costs_queries_not_correctness() -> None:
    fake = BlockingFake()
    ids, bodies = resend_records(3000)
    for text in bodies:
        fake.put(text)
    planner = BatchPlanner(max_batch=None, memory=100)
    verdicts: Counter[Verdict] = Counter()
    for start in range(0, 3000, 500):
        verdicts.update(
            plan(
                fake, ids[start : start + 500], bodies[start : start + 500], planner
            ).verdicts.values()
        )
    assert verdicts == Counter({Verdict.DUPLICATE: 3000})


# -- refusals ----------------------------------------------------------------------------------


def test_an_invalid_record_is_isolated_by_bisection() -> None:
    fake = BlockingFake()
    fake.invalid.add("r700")
    ids = [f"r{i}" for i in range(1000)]
    run = plan(fake, ids, None, BatchPlanner(max_batch=None))
    assert run.of(Verdict.REJECTED) == [700]
    rejected = run.step(700)
    assert (rejected.status, rejected.reason) == (400, "Json deserialize error: invalid record")
    assert isinstance(rejected.error, BadRequestError)
    assert run.count(Verdict.STORED) == 999
    assert len(fake.requests) <= 2 * 10 + 1


def test_413_bisects_lowers_the_limit_and_rejects_a_record_too_large_alone() -> None:
    fake = BlockingFake(limit=20_000)
    huge = body("huge", meta={"k": ["x" * 30_000]})
    ids = [f"r{i}" for i in range(300)] + ["huge"]
    planner = BatchPlanner()
    run = plan(fake, ids, [body(i) for i in ids[:-1]] + [huge], planner)
    assert run.of(Verdict.REJECTED) == [300]
    assert run.step(300).status == 413
    assert run.count(Verdict.STORED) == 300
    assert planner.body_limit < 20_000


def test_a_nul_character_is_rejected_without_being_sent() -> None:
    fake = BlockingFake()
    ids = ["a", "b\x00", "c"]
    bodies = [body("a"), body("b\x00"), body("c")]
    run = plan(fake, ids, bodies)
    assert run.verdicts == {0: Verdict.STORED, 1: Verdict.REJECTED, 2: Verdict.STORED}
    assert "NUL" in run.step(1).reason
    assert isinstance(run.step(1).error, ValidationError)  # refused before sending
    assert "b\x00" not in fake.stored
    assert all(b"\\u0000" not in json.dumps(r).encode() for r in fake.stored.values())
    # An escaped backslash followed by "u0000" is no NUL.
    text = body("ok\\u0000")
    assert plan(BlockingFake(), ["ok\\u0000"], [text]).verdicts == {0: Verdict.STORED}


def test_a_record_the_server_fails_on_alone_is_isolated_and_the_others_stored() -> None:
    fake = BlockingFake()
    fake.poison.add("r5")
    run = plan(fake, [f"r{i}" for i in range(100)])
    assert run.halted is None
    assert run.of(Verdict.FAILED) == [5]
    step = run.step(5)
    assert (step.isolated, step.status, step.reason) == (True, 500, "UNEXPECTED_ERROR")
    assert run.count(Verdict.STORED) == 99
    assert ("POST", "/records", 0) in fake.requests  # the probe, an empty batch


def test_records_failing_one_after_another_are_the_servers_trouble() -> None:
    # A full disk: every insert fails, the empty probe does not.  No record is blamed.
    fake = BlockingFake()
    fake.poison.update(f"r{i}" for i in range(100))
    run = plan(fake, [f"r{i}" for i in range(100)])
    assert run.halted is not None
    assert not any(s.isolated for s in run.settled)
    assert run.count(Verdict.FAILED) <= MAX_BATCH_RECORDS


def test_a_known_suspect_needs_no_neighbour_to_fail_alone() -> None:
    fake = BlockingFake()
    fake.poison.add("p")
    settled: list[Settled] = []
    drive_blocking(BatchPlanner().plan(["p"], [body("p")]), fake, settled.append)
    assert [s.isolated for s in settled] == [False]  # alone, and never failed before
    settled.clear()
    drive_blocking(BatchPlanner().plan(["p"], [body("p")], suspects={0}), fake, settled.append)
    assert [s.isolated for s in settled] == [True]


def test_a_failing_server_stops_the_plan_after_the_budget() -> None:
    fake = BlockingFake()
    fake.fail = lambda m, p, b: (503, b"down for maintenance")
    run = plan(fake, [f"r{i}" for i in range(500)])
    assert isinstance(run.halted, AuditorError)
    assert "HTTP 503" in str(run.halted)
    assert len(fake.requests) <= failure_budget(500) + 1
    assert not any(s.isolated for s in run.settled)
    assert run.count(Verdict.STORED) == 0


def test_a_failing_probe_means_the_server_not_the_record() -> None:
    fake = BlockingFake()
    fake.fail = lambda m, p, b: (500, b"UNEXPECTED_ERROR")
    run = plan(fake, ["a"])
    assert isinstance(run.halted, AuditorError)
    assert run.verdicts == {0: Verdict.FAILED}
    assert not run.step(0).isolated


def test_no_connection_stops_at_once_and_settles_only_the_batch_in_flight() -> None:
    fake = BlockingFake()
    fake.fail = lambda m, p, b: refused()
    run = plan(fake, [f"r{i}" for i in range(2000)])
    assert run.halted is not None
    assert len(fake.requests) == 1
    assert run.count(Verdict.FAILED) == MAX_BATCH_RECORDS
    assert len(run.verdicts) == MAX_BATCH_RECORDS  # the rest were not tried


@pytest.mark.parametrize("status", [401, 403, 404, 429])
def test_answers_that_say_nothing_about_a_record_stop_the_plan(status: int) -> None:
    fake = BlockingFake()
    fake.fail = lambda m, p, b: (status, b"no")
    run = plan(fake, ["a", "b"])
    assert run.halted is not None
    assert f"HTTP {status}" in str(run.halted)
    assert run.count(Verdict.FAILED) == 2


# -- answers that are not what AUDITOR sends ---------------------------------------------------


class OddAnswers(BlockingFake):
    """Answers every insert with ``answer`` (a 2xx), after storing it or not."""

    def __init__(self, answer: bytes, *, stores: bool) -> None:
        super().__init__()
        self.answer, self.stores = answer, stores

    def _answer(self, method: str, path: str, raw: bytes, document: object) -> tuple[int, bytes]:
        if self.stores:
            super()._answer(method, path, raw, document)
        return 200, self.answer


@pytest.mark.parametrize(
    "answer",
    [b"<html>OK</html>", b"{}", b"[" * 100_000, b'{"a":' * 100_000, b"9" * 5000, b"\xff\xfe"],
)
def test_a_2xx_answer_that_is_not_auditors_is_verified(answer: bytes) -> None:
    run = plan(OddAnswers(answer, stores=True), ["a", "b"])
    assert run.verdicts == {0: Verdict.STORED, 1: Verdict.STORED}

    run = plan(OddAnswers(answer, stores=False), ["a", "b"])
    assert run.halted is None
    assert run.verdicts == {0: Verdict.FAILED, 1: Verdict.FAILED}
    step = run.step(0)
    assert step.isolated
    assert "does not hold 2 of its records" in step.reason
    assert len(step.reason) < 400
    # A problem with the answer, not with the records: no ValidationError.
    assert type(step.error) is ResponseDecodeError


def test_reasons_are_bounded() -> None:
    fake = BlockingFake()
    fake.fail = lambda m, p, b: (400, b"x" * 300_000) if p == "/record" else None
    run = plan(fake, ["a"])
    assert len(run.step(0).reason) <= 1000
    assert run.step(0).reason.endswith("more characters)")
    assert truncate("a  b\n c") == "a b c"


# -- every record gets exactly one verdict, and STORED is never a lie ---------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(
        st.sampled_from(["new", "stored", "other", "invalid", "poison", "repeat"]),
        min_size=1,
        max_size=60,
    ),
    ignore=st.booleans(),
    max_batch=st.sampled_from([1, 3, 16, None]),
    spread=st.sampled_from([0, 1, 3600]),
)
def test_every_record_gets_one_verdict_and_none_is_stored_falsely(
    kinds: list[str], ignore: bool, max_batch: int | None, spread: int
) -> None:
    fake = BlockingFake(ignore_record_exists_error=ignore)
    ids: list[str] = []
    bodies: list[str] = []
    for k, kind in enumerate(kinds):
        record_id = ids[k // 2] if kind == "repeat" and k else f"r{k}"
        text = body(record_id, start=at((k * spread) % 7200))
        if kind == "stored":
            fake.put(text)
        elif kind == "other":
            fake.put(body(record_id, start=at(k), meta={"other": ["yes"]}))
        elif kind == "invalid":
            fake.invalid.add(record_id)
        elif kind == "poison":
            fake.poison.add(record_id)
        ids.append(record_id)
        bodies.append(text)
    before = dict(fake.stored)
    stored_now: set[str] = set()
    real = fake._answer

    def watch(method: str, path: str, raw: bytes, document: object) -> tuple[int, bytes]:
        had = set(fake.stored)
        answer = real(method, path, raw, document)
        stored_now.update(set(fake.stored) - had)
        return answer

    fake._answer = watch  # type: ignore[method-assign]
    run = plan(fake, ids, bodies, BatchPlanner(max_batch=max_batch))
    if run.halted is None:
        assert sorted(run.verdicts) == list(range(len(ids)))
    else:
        # Only records failing alone, several in a row, make the plan take it for the server.
        assert sum(record_id in fake.poison for record_id in ids) >= UNPROVEN_LIMIT
        assert "UNEXPECTED_ERROR" in str(run.halted)
    for position, verdict in run.verdicts.items():
        record_id = ids[position]
        if verdict is Verdict.STORED:
            # Stored by this plan, exactly this record.
            assert record_id in stored_now
            assert fake.stored[record_id] == BlockingFake.row(json.loads(bodies[position]))
        elif verdict is Verdict.DUPLICATE:
            assert fake.stored[record_id] == BlockingFake.row(json.loads(bodies[position]))
        elif verdict is Verdict.CONFLICT:
            assert fake.stored[record_id] != BlockingFake.row(json.loads(bodies[position]))
        else:
            assert record_id in fake.invalid or record_id in fake.poison
            assert record_id not in fake.stored or record_id in before
    # Everything the server holds now was stored once, by one position's STORED verdict.
    assert stored_now == {ids[p] for p in run.of(Verdict.STORED)}


# -- the queue's updates -----------------------------------------------------------------------


def updates(fake: BlockingFake, ids: list[str], planner: BatchPlanner | None = None) -> Run:
    planner = planner or BatchPlanner()
    settled: list[Settled] = []
    bodies = [body(i, "2022-08-08T12:30:00Z") for i in ids]
    halted = drive_blocking(planner.updates(ids, bodies), fake, settled.append)
    return Run(settled, halted)


def test_updates_go_one_by_one_in_order() -> None:
    fake = BlockingFake()
    for i in "ab":
        fake.put(body(i))
    run = updates(fake, ["a", "b", "a"])
    assert run.count(Verdict.STORED) == 3
    assert [m for m, _, _ in fake.requests] == ["PUT"] * 3
    assert fake.stored["a"]["stop_time"] == "2022-08-08T12:30:00Z"


def test_an_update_of_an_unknown_record_is_rejected() -> None:
    run = updates(BlockingFake(), ["x"])
    assert run.verdicts == {0: Verdict.REJECTED}
    assert run.step(0).status == 404


def test_a_failed_update_holds_back_later_updates_of_the_same_record() -> None:
    fake = BlockingFake()
    for i in "ab":
        fake.put(body(i))
    fake.poison.add("a")
    run = updates(fake, ["a", "b", "a"])
    assert run.verdicts == {0: Verdict.FAILED, 1: Verdict.STORED}


def test_a_404_for_an_unknown_route_is_not_blamed_on_the_update() -> None:
    fake = BlockingFake()
    fake.fail = lambda m, p, b: (404, b"The requested resource was not found. 404 Not Found")
    run = updates(fake, ["a", "b"])
    assert run.halted is not None
    assert run.verdicts == {0: Verdict.FAILED}


@pytest.mark.parametrize("answer", [b"<html>OK</html>", b'{"warning":"x"}', b"RECORD_EXISTS"])
def test_an_update_answered_with_a_body_auditor_never_sends_is_read_back(answer: bytes) -> None:
    fake = OddAnswers(answer, stores=True)
    for i in "ab":
        fake.put(body(i))
    run = updates(fake, ["a"])
    assert run.verdicts == {0: Verdict.STORED}
    assert fake.count("GET", "/record/a") == 1

    fake = OddAnswers(answer, stores=False)
    for i in "ab":
        fake.put(body(i))
    run = updates(fake, ["a", "b", "a"])
    # Not applied: a failure of the record's own (the server answers), never STORED; the
    # record's later update waits, the other record's goes on.
    assert run.halted is None
    assert run.verdicts == {0: Verdict.FAILED, 1: Verdict.FAILED}
    assert run.step(0).isolated
    assert type(run.step(0).error) is ResponseDecodeError
    assert "does not have the stop time sent" in run.step(0).reason
    assert fake.stored["a"]["stop_time"] is None


def test_updates_with_a_nul_are_rejected_unsent() -> None:
    fake = BlockingFake()
    run = updates(fake, ["a\x00"])
    assert run.verdicts == {0: Verdict.REJECTED}
    assert fake.requests == []


# -- the flow protocol --------------------------------------------------------------------------


def test_the_steps_a_shell_sees() -> None:
    flow: Flow = BatchPlanner().plan(["a"], [body("a")])
    assert next(flow) == Write("POST", "/record", body("a").encode(), range(1))
    assert flow.send(b"RECORD_EXISTS") == Fetch("a")
    step = flow.send(None)  # a reply a Fetch does not take: reported as a failure
    assert isinstance(step, Settled)
    assert step.verdict is Verdict.FAILED
    with pytest.raises(StopIteration) as done:
        flow.send(None)
    assert isinstance(done.value.value, AuditorError)
    assert EXISTS_FANOUT == 16
