"""Records on the wire: request bodies, decoded answers, streamed results.

What the clients and the queue call:

* request bodies: :func:`record_add_body`, :func:`record_update_body`,
  :func:`records_wire_json` (one text per record, for batching), :func:`records_bulk_body`;
* answers: :func:`record_stream_decoder` (``GET /records``), :func:`decode_record_body`
  (``GET /record/{id}``), :func:`decode_warning` (the body of a write answer),
  :func:`record_from_server` (an already parsed record object).

Encoding goes through the generated structs (``RecordAdd``/``RecordUpdate``) and msgspec, in
serde_json's exact format (see :mod:`pyauditor._wire`).

Decoding has a fast path and an exact one.  msgspec decodes straight into the generated
``Record`` struct, checking every JSON type and numeric bound of the schema; anything it
refuses, or any layout the fast path does not know, goes the exact way: the C JSON scanner
and :func:`record_from_server`, which accepts what python-auditor accepted (missing nullable
keys, integer score values, any UTC offset) and names the first problem precisely.  Either
way only pyauditor's typed errors leave this module, whatever the bytes: deep nesting, huge
numbers and broken UTF-8 included.
"""

from __future__ import annotations

import gc
import json
import operator
import re
from collections import deque
from collections.abc import Iterable
from itertools import repeat
from typing import Any, Final

import msgspec

from ._errors import ResponseDecodeError, StreamDecodeError, ValidationError
from ._json import json_type_name
from ._parts import Component, MetaData, Score, new_component, new_score
from ._record import RECORD_DECODER, Record, new_record
from ._stream import ObjectStreamDecoder, parse_error_reason
from ._time import parse_response_timestamp_utc
from ._validation import MAX_AMOUNT, are_plain_metas_json, describe, type_error
from ._wire import (
    WireMeta,
    WireRecordAdd,
    WireRecordUpdate,
    collect_young,
    encode,
    gc_paused,
)

__all__ = [
    "BATCH_BYTES",
    "MAX_RECORD_BYTES",
    "RecordStreamDecoder",
    "decode_record_body",
    "decode_warning",
    "metas_valid",
    "record_add_body",
    "record_from_server",
    "record_stream_decoder",
    "record_update_body",
    "record_wire",
    "record_wire_json",
    "records_bulk_body",
    "records_wire_json",
]

MAX_RECORD_BYTES: Final = 16 * 1024 * 1024
"""Default bound of one record in a streamed ``GET /records`` answer.

AUDITOR refuses request bodies over 2 MiB, so no record it stores comes near it; a record that
grows past it is a broken or hostile stream, and failing then keeps memory bounded.
"""

_set = msgspec.structs.force_setattr
_copy_raw = msgspec.Raw.copy
_get_meta = operator.attrgetter("_meta")
_gc_enabled = gc.isenabled
_METAS_DECODER = msgspec.json.Decoder(list[WireMeta | None])
_META_DECODER = msgspec.json.Decoder(WireMeta | None)
_INF = float("inf")
# A meta as AUDITOR writes it: null, or an object of arrays of strings, compact, with no escape
# and no control character in any string.  Such a text is a valid WireMeta exactly when it is
# valid UTF-8; whatever this does not match, the typed decoder judges.  Only while the spec
# says WireMeta is a map of lists of plain strings (a constraint on names would need it).
_PLAIN_STRING = rb'"[^"\\\x00-\x1f]*+"'
_PLAIN_LIST = rb"\[(?:" + _PLAIN_STRING + rb"(?:," + _PLAIN_STRING + rb")*+)?+\]"
_PLAIN_ITEM = _PLAIN_STRING + rb":" + _PLAIN_LIST
_PLAIN_META = rb"(?:null|\{(?:" + _PLAIN_ITEM + rb"(?:," + _PLAIN_ITEM + rb")*+)?+\})"
_PLAIN_METAS: Final = (
    re.compile(rb"\[(?:" + _PLAIN_META + rb"(?:," + _PLAIN_META + rb")*+)?+\]").fullmatch
    if WireMeta == dict[str, tuple[str, ...]]
    else None
)
# The same check, twice as quick for metas whose strings hold none of []{}:, (almost all).  null
# becomes {}, then every byte but "[]{}:,\ and the control characters becomes "a": a plain
# string is then "a*", a run of one byte, which re matches in a tight loop (a class of bytes it
# tests byte by byte).  Neither step can make an invalid text pass: {} from a null inside a
# string, or a structural byte kept in a string, breaks the match (the full expression judges
# then), and "a" stands only for bytes that _PLAIN_STRING allows in a string.
_ORDINARY: Final = bytes(
    byte if byte in b'"[]{}:,\\' or byte < 0x20 else ord("a") for byte in range(256)
)
_A_STRING = rb'"a*+"'
_A_ITEM = _A_STRING + rb":\[(?:" + _A_STRING + rb"(?:," + _A_STRING + rb")*+)?+\]"
_A_META = rb"\{(?:" + _A_ITEM + rb"(?:," + _A_ITEM + rb")*+)?+\}"
_A_METAS: Final = re.compile(rb"\[(?:" + _A_META + rb"(?:," + _A_META + rb")*+)?+\]").fullmatch
# How much the fast path buffers without seeing a record boundary before it hands over.
_FAST_PENDING = 1024 * 1024
_BOUNDARY = b"}{"
# Decodes JSON objects that follow each other, with or without whitespace between them
# (msgspec's decoder for newline-delimited JSON skips whitespace between values and needs none).
_decode_concatenated = RECORD_DECODER.decode_lines
_EXCERPT = 120


