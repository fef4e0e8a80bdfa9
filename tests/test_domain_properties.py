"""Property tests: to_json and request bodies parse back to the record, queries decode back."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyauditor
from pyauditor import (
    Component,
    ComponentQuery,
    Meta,
    MetaOperator,
    MetaQuery,
    Operator,
    QueryBuilder,
    Record,
    Score,
    SortBy,
    Value,
)
from pyauditor._grammar import FILTER_FIELDS, OPERATOR_NAMES
from pyauditor._json import dumps_exact
from pyauditor._record_codec import record_add_body, record_from_server, record_update_body
from pyauditor._validation import is_valid_server_name

UTC = dt.UTC


@pytest.fixture(autouse=True)
def relaxed() -> Iterator[None]:
    # Exercise every name the server accepts; the forbidden characters have their own tests.
    before = pyauditor.forbidden_characters_allowed()
    pyauditor.allow_forbidden_characters()
    yield
    pyauditor.allow_forbidden_characters(before)


names = st.text(min_size=1, max_size=12).filter(is_valid_server_name)
texts = st.text(max_size=12)
zones = st.sampled_from(
    [UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-9, minutes=-30))]
)
instants = st.datetimes(
    min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 30), timezones=zones
)
score_values = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e-5, 1.5e-5, 1e-7, 5e-324, 1e16, 1e-9, 9.99e-5, -0.0]
)
scores = st.lists(st.tuples(names, score_values), max_size=6)
components = st.lists(st.tuples(names, st.integers(0, 2**63 - 1), scores), max_size=6)
metas = st.none() | st.dictionaries(names, st.lists(names, max_size=3), max_size=4)


def z(value: dt.datetime) -> str:
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    if "." in text:
        head, fraction = text.split(".")
        text = (
            head
            if fraction == "000000"
            else head + "." + (fraction[:3] if fraction.endswith("000") else fraction)
        )
    return text + "Z"


def build(
    record_id: str,
    start: dt.datetime,
    stop: dt.datetime | None,
    meta: dict[str, list[str]] | None,
    parts: list[tuple[str, int, list[tuple[str, float]]]],
) -> Record:
    record = Record(record_id, start)
    if meta is not None:
        built = Meta()
        for key, values in meta.items():
            built.insert(key, values)
        record.with_meta(built)
    for name, amount, component_scores in parts:
        component = Component(name, amount)
        for score_name, value in component_scores:
            component.with_score(Score(score_name, value))
        record.with_component(component)
    if stop is not None:
        record.with_stop_time(stop)
    return record


@settings(max_examples=300, deadline=None)
@given(names, instants, st.none() | instants, metas, components)
def test_to_json_and_bodies_parse_back(
    record_id: str,
    start: dt.datetime,
    stop: dt.datetime | None,
    meta: dict[str, list[str]] | None,
    parts: list[tuple[str, int, list[tuple[str, float]]]],
) -> None:
    record = build(record_id, start, stop, meta, parts)
    runtime = None
    if stop is not None:
        # Whole seconds truncated toward zero, in exact integer arithmetic.
        micro = (stop - start) // dt.timedelta(microseconds=1)
        runtime = abs(micro) // 1_000_000 * (1 if micro >= 0 else -1)
    expected_components = [
        {"name": n, "amount": a, "scores": [{"name": s, "value": float(v)} for s, v in sc]}
        for n, a, sc in parts
    ]
    expected = {
        "record_id": record_id,
        "meta": meta,
        "components": expected_components,
        "start_time": z(start),
        "stop_time": None if stop is None else z(stop),
    }
    # to_json: the independent writer of pyauditor._json with sorted keys, plus runtime.
    text = record.to_json()
    assert text == dumps_exact({**expected, "runtime": runtime}, sort_keys=True)
    assert record_from_server(json.loads(text)) == record
    # Request bodies: wire key order, no runtime.
    body = record_add_body(record)
    assert body == dumps_exact(expected)
    # A body carries no runtime; read back as a server record, the runtime is unknown.
    assert record_from_server(json.loads(body)).to_json() == dumps_exact(
        {**expected, "runtime": None}, sort_keys=True
    )
    if stop is not None:
        assert record_update_body(record) == body
    # Getters give the inputs back.
    assert record.record_id == record_id
    assert record.start_time == start.astimezone(UTC).replace(tzinfo=None)
    assert (record.meta.to_dict() if record.meta else None) == meta
    assert [
        (c.name, c.amount, [(s.name, s.value) for s in c.scores]) for c in record.components
    ] == [(n, a, [(s, float(v)) for s, v in sc]) for n, a, sc in parts]


# -- query strings -------------------------------------------------------------------------

OPERATORS = OPERATOR_NAMES
FIELDS = FILTER_FIELDS

times = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=zones
)
time_ops = st.dictionaries(st.sampled_from(OPERATORS), times)
runtime_ops = st.dictionaries(st.sampled_from(OPERATORS), st.integers(0, 2**64 - 1))
count_ops = st.dictionaries(st.sampled_from(OPERATORS), st.integers(0, 255))
meta_queries = st.dictionaries(
    texts, st.tuples(st.lists(texts, max_size=3), st.lists(texts, max_size=3)), max_size=3
)
component_queries = st.dictionaries(texts, count_ops, max_size=3)
sorts = st.tuples(st.none() | texts, st.none() | texts)

KEY = re.compile(r"^([a-z_]+)((?:\[[^\[\]]*\])*)$")


def decode(query: str) -> dict[str, Any]:
    """Decode a query string into the structure that produced it (checking the order rules)."""
    result: dict[str, Any] = {}
    if not query:
        return result
    seen_fields: list[str] = []
    for pair in query.split("&"):
        key, _, raw = pair.partition("=")
        match = KEY.match(key)
        assert match, key
        field, brackets = match.groups()
        path = [unquote_plus(part) for part in re.findall(r"\[([^\[\]]*)\]", brackets)]
        value = unquote_plus(raw)
        if not seen_fields or seen_fields[-1] != field:
            assert field not in seen_fields, f"{field} is not contiguous"
            seen_fields.append(field)
        if field in ("record_id", "limit"):
            assert path == []
            result[field] = value
        elif field in ("start_time", "stop_time", "runtime"):
            (operator,) = path
            result.setdefault(field, {})[operator] = value
        elif field == "component":
            name, operator = path
            result.setdefault(field, {}).setdefault(name, {})[operator] = value
        elif field == "meta":
            name, kind, index = path
            entry = result.setdefault(field, {}).setdefault(name, ([], []))
            values = entry[0] if kind == "c" else entry[1]
            assert kind in ("c", "dnc")
            assert kind == "dnc" or not entry[1], "c entries come before dnc entries"
            assert int(index) == len(values)
            values.append(value)
        else:
            (direction,) = path
            result.setdefault(field, {})[direction] = value
    assert seen_fields == [f for f in FIELDS if f in seen_fields], "field order"
    for field in ("start_time", "stop_time", "runtime"):
        if field in result:
            assert list(result[field]) == [o for o in OPERATORS if o in result[field]]
    for operators in result.get("component", {}).values():
        assert list(operators) == [o for o in OPERATORS if o in operators]
    return result


def query_time(text: str) -> dt.datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?\+00:00", text), text
    return dt.datetime.fromisoformat(text)


@settings(max_examples=300, deadline=None)
@given(
    st.none() | texts,
    time_ops,
    time_ops,
    runtime_ops,
    meta_queries,
    component_queries,
    sorts,
    st.none() | st.integers(0, 2**64 - 1),
)
def test_query_strings_decode_back(
    record_id: str | None,
    start: dict[str, dt.datetime],
    stop: dict[str, dt.datetime],
    runtime: dict[str, int],
    meta: dict[str, tuple[list[str], list[str]]],
    component: dict[str, dict[str, int]],
    sort: tuple[str | None, str | None],
    limit: int | None,
) -> None:
    builder = QueryBuilder()
    if limit is not None:
        builder.limit(limit)
    ascending, descending = sort
    sort_by = SortBy()
    if ascending is not None:
        sort_by.ascending(ascending)
    if descending is not None:
        sort_by.descending(descending)
    builder.sort_by(sort_by)
    component_query = ComponentQuery()
    for name, operators in component.items():
        operator = Operator()
        for op, count in operators.items():
            getattr(operator, op)(Value.set_count(count))
        component_query.component_operator(name, operator)
    builder.with_component_query(component_query)
    meta_query = MetaQuery()
    for key, (contained, not_contained) in meta.items():
        meta_query.meta_operator(
            key, MetaOperator().does_not_contain(not_contained).contains(contained)
        )
    builder.with_meta_query(meta_query)
    for method, operators, make in (
        (builder.with_runtime, runtime, Value.set_runtime),
        (builder.with_stop_time, stop, Value.set_datetime),
        (builder.with_start_time, start, Value.set_datetime),
    ):
        operator = Operator()
        for op, value in operators.items():
            getattr(operator, op)(make(value))
        method(operator)
    if record_id is not None:
        builder.with_record_id(record_id)

    decoded = decode(builder.build())

    assert decoded.pop("record_id", None) == record_id
    assert decoded.pop("limit", None) == (None if limit is None else str(limit))
    for field, operators in (("start_time", start), ("stop_time", stop)):
        got = {op: query_time(text) for op, text in decoded.pop(field, {}).items()}
        assert got == operators  # equal instants, whatever the zone they were given in
    assert decoded.pop("runtime", {}) == {op: str(v) for op, v in runtime.items()}
    expected_meta = {k: (c, d) for k, (c, d) in meta.items() if c or d}
    got_meta = decoded.pop("meta", {})
    assert got_meta == expected_meta
    assert list(got_meta) == list(expected_meta)  # insertion order
    expected_components = {
        name: {op: str(v) for op, v in ops.items()} for name, ops in component.items() if ops
    }
    got_components = decoded.pop("component", {})
    assert got_components == expected_components
    assert list(got_components) == list(expected_components)
    expected_sort = {d: v for d, v in (("asc", ascending), ("desc", descending)) if v is not None}
    got_sort = decoded.pop("sort_by", {})
    assert got_sort == expected_sort
    assert list(got_sort) == list(expected_sort)
    assert decoded == {}
