"""The queued client against servers that never store some records (issue 14 item 8, "Smaller").

A record the server fails on every time, alone, while it stores the others, ends in the dead
letters with the reason instead of being retried for ever; so does one carrying a NUL (queued by
an older pyauditor), which is never sent; an answer that cannot be understood is not re-sent on
every pass for ever; the server's messages are kept cut to a sane size however large they are.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pyauditor import AuditorClientBuilder, QueueStatus, Record
from pyauditor.testing import AuditorTestServer

from ..queue.fakes import T0, body

Answer = Callable[[str, str, bytes], tuple[int, bytes]]


class Hostile:
    """A stdlib HTTP server that stores what ``answer`` lets through and counts requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.stored: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                hostile.requests.append((self.command, self.path))
                status, payload = hostile.answer(self.command, self.path, raw)
                if status == 200 and self.command == "POST" and not payload:
                    document = json.loads(raw)
                    for one in document if isinstance(document, list) else [document]:
                        hostile.stored[one["record_id"]] = json.dumps(one)
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _reply

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[Callable[[Answer], Hostile]]:
    servers: list[Hostile] = []

    def make(answer: Answer) -> Hostile:
        servers.append(Hostile(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def builder(url: str, tmp_path: Path) -> AuditorClientBuilder:
    return (
        AuditorClientBuilder()
        .connection_string(url)
        .database_path(tmp_path / "queue.db")
        .send_interval(3600)
        .retries(0)
        .timeout(10)
    )


def fail_on(marker: bytes, status: int, payload: bytes) -> Answer:
    """An AUDITOR that refuses every write carrying ``marker`` and stores the rest."""

    def answer(method: str, path: str, raw: bytes) -> tuple[int, bytes]:
        if method == "GET":
            return (200, b"") if path.startswith("/records") else (500, b'{"error":"x"}')
        return (status, payload) if marker in raw else (200, b"")

    return answer


def test_a_record_the_server_fails_on_every_time_ends_in_the_dead_letters(
    hostile: Callable[[Answer], Hostile], tmp_path: Path
) -> None:
    server = hostile(fail_on(b"poison", 500, b"UNEXPECTED_ERROR"))
    with builder(server.url, tmp_path).build_queued_blocking() as client:
        for record_id in ("a", "poison", "b"):
            client.add(Record(record_id, T0))
        passes = 1
        while client.flush().queued:
            passes += 1
            assert passes <= 5
        assert client.pending() == QueueStatus(0, 0, 1)
        (dead,) = client.dead_letters()
    assert set(server.stored) == {"a", "b"}
    assert dead.record_id == "poison"
    assert "failed to store this record 5 times while it stored others" in dead.reason
    assert "UNEXPECTED_ERROR" in dead.reason


def test_huge_refusals_are_kept_cut_to_size(
    hostile: Callable[[Answer], Hostile], tmp_path: Path
) -> None:
    server = hostile(fail_on(b"bad", 400, b"Json deserialize error: " + b"x" * 256 * 1024))
    with builder(server.url, tmp_path).build_queued_blocking() as client:
        client.bulk_insert([Record(f"bad-{i}", T0) for i in range(40)] + [Record("good", T0)])
        assert client.flush() == QueueStatus(0, 0, 40)
        letters = client.dead_letters()
    assert set(server.stored) == {"good"}
    assert all(len(d.reason) <= 1000 for d in letters)
    assert (tmp_path / "queue.db").stat().st_size < 1_000_000


@pytest.mark.parametrize(
    "answer",
    [b'{"a":' * 100_000, b"[" * 100_000, b"9" * 5000],
    ids=["deep", "deep-array", "huge-int"],
)
def test_an_answer_that_cannot_be_understood_is_not_resent_for_ever(
    hostile: Callable[[Answer], Hostile],
    tmp_path: Path,
    answer: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def odd(method: str, path: str, raw: bytes) -> tuple[int, bytes]:
        if method == "GET":
            return 200, b""
        return (200, b"") if raw == b"[]" else (200, answer)

    server = hostile(odd)
    with builder(server.url, tmp_path).build_queued_blocking() as client:
        client.add(Record("a", T0))
        passes = 1
        while client.flush().queued:
            passes += 1
            assert passes <= 5
        (dead,) = client.dead_letters()
    assert "AUDITOR never sends" in dead.reason
    posts = [path for method, path in server.requests if method == "POST"]
    assert len(posts) <= 10
    assert "RecursionError" not in caplog.text
    assert "unexpectedly" not in caplog.text


def test_a_nul_record_queued_by_an_older_version_is_never_sent(
    auditor_server: AuditorTestServer, tmp_path: Path
) -> None:
    with builder(auditor_server.url, tmp_path).build_queued_blocking() as client:
        client._store.enqueue(
            [
                ("insert", "nul\x00id", body("nul\x00id")),
                ("insert", "fine", body("fine", meta={"site": ["with\x00nul"]})),
                ("insert", "good", body("good")),
                ("update", "good", body("good\x00", "2022-08-08T12:30:00Z")),
            ]
        )
        assert client.flush() == QueueStatus(0, 0, 3)
        letters = client.dead_letters()
    assert [r["record_id"] for r in auditor_server.records()] == ["good"]
    assert all("NUL" in d.reason for d in letters)
    assert not any(b"\\u0000" in r.request_body for r in auditor_server.requests)