def metas_valid(array: bytes) -> bool:
    """True if ``array``, a JSON array of metas (each ``null`` or an object), holds only valid
    WireMeta values.

    The metas of a streamed answer are kept as JSON, and msgspec checks only their syntax
    then; this checks their types.  AUDITOR's compact plain metas are judged by regular
    expressions (see _A_METAS and _PLAIN_METAS) and a UTF-8 check, three times as fast as
    decoding them and dropping the result (which allocates every dict, tuple and string);
    anything else is decoded.
    """
    if _PLAIN_METAS is not None and (
        _A_METAS(array.replace(b"null", b"{}").translate(_ORDINARY)) is not None
        or _PLAIN_METAS(array) is not None
    ):
        if array.isascii():
            return True
        try:
            array.decode()
        except UnicodeDecodeError:
            return False
        return True
    try:
        _METAS_DECODER.decode(array)
    except (msgspec.DecodeError, RecursionError, ValueError, OverflowError):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------------------------


def _add_struct(record: Record, batch: list[Any] | None = None) -> WireRecordAdd:
    meta = record._checked_meta(batch)
    # The fields RecordAdd shares with Record; tests/contract/test_regeneration.py fails, naming
    # this function, when openapi.yaml gives RecordAdd a field that is not copied here.
    return WireRecordAdd(
        record_id=record._id,
        meta=meta,
        components=record._components or (),  # type: ignore[arg-type]  # the same fields
        start_time=record._start,
        stop_time=record._stop,
    )


def _update_struct(record: Record) -> WireRecordUpdate:
    meta = record._checked_meta()
    stop = record._stop
    if stop is None:
        rule = "update() sends the stop time; set it with with_stop_time()"
        raise ValidationError(
            f"record {describe(record._id)} has no stop_time: {rule}",
            field="stop_time",
            value=None,
            rule=rule,
        )
    # As _add_struct: every field RecordUpdate shares with Record.
    return WireRecordUpdate(
        record_id=record._id,
        meta=meta,
        components=record._components or (),  # type: ignore[arg-type]  # the same fields
        start_time=record._start,
        stop_time=stop,
    )


def record_wire_json(record: Record, *, update: bool = False) -> str:
    """Validate ``record`` for sending and return its request JSON object as text.

    Keys in AUDITOR's order: ``record_id, meta, components, start_time, stop_time`` (no
    ``runtime``; the server computes it); components ``name, amount, scores``; scores ``name,
    value``; meta keys in insertion order.  Compact, serde_json's float and string format.

    Args:
        record: The record.
        update: For ``PUT /record``, which needs a stop time.

    Raises:
        TypeError: ``record`` is not a Record.
        ValidationError: a meta key or value breaks a name rule, the stop time (update) is
            missing, or a record received from a server has an invalid name.
    """
    if type(record) is not Record:
        raise type_error(record, "Record")
    struct = _update_struct(record) if update else _add_struct(record)
    return encode(struct).decode()


