"""Records from JSON files for ``pyauditor send``: reading, decoding and validating them.

Input
    A file (or stdin) holds JSON objects, one record each, in any of the layouts collectors and
    tools write: a JSON array (``[{...}, {...}]``), newline-delimited JSON (one object per
    line), or objects one after the other, pretty-printed or not (what ``jq`` prints).  The
    layout is recognised by :class:`~pyauditor._stream.ObjectStreamDecoder`, which is fed the
    file in chunks, so memory stays bounded by the largest record however large the file is.

Records
    Each object has the keys of python-auditor's ``Record.to_json()`` (and of AUDITOR's API):
    ``record_id`` and ``start_time`` (required), ``stop_time``, ``meta``, ``components`` and
    ``runtime`` (ignored: the server computes it).  ``pyauditor query --format ndjson`` writes
    exactly this, so its output can be sent again.  Unknown keys are rejected rather than
    ignored: a misspelt ``stop_tme`` would otherwise turn a finished job into a running one
    without a word.  Timestamps are RFC 3339 with an offset (``2024-05-01T10:00:00Z``); a
    timestamp without one is rejected, as the library rejects naive datetimes.

Every record is built with the public constructors (:class:`~pyauditor.Record`,
:class:`~pyauditor.Meta`, :class:`~pyauditor.Component`, :class:`~pyauditor.Score`), so it is
checked by exactly the rules a collector's records are checked by, with the same messages.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

import attrs

from .._errors import StreamDecodeError, ValidationError
from .._json import json_type_name
from .._records import Component, Meta, Record, Score, record_wire_json
from .._stream import ObjectStreamDecoder
from .._time import parse_response_timestamp_utc

__all__ = ["InputProblem", "InputRecord", "read_records", "record_from_json"]

_CHUNK = 256 * 1024
_KEYS = ("record_id", "start_time", "stop_time", "meta", "components", "runtime")
_KNOWN_KEYS = frozenset(_KEYS)
_COMPONENT_KEYS = frozenset(("name", "amount", "scores"))
_SCORE_KEYS = frozenset(("name", "value"))


class InputRecord(NamedTuple):
    """A valid record read from the input, ready to send.

    Attributes:
        where: Where it came from, for messages (``file.ndjson record 17``).
        record_id: Its id.
        start_time: Its start time (UTC), for finding it on the server.
        wire: Its JSON text as ``POST /records`` carries it.
    """

    where: str
    record_id: str
    start_time: _dt.datetime
    wire: str


class InputProblem(NamedTuple):
    """A value of the input that is not a valid record, and why.

    Attributes:
        where: Where it came from, for messages.
        reason: One line saying what is wrong.
        fatal: True when the rest of the file could not be read after it (broken JSON).
    """

    where: str
    reason: str
    fatal: bool = False


def _time(obj: dict[str, Any], key: str) -> _dt.datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise ValueError(f"{key} is {json_type_name(value)}, not an RFC 3339 timestamp string")
    try:
        return parse_response_timestamp_utc(value)
    except ValueError:
        raise ValueError(
            f"{key} {value!r} is not an RFC 3339 timestamp with an offset "
            "(for example 2024-05-01T10:00:00Z)"
        ) from None


def _meta(value: object) -> Meta:
    if type(value) is not dict:
        raise ValueError(f"meta is {json_type_name(value)}, not an object of string arrays")
    meta = Meta()
    for key, values in value.items():
        if type(values) is not list or any(type(item) is not str for item in values):
            raise ValueError(f"meta[{key!r}] must be an array of strings")
        meta.insert(key, values)
    return meta


def _component(value: object, index: int) -> Component:
    where = f"components[{index}]"
    if type(value) is not dict:
        raise ValueError(f"{where} is {json_type_name(value)}, not an object")
    unknown = value.keys() - _COMPONENT_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown key {sorted(unknown)[0]!r}")
    name, amount = value.get("name"), value.get("amount")
    if type(name) is not str:
        raise ValueError(f"{where}.name is {json_type_name(name)}, not a string")
    if type(amount) is not int:
        raise ValueError(f"{where}.amount is {json_type_name(amount)}, not an integer")
    component = Component(name, amount)
    scores = value.get("scores")
    if scores is None:
        return component
    if type(scores) is not list:
        raise ValueError(f"{where}.scores is {json_type_name(scores)}, not an array")
    for position, score in enumerate(scores):
        at = f"{where}.scores[{position}]"
        if type(score) is not dict:
            raise ValueError(f"{at} is {json_type_name(score)}, not an object")
        unknown = score.keys() - _SCORE_KEYS
        if unknown:
            raise ValueError(f"{at} has unknown key {sorted(unknown)[0]!r}")
        score_name, score_value = score.get("name"), score.get("value")
        if type(score_name) is not str:
            raise ValueError(f"{at}.name is {json_type_name(score_name)}, not a string")
        if not isinstance(score_value, int | float) or isinstance(score_value, bool):
            raise ValueError(f"{at}.value is {json_type_name(score_value)}, not a number")
        component.with_score(Score(score_name, score_value))
    return component


def record_from_json(obj: object) -> Record:
    """Build and fully validate a :class:`~pyauditor.Record` from one decoded JSON object.

    Raises:
        ValueError: the object is not a valid record (:class:`~pyauditor.ValidationError`
            for a broken naming rule); the message says what is wrong.
    """
    if type(obj) is not dict:
        raise ValueError(f"expected a record object, got {json_type_name(obj)}")
    unknown = obj.keys() - _KNOWN_KEYS
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (a record has {', '.join(_KEYS)})")
    record_id = obj.get("record_id")
    if type(record_id) is not str:
        raise ValueError(f"record_id is {json_type_name(record_id)}, not a string")
    start = _time(obj, "start_time")
    if start is None:
        raise ValueError("start_time is missing")
    record = Record(record_id, start)
    stop = _time(obj, "stop_time")
    if stop is not None:
        record.with_stop_time(stop)
    meta = obj.get("meta")
    if meta is not None:
        record.with_meta(_meta(meta))
    components = obj.get("components")
    if components is not None:
        if type(components) is not list:
            raise ValueError(f"components is {json_type_name(components)}, not an array")
        for index, component in enumerate(components):
            record.with_component(_component(component, index))
    runtime = obj.get("runtime")
    if runtime is not None and type(runtime) is not int:
        raise ValueError(f"runtime is {json_type_name(runtime)}, not an integer or null")
    return record


def _convert(value: object, where: str) -> InputRecord | InputProblem:
    record_id = value.get("record_id") if type(value) is dict else None
    label = f"{where} ({record_id!r})" if type(record_id) is str else where
    try:
        record = record_from_json(value)
        wire = record_wire_json(record)
    except ValidationError as error:
        return InputProblem(label, str(error))
    except (TypeError, ValueError, OverflowError) as error:
        return InputProblem(label, str(error) or type(error).__name__)
    start = record.start_time
    assert start is not None  # record_from_json requires it
    return InputRecord(label, record.record_id, start.replace(tzinfo=_dt.UTC), wire)


@attrs.define
class Position:
    """How far reading has got, for the progress display."""

    bytes_read: int = 0


def read_records(
    stream: BinaryIO, name: str, position: Position | None = None
) -> Iterator[InputRecord | InputProblem]:
    """Yield every record of ``stream`` (checked and ready to send) or why a value is not one.

    Reading goes on after an invalid record.  Broken JSON ends the file: a problem with
    ``fatal=True`` is yielded last, and the values before it have been yielded.
    ``position.bytes_read`` follows the bytes consumed.
    """
    decoder: ObjectStreamDecoder[tuple[object, int, int]] = ObjectStreamDecoder(
        lambda value, _text, index, offset: (value, index, offset)
    )
    position = position if position is not None else Position()
    try:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            position.bytes_read += len(chunk)
            for value, index, _offset in decoder.feed(chunk):
                yield _convert(value, f"{name} record {index + 1}")
        for value, index, _offset in decoder.finish():
            yield _convert(value, f"{name} record {index + 1}")
    except StreamDecodeError as error:
        # The decoder's message describes an HTTP body; say it in terms of the file.
        reason = str(error).split(": ", 2)[-1]
        yield InputProblem(
            f"{name} record {error.index + 1} (byte {error.offset})",
            f"not valid JSON, the rest of the file was not read: {reason}",
            fatal=True,
        )
