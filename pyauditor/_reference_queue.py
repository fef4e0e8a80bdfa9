"""Reading the rows python-auditor 0.11 leaves in its queue file.

python-auditor's ``QueuedAuditorClient`` keeps pending requests in the tables ``inserts`` and
``updates`` (one ``record BLOB`` column each) as bincode 1.x encodings of the Rust structs
``RecordAdd`` and ``RecordUpdate``: little-endian fixed-width integers, strings and sequences
prefixed with a u64 length, ``Option`` as a ``0``/``1`` tag byte, a map as a u64 count followed by
its entries, and timestamps as RFC 3339 strings ending in ``Z``::

    RecordAdd    { record_id: str, meta: Option<map<str, vec<str>>>,
                   components: vec<{name: str, amount: i64, scores: vec<{name: str, value: f64}>}>,
                   start_time: str, stop_time: Option<str> }
    RecordUpdate { record_id, meta, components, start_time: Option<str>, stop_time: str }

:func:`decode_reference_blob` turns one blob into the JSON request body python-auditor would
have sent for it: keys in struct order, meta keys in stored order, timestamps as stored (they are
exactly what python-auditor puts on the wire), floats in serde_json's notation.  The decoder is
strict: trailing bytes, truncation or invalid UTF-8 raise :class:`ReferenceBlobError`, so a row
that is not what it should be is never turned into a wrong record.
"""

from __future__ import annotations

import struct
from typing import Final, Literal

from ._json import encode_string, format_float

__all__ = ["ReferenceBlobError", "decode_reference_blob"]

_U64: Final = struct.Struct("<Q")
_I64: Final = struct.Struct("<q")
_F64: Final = struct.Struct("<d")
# No real record comes close; a larger length means the blob is not what we think it is, and
# refusing it early avoids allocating gigabytes for a corrupted prefix.
_MAX_LENGTH: Final = 1 << 28


class ReferenceBlobError(ValueError):
    """A blob is not a bincode ``RecordAdd``/``RecordUpdate`` of python-auditor 0.11."""


class _Reader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise ReferenceBlobError(
                f"truncated: needs {size} byte(s) at offset {self._pos}, "
                f"the blob has {len(self._data)}"
            )
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def length(self) -> int:
        value: int = _U64.unpack(self._take(8))[0]
        if value > _MAX_LENGTH:
            raise ReferenceBlobError(f"implausible length {value} at offset {self._pos - 8}")
        return value

    def string(self) -> str:
        size = self.length()
        raw = self._take(size)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ReferenceBlobError(f"invalid UTF-8 in a string: {error}") from None

    def present(self) -> bool:
        tag = self._take(1)[0]
        if tag > 1:
            raise ReferenceBlobError(f"invalid Option tag {tag} at offset {self._pos - 1}")
        return tag == 1

    def i64(self) -> int:
        value: int = _I64.unpack(self._take(8))[0]
        return value

    def f64(self) -> float:
        value: float = _F64.unpack(self._take(8))[0]
        return value

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise ReferenceBlobError(
                f"{len(self._data) - self._pos} unexpected trailing byte(s) at offset {self._pos}"
            )


def _timestamp(reader: _Reader) -> str:
    return encode_string(reader.string())


def decode_reference_blob(blob: bytes, kind: Literal["insert", "update"]) -> tuple[str, str]:
    """Decode one row of python-auditor's ``inserts`` (``kind="insert"``) or ``updates`` table.

    Returns:
        ``(record_id, body)``: the record's id and the JSON body of ``POST /record`` (insert) or
        ``PUT /record`` (update), keys in the order ``record_id, meta, components, start_time,
        stop_time``.

    Raises:
        ReferenceBlobError: the blob is truncated, has trailing bytes, or holds invalid data.
    """
    reader = _Reader(blob)
    record_id = reader.string()
    parts = ['{"record_id":', encode_string(record_id), ',"meta":']
    if reader.present():
        parts.append("{")
        for index in range(reader.length()):
            if index:
                parts.append(",")
            parts.append(encode_string(reader.string()))
            parts.append(":[")
            parts.append(",".join(encode_string(reader.string()) for _ in range(reader.length())))
            parts.append("]")
        parts.append("}")
    else:
        parts.append("null")
    parts.append(',"components":[')
    for index in range(reader.length()):
        if index:
            parts.append(",")
        name = encode_string(reader.string())
        amount = reader.i64()
        scores = []
        for _ in range(reader.length()):
            score_name = encode_string(reader.string())
            scores.append(f'{{"name":{score_name},"value":{format_float(reader.f64())}}}')
        parts.append(f'{{"name":{name},"amount":{amount},"scores":[{",".join(scores)}]}}')
    parts.append('],"start_time":')
    if kind == "insert":
        parts.append(_timestamp(reader))
        parts.append(',"stop_time":')
        parts.append(_timestamp(reader) if reader.present() else "null")
    else:
        parts.append(_timestamp(reader) if reader.present() else "null")
        parts.append(',"stop_time":')
        parts.append(_timestamp(reader))
    parts.append("}")
    reader.finish()
    return record_id, "".join(parts)