def record_wire(record: Record, *, update: bool = False) -> dict[str, Any]:
    """:func:`record_wire_json` as a new ``dict`` (in the same key order)."""
    return json.loads(record_wire_json(record, update=update))  # type: ignore[no-any-return]


def record_add_body(record: Record) -> str:
    """The JSON body of ``POST /record`` for ``record`` (see :func:`record_wire_json`)."""
    return record_wire_json(record)


def record_update_body(record: Record) -> str:
    """The JSON body of ``PUT /record`` for ``record``; it needs a stop time."""
    return record_wire_json(record, update=True)


def records_wire_json(records: Iterable[Record]) -> list[str]:
    """:func:`record_wire_json` of every record, for ``POST /records`` bodies of any size.

    Args:
        records: A list, tuple or other iterable of Record (python-auditor accepted only
            sequences).

    Raises:
        TypeError: ``records`` is a str, a mapping or not iterable, or holds a non-Record.
        ValidationError: a record is invalid; the message starts with its position
            (``records[3]: ...``).
    """
    if isinstance(records, str | bytes | dict) or not isinstance(records, Iterable):
        raise type_error(records, "Sequence")
    if type(records) is not list and type(records) is not tuple:
        records = list(records)  # gone through twice if a meta needs checking name by name
    texts: list[str] = []
    append = texts.append
    add = _add_struct
    # The JSON of every meta set by with_meta, judged in one pass after the loop.
    metas: list[Any] = []
    for index, record in enumerate(records):
        if type(record) is not Record:
            _check_metas(records, index, metas)  # an earlier bad meta is the first error
            raise type_error(record, "Record")
        try:
            struct = add(record, metas)
        except ValidationError as error:
            _check_metas(records, index, metas)
            raise _at(index, error) from None
        append(encode(struct).decode())
    _check_metas(records, len(texts), metas)
    return texts


def _at(index: int, error: ValidationError) -> ValidationError:
    return ValidationError(
        f"records[{index}]: {error}", field=error.field, value=error.value, rule=error.rule
    )


def _check_metas(records: list[Record] | tuple[Record, ...], end: int, metas: list[Any]) -> None:
    """Check the metas ``records_wire_json`` gathered from ``records[:end]``: all at once, and
    one by one (raising for the first bad one) only if that cannot tell."""
    if not metas or are_plain_metas_json(metas):
        return
    for index in range(end):
        try:
            records[index]._meta_json_checked()
        except ValidationError as error:
            raise _at(index, error) from None


def records_bulk_body(records: Iterable[Record]) -> str:
    """The JSON body of ``POST /records``: the array of :func:`records_wire_json`.

    ``[]`` gives ``"[]"``.  AUDITOR limits bodies to 2 MiB; split large batches
    (``_protocol.batch_json_array`` groups :func:`records_wire_json` texts).

    Raises:
        TypeError, ValidationError: as :func:`records_wire_json`.
    """
    return "[" + ",".join(records_wire_json(records)) + "]"


# ---------------------------------------------------------------------------------------------
# Records received from a server: the exact path
# ---------------------------------------------------------------------------------------------


def _malformed(record_id: object, detail: str) -> str:
    who = f" {describe(record_id)}" if isinstance(record_id, str) else ""
    return f"malformed record{who} from the server: {detail}"


def _server_time(value: object, key: str, record_id: str) -> Any:
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError(_malformed(record_id, f"{key} is {json_type_name(value)}, not a string"))
    try:
        return parse_response_timestamp_utc(value)
    except ValueError:
        if value[:1] in "+-" or value.startswith("0000-"):
            # PostgreSQL and chrono go beyond Python's datetime (years 1 to 9999).
            what = "has a year outside 1..9999, which Python's datetime cannot hold"
        else:
            what = "is not an RFC 3339 timestamp with an offset"
        raise ValueError(_malformed(record_id, f"{key} {describe(value)} {what}")) from None


def _server_meta(meta: object, record_id: str) -> MetaData:
    if type(meta) is not dict:
        raise TypeError(_malformed(record_id, f"meta is {json_type_name(meta)}, not an object"))
    result = {}
    for key, values in meta.items():
        if type(key) is not str:
            raise TypeError(_malformed(record_id, f"meta key {key!r} is not a string"))
        if type(values) is not list and type(values) is not tuple:
            raise TypeError(
                _malformed(record_id, f"meta[{key!r}] is {json_type_name(values)}, not an array")
            )
        for item in values:
            if type(item) is not str:
                raise TypeError(
                    _malformed(
                        record_id, f"meta[{key!r}] holds {json_type_name(item)}, not a string"
                    )
                )
        result[key] = tuple(values)
    return result


