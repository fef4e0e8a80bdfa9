"""GET /records bodies decoded into Records (pyauditor._record_codec.RecordStreamDecoder).

The decoder cuts AUDITOR's concatenated records at their last ``}{`` and decodes each run with
one msgspec call; anything that shortcut cannot vouch for goes through the general stream decoder and the
exact record check.  These tests pin that the shortcut never changes what comes out: the same
records, positions, byte offsets and errors as decoding each record on its own, for any body
split anywhere, including records whose strings hold ``}{``, quotes and escapes.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyauditor import Record, StreamDecodeError
from pyauditor import _record_codec as codec
from pyauditor._record_codec import record_from_server, record_stream_decoder

SERVER = (
    '{"record_id":"r-%d","meta":{"site_id":["site1"],"group_id":["group1","g2"]},'
    '"components":[{"name":"cpu","amount":4,"scores":[{"name":"HEPSPEC06","value":9.2}]},'
    '{"name":"mem","amount":0,"scores":[]}],'
    '"start_time":"2022-08-08T11:30:00Z","stop_time":"2022-08-08T12:30:00.5Z","runtime":3600}'
)


def _feed(body: bytes, chunk: int, **options: Any) -> list[Record]:
    decoder = record_stream_decoder(**options)
    out: list[Record] = []
    for i in range(0, len(body), chunk):
        out += decoder.feed(body[i : i + chunk])
    out += decoder.finish()
    return out + decoder.finish()  # raises a problem found after the records finish() returned


def _feed_into(out: list[Record], body: bytes, chunk: int) -> None:
    decoder = record_stream_decoder()
    for i in range(0, len(body), chunk):
        out += decoder.feed(body[i : i + chunk])
    out += decoder.finish()
    out += decoder.finish()  # raises a problem found after the records the first call returned


def _exact(texts: list[str]) -> list[Record]:
    return [record_from_server(json.loads(t)) for t in texts]


def _reordered(i: int, first: str) -> str:
    """The server record ``i`` with ``first`` as its first key."""
    record = json.loads(SERVER % i)
    return json.dumps({first: record.pop(first), **record}, separators=(",", ":"))


@pytest.fixture
def exact_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the records that went the general (slow) way."""
    calls: list[int] = []
    original = codec._record_from_value

    def counting(value: Any, text: str, position: int, offset: int) -> Record:
        calls.append(position)
        return original(value, text, position, offset)

    monkeypatch.setattr(codec, "_record_from_value", counting)
    return calls


@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 20])
def test_the_server_layout_takes_the_fast_path(chunk: int, exact_calls: list[int]) -> None:
    texts = [SERVER % i for i in range(50)]
    records = _feed("".join(texts).encode(), chunk)
    assert [r.to_json() for r in records] == [r.to_json() for r in _exact(texts)]
    assert exact_calls == []


@pytest.mark.parametrize("first", ["record_id", "meta", "stop_time"])
def test_a_boundary_inside_a_string_stays_on_the_fast_path(
    first: str, exact_calls: list[int]
) -> None:
    # A run is decoded as it is, object after object: "}{" in a string is just text, whatever
    # key the records open with.
    odd = (SERVER % 1).replace('"r-1"', '"r}{1\\"}{"')
    texts = [_reordered(0, first), odd, *(SERVER % i for i in range(2, 6))]
    body = "".join(texts).encode()
    records = _feed(body, len(body))
    assert [r.record_id for r in records] == ["r-0", 'r}{1"}{', "r-2", "r-3", "r-4", "r-5"]
    assert [r.to_json() for r in records] == [r.to_json() for r in _exact(texts)]
    assert exact_calls == []


def test_a_boundary_taken_inside_a_string_goes_the_exact_way_and_the_fast_path_resumes(
    exact_calls: list[int],
) -> None:
    # A chunk whose last "}{" is inside a string: the run cut there ends in the middle of a
    # record, the decoder refuses it, and the exact way takes it up to the next boundary.
    odd = (SERVER % 1).replace('"r-1"', '"r}{1\\"}{"')
    texts = [SERVER % 0, odd, *(SERVER % i for i in range(2, 8))]
    body = "".join(texts).encode()
    inside = len(texts[0]) + odd.index("}{") + 2
    decoder = record_stream_decoder()
    out = decoder.feed(body[:inside])
    assert [r.record_id for r in out] == ["r-0"]
    assert exact_calls == [0]  # the refused run went the exact way
    resume = len(texts[0]) + len(odd) + len(texts[2])
    out += decoder.feed(body[inside:resume])
    for i in range(resume, len(body), len(texts[3])):
        out += decoder.feed(body[i : i + len(texts[3])])
    out += decoder.finish()
    assert [r.to_json() for r in out] == [r.to_json() for r in _exact(texts)]
    assert exact_calls
    assert max(exact_calls) <= 3


