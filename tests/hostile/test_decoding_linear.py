"""Stream decoding is linear in its input, whatever the input (issue 14, item 6).

A value cut off by the end of every chunk used to be parsed again from its start when the next
chunk arrived: a 16 MB unterminated value cost 8 s, a 64 MB one minutes.  Timing is not tested
here (the machine is shared); the work is counted instead: how often the C scanner runs, how
many characters the incremental scanner looks at, how many bytes the record decoder's fast path
decodes.  Each is bounded by a constant times the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pyauditor import StreamDecodeError
from pyauditor import _record_codec as codec
from pyauditor import _stream as stream
from pyauditor._stream import ObjectStreamDecoder

CHUNK = 64 * 1024
SIZE = 16 * 1024 * 1024


class Work:
    """Counts what the decoders do."""

    def __init__(self) -> None:
        self.scanner_calls = 0
        self.scanned_chars = 0
        self.fast_bytes = 0


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Work:
    counted = Work()
    scan_once = stream._scan_once
    pending_scan = stream._Pending.scan
    decode_run = codec.RecordStreamDecoder._decode_run

    def counting_scan_once(text: str, index: int) -> Any:
        counted.scanner_calls += 1
        return scan_once(text, index)

    def counting_pending_scan(self: Any, text: str, pos: int) -> int:
        counted.scanned_chars += len(text) - pos
        return pending_scan(self, text, pos)

    def counting_decode_run(self: Any, run: bytes) -> Any:
        counted.fast_bytes += len(run)  # records back to back, no brackets
        return decode_run(self, run)

    monkeypatch.setattr(stream, "_scan_once", counting_scan_once)
    monkeypatch.setattr(stream._Pending, "scan", counting_pending_scan)
    monkeypatch.setattr(codec.RecordStreamDecoder, "_decode_run", counting_decode_run)
    return counted


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


UNTERMINATED = b'{"record_id":"' + b"x" * SIZE
NESTED_OPEN = b'{"record_id":"a","meta":{"k":[' + b'"v",' * (SIZE // 4)
BOUNDARIES_IN_A_STRING = b'{"record_id":"' + b"}{" * (SIZE // 2)


@pytest.mark.parametrize(
    "body",
    [UNTERMINATED, NESTED_OPEN, BOUNDARIES_IN_A_STRING],
    ids=["unterminated string", "unclosed array", "}{ inside a string"],
)
def test_the_general_decoder_looks_at_each_character_a_bounded_number_of_times(
    work: Work, body: bytes
) -> None:
    decoder: ObjectStreamDecoder[Any] = ObjectStreamDecoder(max_value_bytes=2 * SIZE)
    for chunk in _chunks(body):
        assert decoder.feed(chunk) == []
    with pytest.raises(StreamDecodeError) as caught:
        decoder.finish()
    assert caught.value.index == 0
    # Once on the first chunk (cut off), once on the whole value at the end.
    assert work.scanner_calls <= 2
    assert work.scanned_chars <= 2 * len(body)


@pytest.mark.parametrize(
    "body",
    [UNTERMINATED, NESTED_OPEN, BOUNDARIES_IN_A_STRING],
    ids=["unterminated string", "unclosed array", "}{ inside a string"],
)
def test_the_record_decoder_is_linear_too(work: Work, body: bytes) -> None:
    decoder = codec.record_stream_decoder(max_record_bytes=2 * SIZE)
    for chunk in _chunks(body):
        assert decoder.feed(chunk) == []
    with pytest.raises(StreamDecodeError):
        decoder.finish()
    assert work.scanner_calls <= 2
    assert work.scanned_chars <= 2 * len(body)
    assert work.fast_bytes <= 2 * len(body)


def test_the_record_bound_stops_an_endless_value_early(work: Work) -> None:
    decoder = codec.record_stream_decoder(max_record_bytes=1024 * 1024)
    fed = 0
    with pytest.raises(StreamDecodeError, match="larger than the limit of 1048576 bytes"):  # noqa: PT012
        for chunk in _chunks(UNTERMINATED):
            decoder.feed(chunk)
            fed += len(chunk)
    assert fed <= 2 * 1024 * 1024  # it failed once the bound was passed, not at the end


def test_a_long_run_of_good_records_is_decoded_once(work: Work) -> None:
    record = (
        b'{"record_id":"r","meta":{"site_id":["s"]},"components":[],'
        b'"start_time":"2022-08-08T11:30:00Z","stop_time":null,"runtime":null}'
    )
    body = record * 50_000
    decoder = codec.record_stream_decoder()
    count = sum(len(decoder.feed(chunk)) for chunk in _chunks(body)) + len(decoder.finish())
    assert count == 50_000
    assert work.fast_bytes == len(body)
    assert work.scanner_calls == 0