def _named_part(part: object, where: str, record_id: str) -> tuple[dict[str, Any], str]:
    """A score or component object of a server record, and its name (both checked)."""
    if type(part) is not dict:
        raise TypeError(_malformed(record_id, f"{where} is {json_type_name(part)}"))
    name = part.get("name")
    if type(name) is not str:
        raise TypeError(_malformed(record_id, f"{where}.name is {json_type_name(name)}"))
    return part, name


def _server_score(obj: object, where: str, record_id: str) -> Score:
    score, name = _named_part(obj, where, record_id)
    value = score.get("value")
    if type(value) is int:
        value = float(value)  # an integer value from a server is the float it stands for
    if type(value) is not float:
        raise TypeError(
            _malformed(record_id, f"{where}.value is {json_type_name(value)}, not a number")
        )
    if not 0.0 <= value < _INF:
        raise ValueError(
            _malformed(record_id, f"{where}.value {value!r} is not a finite number >= 0")
        )
    return new_score(name, value)


def _server_component(obj: object, where: str, record_id: str) -> Component:
    component, name = _named_part(obj, where, record_id)
    amount = component.get("amount")
    if type(amount) is not int:
        raise TypeError(
            _malformed(record_id, f"{where}.amount is {json_type_name(amount)}, not an integer")
        )
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(
            _malformed(record_id, f"{where}.amount {amount} is outside 0..{MAX_AMOUNT}")
        )
    scores = component.get("scores")
    if scores is None:
        scores = []
    if type(scores) is not list:
        raise TypeError(
            _malformed(record_id, f"{where}.scores is {json_type_name(scores)}, not an array")
        )
    return new_component(
        name,
        amount,
        tuple(
            _server_score(score, f"{where}.scores[{i}]", record_id)
            for i, score in enumerate(scores)
        ),
    )


def record_from_server(obj: object) -> Record:
    """Wrap one record object decoded from a server response (``json.loads`` output).

    Accepts what AUDITOR sends: an object with ``record_id``, ``meta``, ``components`` (``null``
    for legacy rows), ``start_time``, ``stop_time`` and ``runtime``.  ``record_id`` and
    ``start_time`` are required (the contract always fills them); the nullable keys may be
    missing (taken as ``null``, as python-auditor does); unknown keys are ignored.  Timestamps
    need an offset (``Z`` or ``+HH:MM``) and are converted to UTC.  ``runtime`` is the server's
    value, even if it contradicts the timestamps.  Names are not checked against the
    client-side rules: the server already accepted them (sending such a record again checks
    them).

    ``obj`` is not changed, and the record keeps nothing of it but strings and numbers.
    Integer score values (``10``) become floats (``10.0``).

    Raises:
        TypeError: ``obj`` or one of its values has the wrong JSON type.
        ValueError: ``record_id`` or ``start_time`` is missing, a value is out of range
            (negative amount, negative or non-finite score value), or a timestamp is malformed
            or has no offset.
    """
    if type(obj) is not dict:
        raise TypeError(
            f"a record from the server must be a JSON object, got {json_type_name(obj)}"
        )
    record_id = obj.get("record_id")
    if type(record_id) is not str:
        if "record_id" not in obj:
            raise ValueError(_malformed(None, "record_id is missing"))
        raise TypeError(_malformed(None, f"record_id is {json_type_name(record_id)}, not a string"))
    runtime = obj.get("runtime")
    if runtime is not None and type(runtime) is not int:
        raise TypeError(
            _malformed(record_id, f"runtime is {json_type_name(runtime)}, not an integer or null")
        )
    meta = obj.get("meta")
    components = obj.get("components")
    if components is not None and type(components) is not list:
        raise TypeError(
            _malformed(record_id, f"components is {json_type_name(components)}, not an array")
        )
    parts = (
        None
        if components is None
        else tuple(
            _server_component(c, f"components[{i}]", record_id) for i, c in enumerate(components)
        )
    )
    start = _server_time(obj.get("start_time"), "start_time", record_id)
    if start is None:
        # The contract always fills it (and the getter is typed accordingly).
        raise ValueError(_malformed(record_id, "start_time is missing"))
    return new_record(
        record_id,
        None if meta is None else _server_meta(meta, record_id),
        parts,
        start,
        _server_time(obj.get("stop_time"), "stop_time", record_id),
        runtime,
    )


