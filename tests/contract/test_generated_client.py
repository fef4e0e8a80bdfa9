"""The generated low-level client (generated/pyauditor_api) reads and writes the contract's JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pyauditor_api.models import Record, RecordAdd, RecordUpdate

UTC = dt.UTC

# Records exactly as the AUDITOR server emits them (auditor-server-0.11.md §1.4, §10).
SERVER_RECORDS = [
    '{"record_id":"1","meta":{"site_id":["site1"]},"components":[{"name":"NumCPUs","amount":40,'
    '"scores":[{"name":"HEPSPEC","value":1.2}]}],"start_time":"2022-06-27T15:00:00Z",'
    '"stop_time":"2022-06-27T15:01:00Z","runtime":60}',
    '{"record_id":"r2","meta":null,"components":[],"start_time":"2022-06-27T15:00:00.120Z",'
    '"stop_time":null,"runtime":null}',
    '{"record_id":"r3","meta":{},"components":null,"start_time":"2022-06-27T15:00:00.123456Z",'
    '"stop_time":"2022-06-27T14:00:00Z","runtime":-3600}',
    '{"record_id":"r4","meta":{"a":[],"b":["x","x"]},"components":[{"name":"cpu","amount":0,'
    '"scores":[]},{"name":"mem","amount":9223372036854775807,"scores":[{"name":"s","value":10.0},'
    '{"name":"t","value":1e-7}]}],"start_time":"2022-06-27T15:00:00Z",'
    '"stop_time":"2022-06-27T15:00:00.999999Z","runtime":0}',
]


def _normalise(value: Any) -> Any:
    """Timestamps compared as instants: the generator writes +00:00 where the server writes Z."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T":
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


@pytest.mark.parametrize("text", SERVER_RECORDS)
def test_record_round_trips(text: str) -> None:
    data = json.loads(text)
    record = Record.from_dict(data)
    assert record.record_id == data["record_id"]
    assert record.start_time.tzinfo is not None
    assert record.runtime == data["runtime"]
    assert _normalise(record.to_dict()) == _normalise(data)
    assert list(record.to_dict()) == list(data), "key order is the server's struct order"


def test_record_fields_are_typed() -> None:
    record = Record.from_dict(json.loads(SERVER_RECORDS[0]))
    assert record.start_time == dt.datetime(2022, 6, 27, 15, 0, tzinfo=UTC)
    assert record.components is not None
    assert record.components[0].scores[0].value == 1.2
    assert record.meta is not None
    assert record.meta["site_id"] == ["site1"]


def test_unknown_fields_are_kept() -> None:
    data = json.loads(SERVER_RECORDS[1]) | {"updated_at": "2022-06-27T15:00:00Z"}
    record = Record.from_dict(data)
    assert record.additional_properties == {"updated_at": "2022-06-27T15:00:00Z"}


def test_request_bodies_round_trip() -> None:
    add = {
        "record_id": "1",
        "meta": {"site_id": ["site1"]},
        "components": [{"name": "cpu", "amount": 2, "scores": [{"name": "hs", "value": 9.2}]}],
        "start_time": "2022-08-08T11:30:00+00:00",
        "stop_time": None,
    }
    assert RecordAdd.from_dict(add).to_dict() == add
    update = add | {"stop_time": "2022-08-08T12:30:00+00:00"}
    assert RecordUpdate.from_dict(update).to_dict() == update
