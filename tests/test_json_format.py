"""serde_json-compatible JSON output (pyauditor._json)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyauditor._json import dumps, dumps_exact, dumps_sorted, float_is_plain, format_float

# (value, what python-auditor's to_json writes), from the reference's to_json vectors.
SERDE_FLOATS = [
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (1.0, "1.0"),
    (9.2, "9.2"),
    (0.1, "0.1"),
    (100.0, "100.0"),
    (3.0, "3.0"),
    (1e-7, "1e-7"),
    (1e-6, "1e-6"),
    (1e-5, "0.00001"),
    (1.5e-5, "0.000015"),
    (1e-4, "0.0001"),
    (0.001, "0.001"),
    (123456.789, "123456.789"),
    (1e15, "1000000000000000.0"),
    (1234567890123456.0, "1234567890123456.0"),
    (1e16, "1e+16"),
    (12345678901234567.0, "1.2345678901234568e+16"),
    (1e17, "1e+17"),
    (1.2345e16, "1.2345e+16"),
    (1e21, "1e+21"),
    (1e100, "1e+100"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (5e-324, "5e-324"),
    (2.2250738585072014e-308, "2.2250738585072014e-308"),
    (1 / 3, "0.3333333333333333"),
    (float(2**53), "9007199254740992.0"),
    (float(2**70), "1.1805916207174113e+21"),
    (-1.5e-5, "-0.000015"),
    (-1e-7, "-1e-7"),
    (math.nan, "null"),
    (math.inf, "null"),
    (-math.inf, "null"),
]


@pytest.mark.parametrize(("value", "expected"), SERDE_FLOATS)
def test_format_float_matches_serde_json(value: float, expected: str) -> None:
    assert format_float(value) == expected


@pytest.mark.parametrize(("value", "expected"), SERDE_FLOATS)
def test_plain_floats_are_exactly_the_ones_repr_gets_right(value: float, expected: str) -> None:
    assert float_is_plain(value) == (repr(value) == expected)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_float_round_trips_and_uses_serde_notation(value: float) -> None:
    text = format_float(value)
    assert float(text) == value
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)
    magnitude = abs(value)
    scientific = "e" in text
    assert scientific == (magnitude != 0 and not 1e-5 <= magnitude < 1e16)
    if scientific:
        exponent = text.partition("e")[2]
        assert not exponent.lstrip("+-").startswith("0"), "serde_json does not pad exponents"
    else:
        assert "." in text, "integral values keep their .0"
    if float_is_plain(value):
        assert text == repr(value)


DOCUMENTS = [
    {"b": [1, 2.5, None, True, False], "a": {"z": 'ü\n"\\/\x7f\u2028', "y": []}},
    {"k": -(2**63), "m": 2**63 - 1, "s": "\x00\x1f"},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_fast_and_exact_writers_agree_on_plain_documents(document: object) -> None:
    assert dumps(document) == dumps_exact(document)
    assert dumps_sorted(document) == dumps_exact(document, sort_keys=True)
    assert json.loads(dumps(document)) == document


def test_exact_writer_formats_floats_like_serde() -> None:
    assert dumps_exact({"v": [1e-7, 1e-5, 1e16, math.nan]}) == '{"v":[1e-7,0.00001,1e+16,null]}'


def test_sorted_writer_sorts_every_level() -> None:
    assert dumps_sorted({"b": {"y": 1, "x": 2}, "a": 0}) == '{"a":0,"b":{"x":2,"y":1}}'
    assert (
        dumps_exact({"b": {"y": 1, "x": 2}, "a": 0}, sort_keys=True) == '{"a":0,"b":{"x":2,"y":1}}'
    )


def test_strings_escape_like_serde_json() -> None:
    assert dumps("\b\t\n\f\r\x00\x0b\x1b\x1f") == '"\\b\\t\\n\\f\\r\\u0000\\u000b\\u001b\\u001f"'
    assert dumps("/\x7f\x80\u2028\ufeff😀") == '"/\x7f\x80\u2028\ufeff😀"'


def test_fast_writer_refuses_nan() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps({"v": math.nan})


def test_reused_encoders_handle_any_top_level_value() -> None:
    assert dumps('a"b') == '"a\\"b"'
    assert dumps(None) == "null"
    assert dumps(1.5) == "1.5"
    assert (
        dumps_sorted({"b": [1, {"d": 1, "c": 2}], "a": None}) == '{"a":null,"b":[1,{"c":2,"d":1}]}'
    )
    assert dumps({"b": 1, "a": 2}) == '{"b":1,"a":2}'
    with pytest.raises(ValueError):
        dumps([math.nan])
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        dumps({"x": {1}})
