"""``pyauditor.bulk``: sending many records with an outcome for each, against the embedded server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pyauditor import (
    AuditorClientBlocking,
    AuditorClientBuilder,
    ConfigurationError,
    Meta,
    Record,
    ValidationError,
)
from pyauditor.bulk import AsyncBulkSender, BulkSender, Outcome, Verdict
from pyauditor.testing import AuditorTestServer, Respond

T0 = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)
MODES = pytest.mark.parametrize("ignore", [True, False], ids=["ignore-duplicates", "default"])


def record(number: int, site: str = "site1") -> Record:
    return (
        Record(f"job-{number}", T0 + dt.timedelta(minutes=number))
        .with_meta(Meta().insert("site_id", [site]))
        .with_stop_time(T0 + dt.timedelta(hours=1, minutes=number))
    )


def client_for(server: AuditorTestServer) -> AuditorClientBlocking:
    return AuditorClientBuilder().connection_string(server.url).retries(0).build_blocking()


def verdicts(outcomes: list[Outcome], size: int) -> list[Verdict | None]:
    """The verdict of every record, by index (None: no outcome)."""
    found: list[Verdict | None] = [None] * size
    for outcome in outcomes:
        for index in outcome.indexes:
            assert found[index] is None, f"record {index} has two outcomes"
            found[index] = outcome.verdict
    return found


SEEDED_VERDICTS = [
    Verdict.STORED,
    Verdict.DUPLICATE,  # job-1, identical
    Verdict.STORED,
    Verdict.CONFLICT,  # job-3, other content
    Verdict.STORED,
    Verdict.STORED,
]


@pytest.fixture
def seeded(
    auditor_server_factory: Callable[..., AuditorTestServer],
) -> Callable[[bool], AuditorTestServer]:
    """A server holding job-1 as sent below, and job-3 with other content."""

    def make(ignore: bool) -> AuditorTestServer:
        server = auditor_server_factory(ignore_record_exists_error=ignore)
        with client_for(server) as client:
            client.add(record(1))
            client.add(record(3, site="elsewhere"))
        return server

    return make


@MODES
def test_every_record_gets_one_outcome(
    seeded: Callable[[bool], AuditorTestServer], ignore: bool
) -> None:
    server = seeded(ignore)
    records = [record(i) for i in range(6)]
    seen: list[Outcome] = []
    with client_for(server) as client:
        sender = BulkSender(client, on_outcome=seen.append)
        result = sender.send(records)
    assert result.stopped is None
    assert seen == result.outcomes
    assert verdicts(result.outcomes, 6) == SEEDED_VERDICTS
    assert (result.count(Verdict.STORED), result.count(Verdict.CONFLICT)) == (4, 1)
    assert not result.ok  # the conflicting record is not the one given
    assert result.unsent == []
    [conflict] = [o for o in result.outcomes if o.verdict is Verdict.CONFLICT]
    assert conflict.stored is not None
    assert json.loads(conflict.stored)["meta"] == {"site_id": ["elsewhere"]}
    assert conflict.reason
    assert sender.requests >= 2
    assert {r["record_id"] for r in server.records()} == {f"job-{i}" for i in range(6)}
    assert server.record("job-3")["meta"] == {"site_id": ["elsewhere"]}  # type: ignore[index]


@MODES
def test_the_async_sender_does_the_same(
    seeded: Callable[[bool], AuditorTestServer], ignore: bool
) -> None:
    server = seeded(ignore)

    async def main() -> list[Verdict | None]:
        client = AuditorClientBuilder().connection_string(server.url).build()
        sender = AsyncBulkSender(client, batch_size=2)
        result = await sender.send([record(i) for i in range(6)])
        assert result.stopped is None
        return verdicts(result.outcomes, 6)

    assert asyncio.run(main()) == SEEDED_VERDICTS


def test_a_second_send_of_the_same_records_is_all_duplicates(
    auditor_server: AuditorTestServer,
) -> None:
    records = [record(i) for i in range(50)]
    with client_for(auditor_server) as client:
        sender = BulkSender(client, batch_size=10)
        assert sender.send(records).ok
        again = sender.send(records)
    assert again.ok
    assert again.count(Verdict.DUPLICATE) == 50


def test_a_rejected_record_does_not_block_the_others(auditor_server: AuditorTestServer) -> None:
    # One record per request: the first one is refused.
    bad = Respond(400, "Json deserialize error: no")
    auditor_server.inject(bad, method="POST", path="/record", times=1)
    with client_for(auditor_server) as client:
        result = BulkSender(client, batch_size=1).send([record(i) for i in range(4)])
    assert result.stopped is None
    assert verdicts(result.outcomes, 4) == [Verdict.REJECTED] + [Verdict.STORED] * 3
    [rejected] = [o for o in result.outcomes if o.verdict is Verdict.REJECTED]
    assert (rejected.status, rejected.reason) == (400, "Json deserialize error: no")
    assert rejected.error is not None
    assert result.unsent == []


def test_a_server_that_is_down_stops_sending(auditor_server: AuditorTestServer) -> None:
    with client_for(auditor_server) as client:
        sender = BulkSender(client)
        with auditor_server.down():
            result = sender.send([record(i) for i in range(5)])
    assert result.stopped is not None
    assert "cannot connect" in str(result.stopped)
    assert not result.ok
    assert result.unsent == [0, 1, 2, 3, 4]


def test_records_are_checked_before_anything_is_sent(auditor_server: AuditorTestServer) -> None:
    with client_for(auditor_server) as client:
        sender = BulkSender(client)
        with pytest.raises(ValidationError):
            sender.send([record(1), Record("job-2", T0).with_meta(Meta().insert("", ["v"]))])
        with pytest.raises(TypeError):
            sender.send("job-1")  # type: ignore[arg-type]
    assert auditor_server.requests == []


def test_it_needs_a_direct_client_of_its_kind(
    auditor_server: AuditorTestServer, tmp_path: Path
) -> None:
    builder = AuditorClientBuilder().connection_string(auditor_server.url)
    with pytest.raises(ConfigurationError, match="needs a direct AuditorClientBlocking"):
        BulkSender(builder.build())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="needs a direct AuditorClient,"):
        AsyncBulkSender(builder.build_blocking())  # type: ignore[arg-type]
    queued = (
        AuditorClientBuilder()
        .connection_string(auditor_server.url)
        .database_path(str(tmp_path / "queue.db"))
        .build_queued_blocking()
    )
    try:
        with pytest.raises(ConfigurationError, match="QueuedAuditorClientBlocking"):
            BulkSender(queued)  # type: ignore[arg-type]
    finally:
        queued.stop()
    for bad in (0, -1, 2.5, "10"):
        with pytest.raises(ConfigurationError, match="batch_size"):
            BulkSender(builder.build_blocking(), batch_size=bad)  # type: ignore[arg-type]
