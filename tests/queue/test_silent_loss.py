"""Issue 12's silent loss, reproduced end to end against the embedded AUDITOR server.

``add(a)``, then ``[a, b, c]`` through a path that sends many records.  With AUDITOR's
``ignore_record_exists_error`` the server answers such a batch ``200`` with a warning and stores
nothing of it; before the batch planner the queued clients then reported an empty queue while
``b`` and ``c`` were never stored.  Every path must store ``b`` and ``c`` and report ``a`` as a
duplicate (or, with other content under its id, as a conflict that is kept), whichever way the
server is configured.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pyauditor import (
    AuditorClientBuilder,
    Component,
    Meta,
    QueueStatus,
    Record,
    RecordExistsError,
    Score,
)
from pyauditor.cli import main
from pyauditor.testing import AuditorTestServer

T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.UTC)
MODES = pytest.mark.parametrize("ignore", [True, False], ids=["ignore-duplicates", "default"])


def record(record_id: str, site: str = "site1") -> Record:
    return (
        Record(record_id, T0)
        .with_meta(Meta().insert("site_id", [site]))
        .with_component(Component("cpu", 4).with_score(Score("HEPSPEC06", 9.2)))
        .with_stop_time(T0 + dt.timedelta(hours=1))
    )


A, B, C = record("a"), record("b"), record("c")


@pytest.fixture
def make_server(
    auditor_server_factory: Callable[..., AuditorTestServer],
) -> Callable[..., AuditorTestServer]:
    def make(ignore: bool, stored: Record | None = A) -> AuditorTestServer:
        server = auditor_server_factory(ignore_record_exists_error=ignore)
        if stored is not None:
            AuditorClientBuilder().connection_string(server.url).build_blocking().add(stored)
        return server

    return make


def stored(server: AuditorTestServer) -> dict[str, dict[str, object]]:
    return {r["record_id"]: r for r in server.records()}


def builder(server: AuditorTestServer, tmp_path: Path) -> AuditorClientBuilder:
    return (
        AuditorClientBuilder()
        .connection_string(server.url)
        .database_path(tmp_path / "queue.db")
        .send_interval(3600)
    )


# -- the queued clients ---------------------------------------------------------------------------


@MODES
async def test_the_queued_client(
    make_server: Callable[..., AuditorTestServer], tmp_path: Path, ignore: bool
) -> None:
    server = make_server(ignore)
    client = await builder(server, tmp_path).build_queued()
    async with client:
        await client.bulk_insert([A, B, C])
        assert await client.flush() == QueueStatus(0, 0, 0)
    assert set(stored(server)) == {"a", "b", "c"}


@MODES
def test_the_blocking_queued_client(
    make_server: Callable[..., AuditorTestServer], tmp_path: Path, ignore: bool
) -> None:
    server = make_server(ignore)
    with builder(server, tmp_path).build_queued_blocking() as client:
        for one in (A, B, C):
            client.add(one)
        assert client.flush() == QueueStatus(0, 0, 0)
    assert set(stored(server)) == {"a", "b", "c"}


@MODES
async def test_the_queued_client_keeps_a_conflicting_record(
    make_server: Callable[..., AuditorTestServer], tmp_path: Path, ignore: bool
) -> None:
    server = make_server(ignore, stored=record("a", site="elsewhere"))
    client = await builder(server, tmp_path).build_queued()
    async with client:
        await client.bulk_insert([A, B, C])
        assert await client.flush() == QueueStatus(0, 0, 1)
        (dead,) = await client.dead_letters()
    assert dead.record_id == "a"
    assert json.loads(dead.body)["meta"] == {"site_id": ["site1"]}
    assert dead.stored is not None
    assert json.loads(dead.stored)["meta"] == {"site_id": ["elsewhere"]}
    assert set(stored(server)) == {"a", "b", "c"}
    assert stored(server)["a"]["meta"] == {"site_id": ["elsewhere"]}


@MODES
def test_the_blocking_queued_client_keeps_a_conflicting_record(
    make_server: Callable[..., AuditorTestServer], tmp_path: Path, ignore: bool
) -> None:
    server = make_server(ignore, stored=record("a", site="elsewhere"))
    with builder(server, tmp_path).build_queued_blocking() as client:
        client.bulk_insert([A, B, C])
        assert client.flush() == QueueStatus(0, 0, 1)
        (dead,) = client.dead_letters()
    assert dead.record_id == "a"
    assert dead.stored is not None
    assert json.loads(dead.stored)["meta"] == {"site_id": ["elsewhere"]}
    assert set(stored(server)) == {"a", "b", "c"}
    assert stored(server)["a"]["meta"] == {"site_id": ["elsewhere"]}


# -- pyauditor send -------------------------------------------------------------------------------


@MODES
def test_send(make_server: Callable[..., AuditorTestServer], ignore: bool) -> None:
    server = make_server(ignore)
    lines = "".join(one.to_json() + "\n" for one in (A, B, C)).encode()
    out, err = io.StringIO(), io.StringIO()
    code = main(["send", server.url], stdout=out, stderr=err, stdin=io.BytesIO(lines))
    assert code == 0, err.getvalue()
    assert out.getvalue().startswith("sent 2 records, 1 duplicate (already stored)")
    assert set(stored(server)) == {"a", "b", "c"}


@MODES
def test_send_with_a_conflict(make_server: Callable[..., AuditorTestServer], ignore: bool) -> None:
    server = make_server(ignore, stored=record("a", site="elsewhere"))
    lines = "".join(one.to_json() + "\n" for one in (A, B, C)).encode()
    out, err = io.StringIO(), io.StringIO()
    code = main(["send", server.url], stdin=io.BytesIO(lines), stdout=out, stderr=err)
    assert code == 1  # a record not stored is never a success
    assert out.getvalue().startswith(
        "sent 2 records, 0 duplicates (already stored), 0 rejected by the server, "
        "1 in conflict with stored records"
    )
    assert set(stored(server)) == {"a", "b", "c"}
    assert stored(server)["a"]["meta"] == {"site_id": ["elsewhere"]}


# -- bulk_insert of the direct clients ------------------------------------------------------------


def _bulk_insert(server: AuditorTestServer, kind: str, records: list[Record]) -> None:
    builder = AuditorClientBuilder().connection_string(server.url)
    if kind == "async":
        asyncio.run(builder.build().bulk_insert(records))
    else:
        with builder.build_blocking() as client:
            client.bulk_insert(records)


KINDS = pytest.mark.parametrize("kind", ["async", "blocking"])


@KINDS
@MODES
def test_bulk_insert(
    make_server: Callable[..., AuditorTestServer], ignore: bool, kind: str
) -> None:
    """The issue's reproduction as written: ``add(a)``, then ``bulk_insert([a, b, c])``."""
    server = make_server(ignore)
    if ignore:
        # The server was told to ignore duplicates, and the duplicate is identical: as add().
        _bulk_insert(server, kind, [A, B, C])
    else:
        with pytest.raises(RecordExistsError) as caught:
            _bulk_insert(server, kind, [A, B, C])
        assert str(caught.value) == "RECORD_EXISTS"
        assert caught.value.records_stored == 2
    assert set(stored(server)) == {"a", "b", "c"}


@KINDS
@MODES
def test_bulk_insert_with_a_conflict(
    make_server: Callable[..., AuditorTestServer], ignore: bool, kind: str
) -> None:
    server = make_server(ignore, stored=record("a", site="elsewhere"))
    with pytest.raises(RecordExistsError) as caught:  # other content: never "stored"
        _bulk_insert(server, kind, [A, B, C])
    assert caught.value.records_stored == 2
    assert set(stored(server)) == {"a", "b", "c"}
    assert stored(server)["a"]["meta"] == {"site_id": ["elsewhere"]}
