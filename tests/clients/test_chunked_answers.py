"""Chunked answers read through pyauditor._http._CoalescedChunks, against h11's own reader.

The clients take AUDITOR's chunks (one per record) in as few pieces as they arrived in, and
parse its plain chunk form themselves.  Whatever the body and however it is split into reads,
the bytes handed over, the end (with its trailer) and the errors must be h11's.
"""

from __future__ import annotations

from typing import Any

import h11
import pytest
from h11._readers import ChunkedReader
from h11._receivebuffer import ReceiveBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from pyauditor._http import _CoalescedChunks

Outcome = tuple[bytes, Any]


def _read(reader: Any, body: bytes, cuts: list[int]) -> Outcome:
    """Feed ``body`` in the pieces ``cuts`` makes, as h11 does; return the data handed over and
    how it ended: the EndOfMessage's headers, the error's message, or "open"."""
    buffer = ReceiveBuffer()
    data = []
    previous = 0
    for cut in [*sorted(cuts), len(body)]:
        buffer += body[previous:cut]
        previous = cut
        while True:
            try:
                event = reader(buffer)
            except h11.ProtocolError as error:
                return b"".join(data), ("error", str(error))
            if event is None:
                break
            if isinstance(event, h11.EndOfMessage):
                return b"".join(data), ("end", list(event.headers))
            assert isinstance(event, h11.Data)
            assert event.data
            data.append(bytes(event.data))
    try:
        reader.read_eof()
    except h11.ProtocolError as error:
        return b"".join(data), ("eof", str(error))
    return b"".join(data), "open"


_heads = st.sampled_from(["%x", "%X", "%04x", "%x;name=value", "%x ", "%x\t"])
_payloads = st.binary(min_size=1, max_size=40) | st.sampled_from([b"\r\n", b"}{", b"0\r\n\r\n"])


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    parts = []
    for payload in draw(st.lists(st.tuples(_heads, _payloads), max_size=12)):
        head, data = payload
        parts.append((head % len(data)).encode() + b"\r\n" + data + b"\r\n")
    last = draw(st.sampled_from([b"0\r\n\r\n", b"0\r\nTrailer: x\r\n\r\n", b"", b"0\r\n"]))
    body = b"".join(parts) + last
    if body and draw(st.booleans()):
        # Damage one byte: a malformed size, footer or trailer.
        at = draw(st.integers(0, len(body) - 1))
        byte = draw(st.sampled_from([b"g", b"\n", b"\r", b" ", b"0", b";", b"x"]))
        body = body[:at] + byte + body[at + 1 :]
    return body


@settings(max_examples=1500, deadline=None)
@given(_bodies(), st.data())
def test_any_chunked_body_split_anywhere_reads_as_h11_reads_it(
    body: bytes, data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=8))
    expected = _read(ChunkedReader(), body, cuts)
    assert _read(_CoalescedChunks(ChunkedReader()), body, cuts) == expected


def test_auditor_s_chunks_are_taken_in_one_piece() -> None:
    records = [b'{"record_id":"r%d"}' % i for i in range(1000)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(r), r) for r in records) + b"0\r\n\r\n"
    buffer = ReceiveBuffer()
    buffer += body
    reader = _CoalescedChunks(ChunkedReader())
    event = reader(buffer)
    assert isinstance(event, h11.Data)
    assert event.data == b"".join(records)
    assert isinstance(reader(buffer), h11.EndOfMessage)


@pytest.mark.parametrize("cut", range(1, 12))
def test_a_chunk_cut_anywhere_is_finished_by_h11_and_the_shortcut_resumes(cut: int) -> None:
    body = b"5\r\nhello\r\n3\r\nabc\r\n" * 3 + b"0\r\n\r\n"
    assert _read(_CoalescedChunks(ChunkedReader()), body, [cut]) == (
        b"helloabc" * 3,
        ("end", []),
    )


def test_a_footer_cut_after_its_cr_is_checked_by_h11() -> None:
    # h11 took the CR and waits for the LF; a CR LF next is a malformed footer (CR CR LF).
    body = b"5\r\nhello\r\r\n3\r\nabc\r\n0\r\n\r\n"
    cut = body.index(b"\r\r") + 1
    expected = _read(ChunkedReader(), body, [cut])
    assert expected[1][0] == "error"
    assert _read(_CoalescedChunks(ChunkedReader()), body, [cut]) == expected


def test_what_a_read_brings_is_taken_at_once_in_events_of_about_64_kib() -> None:
    # 1000 chunks of 500 bytes, and one of 200 KiB, arriving in reads of 256 KiB as the
    # clients' sockets read: events join chunks up to 64 KiB, a larger chunk is one event.
    small = [bytes([65 + i % 26]) * 500 for i in range(1000)]
    large = b"L" * (200 * 1024)
    chunks = [*small[:500], large, *small[500:]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    reader = _CoalescedChunks(ChunkedReader())
    buffer = ReceiveBuffer()
    events: list[bytes] = []
    ended = False
    for start in range(0, len(body), 256 * 1024):
        buffer += body[start : start + 256 * 1024]
        while (event := reader(buffer)) is not None:
            if isinstance(event, h11.EndOfMessage):
                ended = True
                break
            assert isinstance(event, h11.Data)
            events.append(bytes(event.data))
        assert len(buffer) < 16  # the buffer keeps at most the start of a chunk head
    assert ended
    assert b"".join(events) == b"".join(chunks)
    assert all(len(e) <= 64 * 1024 for e in events if b"L" not in e)
    assert max(map(len, events)) <= 200 * 1024
    assert len(events) <= 16
