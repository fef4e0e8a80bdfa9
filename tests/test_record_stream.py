"""GET /records bodies decoded into lazy Records, and the shortcut for the server's own layout.

``record_stream_decoder()`` matches records written exactly as AUDITOR writes them with a regular
expression instead of parsing them (pyauditor._record_dicts.RECORD_SHORTCUT); everything else goes
through the JSON scanner.  These tests pin that the shortcut is taken where it should be, and
that it never changes what comes out: the same records, texts, positions, byte offsets and
errors as the scanner-only decoder.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyauditor import Record, StreamDecodeError
from pyauditor import _records as records_module
from pyauditor._records import (
    _SERVER_RECORD,
    _SERVER_RECORD_PARTS,
    RECORD_SHORTCUT,
    record_from_match,
    record_from_server,
    record_from_stream,
    record_stream_decoder,
)
from pyauditor._stream import ObjectStreamDecoder, Shortcut, _scan_once

SERVER = (
    '{"record_id":"r-%d","meta":{"site_id":["site1"],"group_id":["group1","g2"]},'
    '"components":[{"name":"cpu","amount":4,"scores":[{"name":"HEPSPEC06","value":9.2}]},'
    '{"name":"mem","amount":0,"scores":[]}],'
    '"start_time":"2022-08-08T11:30:00Z","stop_time":"2022-08-08T12:30:00.5Z","runtime":3600}'
)
# Valid records the shortcut leaves to the scanner, each for another reason.
OTHER_LAYOUTS = [
    '{"record_id":"x\\"y","meta":null,"components":[],"start_time":null,"stop_time":null,"runtime":null}',
    '{"record_id":"x", "meta":null,"components":[],"start_time":null,"stop_time":null,"runtime":null}',
    '{"meta":null,"record_id":"x","components":[],"start_time":null,"stop_time":null,"runtime":null}',
    '{"record_id":"x","meta":null,"components":[{"name":"c","amount":1,"scores":[{"name":"s","value":NaN}]}],"start_time":null,"stop_time":null,"runtime":null}',
    '{"record_id":"x","meta":null,"components":[{"name":"c","amount":12345678901234567890,"scores":[]}],"start_time":null,"stop_time":null,"runtime":null}',
    '{"record_id":"x","meta":null,"components":[{"name":"c","amount":1,"scores":null}],"start_time":null,"stop_time":null,"runtime":null}',
    '{"record_id":"x","meta":null,"components":[],"start_time":null,"stop_time":null,"runtime":null,"extra":1}',
    '{"record_id":"x"}',
]


def _counting(
    fast_factory: Callable[..., Any], slow_factory: Callable[..., Any]
) -> tuple[ObjectStreamDecoder[Any], dict[str, int]]:
    counts = {"fast": 0, "slow": 0}

    def fast(*args: Any) -> Any:
        counts["fast"] += 1
        return fast_factory(*args)

    def slow(*args: Any) -> Any:
        counts["slow"] += 1
        return slow_factory(*args)

    return ObjectStreamDecoder(slow, Shortcut(RECORD_SHORTCUT.pattern, fast)), counts


def _feed(decoder: ObjectStreamDecoder[Any], body: bytes, chunk: int) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(body), chunk):
        out += decoder.feed(body[i : i + chunk])
    out += decoder.finish()
    return out


def _facts(record: Record) -> tuple[str, str | None, int, int]:
    return (record.record_id, record._raw, record._position, record._offset)


def _same_records(body: bytes, chunk: int) -> list[Record]:
    """Decode ``body`` with and without the shortcut; assert both give the same records."""
    fast = _feed(record_stream_decoder(), body, chunk)
    slow = _feed(ObjectStreamDecoder(record_from_stream), body, chunk)
    assert [_facts(r) for r in fast] == [_facts(r) for r in slow]
    return fast


@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 20])
def test_records_in_the_server_layout_take_the_shortcut(chunk: int) -> None:
    body = "".join(SERVER % i for i in range(20)).encode()
    decoder, counts = _counting(RECORD_SHORTCUT.factory, record_from_stream)
    records = _feed(decoder, body, chunk)
    assert counts == {"fast": 20, "slow": 0}
    assert [r.record_id for r in records] == [f"r-{i}" for i in range(20)]
    assert _same_records(body, chunk)[5].to_json() == records[5].to_json()


@pytest.mark.parametrize("text", OTHER_LAYOUTS)
def test_other_layouts_go_through_the_scanner(text: str) -> None:
    assert _SERVER_RECORD.match(text) is None
    body = (SERVER % 1 + text + SERVER % 2).encode()
    decoder, counts = _counting(RECORD_SHORTCUT.factory, record_from_stream)
    records = _feed(decoder, body, 1 << 20)
    assert counts == {"fast": 2, "slow": 1}
    assert [r._raw for r in records] == [SERVER % 1, text, SERVER % 2]
    _same_records(body, 1 << 20)
    if "NaN" not in text:  # the decoder does not wait for a NaN cut off by a chunk's end
        _same_records(body, 3)


@pytest.mark.parametrize(
    "body",
    [
        "\n".join(SERVER % i for i in range(3)) + "\n",  # NDJSON
        "[" + ",".join(SERVER % i for i in range(3)) + "]",  # AUDITOR 0.4 - 0.8
        " " + "".join(SERVER % i for i in range(3)),
    ],
)
@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_every_body_format_gives_the_same_records(body: str, chunk: int) -> None:
    records = _same_records(body.encode(), chunk)
    assert [r.record_id for r in records] == ["r-0", "r-1", "r-2"]


def test_byte_offsets_count_utf8_bytes() -> None:
    texts = [(SERVER % i).replace("site1", "s\u00efte\U0001f600") for i in range(4)]
    body = "".join(texts).encode()
    for chunk in (1, 2, 3, 50, 1 << 20):
        records = _same_records(body, chunk)
        assert [r._offset for r in records] == [len("".join(texts[:i]).encode()) for i in range(4)]
        assert records[3].meta.get("site_id") == ["s\u00efte\U0001f600"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("replace", "field"),
    [
        ('"2022-08-08T11:30:00Z"', '"2022-08-08T11:30:00"'),  # no offset
        ('"amount":4', '"amount":9223372036854775808'),
        ('"value":9.2', '"value":1e999'),
    ],
)
def test_malformed_fields_behind_the_shortcut_raise_when_read(replace: str, field: str) -> None:
    bad = (SERVER % 1).replace(replace, field)
    assert _SERVER_RECORD.match(bad) is not None  # syntactically fine: the shortcut takes it
    body = (SERVER % 0 + bad).encode()
    first, second = _feed(record_stream_decoder(), body, 1 << 20)
    assert second.record_id == "r-1"
    offset = len((SERVER % 0).encode())
    with pytest.raises(StreamDecodeError, match=f"record #1 at byte {offset}") as caught:
        second.components  # noqa: B018
    assert (caught.value.index, caught.value.offset) == (1, offset)
    with pytest.raises(StreamDecodeError):
        second.to_json()
    assert first.runtime == 3600


def test_a_syntax_error_in_a_record_of_the_server_layout_raises_during_decoding() -> None:
    body = (SERVER % 0 + (SERVER % 1).replace('"runtime":3600', '"runtime":36 00')).encode()
    decoder = record_stream_decoder()
    with pytest.raises(StreamDecodeError) as caught:
        _feed(decoder, body, 1 << 20)
    assert caught.value.index == 1
    assert caught.value.offset == len((SERVER % 0).encode())


# --- the pattern accepts valid JSON only, and exactly the scanner's span of it ---------------

# Mostly what servers send (plain names, small numbers), sometimes anything JSON can carry.


def _in_order(dicts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Keys in the order the strategy lists them (hypothesis draws them in any order)."""
    order = ("record_id", "meta", "components", "start_time", "stop_time", "runtime")
    order += ("name", "amount", "scores", "value")
    return dicts.map(lambda d: {k: d[k] for k in order if k in d})


