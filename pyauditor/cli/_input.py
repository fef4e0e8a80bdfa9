"""Records from JSON files for ``pyauditor send``: reading, decoding and validating them.

Input
    A file (or stdin) holds JSON objects, one record each, in any of the layouts collectors and
    tools write: a JSON array (``[{...}, {...}]``), newline-delimited JSON (one object per
    line), or objects one after the other, pretty-printed or not (what ``jq`` prints).  The
    layout is recognised by :func:`pyauditor.jsonstream.iter_json_values`, which reads the
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
:class:`~pyauditor.Meta`, :class:`~pyauditor.Component`, :class:`~pyauditor.Score`) and
checked with :meth:`~pyauditor.Record.validate`, so it is checked by exactly the rules a
collector's records are checked by, with the same messages.  A record that stops before it
starts is valid for AUDITOR (it stores a negative runtime), so it is read, and marked for
``send`` to warn about or refuse.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

import attrs

from .. import Component, Meta, Record, Score, StreamDecodeError, ValidationError
from ..jsonstream import iter_json_values
from ._common import cli_words

__all__ = ["InputProblem", "ParsedRecord", "read_records", "record_from_json"]

_CHUNK = 256 * 1024
_KEYS = ("record_id", "start_time", "stop_time", "meta", "components", "runtime")
_KNOWN_KEYS = frozenset(_KEYS)
_COMPONENT_KEYS = frozenset(("name", "amount", "scores"))
_SCORE_KEYS = frozenset(("name", "value"))


class ParsedRecord(NamedTuple):
    """A valid record read from the input.

    Attributes:
        where: Where it came from, for messages (``file.ndjson record 17 ('job-1')``).
        record: The record, validated.
        value: The JSON object it was read from (for ``send --errors``).
        stops_before_start: Its stop time is before its start time (a negative runtime).
    """

    where: str
    record: Record
    value: object
    stops_before_start: bool = False


class InputProblem(NamedTuple):
    """A value of the input that is not a valid record, and why.

    Attributes:
        where: Where it came from, for messages.
        reason: One line saying what is wrong.
        fatal: True when the rest of the file could not be read after it (broken JSON).
        value: The JSON value as read, if it could be read (for ``send --errors``).
    """

    where: str
    reason: str
    fatal: bool = False
    value: object = None


def json_type_name(value: object) -> str:
    """How a decoded JSON value is called in messages: "a string", "null", ..."""
    if value is None:
        return "null"
    names = ((bool, "a boolean"), (int | float, "a number"), (str, "a string"))
    for kind, name in (*names, (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _time(obj: dict[str, Any], key: str) -> _dt.datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise ValueError(f"{key} is {json_type_name(value)}, not an RFC 3339 timestamp string")
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    # fromisoformat also reads bare dates, week dates and times without an offset; a record's
    # timestamps are RFC 3339 date-times, and without an offset their instant is unknown.
    if parsed is None or parsed.tzinfo is None or len(value) < 19 or value[10] not in "Tt ":
        raise ValueError(
            f"{key} {value!r} is not an RFC 3339 timestamp with an offset "
            "(for example 2024-05-01T10:00:00Z)"
        )
    return parsed


def _meta(value: object) -> Meta:
    if type(value) is not dict:
        raise ValueError(f"meta is {json_type_name(value)}, not an object of string arrays")
    meta = Meta()
    for key, values in value.items():
        if type(values) is not list or any(type(item) is not str for item in values):
            raise ValueError(f"meta[{key!r}] must be an array of strings")
        meta.insert(key, values)
    return meta


def _object(value: object, where: str, keys: frozenset[str] | set[str]) -> dict[str, Any]:
    """``value`` as a JSON object with no keys but ``keys``; ``where`` names it in errors."""
    if type(value) is not dict:
        raise ValueError(f"{where} is {json_type_name(value)}, not an object")
    unknown = value.keys() - keys
    if unknown:
        raise ValueError(f"{where} has unknown key {sorted(unknown)[0]!r}")
    return value


def _name(value: object, where: str) -> str:
    if type(value) is not str:
        raise ValueError(f"{where}.name is {json_type_name(value)}, not a string")
    return value


def _component(value: object, index: int) -> Component:
    where = f"components[{index}]"
    fields = _object(value, where, _COMPONENT_KEYS)
    name, amount = _name(fields.get("name"), where), fields.get("amount")
    if type(amount) is not int:
        raise ValueError(f"{where}.amount is {json_type_name(amount)}, not an integer")
    component = Component(name, amount)
    scores = fields.get("scores")
    if scores is None:
        return component
    if type(scores) is not list:
        raise ValueError(f"{where}.scores is {json_type_name(scores)}, not an array")
    for position, score in enumerate(scores):
        at = f"{where}.scores[{position}]"
        score_fields = _object(score, at, _SCORE_KEYS)
        score_name, score_value = _name(score_fields.get("name"), at), score_fields.get("value")
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


def _convert(value: object, where: str) -> ParsedRecord | InputProblem:
    record_id = value.get("record_id") if type(value) is dict else None
    label = f"{where} ({record_id!r})" if type(record_id) is str else where
    try:
        record = record_from_json(value).validate()
    except ValidationError as error:
        return InputProblem(label, cli_words(str(error)), value=value)
    except (TypeError, ValueError, OverflowError) as error:
        return InputProblem(label, str(error) or type(error).__name__, value=value)
    start, stop = record.start_time, record.stop_time
    backwards = start is not None and stop is not None and stop < start
    return ParsedRecord(label, record, value, backwards)


@attrs.define
class Position:
    """How far reading has got, for the progress display.

    Attributes:
        bytes_read: Bytes of the current file up to the start of the last value read.
        values: Values read from the current file.
    """

    bytes_read: int = 0
    values: int = 0


def read_records(
    stream: BinaryIO, name: str, position: Position | None = None
) -> Iterator[ParsedRecord | InputProblem]:
    """Yield every record of ``stream`` (checked) or why a value is not one.

    Reading goes on after an invalid record.  Broken JSON ends the file: a problem with
    ``fatal=True`` is yielded last, and the values before it have been yielded.
    ``position`` follows how far reading has got.
    """
    position = position if position is not None else Position()
    consumed = 0

    def chunks() -> Iterator[bytes]:
        nonlocal consumed
        while chunk := stream.read(_CHUNK):
            consumed += len(chunk)
            yield chunk

    try:
        for item in iter_json_values(chunks()):
            position.bytes_read = item.offset
            position.values = item.position + 1
            yield _convert(item.value, f"{name} record {item.position + 1}")
        position.bytes_read = consumed
    except StreamDecodeError as error:
        # The decoder's message describes an HTTP body; say it in terms of the file.
        reason = str(error).split(": ", 2)[-1]
        yield InputProblem(
            f"{name} record {error.index + 1} (byte {error.offset})",
            f"not valid JSON, the rest of the file was not read: {reason}",
            fatal=True,
        )