def _decoded(record: Record) -> Record:
    """A record msgspec decoded, on its own: its meta's JSON copied out of the answer."""
    _set(record, "_meta", record._meta.copy())
    return record


def _record_of_text(text: str | bytes) -> Record:
    """The record in ``text`` (one JSON value), or TypeError/ValueError saying what is wrong.

    msgspec first; what it refuses is parsed again by the exact path, for the lenient cases it
    accepts and for the precise message of the others.
    """
    try:
        record = RECORD_DECODER.decode(text)
        _META_DECODER.decode(record._meta)  # type: ignore[arg-type]  # kept as JSON: check it
        return _decoded(record)
    except (msgspec.DecodeError, RecursionError, ValueError, OverflowError):
        pass
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("the record is nested too deeply to decode") from None
    except ValueError as error:  # also bad UTF-8, and integers too long to convert
        raise ValueError(f"not JSON ({parse_error_reason(error)})") from None
    try:
        return record_from_server(value)
    except OverflowError as error:
        raise ValueError(str(error)) from None


def decode_record_body(body: bytes, what: str) -> Record:
    """The record in the body of ``GET /record/{id}``: exactly one JSON object.

    Args:
        body: The answer's body.
        what: The request, for the message (``"GET http://host/record/x"``).

    Raises:
        ResponseDecodeError: the body is not one well-formed record (AUDITOR answers ``null``
            for an id that is not a valid name).
    """
    if body.strip() == b"null":
        raise _decode_error(what, body, "expected one record object, got null")
    try:
        return _record_of_text(body)
    except (TypeError, ValueError) as error:
        raise _decode_error(what, body, str(error)) from None


def _decode_error(what: str, body: bytes, reason: str) -> ResponseDecodeError:
    excerpt = body[:_EXCERPT].decode("utf-8", "replace")
    return ResponseDecodeError(f"{what}: {reason}; the body starts with {excerpt!r}", body=excerpt)


class _WarningBody(msgspec.Struct):
    warning: str


_WARNING_DECODER = msgspec.json.Decoder(_WarningBody)


def decode_warning(body: bytes) -> str | None:
    """The ``warning`` of a write answer (``{"warning": ...}``), or None for any other body.

    Never raises: a write answer is judged by its status; the body only adds a warning.
    """
    if not body or body[:1] != b"{":
        return None
    try:
        return _WARNING_DECODER.decode(body).warning
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# GET /records streams
# ---------------------------------------------------------------------------------------------


def _stream_error(position: int, offset: int, text: str | bytes, reason: str) -> StreamDecodeError:
    excerpt = (
        text[:_EXCERPT].decode("utf-8", "replace") if isinstance(text, bytes) else text[:_EXCERPT]
    )
    return StreamDecodeError(
        f"malformed GET /records body: record #{position} at byte {offset}: {reason}",
        index=position,
        offset=offset,
        body=excerpt,
    )


def _record_from_value(value: object, text: str, position: int, offset: int) -> Record:
    """The general decoder's factory: one parsed value of the stream as a Record."""
    try:
        if type(value) is dict:
            return _record_of_text(text)
        return record_from_server(value)
    except (TypeError, ValueError) as error:
        problem = str(error)
        if type(value) is not dict:
            problem = f"expected a record object, got {json_type_name(value)}"
        raise _stream_error(position, offset, text, problem) from None