_plain = st.text("abc-_.:\u00e9\U0001f600 /", max_size=6)
_names = st.one_of(
    _plain, _plain, _plain, _plain, st.text(st.characters(codec="utf-8"), max_size=8)
)
_ints = st.one_of(*[st.integers(0, 10**6)] * 4, st.integers(0, 2**70))
_numbers = st.floats(min_value=0, allow_infinity=False) | _ints
_timestamps = st.builds(
    lambda moment, zone: moment.isoformat() + zone,
    st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30)),
    st.sampled_from(["Z", "+02:00", "-00:30", ""]),
)
_scores = st.lists(
    _in_order(st.fixed_dictionaries({"name": _names, "value": _numbers})), max_size=2
)
_components = st.lists(
    _in_order(st.fixed_dictionaries({"name": _names, "amount": _ints, "scores": _scores})),
    max_size=2,
)
_record_dicts = _in_order(
    st.fixed_dictionaries(
        {
            "record_id": _names,
            "meta": st.none() | st.dictionaries(_names, st.lists(_names, max_size=3), max_size=3),
            "components": st.none() | _components,
            "start_time": st.none() | _timestamps | _names,
            "stop_time": st.none() | _timestamps | _names,
            "runtime": st.none() | _ints | st.integers(-(2**70), 0),
        }
    )
)


