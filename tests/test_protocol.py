"""IO-free protocol decisions shared by both clients (pyauditor._protocol)."""

from __future__ import annotations

import pytest

from pyauditor import (
    APIStatusError,
    AuditorError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RecordExistsError,
    ServerError,
)
from pyauditor._operations import Request, Run
from pyauditor._protocol import (
    USER_AGENT,
    RetryPolicy,
    WriteAnswer,
    base_url,
    check_write_answer,
    status_error,
)


@pytest.mark.parametrize(
    ("address", "tls", "expected"),
    [
        ("127.0.0.1:8000", False, "http://127.0.0.1:8000"),
        ("localhost:8000", True, "https://localhost:8000"),
        ("http://127.0.0.1:8000", True, "http://127.0.0.1:8000"),  # explicit scheme wins
        ("https://h:1", False, "https://h:1"),
        ("HTTP://h:1", False, "HTTP://h:1"),  # python-auditor makes this http://HTTP://h:1
        ("http://h:1/", False, "http://h:1"),  # python-auditor then requests //records
        ("http://h:1/prefix//", False, "http://h:1/prefix"),
    ],
)
def test_base_url(address: str, tls: bool, expected: str) -> None:
    assert base_url(address, tls=tls) == expected


@pytest.mark.parametrize(
    ("record_id", "path"),
    [
        ("r1", "/record/r1"),
        ("a b/c?d#e", "/record/a%20b%2Fc%3Fd%23e"),
        ("host#123.0#1660000000", "/record/host%23123.0%231660000000"),
        ("100%", "/record/100%25"),
        ("ü", "/record/%C3%BC"),
    ],
)
def test_record_ids_are_percent_encoded(record_id: str, path: str) -> None:
    """The server percent-decodes the segment; python-auditor sent ids raw."""
    from pyauditor._operations import get_single_record

    run = Run(get_single_record(record_id), RetryPolicy(), 30)
    first = run.start()
    assert isinstance(first, Request)
    assert first.path == path


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (500, b"RECORD_EXISTS", RecordExistsError),
        (500, b"RECORD_EXISTS\n", RecordExistsError),
        (500, b"UNEXPECTED_ERROR", ServerError),
        (502, b"<html>bad gateway</html>", ServerError),
        (400, b"Json deserialize error: missing field `components`", BadRequestError),
        (404, b"Updating unknown record r1 not possible.", NotFoundError),
        (413, b"JSON payload (3000000 bytes) is larger than allowed", PayloadTooLargeError),
        (403, b"Insufficient permissions", APIStatusError),
        (301, b"", APIStatusError),
    ],
)
def test_status_errors(status: int, body: bytes, cls: type[APIStatusError]) -> None:
    error = status_error(status, body, "POST", "http://h/record")
    assert type(error) is cls
    assert isinstance(error, RuntimeError)
    assert isinstance(error, AuditorError)
    assert error.status_code == status
    assert error.body == body.decode()
    assert "\n" not in str(error)
    if cls is RecordExistsError:
        assert str(error) == "RECORD_EXISTS"
    else:
        assert str(status) in str(error)
        assert "POST http://h/record" in str(error)


def test_long_bodies_are_shortened_in_the_message_but_kept_whole() -> None:
    body = b"x" * 5000
    error = status_error(500, body, "GET", "http://h/records")
    assert len(str(error)) < 300
    assert error.body == body.decode()


@pytest.mark.parametrize("status", [200, 201, 204])
def test_writes_succeed_on_2xx(status: int) -> None:
    check_write_answer(status, b"", "POST", "u")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"UNEXPECTED_ERROR"),
        (500, b""),
        (400, b"Json deserialize error"),
        (404, b"nf"),
        (503, b""),
    ],
)
def test_writes_fail_on_every_error_status(status: int, body: bytes) -> None:
    """python-auditor reports these as success; a failed write must never look like one."""
    with pytest.raises(APIStatusError):
        check_write_answer(status, body, "POST", "u")


def test_record_exists_with_200_still_raises_like_python_auditor() -> None:
    with pytest.raises(RecordExistsError):
        check_write_answer(200, b"RECORD_EXISTS", "POST", "u")


WARNING = b'{"warning":"One or more records already exist, but the error was ignored due to AUDITOR configuration."}'


@pytest.mark.parametrize(
    ("method", "body", "kind"),
    [
        ("POST", b"", WriteAnswer.STORED),
        ("POST", WARNING, WriteAnswer.WARNING),
        ("POST", b"<html>proxy</html>", WriteAnswer.UNCLEAR),
        ("POST", b'{"warning":' + b"[" * 100_000, WriteAnswer.UNCLEAR),
        ("PUT", b"", WriteAnswer.STORED),
        ("PUT", b" \n", WriteAnswer.STORED),
        # AUDITOR answers an update with an empty body: anything else says nothing about it.
        ("PUT", WARNING, WriteAnswer.UNCLEAR),
        ("PUT", b"RECORD_EXISTS", WriteAnswer.UNCLEAR),
        ("PUT", b"<html>proxy</html>", WriteAnswer.UNCLEAR),
    ],
)
def test_2xx_write_answers_say_stored_or_leave_it_to_a_read_back(
    method: str, body: bytes, kind: WriteAnswer
) -> None:
    """Only AUDITOR's empty body means stored; the warning and bodies AUDITOR never sends
    leave the caller to read the record back (tests/clients/test_faults.py)."""
    assert check_write_answer(200, body, method, "http://h/record") is kind


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"warning":' + b"[" * 100_000,
        b'{"a":' * 100_000 + b'"warning"',
        b'{"warning":' + b"9" * 5000 + b"}",
        b'{"x":' + b"9" * 5000 + b',"warning":"w"}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_write_answers_never_raise_anything_but_typed_errors(body: bytes) -> None:
    for status in (200, 500):
        try:
            check_write_answer(status, body, "POST", "u")
        except AuditorError:
            pass


