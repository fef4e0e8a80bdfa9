"""Request bodies through the embedded AUDITOR server and back: what is sent is what comes back.

The domain layer only builds bodies and reads records; this drives it over real HTTP against
pyauditor.testing (which reproduces AUDITOR 0.11's parsing and serialisation), so the body
format and record_from_server are checked against an independent implementation of the server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

import pyauditor
from pyauditor import Component, Meta, Operator, QueryBuilder, Record, Score, SortBy, Value
from pyauditor._record_codec import record_from_server, record_update_body, records_bulk_body
from pyauditor._stream import ObjectStreamDecoder
from pyauditor.testing import AuditorTestServer

UTC = dt.UTC
T0 = dt.datetime(2022, 8, 8, 11, 30, 0, 123456, tzinfo=UTC)

HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server() -> Iterator[AuditorTestServer]:
    with AuditorTestServer() as running:
        yield running


def fetch(url: str, query: str = "") -> list[Record]:
    answer = httpx.get(f"{url}/records" + (f"?{query}" if query else ""))
    assert answer.status_code == 200, answer.text
    decoder = ObjectStreamDecoder()
    objects = [*decoder.feed(answer.content), *decoder.finish()]
    return [record_from_server(item.value) for item in objects]


@pytest.fixture
def relaxed() -> Iterator[None]:
    # The server (AUDITOR >= 0.7) accepts the characters python-auditor's documentation forbids.
    before = pyauditor.forbidden_characters_allowed()
    pyauditor.allow_forbidden_characters()
    yield
    pyauditor.allow_forbidden_characters(before)


def test_records_survive_a_round_trip(server: AuditorTestServer, relaxed: None) -> None:
    records = [
        Record(f'rt-{i}/ü"{{x}}', T0 + dt.timedelta(minutes=i))
        .with_meta(Meta().insert("site_id", [f"site{i % 3}"]).insert("tags", ["a b", "ü/€", "x"]))
        .with_component(
            Component("cpu", i)
            .with_score(Score("HEPSPEC06", 9.2))
            .with_score(Score("tiny", 1.5e-5))
        )
        .with_component(Component("mem", 2**40))
        for i in range(20)
    ]
    for record in records[::2]:
        record.with_stop_time(T0 + dt.timedelta(hours=1, microseconds=500))
    answer = httpx.post(
        f"{server.url}/records", content=records_bulk_body(records), headers=HEADERS
    )
    assert answer.status_code == 200, answer.text

    fetched = {r.record_id: r for r in fetch(server.url)}
    assert set(fetched) >= {r.record_id for r in records}
    for record in records:
        assert fetched[record.record_id] == record
        assert fetched[record.record_id].to_json() == record.to_json()

    # Updates: the stop time set locally reaches the server.
    late = records[1].with_stop_time(T0 + dt.timedelta(days=1))
    answer = httpx.put(f"{server.url}/record", content=record_update_body(late), headers=HEADERS)
    assert answer.status_code == 200, answer.text

    query = (
        QueryBuilder()
        .with_start_time(Operator().gte(Value.set_datetime(T0)))
        .with_runtime(Operator().gte(Value.set_runtime(86000)))
        .sort_by(SortBy().ascending("record_id"))
        .build()
    )
    (only,) = fetch(server.url, query)
    assert only == late
    # The server computed the runtime from its own data; it agrees with the local one.
    assert only.runtime == late.runtime == 86400 - 60
