"""Queries that fail inside the database: AUDITOR's 200-then-nothing, and SQLite's limits.

* ``component[N][op]`` casts the first component's amount to a 32-bit integer; PostgreSQL
  fails the query on a larger amount after the ``200`` was sent (auditor-server-0.11.md §7.3,
  §7.1), so the body is empty or cut short.
* NUL in a query value makes PostgreSQL fail the query: ``200``, empty body.
* The embedded server's SQLite has limits AUDITOR's PostgreSQL does not (the expression depth:
  about 1000 ``c`` or 500 ``dnc`` meta filters); those are a ``400`` naming the cause, never an
  empty ``200`` that looks like "no records".
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pyauditor import AuditorClientBuilder, ComponentQuery, Operator, QueryBuilder, Value
from pyauditor.testing import AuditorTestServer

from .test_routes import record

INT4_MAX = 2**31 - 1


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.content
    assert response.headers["content-type"] == "application/json"
    decoder = json.JSONDecoder()
    text, index, found = response.text, 0, []
    while index < len(text):
        obj, index = decoder.raw_decode(text, index)
        found.append(obj["record_id"])
    return found


def component(name: str, amount: int) -> dict[str, Any]:
    return {"name": name, "amount": amount, "scores": []}


@pytest.fixture
def amounts(http: httpx.Client) -> httpx.Client:
    stored = [
        ("a1", [component("cpu", 1)]),
        ("a2", [component("cpu", INT4_MAX)]),
        ("a3", [component("cpu", INT4_MAX + 1), component("mem", 1)]),
        ("a4", [component("cpu", 3)]),
        ("a5", [component("mem", 2**40), component("cpu", 1)]),
    ]
    for index, (record_id, components) in enumerate(stored):
        stop = f"2022-06-27T15:0{index}:00Z"
        body = record(record_id, components=components, stop_time=stop)
        assert http.post("/record", json=body).status_code == 200
    return http


def test_a_component_filter_over_a_large_amount_ends_the_stream_after_200(
    amounts: httpx.Client,
) -> None:
    # Without an index to stream from, the rows are sorted first, so the cast fails before
    # the first row: 200 and an empty body, as if nothing matched.
    assert ids(amounts.get("/records?component[cpu][gte]=0")) == []
    assert ids(amounts.get("/records?component[cpu][lt]=10&limit=1")) == []
    # In record_id order the rows stream from the unique index: the body is cut short before
    # the record that fails the cast (AUDITOR sends a1, a2; SQLite's driver reads one row
    # ahead, so the embedded server loses a2 with it), and a4 never comes.
    assert ids(amounts.get("/records?component[cpu][gte]=0&sort_by[asc]=record_id")) == ["a1"]
    # Only records whose first component has the name are cast: a5's mem amount does not
    # matter to a query on cpu, and a3's second component does not matter to one on mem.
    assert ids(amounts.get("/records?component[mem][gte]=0")) == []  # a5 first: mem 2**40
    assert ids(amounts.get("/records?record_id=a4&component[cpu][equals]=3")) == ["a4"]


def test_amounts_up_to_the_32_bit_limit_are_fine(
    http: httpx.Client, server: AuditorTestServer
) -> None:
    http.post("/record", json=record("max", components=[component("cpu", INT4_MAX)]))
    http.post("/record", json=record("small", components=[component("cpu", 8)]))
    assert sorted(ids(http.get("/records?component[cpu][gte]=8"))) == ["max", "small"]
    # pyauditor's client sees what AUDITOR's clients see: nothing, without an error.
    http.post("/record", json=record("big", components=[component("cpu", INT4_MAX + 1)]))
    client = AuditorClientBuilder().connection_string(server.url).build_blocking()
    query = QueryBuilder().with_component_query(
        ComponentQuery().component_operator("cpu", Operator().gte(Value.set_count(8)))
    )
    assert client.advanced_query(query.build()) == []


@pytest.mark.parametrize(
    "query",
    [
        "record_id=a%00",
        "meta[site_id][c][0]=site%001",
        "meta[site%00id][dnc][0]=x",
        "meta[site_id][dnc][0]=%00",  # would otherwise select every record with site_id
        "component[c%00pu][gte]=0",
    ],
)
def test_nul_in_a_query_value_is_an_empty_200(http: httpx.Client, query: str) -> None:
    http.post("/record", json=record("a"))
    assert ids(http.get("/records?meta[site_id][dnc][0]=x")) == ["a"]
    assert ids(http.get("/records?" + query)) == []


def meta_filters(kind: str, count: int) -> str:
    return "&".join(f"meta[site_id][{kind}][{i}]=s{i}" for i in range(count))


@pytest.mark.parametrize(("kind", "count"), [("dnc", 499), ("c", 999), ("dnc", 2000)])
def test_queries_beyond_sqlites_limits_are_a_400_naming_the_cause(
    http: httpx.Client, kind: str, count: int
) -> None:
    http.post("/record", json=record("a", meta={"site_id": ["x"]}))
    response = http.get("/records?" + meta_filters(kind, count))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert "too large for the embedded server's SQLite database" in error
    assert "Expression tree is too large (maximum depth 1000)" in error


def test_queries_just_below_the_limit_still_work(http: httpx.Client) -> None:
    http.post("/record", json=record("a", meta={"site_id": ["x"]}))
    http.post("/record", json=record("b", meta={"site_id": ["s3"]}))
    assert ids(http.get("/records?" + meta_filters("dnc", 490))) == ["a"]
    values = "&".join(f"meta[site_id][c][{i}]=x" for i in range(990))
    assert ids(http.get("/records?" + values)) == ["a"]
