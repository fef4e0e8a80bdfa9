"""The generated route table and wire structs follow openapi.yaml."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from pyauditor_api import routes, wire

from tests.contract.test_generated_client import SERVER_RECORDS

SPEC = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text(encoding="utf-8"))
UTC = dt.UTC


def _operations() -> list[tuple[str, str, str]]:
    return [
        (operation["operationId"], method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    ]


@pytest.mark.parametrize(("operation_id", "method", "path"), _operations())
def test_every_operation_has_its_route(operation_id: str, method: str, path: str) -> None:
    route = routes.ROUTES[operation_id]
    assert route == (operation_id, method, path)
    assert getattr(routes, operation_id.upper()) is route


def test_route_table_has_nothing_else() -> None:
    assert sorted(routes.ROUTES) == sorted(o for o, _, _ in _operations())


def test_path_functions_encode_their_parameters() -> None:
    assert routes.get_record_path(record_id="a/b#c d%") == "/record/a%2Fb%23c%20d%25"
    assert routes.add_record_path() == "/record"
    assert routes.query_records_path() == "/records"
    assert routes.query_records_path(query="") == "/records?"
    assert routes.query_records_path(query="limit=1") == "/records?limit=1"


def test_struct_fields_follow_the_schemas() -> None:
    for name, schema in SPEC["components"]["schemas"].items():
        if "properties" in schema:
            struct = getattr(wire, name)
            assert struct.__struct_encode_fields__ == tuple(schema["properties"]), name
            assert wire.FIELDS[name] == tuple(schema["properties"])


@pytest.mark.parametrize("text", SERVER_RECORDS)
def test_server_records_decode_into_typed_structs(text: str) -> None:
    record = msgspec.json.decode(text, type=wire.Record)
    assert record.start_time.tzinfo is UTC
    assert isinstance(record.components, tuple | None)
    again = msgspec.json.decode(msgspec.json.encode(record), type=wire.Record)
    assert again == record


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"start_time": "2022-06-27T15:00:00"}, "timezone"),
        ({"start_time": None}, "Expected `datetime`, got `null`"),
        ({"runtime": 1.5}, "Expected `int | null`, got `float`"),
        ({"components": [{"name": "c", "amount": -1, "scores": []}]}, "`int` >= 0"),
        (
            {"components": [{"name": "c", "amount": 1, "scores": [{"name": "s", "value": -1}]}]},
            ">= 0",
        ),
        ({"record_id": 1}, "Expected `str`, got `int`"),
    ],
)
def test_decoding_checks_types_and_bounds(change: dict[str, Any], problem: str) -> None:
    base = msgspec.json.decode(SERVER_RECORDS[0])
    with pytest.raises(msgspec.ValidationError, match=problem.replace("|", r"\|")):
        msgspec.convert(base | change, wire.Record)


def test_missing_nullable_fields_are_none() -> None:
    record = msgspec.json.decode(
        b'{"record_id":"x","start_time":"2022-06-27T15:00:00Z"}', type=wire.Record
    )
    assert (record.meta, record.components, record.stop_time, record.runtime) == (
        None,
        None,
        None,
        None,
    )


def test_request_structs_encode_in_the_spec_order() -> None:
    add = wire.RecordAdd(
        record_id="r",
        meta={"b": ("1",), "a": ()},
        components=(wire.Component(name="c", amount=1, scores=(wire.Score(name="s", value=1.5),)),),
        start_time=dt.datetime(2022, 1, 1, tzinfo=UTC),
    )
    assert msgspec.json.encode(add) == (
        b'{"record_id":"r","meta":{"b":["1"],"a":[]},"components":[{"name":"c","amount":1,'
        b'"scores":[{"name":"s","value":1.5}]}],"start_time":"2022-01-01T00:00:00Z",'
        b'"stop_time":null}'
    )


def test_structs_are_not_tracked_by_the_garbage_collector() -> None:
    import gc

    record = msgspec.json.decode(SERVER_RECORDS[0], type=wire.Record)
    assert not gc.is_tracked(record)
    assert record.components is not None
    assert not gc.is_tracked(record.components[0])