def test_user_agent_names_pyauditor_and_its_version() -> None:
    from pyauditor import __version__

    assert USER_AGENT.startswith(f"pyauditor/{__version__}")


def test_retry_delays_grow_exponentially_and_are_capped() -> None:
    policy = RetryPolicy(max_retries=10, initial_delay=0.5, max_delay=4.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_retry_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(initial_delay=1.0, jitter=0.25)
    delays = {policy.delay(1) for _ in range(200)}
    assert all(0.75 <= d <= 1.0 for d in delays)
    assert len(delays) > 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"initial_delay": -1},
        {"jitter": 2},
        {"max_delay": float("nan")},
    ],
)
def test_retry_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "retry"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (404, False)],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert RetryPolicy.retryable_status(status) is retry


def _items(sizes: list[int]) -> list[str]:
    return [f'"{"x" * (n - 2)}"' for n in sizes]


def test_batches_cover_every_item_once_under_the_limit() -> None:
    import json

    from pyauditor._protocol import batch_json_array

    items = _items([10, 20, 30, 40, 50, 60, 70])
    batches = list(batch_json_array(items, limit=100))
    assert [(a, b) for a, b, _ in batches] == [(0, 3), (3, 5), (5, 6), (6, 7)]
    for a, b, body in batches:
        assert len(body) <= 100
        assert json.loads(body) == [json.loads(i) for i in items[a:b]]


def test_batch_limit_counts_utf8_bytes() -> None:
    from pyauditor._protocol import batch_json_array

    items = ['"üüüü"'] * 4  # 10 bytes each, 6 characters
    assert [(a, b) for a, b, _ in batch_json_array(items, limit=23)] == [(0, 2), (2, 4)]


def test_an_oversized_item_goes_alone_and_empty_input_sends_nothing() -> None:
    from pyauditor._protocol import batch_json_array

    items = _items([10, 500, 10])
    assert [(a, b) for a, b, _ in batch_json_array(items, limit=100)] == [(0, 1), (1, 2), (2, 3)]
    assert list(batch_json_array([], limit=100)) == []


def test_exactly_the_limit_fits() -> None:
    from pyauditor._protocol import batch_json_array

    items = _items([49, 49])  # [a,b] = 2 + 49 + 1 + 49 = 101
    assert [(a, b) for a, b, _ in batch_json_array(items, limit=101)] == [(0, 2)]
    assert [(a, b) for a, b, _ in batch_json_array(items, limit=100)] == [(0, 1), (1, 2)]


def test_wait_before_retry_decides_what_is_worth_another_attempt() -> None:
    from pyauditor import APIConnectionError, APITimeoutError, StreamDecodeError

    policy = RetryPolicy(max_retries=2, initial_delay=1.0, jitter=0.0)
    refused = APIConnectionError("refused")
    assert policy.wait_before_retry(refused, 0) == 1.0
    assert policy.wait_before_retry(APITimeoutError("slow"), 1) == 2.0
    assert policy.wait_before_retry(refused, 2) is None, "max_retries retries were made"
    assert policy.wait_before_retry(status_error(503, b"", "GET", "u"), 0) == 1.0
    assert policy.wait_before_retry(status_error(404, b"", "GET", "u"), 0) is None
    assert policy.wait_before_retry(StreamDecodeError("bad", index=0, offset=0), 0) is None
    assert RetryPolicy(max_retries=0).wait_before_retry(refused, 0) is None


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"", "stored"),
        (b"  \n", "stored"),
        (b"RECORD_EXISTS", "exists"),
        (b"  RECORD_EXISTS \n", "exists"),
        (b'{"warning":"One or more records already exist"}', "warning"),
        (b'{"warning": 5}', "unclear"),
        (b'{"warning":"x"' + b"9" * 5000, "unclear"),
        (b'{"warning":' + b"[" * 100_000, "unclear"),
        (b"{" * 200_000, "unclear"),
        (b"<html>proxy</html>", "unclear"),
        (b"ok", "unclear"),
    ],
)
def test_one_reading_of_write_answers(body: bytes, kind: str) -> None:
    """The clients and the batch planner judge 2xx write answers by this reading; it never
    raises, whatever the bytes."""
    from pyauditor._protocol import classify_write_answer

    assert classify_write_answer(body).value == kind
