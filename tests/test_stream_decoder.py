"""The incremental GET /records body decoder (pyauditor._stream)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyauditor import StreamDecodeError
from pyauditor._stream import ObjectStreamDecoder, StreamObject

A = '{"record_id":"a","meta":null,"components":[],"start_time":"2022-08-08T11:30:00Z","stop_time":null,"runtime":null}'
B = '{"record_id":"b}{\\"x","meta":{"k":["ü😀"]},"components":[{"name":"c","amount":1,"scores":[{"name":"s","value":1e-7}]}],"start_time":"2022-08-08T11:30:00Z","stop_time":"2022-08-09T11:30:00Z","runtime":86400}'
C = '{"record_id":"c","meta":{},"components":null,"start_time":"2022-08-08T11:30:00.5Z","stop_time":null,"runtime":null}'


def decode(body: bytes, chunk: int | None = None) -> list[StreamObject]:
    decoder = ObjectStreamDecoder()
    out: list[StreamObject] = []
    size = chunk or max(len(body), 1)
    for i in range(0, len(body), size):
        out.extend(decoder.feed(body[i : i + size]))
    out.extend(decoder.finish())
    return out


@pytest.mark.parametrize(
    "body",
    [
        A + B + C,  # AUDITOR >= 0.9
        f"[{A},{B},{C}]",  # AUDITOR 0.4 - 0.8
        f"{A}\n{B}\n{C}\n",  # NDJSON
        f" {A} {B}\r\n\t{C} ",
        f"[ {A} ,\n {B} , {C} ]\n",
        f"{A},{B},{C}",
    ],
)
@pytest.mark.parametrize("chunk", [None, 1, 7, 64])
def test_every_format_yields_every_record_with_its_text(body: str, chunk: int | None) -> None:
    objects = decode(body.encode(), chunk)
    assert [o.value for o in objects] == [json.loads(A), json.loads(B), json.loads(C)]
    assert [o.text for o in objects] == [A, B, C]
    assert [o.position for o in objects] == [0, 1, 2]
    raw = body.encode()
    for o in objects:
        assert raw[o.offset : o.offset + len(o.text.encode())] == o.text.encode()


@pytest.mark.parametrize("body", ["", " ", "\n\n", "[]", " [ ] "])
def test_empty_results(body: str) -> None:
    assert decode(body.encode()) == []


def test_records_are_handed_out_as_soon_as_they_are_complete() -> None:
    decoder = ObjectStreamDecoder()
    assert [o.position for o in decoder.feed((A + B[:10]).encode())] == [0]
    assert [o.position for o in decoder.feed(B[10:].encode())] == [1]
    assert list(decoder.finish()) == []


@pytest.mark.parametrize(
    ("body", "index", "offset"),
    [
        (A + B[:-1], 1, len(A.encode())),  # truncated stream
        (A + '{"record_id":"x",}' + C, 1, len(A.encode())),
        ('{"x":{' + A, 0, 0),  # malformed first object
        (A + "hello", 1, len(A.encode())),
        (f"[{A},{B}", 2, None),  # array never closed
        (f"[{A}]xyz", 1, None),
        (A + "tru", 1, len(A.encode())),
        (A + "]", 1, len(A.encode())),
    ],
)
@pytest.mark.parametrize("chunk", [None, 3])
def test_malformed_bodies_name_the_record_and_byte(
    body: str, index: int, offset: int | None, chunk: int | None
) -> None:
    with pytest.raises(StreamDecodeError) as caught:
        decode(body.encode(), chunk)
    assert caught.value.index == index
    if offset is not None:
        assert caught.value.offset == offset
    assert f"value #{index}" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "complete"),
    [
        (A + B + '{"record_id":"x",}' + C, 2),
        (f"{A}\n{B}\n{{broken\n{C}\n", 2),
        (f"[{A},{B}", 2),  # cut off: the array never closes
        (A + B[:-1], 1),
    ],
)
def test_values_before_a_malformed_one_in_the_same_chunk_are_handed_out(
    body: str, complete: int
) -> None:
    # StreamDecodeError promises that the records before the bad one were delivered, also
    # when they arrived in the chunk that holds it.
    decoder = ObjectStreamDecoder()
    handed_out = decoder.feed(body.encode())
    with pytest.raises(StreamDecodeError) as caught:
        decoder.finish()
    assert [o.position for o in handed_out] == list(range(complete))
    assert caught.value.index == complete
    with pytest.raises(StreamDecodeError):  # and it stays failed
        decoder.feed(C.encode())


def test_invalid_utf8_is_an_error() -> None:
    with pytest.raises(StreamDecodeError, match="UTF-8"):
        decode(A.encode() + b'{"record_id":"\xff"}')


def test_body_ending_inside_a_utf8_sequence_is_an_error() -> None:
    with pytest.raises(StreamDecodeError, match="UTF-8"):
        decode(A.encode() + "ü".encode()[:1])


def test_non_object_values_are_passed_on_for_the_caller_to_reject() -> None:
    assert [o.value for o in decode(b"null 5 [1]")] == [None, 5, [1]]


def test_a_number_split_across_chunks_is_not_cut() -> None:
    decoder = ObjectStreamDecoder()
    assert list(decoder.feed(b"12")) == []
    assert [o.value for o in decoder.feed(b"34 ")] == [1234]


def test_memory_is_bounded_by_the_largest_record() -> None:
    decoder = ObjectStreamDecoder()
    for _ in range(1000):
        list(decoder.feed((A + A[:50]).encode()))
        list(decoder.feed(A[50:].encode()))
        assert len(decoder._text) < 2 * len(A)
    assert decoder.count == 2000


records = st.lists(
    st.fixed_dictionaries(
        {
            "record_id": st.text(min_size=1),
            "meta": st.none() | st.dictionaries(st.text(), st.lists(st.text())),
            "runtime": st.none() | st.integers(),
            "score": st.floats(allow_nan=False, allow_infinity=False),
        }
    ),
    max_size=5,
)


@settings(max_examples=200)
@given(records, st.sampled_from(["", "\n", " "]), st.booleans(), st.data())
def test_any_split_of_any_stream_decodes_to_the_same_records(
    values: list[dict[str, object]], separator: str, as_array: bool, data: st.DataObject
) -> None:
    texts = [json.dumps(v, ensure_ascii=False) for v in values]
    body = (f"[{','.join(texts)}]" if as_array else separator.join(texts)).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    decoder = ObjectStreamDecoder()
    out: list[StreamObject] = []
    previous = 0
    for cut in [*cuts, len(body)]:
        out.extend(decoder.feed(body[previous:cut]))
        previous = cut
    out.extend(decoder.finish())
    assert [o.value for o in out] == values
    assert [o.text for o in out] == texts


def test_values_near_the_end_of_a_long_text_are_scanned_on_their_own() -> None:
    # Past 4096 characters, the last value of a chunk is scanned in a copy of the tail (so a
    # value cut off by the chunk's end does not cost a line count of the whole chunk); it
    # must decode, wait and fail exactly as in place.
    head = A * (5000 // len(A) + 1)
    count = head.count('"record_id"')
    body = (head + B).encode()
    for cut in range(len(head.encode()) - 3, len(body) + 1, 17):
        decoder = ObjectStreamDecoder()
        out = decoder.feed(body[:cut]) + decoder.feed(body[cut:]) + decoder.finish()
        assert [o.text for o in out] == [A] * count + [B]
    bad = B.replace('"runtime":86400', '"runtime":86400x')
    with pytest.raises(StreamDecodeError) as caught:
        decode((head + bad).encode())
    at = len(head.encode())
    assert (caught.value.index, caught.value.offset) == (count, at)
    assert (
        f"value #{count} at byte {at}: Expecting ',' delimiter (character {bad.index('86400x') + 5} of it)"
        in str(caught.value)
    )


def test_a_cut_off_array_is_an_error_even_after_values_finish_completes() -> None:
    from pyauditor.jsonstream import iter_json_values

    decoder: ObjectStreamDecoder[StreamObject] = ObjectStreamDecoder()
    assert [o.value for o in decoder.feed(b"[1,2")] == [1]
    assert [o.value for o in decoder.finish()] == [2]  # the problem comes with the next call
    with pytest.raises(StreamDecodeError, match="ends inside a JSON array"):
        decoder.finish()
    values: list[object] = []
    with pytest.raises(StreamDecodeError, match="ends inside a JSON array"):  # noqa: PT012
        for item in iter_json_values([b"[1,2"]):
            values.append(item.value)
    assert values == [1, 2]
