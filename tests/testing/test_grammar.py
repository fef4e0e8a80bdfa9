"""The one table of query fields, operators and sort columns (pyauditor._grammar).

The DSL, the embedded server, the CLI and openapi.yaml must all say the same; these tests tie
each of them to the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
import pytest
import yaml

from pyauditor import ComponentQuery, Operator, QueryBuilder, SortBy, Value
from pyauditor._grammar import (
    FILTER_FIELDS,
    META_OPERATORS,
    OPERATOR_BY_SYMBOL,
    OPERATOR_NAMES,
    OPERATORS,
    SORT_COLUMNS,
    SORT_DIRECTIONS,
)
from pyauditor.cli._query import add_filter_options, build_query
from pyauditor.testing import AuditorTestServer
from tests.contract.exchange_check import TrafficCheck

SPEC = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text(encoding="utf-8"))
SCHEMAS = SPEC["components"]["schemas"]


def test_openapi_yaml_lists_the_same_names_in_the_same_order() -> None:
    for schema in ("TimeOperators", "CountOperators"):
        assert tuple(SCHEMAS[schema]["properties"]) == OPERATOR_NAMES
    assert tuple(SCHEMAS["SortColumn"]["enum"]) == SORT_COLUMNS
    assert tuple(SCHEMAS["SortBy"]["properties"]) == SORT_DIRECTIONS
    assert tuple(SCHEMAS["MetaFilter"]["properties"]) == META_OPERATORS
    parameters = SPEC["paths"]["/records"]["get"]["parameters"]
    assert tuple(p["name"] for p in parameters) == FILTER_FIELDS


def test_symbols_map_onto_operators() -> None:
    assert set(OPERATOR_BY_SYMBOL.values()) == set(OPERATORS)
    for name, symbol in OPERATORS.items():
        assert OPERATOR_BY_SYMBOL[symbol] == name
    # Longest first: a regex alternation in this order never stops at ">" of ">=".
    lengths = [len(symbol) for symbol in OPERATOR_BY_SYMBOL]
    assert lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize("name", OPERATOR_NAMES)
def test_every_operator_goes_from_the_cli_through_the_dsl_to_the_server(
    auditor_server: AuditorTestServer, name: str
) -> None:
    symbol = OPERATORS[name]
    parser = argparse.ArgumentParser()
    add_filter_options(parser, lambda text: text)  # type: ignore[arg-type,return-value]
    query = build_query(parser.parse_args(["--component", f"cpu{symbol}4"]))
    expected = getattr(Operator(), name)(Value.set_count(4))
    assert (
        query
        == QueryBuilder()
        .with_component_query(ComponentQuery().component_operator("cpu", expected))
        .build()
    )
    assert query == f"component[cpu][{name}]=4"
    response = httpx.get(f"{auditor_server.url}/records?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize("column", SORT_COLUMNS)
@pytest.mark.parametrize("direction", SORT_DIRECTIONS)
def test_every_sort_column_and_direction_is_accepted(
    auditor_server: AuditorTestServer, column: str, direction: str
) -> None:
    sort = getattr(SortBy(), "ascending" if direction == "asc" else "descending")(column)
    query = QueryBuilder().sort_by(sort).build()
    assert query == f"sort_by[{direction}]={column}"
    assert httpx.get(f"{auditor_server.url}/records?{query}").status_code == 200


def test_the_servers_messages_name_the_table(
    auditor_server: AuditorTestServer, contract_for_every_server: TrafficCheck
) -> None:
    contract_for_every_server.allow_invalid_requests = True  # invalid on purpose

    def error(query: str) -> str:
        response = httpx.get(f"{auditor_server.url}/records?{query}")
        assert response.status_code == 400
        message: str = response.json()["error"]
        return message

    assert error("x=1").endswith(", ".join(f"`{f}`" for f in FILTER_FIELDS))
    assert error("runtime[x]=1").endswith(", ".join(f"`{o}`" for o in OPERATOR_NAMES))
    assert error("sort_by[up]=runtime") == "unknown variant `up`, expected `asc` or `desc`"
    assert error("sort_by[asc]=x").endswith(", ".join(f"`{c}`" for c in SORT_COLUMNS))