@pytest.mark.parametrize(
    "body",
    [
        "\n".join(SERVER % i for i in range(3)) + "\n",  # NDJSON
        "[" + ",".join(SERVER % i for i in range(3)) + "]",  # AUDITOR 0.4 - 0.8
        " " + "".join(SERVER % i for i in range(3)),
        "".join(SERVER % i for i in range(3)) + "\r\n",
        "[]",
        "",
    ],
)
@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_every_body_format_gives_the_same_records(body: str, chunk: int) -> None:
    records = _feed(body.encode(), chunk)
    assert [r.record_id for r in records] == [f"r-{i}" for i in range(body.count("record_id"))]


def test_other_offsets_are_moved_to_utc() -> None:
    text = (SERVER % 0).replace('"2022-08-08T11:30:00Z"', '"2022-08-08T13:30:00+02:00"')
    (record,) = _feed(text.encode(), 1 << 20)
    assert record.start_time == dt.datetime(2022, 8, 8, 11, 30)
    assert record.to_json() == _exact([SERVER % 0])[0].to_json()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('"start_time":"2022-08-08T11:30:00"', "not an RFC 3339 timestamp with an offset"),
        ('"start_time":"+10000-01-01T00:00:00Z"', "year outside 1..9999"),
        ('"amount":4', "amount"),
        ('"runtime":3600', "runtime"),
        ('"value":9.2', "value"),
    ],
)
def test_malformed_records_name_their_place(bad: str, reason: str) -> None:
    replacements = {
        '"amount":4': '"amount":-4',
        '"runtime":3600': '"runtime":36.5',
        '"value":9.2': '"value":1e999',
    }
    good = SERVER % 1
    if bad in replacements:
        broken = good.replace(bad, replacements[bad])
    else:
        key = bad.split(":")[0]
        start = good.index(key)
        end = good.index(",", start)
        broken = good[:start] + bad + good[end:]
    body = (SERVER % 0 + broken + SERVER % 2).encode()
    offset = len((SERVER % 0).encode())
    for chunk in (3, 1 << 20):
        out: list[Record] = []
        with pytest.raises(StreamDecodeError) as caught:
            _feed_into(out, body, chunk)
        assert (caught.value.index, caught.value.offset) == (1, offset)
        assert reason in str(caught.value)
        assert [r.record_id for r in out] == ["r-0"]


def test_byte_offsets_count_utf8_bytes() -> None:
    texts = [(SERVER % i).replace("site1", "s\u00efte\U0001f600") for i in range(4)]
    texts[2] = texts[2].replace('"r-2"', '"r}{2"')  # through the general decoder
    broken = texts[3].replace('"runtime":3600', '"runtime":"x"')
    body = "".join([*texts[:3], broken]).encode()
    for chunk in (1, 2, 3, 50, 1 << 20):
        with pytest.raises(StreamDecodeError) as caught:
            _feed(body, chunk)
        assert caught.value.offset == len("".join(texts[:3]).encode())
        assert caught.value.index == 3


def test_a_record_larger_than_the_bound_is_an_error() -> None:
    big = (SERVER % 1).replace('"site1"', '"' + "x" * 5000 + '"')
    body = (SERVER % 0 + big + SERVER % 2).encode()
    assert [r.record_id for r in _feed(body, 100, max_record_bytes=6000)] == ["r-0", "r-1", "r-2"]
    for chunk in (100, 1 << 20):
        with pytest.raises(StreamDecodeError, match="larger than the limit of 1000 bytes") as e:
            _feed(body, chunk, max_record_bytes=1000)
        assert e.value.index == 1
    with pytest.raises(ValueError, match="positive"):
        record_stream_decoder(max_record_bytes=0)


def test_only_a_record_over_the_bound_is_too_large() -> None:
    big = (SERVER % 1).replace('"site1"', '"' + "x" * 5000 + '"')
    decoder = record_stream_decoder(max_record_bytes=1000)
    with pytest.raises(StreamDecodeError):  # noqa: PT012
        decoder.feed((SERVER % 0 + big).encode())
        decoder.finish()
    assert decoder.too_large
    decoder = record_stream_decoder(max_record_bytes=1000)
    with pytest.raises(StreamDecodeError):  # noqa: PT012
        decoder.feed((SERVER % 0 + "{x}").encode())
        decoder.finish()
    assert not decoder.too_large