@settings(max_examples=300, deadline=None)
@given(_record_dicts, st.booleans(), st.data())
def test_the_pattern_matches_exactly_what_the_scanner_parses(
    record: dict[str, Any], ascii_only: bool, data: st.DataObject
) -> None:
    text = json.dumps(record, ensure_ascii=ascii_only, separators=(",", ":"))
    # Mutate one character now and then, to show the pattern never accepts broken JSON.
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(text) - 1))
        text = (
            text[:at]
            + data.draw(st.sampled_from(['"', "\\", ",", "}", "]", "1", " ", "\x01"]))
            + text[at + 1 :]
        )
    match = _SERVER_RECORD.match(text)
    if match is None:
        return
    value, end = _scan_once(text, 0)
    assert end == match.end()
    assert type(value) is dict
    assert value["record_id"] == match.group(1)


@settings(max_examples=200, deadline=None)
@given(st.lists(_record_dicts, max_size=4), st.integers(1, 300))
def test_any_stream_decodes_as_without_the_shortcut(
    records: list[dict[str, Any]], chunk: int
) -> None:
    body = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records)
    fast = _same_records(body.encode(), chunk)
    for record in fast:
        try:
            expected: object = record_from_stream(
                json.loads(record._raw or ""), record._raw or "", record._position, record._offset
            ).to_json()
        except StreamDecodeError as error:
            expected = str(error)
        try:
            got: object = record.to_json()
        except StreamDecodeError as error:
            got = str(error)
        assert got == expected


# --- fields decoded from their own texts (_fill_from_parts) ---------------------------------


def _fields(record: Record) -> tuple[object, ...]:
    components = record.components
    return (
        record.to_json(),
        record.start_time,
        record.stop_time,
        record.meta,
        components,
        None if components is None else [c.scores for c in components],
        record._meta,
        record._comps,
        record._local,
    )


def _decoded_like_a_full_parse(text: str) -> None:
    """A lazy record of ``text`` reads like record_from_server of the parsed text, errors too."""
    lazy = record_from_match(json.loads(text)["record_id"], text, 3, 99)
    try:
        expected: object = _fields(record_from_server(json.loads(text)))
    except (TypeError, ValueError) as error:
        expected = f"malformed GET /records body: record #3 at byte 99: {error}"
    try:
        got: object = _fields(lazy)
    except StreamDecodeError as error:
        got = str(error)
    assert got == expected


@pytest.mark.parametrize(
    "text",
    [
        SERVER % 1,
        SERVER.replace('{"site_id"', '{"k":["a"],"k":["b"],"site_id"') % 1,  # repeated key
        SERVER.replace("12:30:00.5Z", "12:30:00.5\\u005a") % 1,  # escaped timestamp
        SERVER.replace("11:30:00Z", "11:30:00+02:00") % 1,
        SERVER.replace('"value":9.2', '"value":10') % 1,  # an integer score value
        SERVER.replace('"value":9.2', '"value":1e-7') % 1,
        SERVER.replace("site1", 's\\"\\u00e9\\n') % 1,  # escapes in a meta value
        SERVER.replace('"cpu"', '"c\\/pu"') % 1,
        '{"record_id":"x","meta":null,"components":null,"start_time":null,"stop_time":null,"runtime":null}',
        '{"record_id":"x","meta":{},"components":[],"start_time":null,"stop_time":null,"runtime":-5}',
        SERVER.replace('"2022-08-08T11:30:00Z"', '"2022-08-08T11:30:00"') % 1,
        SERVER.replace('"2022-08-08T11:30:00Z"', '"+10000-01-01T00:00:00Z"') % 1,
        SERVER.replace('"amount":4', '"amount":9223372036854775808') % 1,
        SERVER.replace('"value":9.2', '"value":1e400') % 1,
        SERVER.replace('"value":9.2', '"value":1e400').replace("11:30:00Z", "x") % 1,
    ],
)
def test_fields_are_decoded_from_their_texts_as_from_a_full_parse(text: str) -> None:
    assert _SERVER_RECORD_PARTS.fullmatch(text) is not None
    _decoded_like_a_full_parse(text)


def test_records_of_the_layout_are_decoded_without_parsing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("parsed the whole record")

    monkeypatch.setattr(records_module, "_fill_from_server", fail)
    (record,) = _feed(record_stream_decoder(), (SERVER % 7).encode(), 1 << 20)
    assert record.runtime == 3600
    (other,) = _feed(record_stream_decoder(), OTHER_LAYOUTS[1].encode(), 1 << 20)
    with pytest.raises(AssertionError, match="parsed the whole record"):
        other.runtime  # noqa: B018  (another layout: parsed as a whole)


@settings(max_examples=300, deadline=None)
@given(_record_dicts)
def test_any_record_of_the_layout_reads_as_after_a_full_parse(record: dict[str, Any]) -> None:
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    _decoded_like_a_full_parse(text)
