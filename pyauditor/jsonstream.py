"""Read the JSON values of a file in bounded memory: arrays, NDJSON, or values one after another.

Files of records come in the layouts tools write: one JSON array (``[{...}, {...}]``, what
``pyauditor query --format json`` writes), one value per line (NDJSON, what ``--format ndjson``
writes), or values one after the other, pretty-printed or not (what ``jq`` writes).
:func:`iter_json_values` reads any of these from a binary stream chunk by chunk and yields each
top-level value (each element of a top-level array) as soon as it is complete, so memory stays
bounded by the largest single value however large the file is::

    from pyauditor.jsonstream import iter_json_values

    with open("may.ndjson", "rb") as file:
        for item in iter_json_values(file):
            print(item.position, item.value["record_id"])

It is the reader behind ``pyauditor send``, and the same decoder that splits AUDITOR's streamed
``GET /records`` answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO, NamedTuple

from ._stream import ObjectStreamDecoder

__all__ = ["CHUNK_SIZE", "JSONValue", "iter_json_values"]

CHUNK_SIZE = 256 * 1024
"""Bytes read from the stream at a time."""


class JSONValue(NamedTuple):
    """One top-level value of a JSON file.

    Attributes:
        value: The decoded value (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` or
            ``None``).
        position: Its zero-based position among the file's values.
        offset: The byte offset where it starts.
    """

    value: object
    position: int
    offset: int


def _value(value: object, _text: str, position: int, offset: int) -> JSONValue:
    return JSONValue(value, position, offset)


def iter_json_values(
    source: BinaryIO | Iterable[bytes], *, chunk_size: int = CHUNK_SIZE
) -> Iterator[JSONValue]:
    """Yield the top-level JSON values of ``source`` as they are read.

    Args:
        source: A binary stream (read with ``read(chunk_size)`` until it returns ``b""``) or an
            iterable of byte chunks.  It is not closed.
        chunk_size: Bytes per ``read`` of a stream.

    Raises:
        StreamDecodeError: the data is not JSON in one of the layouts above, or ends inside a
            value; its ``index`` (the position) and ``offset`` say where.  The values before it have been
            yielded.
    """
    decoder: ObjectStreamDecoder[JSONValue] = ObjectStreamDecoder(_value)
    for chunk in _chunks(source, chunk_size):
        yield from decoder.feed(chunk)
    yield from decoder.finish()
    # Values completed by the end of the data come first; a problem after them (an array
    # without its closing bracket) is raised by the next call.
    decoder.finish()


def _chunks(source: BinaryIO | Iterable[bytes], chunk_size: int) -> Iterator[bytes]:
    read = getattr(source, "read", None)
    if read is None:
        yield from source
        return
    while chunk := read(chunk_size):
        yield chunk