def test_records_before_a_problem_at_the_end_of_the_body_come_first() -> None:
    """A record that is only known to be complete at the end of the body is handed out by
    finish(); the problem after it is raised by the next call (found by hypothesis)."""
    body = (SERVER % 0 + SERVER % 1 + '"components":null}').encode()
    for chunk in (1, 7, len(body)):
        decoder = record_stream_decoder()
        out: list[Record] = []
        for i in range(0, len(body), chunk):
            out += decoder.feed(body[i : i + chunk])
        out += decoder.finish()
        assert [r.record_id for r in out] == ["r-0", "r-1"], chunk
        with pytest.raises(StreamDecodeError) as caught:
            decoder.finish()
        assert caught.value.index == 2


# -- any stream, split anywhere, decodes as record by record -----------------------------------

_tricky = st.sampled_from(["}{", '"', "\\", "}", "{", "]", "[", ",", "ü", "😀", "\n", "\x01"])
_names = st.one_of(
    st.text("abc-_.0123", min_size=1, max_size=6),
    st.lists(_tricky | st.text("ab", max_size=2), min_size=1, max_size=5).map("".join),
)
_timestamps = st.builds(
    lambda moment, zone: moment.isoformat() + zone,
    st.datetimes(dt.datetime(2000, 1, 2), dt.datetime(2100, 12, 30)),
    st.sampled_from(["Z", "Z", "+02:00", "-00:30"]),
)
_scores = st.lists(
    st.fixed_dictionaries(
        {"name": _names, "value": st.floats(min_value=0, allow_infinity=False) | st.integers(0, 99)}
    ),
    max_size=2,
)
_components = st.lists(
    st.fixed_dictionaries({"name": _names, "amount": st.integers(0, 2**63 - 1), "scores": _scores}),
    max_size=2,
)
_records = st.fixed_dictionaries(
    {
        "record_id": _names,
        "meta": st.none() | st.dictionaries(_names, st.lists(_names, max_size=3), max_size=3),
        "components": st.none() | _components,
        "start_time": _timestamps,
        "stop_time": st.none() | _timestamps,
        "runtime": st.none() | st.integers(-(2**40), 2**40),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_records, max_size=5), st.booleans(), st.data())
def test_any_stream_split_anywhere_decodes_as_record_by_record(
    records: list[dict[str, Any]], ascii_only: bool, data: st.DataObject
) -> None:
    texts = [json.dumps(r, ensure_ascii=ascii_only, separators=(",", ":")) for r in records]
    body = "".join(texts).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    decoder = record_stream_decoder()
    out: list[Record] = []
    previous = 0
    for cut in [*cuts, len(body)]:
        out += decoder.feed(body[previous:cut])
        previous = cut
    out += decoder.finish()
    assert [r.to_json() for r in out] == [r.to_json() for r in _exact(texts)]
    assert decoder.count == len(records)


