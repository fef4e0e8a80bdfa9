"""Every operation of the generated low-level client works against the embedded server.

``pyauditor_api`` is public: sites use it for what the facade does not offer.  Each generated
operation is called here, sync and async, over a real socket, and its parsed answer checked,
including ``GET /records`` with typed deepObject filters, with a raw query string and with a
streamed multi-record (concatenated JSON) answer.  The suite's contract hook checks every
request and answer against openapi.yaml on top.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyauditor_api
import pytest
from pyauditor_api.api.operations import get_metrics, health_check
from pyauditor_api.api.records import (
    add_record,
    bulk_add_records,
    get_record,
    query_records,
    update_record,
)
from pyauditor_api.models import (
    Component,
    CountOperators,
    Error,
    Meta,
    QueryRecordsComponent,
    QueryRecordsMeta,
    Record,
    RecordAdd,
    RecordUpdate,
    Score,
    SortBy,
    TimeOperators,
)

import pyauditor
from pyauditor import QueryBuilder
from pyauditor.testing import AuditorTestServer

UTC = dt.UTC
T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=UTC)


def _record(record_id: str, hours: int, site: str, cores: int) -> RecordAdd:
    meta = Meta.from_dict({"site_id": [site], "group_id": ["atlas"]})
    return RecordAdd(
        record_id=record_id,
        meta=meta,
        components=[
            Component(name="cpu", amount=cores, scores=[Score(name="HEPSPEC06", value=9.2)])
        ],
        start_time=T0 + dt.timedelta(hours=hours),
        stop_time=T0 + dt.timedelta(hours=hours + 1),
    )


@pytest.fixture
def client(auditor_server: AuditorTestServer) -> pyauditor_api.Client:
    return pyauditor_api.Client(base_url=auditor_server.url, raise_on_unexpected_status=True)


def _ids(records: object) -> list[str]:
    assert isinstance(records, list)
    return [r.record_id for r in records if isinstance(r, Record)]


def test_every_sync_operation(client: pyauditor_api.Client, contract_for_every_server: Any) -> None:
    assert health_check.sync_detailed(client=client).status_code == 200
    assert add_record.sync(client=client, body=_record("a", 0, "s1", 1)) == ""
    stored = bulk_add_records.sync(
        client=client, body=[_record("b", 1, "s1", 4), _record("c", 2, "s2", 8)]
    )
    assert stored == ""

    # A streamed answer of several records (concatenated JSON objects).
    assert _ids(query_records.sync(client=client)) == ["a", "b", "c"]

    # Typed deepObject filters keep their brackets.
    selected = query_records.sync(
        client=client,
        start_time=TimeOperators(gte=T0 + dt.timedelta(minutes=30)),
        meta=QueryRecordsMeta.from_dict({"site_id": {"c": ["s1"]}}),
        component=QueryRecordsComponent.from_dict({"cpu": {"gte": 2}}),
        sort_by=SortBy(desc="record_id"),
        limit=5,
    )
    assert _ids(selected) == ["b"]
    assert _ids(query_records.sync(client=client, runtime=CountOperators(gte=3600))) == [
        "a",
        "b",
        "c",
    ]
    excluded = query_records.sync(
        client=client, meta=QueryRecordsMeta.from_dict({"site_id": {"dnc": ["s1"]}})
    )
    assert _ids(excluded) == ["c"]

    # A raw query string, e.g. from pyauditor's QueryBuilder, is sent verbatim.
    raw = QueryBuilder().sort_by(pyauditor.SortBy().descending("stop_time")).build()
    assert _ids(query_records.sync(client=client, query_string=raw)) == ["c", "b", "a"]
    assert _ids(query_records.sync(client=client, limit=0)) == []

    record = get_record.sync("a", client=client)
    assert isinstance(record, Record)
    assert record.stop_time == T0 + dt.timedelta(hours=1)
    update = RecordUpdate(
        record_id="a", components=[], stop_time=T0 + dt.timedelta(hours=5), meta=None
    )
    assert update_record.sync(client=client, body=update) is None
    record = get_record.sync("a", client=client)
    assert isinstance(record, Record)
    assert record.runtime == 5 * 3600
    assert isinstance(get_record.sync("missing", client=client), Error)

    metrics = get_metrics.sync(client=client)
    assert isinstance(metrics, str)

    # Last: the contract check of the server sees this request after the answer was sent.
    contract_for_every_server.allow_invalid_requests = True  # the bad query is the point
    bad = query_records.sync(client=client, query_string="bogus=1")
    assert isinstance(bad, Error)
    assert "unknown field" in bad.error


def test_ids_with_reserved_characters_reach_their_record(client: pyauditor_api.Client) -> None:
    record_id = "cluster#42/job 7?x=%"
    assert add_record.sync(client=client, body=_record(record_id, 0, "s", 1)) == ""
    record = get_record.sync(record_id, client=client)
    assert isinstance(record, Record)
    assert record.record_id == record_id
    assert _ids(query_records.sync(client=client, record_id=record_id)) == [record_id]


async def test_every_async_operation(client: pyauditor_api.Client) -> None:
    assert (await health_check.asyncio_detailed(client=client)).status_code == 200
    assert await add_record.asyncio(client=client, body=_record("a", 0, "s1", 1)) == ""
    assert await bulk_add_records.asyncio(client=client, body=[_record("b", 1, "s1", 2)]) == ""
    assert _ids(await query_records.asyncio(client=client)) == ["a", "b"]
    assert _ids(await query_records.asyncio(client=client, query_string="limit=1")) == ["a"]
    update = RecordUpdate(record_id="b", components=[], stop_time=T0)
    assert await update_record.asyncio(client=client, body=update) is None
    record = await get_record.asyncio("b", client=client)
    assert isinstance(record, Record)
    assert record.runtime == -3600
    assert isinstance(await get_metrics.asyncio(client=client), str)
    await client.get_async_httpx_client().aclose()