class RecordStreamDecoder:
    """Decode a ``GET /records`` body, fed in chunks, into Records.

    The fast path is for AUDITOR's own layout: objects concatenated with no separator.  In a
    valid stream of that layout every boundary between two records is exactly ``}{`` (nothing
    else can follow a closing brace there), so the text up to the last ``}{`` of what arrived
    is a run of whole records.  It is decoded as it is by one msgspec call, which parses the
    objects one after another: nothing is copied or replaced, so a ``}{`` inside a string is
    just text.  A ``}{`` in a string taken for the last boundary leaves the run cut off in the
    middle of a record, which the decoder refuses.  Whatever the fast path refuses (another
    layout, a cut-off run, a malformed record) is decoded by
    :class:`~pyauditor._stream.ObjectStreamDecoder` and :func:`record_from_server`, which name
    the problem precisely; the fast path takes over again at the next record boundary.

    Every byte is looked at a bounded number of times, so decoding is linear in the body, and a
    record may not exceed ``max_record_bytes``.
    """

    __slots__ = (
        "_batch",
        "_error",
        "_fallback",
        "_index",
        "_limit",
        "_offset",
        "_pieces",
        "_size",
        "_sticky",
    )

    def __init__(self, max_record_bytes: int = MAX_RECORD_BYTES, batch_bytes: int = 0) -> None:
        if type(max_record_bytes) is not int or max_record_bytes < 1:
            raise ValueError(f"max_record_bytes must be a positive int, got {max_record_bytes!r}")
        if type(batch_bytes) is not int or not 0 <= batch_bytes <= _FAST_PENDING:
            raise ValueError(f"batch_bytes must be an int from 0 to {_FAST_PENDING}")
        self._limit = max_record_bytes
        # Gather this many bytes before decoding (fewer, larger runs; AUDITOR sends every record
        # as its own chunk); 0 hands out every record as soon as its chunk arrives.
        self._batch = batch_bytes
        self._pieces: list[bytes] = []  # received, not decoded yet: the start of one record
        self._size = 0  # bytes in _pieces
        self._index = 0  # records handed out by the fast path
        self._offset = 0  # byte offset of _pieces[0]
        self._fallback: ObjectStreamDecoder[Record] | None = None
        # The body is not in the strict concatenated layout (an array, whitespace between
        # records): the general decoder keeps it to the end.
        self._sticky = False
        self._error: StreamDecodeError | None = None

    @property
    def count(self) -> int:
        """How many records were handed out so far."""
        fallback = self._fallback
        return self._index if fallback is None else fallback.count

    @property
    def too_large(self) -> bool:
        """True once decoding stopped at a record larger than ``max_record_bytes``.

        The error raised then is a :class:`StreamDecodeError` like any other; the clients
        report it as the :class:`~pyauditor.ResponseTooLargeError` of their size bound.
        """
        fallback = self._fallback
        return fallback is not None and fallback.too_large

    def feed(self, chunk: bytes) -> list[Record]:
        """Add ``chunk`` to the body and return the records it completes.

        Raises:
            StreamDecodeError: the body is malformed, or a record is larger than the limit.
                Records completed before the malformed one are returned first; the error is
                raised by the next call then.
        """
        if self._error is not None:
            raise self._error
        if not chunk:
            return []
        if self._fallback is not None:
            return self._fallback_feed(chunk)
        pieces = self._pieces
        if not pieces and chunk[:1] != b"{":
            # Not a record right at the boundary: another layout.
            self._sticky = True
            return self._to_fallback(chunk)
        if self._size + len(chunk) < self._batch:
            pieces.append(chunk)
            self._size += len(chunk)
            return []
        cut = chunk.rfind(_BOUNDARY)
        if cut < 0:
            if pieces and chunk[:1] == b"{" and pieces[-1][-1:] == b"}":
                cut = -1  # the boundary is between the last chunk and this one
            else:
                pieces.append(chunk)
                self._size += len(chunk)
                if self._size <= _FAST_PENDING:
                    return []
                # No boundary in the last chunks for this long: look in all of it, once.
                chunk = b"".join(pieces)
                pieces = self._pieces = []
                self._size = 0
                cut = chunk.rfind(_BOUNDARY)
                if cut < 0:
                    # A large record, or records separated by whitespace: either way the
                    # general decoder takes over.
                    self._sticky = True
                    return self._to_fallback(chunk)
        # The run is the one copy of the body made here (msgspec decodes it as it is): at 47 MB
        # per 100k records every copy counts.
        run = b"".join([*pieces, memoryview(chunk)[: cut + 1]])
        tail = chunk[cut + 1 :]
        self._pieces = [tail]
        self._size = len(tail)
        records = self._decode_run(run)
        if records is None:
            self._pieces = []
            self._size = 0
            return self._to_fallback(run + tail)
        return records

    def _fallback_feed(self, data: bytes) -> list[Record]:
        fallback = self._fallback
        assert fallback is not None
        try:
            records = fallback.feed(data)
        except StreamDecodeError as error:
            self._error = error
            raise
        if not self._sticky and fallback.idle and fallback.count > self._index:
            # Back at a boundary between two records: the fast path takes over again.
            self._index = fallback.count
            self._offset = fallback.offset
            self._fallback = None
        return records

    def finish(self) -> list[Record]:
        """Signal the end of the body: return the last records, check that nothing is cut off.

        As with :meth:`feed`, records completed before a problem are returned first and the
        problem is raised by the next call: call ``finish()`` once more after handing them out
        (it returns ``[]`` for a well-formed body).

        Raises:
            StreamDecodeError: the body is malformed or cut off.
        """
        if self._error is not None:
            raise self._error
        fallback = self._fallback
        if fallback is not None:
            return fallback.finish()
        rest = b"".join(self._pieces)
        self._pieces = []
        if not rest.strip():
            return []
        records = self._decode_run(rest) if rest[-1:] == b"}" else None
        if records is None:
            records = self._to_fallback(rest)  # raises if nothing precedes a problem
            try:
                records += self.finish()
            except StreamDecodeError:
                if not records:
                    raise
                # Records before the problem: handed out now, the problem by the next call.
        return records

    def _decode_run(self, run: bytes) -> list[Record] | None:
        """The records of ``run``, whole records back to back (``{...}{...}``), or None to go
        the exact way."""
        size = len(run)
        if size > self._limit and self._largest(run) > self._limit:
            return None  # the exact path reports which record is too large
        records = self._decode_records(run)
        if records is None:
            return None
        # The metas were kept as JSON: their types are checked for the whole run at once.
        metas: list[Any] = list(map(_get_meta, records))
        if not metas_valid(b"[" + b",".join(metas) + b"]"):
            return None
        # Each meta's JSON is a view into the run; copied, so that the records do not keep the
        # whole run alive (a third more memory).  A loop in C: no Python code runs per record.
        deque(map(_set, records, repeat("_meta"), map(_copy_raw, metas)), maxlen=0)
        self._index += len(records)
        self._offset += size
        collect_young()
        return records

    @staticmethod
    def _decode_records(run: bytes) -> list[Record] | None:
        """The records of ``run``, JSON objects back to back, decoded by one msgspec call; None
        if they are not all valid records."""
        try:
            if _gc_enabled():  # get() pauses the collector for the whole result already
                with gc_paused():
                    return _decode_concatenated(run)
            return _decode_concatenated(run)
        except (msgspec.DecodeError, RecursionError, ValueError, OverflowError):
            return None

    @staticmethod
    def _largest(run: bytes) -> int:
        largest = 0
        start = 0
        find = run.find
        while True:
            cut = find(_BOUNDARY, start)
            end = len(run) if cut < 0 else cut + 1
            largest = max(largest, end - start)
            if cut < 0:
                return largest
            start = end

    def _start_fallback(self) -> ObjectStreamDecoder[Record]:
        fallback: ObjectStreamDecoder[Record] = ObjectStreamDecoder(
            _record_from_value, max_value_bytes=self._limit
        )
        if self._index:
            fallback.start_at(self._index, self._offset)
        self._fallback = fallback
        return fallback

    def _to_fallback(self, data: bytes) -> list[Record]:
        self._start_fallback()
        return self._fallback_feed(data)


BATCH_BYTES: Final = 64 * 1024
"""A good ``batch_bytes`` for a whole result (``get()``): records are not handed out early.

Small enough that a run (this and up to one event of the chunk reader, see
``_http._EVENT_BYTES``) stays below glibc's threshold for mapping memory fresh (128 KiB):
larger runs cost the async client twice the page faults of the blocking one in a fresh
process.
"""


def record_stream_decoder(
    max_record_bytes: int = MAX_RECORD_BYTES, batch_bytes: int = 0
) -> RecordStreamDecoder:
    """A decoder of ``GET /records`` bodies (see :class:`RecordStreamDecoder`).

    ``batch_bytes``: decode when this much has arrived (``BATCH_BYTES`` for ``get()``, where
    nothing is handed out before the end anyway); 0 (streaming) hands out every record as soon
    as it is complete.
    """
    return RecordStreamDecoder(max_record_bytes, batch_bytes)
