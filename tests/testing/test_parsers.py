"""Unit tests of the server's readers: chrono timestamps, serde_json bodies, serde_qs queries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyauditor.testing._chrono import (
    ChronoError,
    format_micros,
    ns_to_pg_micros,
    parse_timestamp,
    runtime_seconds,
)
from pyauditor.testing._serde import (
    JsonBodyError,
    _exact,
    _fast_read,
    _fast_record,
    _read_add,
    _Unsure,
    read_record,
    read_records,
    rust_debug_str,
)

EPOCH_NS = 1_656_342_000 * 10**9  # 2022-06-27T15:00:00Z


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2022-06-27T15:00:00Z", EPOCH_NS),
        ("2022-06-27t15:00:00z", EPOCH_NS),
        ("2022-06-27 15:00:00 UTC", EPOCH_NS),
        ("2022-06-27T15:00:00utc", EPOCH_NS),
        ("2022-06-27T17:00:00+02:00", EPOCH_NS),
        ("2022-06-27T17:00:00+0200", EPOCH_NS),
        ("2022-06-27T15:00:00-00:00", EPOCH_NS),
        ("2022-06-27T14:00:00\u221201:00", EPOCH_NS),
        ("  2022-6-27T15:0:0 Z", EPOCH_NS),
        ("2022-06-27T15:00:00.123456789999Z", EPOCH_NS + 123_456_789),
        ("2022-06-27T15:00:00.5Z", EPOCH_NS + 500_000_000),
    ],
)
def test_chrono_relaxed_rfc3339_accepts(text: str, ns: int) -> None:
    assert parse_timestamp(text) == ns


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "premature end of input"),
        ("2022-06-27", "premature end of input"),
        ("2022-06-27T15:00:00", "premature end of input"),
        ("2022-06-27T15:00Z", "input contains invalid characters"),
        ("2022-06-27X15:00:00Z", "input contains invalid characters"),
        ("2022-06-27T15:00:00 00:00", "input contains invalid characters"),
        ("2022-06-27T15:00:00Z garbage", "trailing input"),
        ("2022-13-01T00:00:00Z", "input is out of range"),
        ("2022-02-30T00:00:00Z", "input is out of range"),
        ("2022-06-27T24:00:00Z", "input is out of range"),
        ("2022-06-27T15:00:00+24:00", "input is out of range"),
        ("2022-06-27T15:00:00+05:60", "input is out of range"),
        ("+262143-12-31T23:59:59-01:00", "no possible date and time matching input"),
        ("12022-01-01T00:00:00Z", "input contains invalid characters"),
    ],
)
def test_chrono_relaxed_rfc3339_rejects(text: str, error: str) -> None:
    with pytest.raises(ChronoError) as info:
        parse_timestamp(text)
    assert str(info.value) == error


def test_leap_seconds_and_storage_precision() -> None:
    leap = parse_timestamp("2016-12-31T23:59:60.5Z")
    assert format_micros(ns_to_pg_micros(leap) or 0) == "2017-01-01T00:00:00.500Z"
    # sqlx truncates toward zero relative to 2000-01-01: before 2000 that rounds up in time
    before = parse_timestamp("1999-12-31T23:59:59.9999985Z")
    assert format_micros(ns_to_pg_micros(before) or 0) == "1999-12-31T23:59:59.999999Z"
    just_before = parse_timestamp("1999-12-31T23:59:59.9999995Z")
    assert format_micros(ns_to_pg_micros(just_before) or 0) == "2000-01-01T00:00:00Z"
    assert ns_to_pg_micros(parse_timestamp("-4714-11-23T00:00:00Z")) is None
    assert runtime_seconds(10**9 * 5 - 1, 0) == 4
    assert runtime_seconds(0, 10**9 * 5 - 1) == -4


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_micros_matches_format_z_and_round_trips(value: datetime) -> None:
    text = value.isoformat()
    micros = ns_to_pg_micros(parse_timestamp(text))
    assert micros is not None
    out = format_micros(micros)
    assert parse_timestamp(out) == parse_timestamp(text)
    assert out.endswith("Z")
    fraction = out[19:-1]
    assert fraction in ("",) or len(fraction) in (4, 7)


def test_extreme_years_format_with_a_sign() -> None:
    for text, expected in [
        ("+262143-12-31T23:59:59.999999Z", "+262143-12-31T23:59:59.999999Z"),
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        ("-0001-12-31T00:00:00Z", "-0001-12-31T00:00:00Z"),
    ]:
        assert format_micros(ns_to_pg_micros(parse_timestamp(text)) or 0) == expected


@pytest.mark.parametrize(
    ("text", "debug"),
    [
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("line\nfeed\t\r\0", '"line\\nfeed\\t\\r\\0"'),
        ("e\u0301\u00a0\u200b", '"e\\u{301}\\u{a0}\\u{200b}"'),
        ("ü'😀", '"ü\'😀"'),
    ],
)
def test_rust_debug_strings(text: str, debug: str) -> None:
    assert rust_debug_str(text) == debug


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nul", "EOF while parsing a value at line 1 column 3"),
        (b"nulx", "expected ident at line 1 column 4"),
        (b"{", "EOF while parsing an object at line 1 column 1"),
        (b'{"record_id"', "EOF while parsing an object at line 1 column 12"),
        (b'{"record_id" "a"}', "expected `:` at line 1 column 14"),
        (b'{"record_id":"a",}', "trailing comma at line 1 column 18"),
        (b'{"record_id":"a" "b"}', "expected `,` or `}` at line 1 column 18"),
        (b"{1:2}", "key must be a string at line 1 column 2"),
        (b'{"record_id":"\\x"}', "invalid escape at line 1 column 16"),
        (b'{"record_id":"\\ud800"}', "unexpected end of hex escape at line 1 column 21"),
        (b'{"record_id":"\\udc00"}', "lone leading surrogate in hex escape at line 1 column 20"),
        (
            b'{"record_id":"a\nb"}',
            "control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0",
        ),
        (b'{"record_id":"\xff"}', "invalid unicode code point at line 1 column 16"),
        (b'{"record_id":5}', "invalid type: integer `5`, expected a string at line 1 column 14"),
        (
            b'{"record_id":"a","meta":[]}',
            "invalid type: sequence, expected a map at line 1 column 24",
        ),
        (
            b'{"record_id":"a","meta":{"k":"v"}}',
            'invalid type: string "v", expected a sequence at line 1 column 32',
        ),
        (b'{"record_id":"a","meta":{"":["v"]}}', "Parsing '' failed at line 1 column 27"),
        (
            b'{"record_id":"a","components":[{"name":"c","amount":01}]}',
            "invalid number at line 1 column 54",
        ),
        (
            b'{"record_id":"a","components":[{"name":"c","amount":1e999,"scores":[]}]}',
            "number out of range at line 1 column 57",
        ),
        (
            b'{"record_id":"a","components":[{"name":"c"}],"start_time":"x"}',
            "missing field `amount` at line 1 column 43",
        ),
        (
            b'{"record_id":"a","x":[1,2,{"y":[tru]}],"components":[]}',
            "expected ident at line 1 column 36",
        ),
        (
            b'{"record_id":"a","components":[],"start_time":"2022-06-27T15:00:00Z"}\n\n ]',
            "trailing characters at line 3 column 2",
        ),
        (b'["a",null,[],"2022-06-27T15:00:00Z",null,1]', "trailing characters at line 1 column 42"),
        (
            b'["a"]',
            "invalid length 1, expected struct RecordAdd with 5 elements at line 1 column 5",
        ),
        (b'"x"', 'invalid type: string "x", expected struct RecordAdd at line 1 column 3'),
    ],
)
def test_serde_json_messages(body: bytes, message: str) -> None:
    with pytest.raises(JsonBodyError) as info:
        read_record(body)
    assert str(info.value) == message


def test_accepted_oddities() -> None:
    positional = read_record(b'["a",null,[],"2022-06-27T15:00:00Z",null]')
    assert (positional.record_id, positional.components) == ("a", [])
    duplicate_meta = read_record(
        b'{"record_id":"a","meta":{"k":["1"],"k":["2"]},"components":[],'
        b'"start_time":"2022-06-27T15:00:00Z","x":"\xff\\ud800","y":1e999}'
    )
    assert duplicate_meta.meta == {"k": ["2"]}
    assert read_records(b" [ ] ") == []


def test_valid_bodies_take_the_fast_path() -> None:
    body = json.dumps(
        {
            "record_id": "r",
            "meta": {"site": ["a"]},
            "components": [{"name": "c", "amount": 1, "scores": [{"name": "s", "value": 2}]}],
            "start_time": "2022-06-27T15:00:00Z",
            "stop_time": None,
        }
    ).encode()
    fast = _fast_record(_fast_read(body), update=False)
    assert fast == _exact(body, _read_add)
    assert fast.components[0].scores == [("s", 2.0)]


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["", " ", "a", "2022-06-27T15:00:00Z", "2022-06-27T15:00:00", "\u3000", "x" * 257]
    ),
)
NAMES = st.sampled_from(["a", "site", " ", "", "é" * 257, "k\u0000"])


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Mostly-valid RecordAdd bodies with random damage, extra keys and formatting."""
    record: dict[str, Any] = {
        "record_id": draw(st.one_of(NAMES, SCALARS)),
        "meta": draw(
            st.one_of(
                st.none(),
                st.dictionaries(NAMES, st.lists(NAMES, max_size=2), max_size=2),
                SCALARS,
            )
        ),
        "components": draw(
            st.one_of(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "name": st.one_of(NAMES, SCALARS),
                            "amount": st.one_of(
                                st.integers(min_value=-5, max_value=2**63 + 5), SCALARS
                            ),
                            "scores": st.lists(
                                st.fixed_dictionaries(
                                    {"name": NAMES, "value": st.one_of(st.floats(), SCALARS)}
                                ),
                                max_size=2,
                            ),
                        }
                    ),
                    max_size=3,
                ),
                SCALARS,
            )
        ),
        "start_time": draw(st.one_of(st.just("2022-06-27T15:00:00.5+02:00"), SCALARS)),
        "stop_time": draw(st.one_of(st.none(), st.just("2023-01-01 00:00:00Z"), SCALARS)),
    }
    for key in draw(st.sets(st.sampled_from(sorted(record)), max_size=2)):
        del record[key]
    if draw(st.booleans()):
        record["extra"] = draw(SCALARS)
    text = json.dumps(record, indent=draw(st.sampled_from([None, 1])), allow_nan=True)
    if draw(st.booleans()):
        text = text.replace('"record_id"', '"record_id": "dup", "record_id"', 1)
    return text.encode()


@settings(max_examples=300, deadline=None)
@given(bodies())
def test_fast_reader_agrees_with_the_exact_port(body: bytes) -> None:
    """The C-json fast path may only accept what serde_json accepts, with the same result."""
    try:
        fast = _fast_record(_fast_read(body), update=False)
    except (_Unsure, OverflowError):
        return
    assert _exact(body, _read_add) == fast
