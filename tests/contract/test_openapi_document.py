"""openapi.yaml is a valid OpenAPI 3.1 document and says what the AUDITOR 0.11 server does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with open(ROOT / "openapi.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_every_route_of_the_server_is_described(spec: dict[str, Any]) -> None:
    routes = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert routes == {
        ("/health_check", "get"),
        ("/metrics", "get"),
        ("/record", "post"),
        ("/record", "put"),
        ("/records", "post"),
        ("/records", "get"),
        ("/record/{record_id}", "get"),
    }


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/record", "post", {"200", "400", "413", "500"}),
        ("/records", "post", {"200", "400", "413", "500"}),
        ("/record", "put", {"200", "400", "404", "413", "500"}),
        ("/records", "get", {"200", "400", "500"}),
        ("/record/{record_id}", "get", {"200", "500"}),
        ("/health_check", "get", {"200", "500"}),
    ],
)
def test_real_status_codes_are_declared(
    spec: dict[str, Any], path: str, method: str, statuses: set[str]
) -> None:
    declared = set(spec["paths"][path][method]["responses"])
    assert statuses <= declared
    assert "default" in declared, "unknown routes and proxies answer with other statuses"


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = spec["components"][kind][name]
    return node


def test_error_bodies_are_plain_strings_without_enum(spec: dict[str, Any]) -> None:
    """A proxy's HTML error page must not break a generated client's parsing."""
    for item in spec["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                response = _resolve(spec, response)
                text = response.get("content", {}).get("text/plain")
                if text is not None:
                    assert text["schema"]["type"] == "string", status
                    assert "enum" not in text["schema"], status


def test_records_query_declares_every_parameter_of_the_grammar(spec: dict[str, Any]) -> None:
    params = {p["name"] for p in spec["paths"]["/records"]["get"]["parameters"]}
    assert params == {
        "record_id",
        "start_time",
        "stop_time",
        "runtime",
        "meta",
        "component",
        "sort_by",
        "limit",
    }
    description = spec["paths"]["/records"]["get"]["description"]
    assert "concatenated" in description
    assert "empty body" in description.lower()
    ops = spec["components"]["schemas"]["TimeOperators"]["properties"]
    assert list(ops) == ["gt", "lt", "gte", "lte", "equals"]


def test_mutual_tls_is_a_security_scheme(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["mutualTLS"]["type"] == "mutualTLS"


def test_schemas_state_the_rules(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["Component"]["properties"]["amount"]["minimum"] == 0
    assert schemas["Score"]["properties"]["value"]["minimum"] == 0
    assert set(schemas["RecordAdd"]["required"]) == {"record_id", "components", "start_time"}
    assert set(schemas["RecordUpdate"]["required"]) == {"record_id", "components", "stop_time"}
    assert len(schemas["Record"]["required"]) == 6
    assert "grapheme" in schemas["Name"]["description"]


def _schema_validator(spec: dict[str, Any], name: str) -> jsonschema.Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("r1", True),
        (" x ", True),
        ("\u200b", True),  # zero-width space is not White_Space
        ("", False),
        ("   ", False),
        ("\t\n", False),
        ("\u3000", False),
        ("\u00a0", False),
        ("\x1c", True),  # Python's isspace() says True, but it is not Unicode White_Space
        ("\ufeff", True),  # ECMA-262's \s includes it; White_Space does not
    ],
)
def test_name_pattern_matches_the_whitespace_rule(
    spec: dict[str, Any], value: str, valid: bool
) -> None:
    assert _schema_validator(spec, "Name").is_valid(value) is valid


def test_examples_in_the_document_match_their_schemas(spec: dict[str, Any]) -> None:
    checked = 0
    for name, schema in spec["components"]["schemas"].items():
        if "example" in schema:
            _schema_validator(spec, name).validate(schema["example"])
            checked += 1
    body = spec["paths"]["/record"]["post"]["requestBody"]["content"]["application/json"]
    _schema_validator(spec, "RecordAdd").validate(body["example"])
    assert checked >= 2


def test_meta_keys_are_names(spec: dict[str, Any]) -> None:
    validator = _schema_validator(spec, "Meta")
    assert validator.is_valid({"site": ["a"]})
    assert not validator.is_valid({" ": ["a"]})
    assert not validator.is_valid({"site": [""]})


def test_timestamps_in_responses_are_described_with_z(spec: dict[str, Any]) -> None:
    validator = _schema_validator(spec, "ServerTimestamp")
    assert not validator.is_valid("2022-06-27T15:00:00+00:00")
    assert not validator.is_valid("2022-06-27T15:00:00.1Z")
    # The pattern admits chrono's signed years beyond 0000..9999 (strict RFC 3339, and so a
    # `date-time` format checker, cannot express them).
    schema = {"$ref": "#/components/schemas/ServerTimestamp", "components": spec["components"]}
    pattern_only = jsonschema.Draft202012Validator(schema)
    assert pattern_only.is_valid("+10000-01-01T00:00:00.500Z")
    assert pattern_only.is_valid("-0001-01-01T00:00:00Z")
    assert not pattern_only.is_valid("10000-01-01T00:00:00Z")
    examples = spec["components"]["schemas"]["ServerTimestamp"]["examples"]
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z", e) for e in examples
    )