@settings(max_examples=300, deadline=None)
@given(st.lists(_records, min_size=1, max_size=4), st.data())
def test_a_damaged_stream_fails_typed_after_the_records_before_the_damage(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    texts = [json.dumps(r, separators=(",", ":")) for r in records]
    body = "".join(texts)
    at = data.draw(st.integers(0, len(body) - 1))
    damage = data.draw(st.sampled_from(['"', "\\", ",", "}", "{", "]", "1", " ", "\x01", "x"]))
    body = body[:at] + damage + body[at + 1 :]
    chunk = data.draw(st.integers(1, 400))
    out: list[Record] = []
    failed_at = None
    try:
        _feed_into(out, body.encode(), chunk)
    except StreamDecodeError as error:
        failed_at = error.index
    assert failed_at is None or failed_at == len(out)
    # Whatever came out before the damage is what was sent.
    intact = 0
    consumed = 0
    for text in texts:
        if consumed + len(text) > at:
            break
        consumed += len(text)
        intact += 1
    assert [r.to_json() for r in out[:intact]] == [r.to_json() for r in _exact(texts[:intact])]


# -- the fast path's shortcuts: the boundary it splits at, the meta type check -----------------


@pytest.mark.parametrize("first", ["meta", "start_time"])
def test_records_that_open_with_another_key_take_the_fast_path(
    first: str, exact_calls: list[int]
) -> None:
    # The run is split at "}" and the first record's opening ('}{"record_id":' from AUDITOR);
    # a server writing another key first gets that one, and one writing several kinds of
    # openings the plain "}{" (after one extra decode of the run that showed it).
    same = [_reordered(i, first) for i in range(20)]
    mixed = [SERVER % 0, *same[1:10], *(SERVER % i for i in range(10, 20))]
    for texts in (same, mixed):
        body = "".join(texts).encode()
        for chunk in (len(body), 1000, 37):
            exact_calls.clear()
            records = _feed(body, chunk, batch_bytes=4096)
            assert [r.to_json() for r in records] == [r.to_json() for r in _exact(texts)]
            assert exact_calls == []


def test_a_malformed_record_in_a_run_is_named_by_the_exact_way() -> None:
    # The run holding it goes the exact way, which names the malformed record.
    bad = (SERVER % 1).replace('"site1"', '"x}{"record_id":"y"')
    with pytest.raises(StreamDecodeError) as caught:
        _feed((SERVER % 0 + bad + SERVER % 2).encode(), 1 << 20)
    assert caught.value.index == 1


_meta_texts = st.one_of(
    st.none().map(json.dumps),
    st.dictionaries(_names, st.lists(_names, max_size=3), max_size=3).flatmap(
        lambda meta: st.sampled_from(
            [
                json.dumps(meta, separators=(",", ":")),
                json.dumps(meta, separators=(",", ":"), ensure_ascii=False),
                json.dumps(meta),
            ]
        )
    ),
    st.sampled_from(['{"a":"x"}', '{"a":[1]}', '{"a":[["x"]]}', '{"a":[null]}', "[]", '"x"', "1"]),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_meta_texts, max_size=4), st.data())
def test_the_meta_check_agrees_with_decoding_the_metas(
    metas: list[str], data: st.DataObject
) -> None:
    array = ("[" + ",".join(metas) + "]").encode()
    if data.draw(st.booleans()) and len(array) > 2:
        # Damage one byte (the decoder checked the syntax of each meta, not its UTF-8).
        at = data.draw(st.integers(1, len(array) - 2))
        byte = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\x01", b"\\", b'"', b"1", b"\x7f"]))
        array = array[:at] + byte + array[at + 1 :]
    try:
        codec._METAS_DECODER.decode(array)
        decodes = True
    except Exception:
        decodes = False
    assert codec.metas_valid(array) is decodes


def test_the_meta_check_takes_the_quick_way_only_for_plain_metas() -> None:
    # Every meta AUDITOR writes for plain names; anything else is left to the decoder.
    assert codec._PLAIN_METAS is not None  # the spec's WireMeta is what the expression checks
    assert codec._PLAIN_METAS(b'[{"site":["a","\xc3\xa9"],"e":[]},null,{}]')
    for other in (b'[{"a":["\\n"]}]', b'[{"a": ["x"]}]', b'[{"a":"x"}]', b'[{"a":[1]}]'):
        assert codec._PLAIN_METAS(other) is None
    assert codec.metas_valid(b'[{"a":["\\n"]}]')
    assert not codec.metas_valid(b'[{"a":["\xff"]}]')


def _quick(array: bytes) -> bool:
    return codec._A_METAS(array.replace(b"null", b"{}").translate(codec._ORDINARY)) is not None


def test_the_quickest_meta_check_passes_auditors_metas_and_leaves_the_rest_to_the_others() -> None:
    assert _quick(b'[{"site":["a","\xc3\xa9 x.y"],"e":[]},null,{}]')
    # Valid, with what the quickest check does not take: left to the full expression.
    for valid in (b'[{"a:b":["x,y]"]}]', b'[{"null":["nullify"]}]', b'[{"{}":[]}]'):
        assert not _quick(valid)
        assert codec._PLAIN_METAS is not None
        assert codec._PLAIN_METAS(valid)
        assert codec.metas_valid(valid)
    # Invalid: never taken.
    for invalid in (
        b"[true]",
        b"[1234]",
        b'[{"a":null}]',
        b'[{"a":["x",null]}]',
        b'[{"a":"x"}]',
        b'[{"a":[{}]}]',
        b"[nullnull]",
        b'[{"a":["x"]}null]',
        b'[{"a":["\x01"]}]',
    ):
        assert not _quick(invalid), invalid
        assert not codec.metas_valid(invalid), invalid
