"""Records and their parts: :class:`Record`, :class:`Meta`, :class:`Component`, :class:`Score`.

Internal representation
    A record keeps its meta and components as **JSON text**, rendered when they are attached
    (or received): the meta in insertion order and with sorted keys, the components as two JSON
    arrays, one in wire key order (``name, amount, scores``) and one in ``to_json`` key order
    (``amount, name, scores``).  Then

    * a request body is a few string concatenations per record, ``to_json`` one f-string;
    * a record holds nothing but strings, numbers and datetimes, so the cyclic garbage
      collector never has to scan it (a program holding 100k records built from dicts and
      lists spends more time in the GC than in building them);
    * copying is free: strings are immutable, so a record never shares anything mutable with
      the Meta or Component it was given, nor with what its getters return, which decode the
      text into new Meta/Component/Score objects.

    Timestamps are datetimes in UTC (``tzinfo`` is ``datetime.UTC``); the getters return naive
    UTC wall time, as python-auditor does.

The request-body builders at the end of this module are what the clients send.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, final

from ._errors import StreamDecodeError, ValidationError
from ._json import dumps, dumps_sorted, encode_string, format_float, json_type_name
from ._stream import ObjectStreamDecoder, Shortcut, _scan_once
from ._time import UTC, drop_zone, format_z, parse_response_timestamp_utc, to_utc
from ._validation import (
    KNOWN_PLAIN,
    MAX_AMOUNT,
    PLAIN_NAME,
    check_amount,
    check_meta,
    check_name,
    check_score_value,
    check_str,
    check_str_list,
    describe,
    is_plain,
    type_error,
)

__all__ = [
    "RECORD_SHORTCUT",
    "Component",
    "Meta",
    "Record",
    "Score",
    "record_add_body",
    "record_from_match",
    "record_from_server",
    "record_from_stream",
    "record_stream_decoder",
    "record_update_body",
    "record_wire",
    "record_wire_json",
    "records_bulk_body",
    "records_wire_json",
]

_datetime = _dt.datetime
_plain = PLAIN_NAME.fullmatch
_known = KNOWN_PLAIN
_loads = json.loads


def _parse(text: str) -> Any:
    """Parse a text known to hold exactly one valid JSON value.

    For the texts this module renders itself and record texts the stream decoder checked:
    the C scanner alone, without json.loads's two Python-level calls and its regex for
    trailing whitespace, which cost more than parsing a small meta or score array.
    """
    return _scan_once(text, 0)[0]


# What the getters decode, by text.  A result of many records repeats a few metas (one per
# user and site) and components (one per node type), and with_meta shares one text between
# equal metas (see _meta_texts_of), so lookups mostly hit and hash nothing (a str caches its
# hash).  Values are immutable (tuples, Scores): the getters build new objects from them.
_GETTER_CACHE_SIZE = 1024
_CACHED_TEXT_CHARS = 4096  # longer texts are not worth pinning in memory
_V = TypeVar("_V")


def _remember(cache: dict[str, _V], text: str, value: _V) -> _V:
    if len(text) <= _CACHED_TEXT_CHARS:
        if len(cache) >= _GETTER_CACHE_SIZE:
            cache.clear()
        cache[text] = value
    return value


# python-auditor compares score values with f64::EPSILON tolerances (see Score.__eq__).
_EPSILON = 2.220446049250313e-16
_SQRT_EPSILON = math.sqrt(_EPSILON)
_INF = math.inf
_OUT_OF_RANGE_YEAR = re.compile(r"[+-]\d{4,}-|0000-").match

# A meta JSON text in which every key and value is a plain name (see _validation.PLAIN_NAME)
# is valid under every rule; one regex over the text then replaces decoding it at send time.
_N = r"\"[!#-'*-.0-;=?-\[\]-z|~]{1,256}\""
_PLAIN_META = re.compile(
    rf"\{{(?:{_N}:\[(?:{_N}(?:,{_N})*)?\](?:,{_N}:\[(?:{_N}(?:,{_N})*)?\])*)?\}}"
).fullmatch


def _no_subclass(name: str) -> NoReturn:
    # Internals rely on exact types (fast ``type(x) is`` checks), and python-auditor's classes
    # cannot be subclassed either.
    raise TypeError(f"type '{name}' is not an acceptable base type")


# Score values repeat a lot (one HEPSPEC06 figure per machine type), and formatting a float
# costs more than the rest of a Score.  Zero is left out: 0.0 and -0.0 are equal dict keys.
_float_texts: dict[float, str] = {}


def _float_text(value: float) -> str:
    text = _float_texts.get(value)
    if text is not None and value:
        return text
    # Score values are finite and >= 0 here: repr is serde_json's text outside [1e-9, 1e-4).
    text = format_float(value) if 1e-9 <= value < 1e-4 else float.__repr__(value)
    if len(_float_texts) >= 4096:
        _float_texts.clear()
    _float_texts[value] = text
    return text


# Whole score texts, for the same reason; mostly a help when records come from a server, where
# every record of a node type carries the same scores.
_score_texts: dict[tuple[str, float], str] = {}


def _score_json(name: str, value: float) -> str:
    key = (name, value)
    text = _score_texts.get(key)
    if text is None or not value:
        text = f'{{"name":{encode_string(name)},"value":{_float_text(value)}}}'
        if len(_score_texts) >= 4096:
            _score_texts.clear()
        _score_texts[key] = text
    return text


_new = object.__new__
_score_parts: dict[str, tuple[tuple[str, float, str], ...]] = {}
_component_parts: dict[str, tuple[tuple[str, int, str], ...]] = {}
_meta_data: dict[str, dict[str, tuple[str, ...]]] = {}


def _close(a: float, b: float) -> bool:
    difference = abs(a - b)
    return difference < _EPSILON or difference < max(abs(a), abs(b)) * _SQRT_EPSILON


def _component_dicts_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["name"] != b["name"] or a["amount"] != b["amount"]:
        return False
    x, y = a["scores"], b["scores"]
    if len(x) != len(y):
        return False
    return all(
        s["name"] == t["name"] and _close(s["value"], t["value"]) for s, t in zip(x, y, strict=True)
    )


def _runtime(start: _dt.datetime, stop: _dt.datetime) -> int:
    delta = stop - start
    seconds = delta.days * 86400 + delta.seconds
    # timedelta floors toward -inf; AUDITOR (chrono num_seconds) truncates toward zero.
    if seconds < 0 and delta.microseconds:
        seconds += 1
    return seconds


@final
class Score:
    """A named performance figure of a :class:`Component`, e.g. its HEPSPEC06 value.

    Scores relate components of the same kind to each other: for CPUs, the HEPSPEC06 score of
    the machine a job ran on.  A score is immutable.

    Args:
        name: The score's name, e.g. ``"HEPSPEC06"``.  Not blank, at most 256 characters, none
            of ``/ ( ) " < > \\ { }`` (see :func:`pyauditor.allow_forbidden_characters`).
        value: A finite number ``>= 0``; anything :class:`float` accepts except a string (int,
            ``Decimal``, ``Fraction``, ...).  Stored as a float.

    Raises:
        ValidationError: the name or value breaks a rule (NaN and infinity included, which
            python-auditor would silently send as ``null``).
        TypeError: ``name`` is not a str or ``value`` is not a real number.
        OverflowError: ``value`` is an int too large for a float.

    Example::

        score = Score("HEPSPEC06", 9.2)
        Component("cpu", 8).with_score(score)

    Equality: names equal and values equal within a relative tolerance of about 1.5e-8
    (python-auditor's rule: a record fetched back from a server compares equal to the one that
    was sent even if a float lost its last bits on the way).  Scores are unhashable.
    """

    __slots__ = ("_json", "_name", "_value")
    _name: str
    _value: float
    _json: str

    def __init__(self, name: str, value: float) -> None:
        if type(name) is not str or (name not in _known and not is_plain(name)):
            name = check_name(name, "score name")
        if type(value) is not float or not 0.0 <= value < _INF:
            value = check_score_value(value)
        self._name = name
        self._value = value
        text = _float_texts.get(value)
        if text is None or not value:
            text = _float_text(value)
        self._json = f'{{"name":{encode_string(name)},"value":{text}}}'

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Score")

    @classmethod
    def _wrap(cls, name: str, value: float) -> Score:
        score = object.__new__(cls)
        score._name = name
        score._value = value
        score._json = _score_json(name, value)
        return score

    @classmethod
    def _make(cls, name: str, value: float, json_text: str) -> Score:
        score = _new(cls)
        score._name = name
        score._value = value
        score._json = json_text
        return score

    @property
    def name(self) -> str:
        """The score's name."""
        return self._name

    @property
    def value(self) -> float:
        """The score's value (a float)."""
        return self._value

    def __eq__(self, other: object) -> bool:
        if type(other) is not Score:
            return NotImplemented
        return self._name == other._name and _close(self._value, other._value)

    def __ne__(self, other: object) -> bool:
        if type(other) is not Score:
            return NotImplemented
        return not (self._name == other._name and _close(self._value, other._value))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Score(name={self._name!r}, value={self._value!r})"

    def __copy__(self) -> Score:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Score:
        return self


@final
class Component:
    """One accounted component of a record: CPU cores, memory, disk, GPUs, ...

    A component has a ``name``, an ``amount`` (how many or how much was used) and any number of
    :class:`Score` objects.

    Args:
        name: The component's name, e.g. ``"cpu"``.  Not blank, at most 256 characters, none of
            ``/ ( ) " < > \\ { }`` (see :func:`pyauditor.allow_forbidden_characters`).
        amount: An integer from 0 to 2**63-1.

    Raises:
        ValidationError: the name is invalid or the amount is negative.
        TypeError: ``name`` is not a str or ``amount`` is not an integer.
        OverflowError: ``amount`` is 2**63 or larger.

    Example::

        cpu = Component("cpu", 8).with_score(Score("HEPSPEC06", 9.2))
        record.with_component(cpu)

    Equality compares name, amount and the scores in order.  Components are unhashable.
    """

    __slots__ = ("_amount", "_name", "_scores")
    _name: str
    _amount: int
    # The scores as a JSON array (score keys are in the same order on the wire and in to_json).
    _scores: str

    def __init__(self, name: str, amount: int) -> None:
        if type(name) is not str or (name not in _known and not is_plain(name)):
            name = check_name(name, "component name")
        if type(amount) is not int or not 0 <= amount <= MAX_AMOUNT:
            amount = check_amount(amount)
        self._name = name
        self._amount = amount
        self._scores = "[]"

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Component")

    @classmethod
    def _make(cls, name: str, amount: int, scores: str) -> Component:
        component = _new(cls)
        component._name = name
        component._amount = amount
        component._scores = scores
        return component

    @classmethod
    def _wrap(cls, wire: dict[str, Any]) -> Component:
        component = object.__new__(cls)
        component._name = wire["name"]
        component._amount = wire["amount"]
        scores = ",".join([_score_json(s["name"], s["value"]) for s in wire["scores"]])
        component._scores = f"[{scores}]"
        return component

    def _dict(self) -> dict[str, Any]:
        return {"name": self._name, "amount": self._amount, "scores": _parse(self._scores)}

    def with_score(self, score: Score) -> Component:
        """Attach a score to the component and return the component itself (not a copy).

        Call it several times to attach several scores; their order is kept.

        Args:
            score: The score to attach (scores are immutable, so nothing needs copying).

        Example::

            Component("cpu", 8).with_score(Score("HEPSPEC06", 9.2)).with_score(Score("HS23", 10.1))
        """
        if type(score) is not Score:
            raise type_error(score, "Score")
        scores = self._scores
        if scores == "[]":
            self._scores = f"[{score._json}]"
        else:
            self._scores = f"{scores[:-1]},{score._json}]"
        return self

    @property
    def name(self) -> str:
        """The component's name."""
        return self._name

    @property
    def amount(self) -> int:
        """The component's amount."""
        return self._amount

    @property
    def scores(self) -> list[Score]:
        """A new list of the component's scores, in the order they were attached."""
        text = self._scores
        if text == "[]":
            return []
        parts = _score_parts.get(text)
        if parts is None:
            parts = _remember(
                _score_parts,
                text,
                tuple(
                    [
                        (s["name"], s["value"], _score_json(s["name"], s["value"]))
                        for s in _parse(text)
                    ]
                ),
            )
        make = Score._make
        return [make(name, value, json_text) for name, value, json_text in parts]

    def __eq__(self, other: object) -> bool:
        if type(other) is not Component:
            return NotImplemented
        if self._name != other._name or self._amount != other._amount:
            return False
        return self._scores == other._scores or _component_dicts_equal(self._dict(), other._dict())

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Component(name={self._name!r}, amount={self._amount!r}, scores={self.scores!r})"

    def __copy__(self) -> Component:
        copy = object.__new__(Component)
        copy._name = self._name
        copy._amount = self._amount
        copy._scores = self._scores
        return copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Component:
        return self.__copy__()


def _meta_string(value: object, field: str) -> str:
    # Only the type and lone surrogates are checked when meta is built (python-auditor cannot
    # even accept a surrogate); the name rules apply when the record is sent, as there.
    text = check_str(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            check_name(text, field)  # raises, naming the lone surrogate
    return text


# Meta texts by content.  Collectors attach the same meta (site, group, queue) to many
# records, usually building a new Meta each time; rendering is the most expensive part of
# with_meta, so equal contents share one text.
_meta_texts: dict[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, str]] = {}


def _meta_texts_of(data: dict[str, tuple[str, ...]]) -> tuple[str, str]:
    """The meta's JSON in insertion order (request bodies) and with sorted keys (to_json)."""
    if len(data) > 16:
        # Not worth remembering (and not worth pinning in memory).
        return _render_meta(data)
    key = tuple(data.items())
    texts = _meta_texts.get(key)
    if texts is None:
        if len(_meta_texts) >= 1024:
            _meta_texts.clear()
        texts = _meta_texts[key] = _render_meta(data)
    return texts


def _render_meta(data: dict[str, tuple[str, ...]]) -> tuple[str, str]:
    wire = dumps(data)
    return wire, wire if len(data) < 2 else dumps_sorted(data)


@final
class Meta:
    """Free-form metadata of a record: a mapping of names to lists of names.

    Typical keys are ``site_id``, ``user_id``, ``group_id`` or ``queue``.  Lists keep their
    order and may be empty or hold duplicates.

    Keys and values are checked when the record is sent or queued (as python-auditor does), and
    by :meth:`Record.validate`: not blank, at most 256 characters, none of
    ``/ ( ) " < > \\ { }`` (see :func:`pyauditor.allow_forbidden_characters`).

    Example::

        meta = Meta().insert("site_id", ["site1"]).insert("group_id", ["atlas", "atlas-prod"])
        record.with_meta(meta)
        meta.get("site_id")        # ['site1']
        meta.get("missing")        # None

    Equality ignores the order of keys and respects the order of each key's values.  Meta is
    unhashable.  Like python-auditor's Meta it has no ``len()`` (an empty Meta is truthy, so
    ``if record.meta:`` still means "has meta"); use :meth:`to_dict` to inspect it.
    """

    __slots__ = ("_d",)
    # Tuples, so the content can key the text cache (and nothing can change them in place).
    _d: dict[str, tuple[str, ...]]

    def __init__(self) -> None:
        self._d = {}

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Meta")

    @classmethod
    def _wrap(cls, data: Mapping[str, Sequence[str]]) -> Meta:
        meta = object.__new__(cls)
        meta._d = {key: tuple(values) for key, values in data.items()}
        return meta

    def insert(self, key: str, value: list[str]) -> Meta:
        """Set ``key`` to the list ``value`` (replacing an earlier one) and return this Meta.

        The list is copied, so changing it afterwards does not change the Meta.

        Args:
            key: The key.
            value: A list or tuple of str.  A bare ``str`` is rejected, as in python-auditor,
                because it would be taken for a list of its characters: write ``["site1"]``.

        Raises:
            TypeError: ``key`` is not a str, ``value`` is not a sequence of str.
            ValidationError: a string contains a lone surrogate (it could never be sent).

        Example::

            Meta().insert("site_id", ["site1"])
        """
        if type(key) is not str or not key.isascii():
            key = _meta_string(key, "meta key")
        if type(value) is list or type(value) is tuple:  # type: ignore[comparison-overlap]
            values = tuple(value)
            for item in values:
                if type(item) is not str or not item.isascii():
                    values = tuple([_meta_string(item, "meta value") for item in values])
                    break
        else:
            values = tuple([_meta_string(item, "meta value") for item in check_str_list(value)])
        self._d[key] = values
        return self

    def get(self, key: str) -> list[str] | None:
        """Return a copy of the list stored under ``key``, or ``None`` if there is none.

        Example::

            Meta().insert("site_id", ["site1"]).get("site_id")   # ['site1']
        """
        if type(key) is not str:
            key = check_str(key)
        values = self._d.get(key)
        return None if values is None else list(values)

    def to_dict(self) -> dict[str, list[str]]:
        """Return a new ``dict`` of every key and (a copy of) its list, in insertion order."""
        return {key: list(values) for key, values in self._d.items()}

    def __eq__(self, other: object) -> bool:
        if type(other) is not Meta:
            return NotImplemented
        return self._d == other._d

    def __ne__(self, other: object) -> bool:
        if type(other) is not Meta:
            return NotImplemented
        return self._d != other._d

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Meta({self.to_dict()!r})"

    def __copy__(self) -> Meta:
        copy = object.__new__(Meta)
        copy._d = self._d.copy()
        return copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Meta:
        return self.__copy__()


@final
class Record:
    """A single accountable unit: one batch job, one VM, one pilot, ...

    A record has a unique ``record_id``, a ``start_time``, optionally a ``stop_time`` (added with
    :meth:`with_stop_time`), :class:`Meta` data (:meth:`with_meta`) and any number of
    :class:`Component` objects (:meth:`with_component`).  Every ``with_*`` method changes the
    record and returns it, so calls can be chained; arguments are copied, so changing a Meta or
    Component afterwards does not change the record, and getters return copies.

    Args:
        record_id: Uniquely identifies the record.  Not blank, at most 256 characters, none of
            ``/ ( ) " < > \\ { }`` (see :func:`pyauditor.allow_forbidden_characters`).
        start_time: When the resource became available: a timezone-aware datetime.  Any zone
            is converted to UTC; a naive datetime is rejected, because it is ambiguous.

    Raises:
        ValidationError: the record id breaks a rule.
        TypeError: ``record_id`` is not a str, ``start_time`` is not an aware datetime.

    Example::

        import datetime
        from pyauditor import Component, Meta, Record, Score

        start = datetime.datetime(2022, 8, 8, 11, 30, tzinfo=datetime.timezone.utc)
        record = (
            Record("job-4711", start)
            .with_meta(Meta().insert("site_id", ["site1"]))
            .with_component(Component("cpu", 8).with_score(Score("HEPSPEC06", 9.2)))
            .with_stop_time(start + datetime.timedelta(hours=2))
        )
        record.runtime      # 7200

    A constructed record is valid for AUDITOR except possibly its meta, which is checked when
    the record is sent or queued (or by :meth:`validate`).

    Equality compares every field, ``runtime`` included; meta as a mapping, components in
    order, score values with a small relative tolerance (see :class:`Score`).  A record whose
    meta is an empty Meta differs from one without meta.  Records are unhashable.
    """

    __slots__ = (
        "_comps",
        "_comps_sorted",
        "_id",
        "_local",
        "_meta",
        "_meta_sorted",
        "_offset",
        "_position",
        "_raw",
        "_runtime",
        "_start",
        "_stop",
    )
    _id: str
    _start: _dt.datetime | None
    _stop: _dt.datetime | None
    _runtime: int | None
    # The meta's JSON in insertion order (request bodies) and with sorted keys (to_json).
    _meta: str | None
    _meta_sorted: str | None
    # The components' JSON arrays in wire and in to_json key order; None for a server row
    # without components.
    _comps: str | None
    _comps_sorted: str | None
    # True if record_id and components were checked here rather than received from a server.
    _local: bool
    # A record received in a GET /records stream keeps its text, and its position and byte
    # offset in the stream for error messages, and leaves the other fields unset until one is
    # first read; see __getattr__.  _raw is None once decoded, and for every other record (which
    # never set _position and _offset).  Separate slots rather than one tuple: a tuple per record
    # is a second container for the cyclic GC to count, which doubled its collections in get().
    _raw: str | None
    _position: int
    _offset: int

    def __init__(self, record_id: str, start_time: _dt.datetime) -> None:
        # Record ids are unique, so they are not remembered like other names.
        if type(record_id) is not str or _plain(record_id) is None:
            record_id = check_name(record_id, "record_id")
        if start_time.__class__ is not _datetime or start_time.tzinfo is not UTC:
            start_time = to_utc(start_time, "start_time")
        self._id = record_id
        self._start = start_time
        self._stop = None
        self._runtime = None
        self._meta = None
        self._meta_sorted = None
        self._comps = "[]"
        self._comps_sorted = "[]"
        self._local = True
        self._raw = None

    if not TYPE_CHECKING:  # a visible __getattr__ would let type checkers accept any name

        def __getattr__(self, name: str) -> Any:
            return self._lazy_field(name)

    def _lazy_field(self, name: str) -> Any:
        # Only reached for a slot that is not set: the fields of a record received in a stream
        # before their first use.  Decoding them lazily is what lets get() hand out 100k records
        # at about the cost of checking their JSON syntax (which happened then, see
        # RECORD_SHORTCUT); a malformed field surfaces here, naming the record's place in the
        # stream.
        if name in _LAZY_FIELDS and self._raw is not None:
            self._decode()
            return object.__getattribute__(self, name)
        raise AttributeError(f"'Record' object has no attribute {name!r}")

    def _decode(self) -> None:
        text: str = self._raw  # type: ignore[assignment]
        try:
            parts = _SERVER_RECORD_PARTS.fullmatch(text)
            if parts is not None:
                _fill_from_parts(self, parts)
            else:
                # The stream decoder parsed this text once already: it is one JSON value.
                _fill_from_server(self, _parse(text))
        except (TypeError, ValueError) as error:
            position = self._position
            offset = self._offset
            raise StreamDecodeError(
                f"malformed GET /records body: record #{position} at byte {offset}: {error}",
                index=position,
                offset=offset,
                body=text[:120],
            ) from None
        self._raw = None

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Record")

    @classmethod
    def _from_server(cls, obj: object) -> Record:
        """Wrap one record object decoded from a server response; see :func:`record_from_server`."""
        return record_from_server(obj)

    def _meta_dict(self) -> dict[str, list[str]] | None:
        meta = self._meta
        return None if meta is None else _parse(meta)

    def _component_dicts(self) -> list[dict[str, Any]] | None:
        components = self._comps
        return None if components is None else _parse(components)

    def _wire_json(self, update: bool) -> str:
        """Validate the record for sending and return its request JSON object."""
        meta = self._meta
        if not self._local:
            # Received from a server: its names were never checked against this client's rules.
            self.validate()
        elif meta is not None and _PLAIN_META(meta) is None:
            check_meta(_loads(meta))
        start = self._start
        stop = self._stop
        if update:
            if stop is None:
                rule = "update() sends the stop time; set it with with_stop_time()"
                raise ValidationError(
                    f"record {describe(self._id)} has no stop_time: {rule}",
                    field="stop_time",
                    value=None,
                    rule=rule,
                )
        elif start is None:
            raise _no_start(self._id)
        start_text = "null" if start is None else '"' + format_z(start) + '"'
        stop_text = "null" if stop is None else '"' + format_z(stop) + '"'
        return (
            f'{{"record_id":{encode_string(self._id)},"meta":{meta or "null"},'
            f'"components":{self._comps or "[]"},'
            f'"start_time":{start_text},"stop_time":{stop_text}}}'
        )

    def with_meta(self, meta: Meta) -> Record:
        """Set the record's meta data (replacing earlier meta) and return the record itself.

        The Meta is copied: inserting into it afterwards does not change the record.

        Args:
            meta: The meta data.

        Example::

            record.with_meta(Meta().insert("site_id", ["site1"]))
        """
        if type(meta) is not Meta:
            raise type_error(meta, "Meta")
        self._meta, self._meta_sorted = _meta_texts_of(meta._d)
        return self

    def with_component(self, component: Component) -> Record:
        """Add a component and return the record itself.

        Call it once per component; their order is kept.  The component is copied: adding a
        score to it afterwards does not change the record.

        Args:
            component: The component to add.

        Example::

            record.with_component(Component("cpu", 8)).with_component(Component("memory", 16384))
        """
        if type(component) is not Component:
            raise type_error(component, "Component")
        name = encode_string(component._name)
        amount = component._amount
        scores = component._scores
        wire = self._comps
        if wire is None or wire == "[]":
            self._comps = f'[{{"name":{name},"amount":{amount},"scores":{scores}}}]'
            self._comps_sorted = f'[{{"amount":{amount},"name":{name},"scores":{scores}}}]'
        else:
            ordered: str = self._comps_sorted  # type: ignore[assignment]
            self._comps = f'{wire[:-1]},{{"name":{name},"amount":{amount},"scores":{scores}}}]'
            self._comps_sorted = (
                f'{ordered[:-1]},{{"amount":{amount},"name":{name},"scores":{scores}}}]'
            )
        return self

    def with_stop_time(self, stop_time: _dt.datetime) -> Record:
        """Set the stop time (replacing an earlier one) and return the record itself.

        Also sets :attr:`runtime` to the whole seconds from start to stop, truncated toward
        zero.  A stop time before the start time is accepted (the runtime is then negative), as
        AUDITOR accepts it.

        Args:
            stop_time: When the resource stopped being available: a timezone-aware datetime,
                converted to UTC.

        Raises:
            TypeError: ``stop_time`` is not an aware datetime.

        Example::

            record.with_stop_time(datetime.datetime.now(datetime.timezone.utc))
        """
        if stop_time.__class__ is not _datetime or stop_time.tzinfo is not UTC:
            stop_time = to_utc(stop_time, "stop_time")
        self._stop = stop_time
        start = self._start
        if start is not None:
            self._runtime = _runtime(start, stop_time)
        return self

    def to_json(self) -> str:
        """Return the record as a compact JSON string, byte-identical to python-auditor's.

        Keys are sorted at every level and always present (``null`` when unset); timestamps are
        UTC with ``Z``; floats are written as serde_json writes them.

        Example::

            Record("r1", start).to_json()
            # '{"components":[],"meta":null,"record_id":"r1","runtime":null,
            #   "start_time":"2022-08-08T11:30:00Z","stop_time":null}'   (one line)
        """
        start = self._start
        stop = self._stop
        runtime = self._runtime
        start_text = "null" if start is None else '"' + format_z(start) + '"'
        stop_text = "null" if stop is None else '"' + format_z(stop) + '"'
        return (
            f'{{"components":{self._comps_sorted or "null"},"meta":{self._meta_sorted or "null"},'
            f'"record_id":{encode_string(self._id)},'
            f'"runtime":{"null" if runtime is None else runtime},'
            f'"start_time":{start_text},"stop_time":{stop_text}}}'
        )

    def validate(self) -> Record:
        """Check the whole record under the current rules and return it.

        Checks what the server will check: the record id, every meta key and value, every
        component and score name, and that a start time is set.  A record built by its
        constructor is valid except possibly for its meta, and sending or queueing a record
        checks its meta anyway, so this is for finding a bad record before a batch is sent,
        or for re-checking after :func:`pyauditor.allow_forbidden_characters` changed the rule.

        Raises:
            ValidationError: the first rule broken, naming the field and the value.

        Example::

            Record("r1", start).with_meta(Meta().insert("site", [""])).validate()
            # ValidationError: meta value of key 'site' '' is empty: ...
        """
        check_name(self._id, "record_id")
        if self._start is None:
            raise _no_start(self._id)
        meta = self._meta_dict()
        if meta is not None:
            check_meta(meta)
        for component in self._component_dicts() or ():
            check_name(component["name"], "component name")
            for score in component["scores"]:
                check_name(score["name"], "score name")
        return self

    @property
    def record_id(self) -> str:
        """The record's id."""
        return self._id

    @property
    def meta(self) -> Meta | None:
        """A copy of the record's meta data, or ``None`` if none was set."""
        text = self._meta
        if text is None:
            return None
        data = _meta_data.get(text)
        if data is None:
            data = _remember(_meta_data, text, {k: tuple(v) for k, v in _parse(text).items()})
        meta = _new(Meta)
        meta._d = data.copy()  # the values are tuples: a shallow copy is a whole one
        return meta

    @property
    def components(self) -> list[Component] | None:
        """A new list of copies of the record's components (``[]`` if none were added).

        ``None`` only for a record received from a server that stored none (legacy rows).
        """
        text = self._comps
        if text is None:
            return None
        if text == "[]":
            return []
        parts = _component_parts.get(text)
        if parts is None:
            parts = _remember(
                _component_parts,
                text,
                tuple(
                    [(c._name, c._amount, c._scores) for c in map(Component._wrap, _parse(text))]
                ),
            )
        make = Component._make
        return [make(name, amount, scores) for name, amount, scores in parts]

    @property
    def start_time(self) -> _dt.datetime | None:
        """The start time as a *naive* datetime holding UTC wall time (as python-auditor).

        Attach the zone with ``record.start_time.replace(tzinfo=datetime.timezone.utc)``.
        ``None`` only for a record received from a server without one.
        """
        start = self._start
        return None if start is None else drop_zone(start)

    @property
    def stop_time(self) -> _dt.datetime | None:
        """The stop time as a naive UTC datetime, or ``None`` if it is not set."""
        stop = self._stop
        return None if stop is None else drop_zone(stop)

    @property
    def runtime(self) -> int | None:
        """Whole seconds from start to stop (truncated toward zero), ``None`` without a stop time.

        For a record received from a server this is the server's value.
        """
        return self._runtime

    def __eq__(self, other: object) -> bool:
        if type(other) is not Record:
            return NotImplemented
        if (
            self._id != other._id
            or self._start != other._start
            or self._stop != other._stop
            or self._runtime != other._runtime
        ):
            return False
        # Sorted texts are equal exactly when the contents are; only floats need a closer look.
        if self._meta_sorted != other._meta_sorted:
            return False
        if self._comps == other._comps:
            return True
        mine = self._component_dicts()
        theirs = other._component_dicts()
        if mine is None or theirs is None:
            return False
        return len(mine) == len(theirs) and all(
            _component_dicts_equal(a, b) for a, b in zip(mine, theirs, strict=True)
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Record(record_id={self._id!r}, start_time={self._start!r}, "
            f"stop_time={self._stop!r}, runtime={self._runtime!r}, "
            f"meta={self.meta!r}, components={self.components!r})"
        )

    def __copy__(self) -> Record:
        copy = object.__new__(Record)
        copy._id = self._id
        copy._start = self._start
        copy._stop = self._stop
        copy._runtime = self._runtime
        copy._meta = self._meta
        copy._meta_sorted = self._meta_sorted
        copy._comps = self._comps
        copy._comps_sorted = self._comps_sorted
        copy._local = self._local
        copy._raw = None
        return copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Record:
        return self.__copy__()


# ---------------------------------------------------------------------------------------------
# Records received from a server
# ---------------------------------------------------------------------------------------------


def _malformed(record_id: object, detail: str) -> str:
    who = f" {describe(record_id)}" if isinstance(record_id, str) else ""
    return f"malformed record{who} from the server: {detail}"


def _server_time(value: object, key: str, record_id: str) -> _dt.datetime | None:
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError(_malformed(record_id, f"{key} is {json_type_name(value)}, not a string"))
    try:
        return parse_response_timestamp_utc(value)
    except ValueError:
        if _OUT_OF_RANGE_YEAR(value):
            # PostgreSQL and chrono go beyond Python's datetime (years 1 to 9999).
            what = "has a year outside 1..9999, which Python's datetime cannot hold"
        else:
            what = "is not an RFC 3339 timestamp with an offset"
        raise ValueError(_malformed(record_id, f"{key} {describe(value)} {what}")) from None


def _server_meta(meta: object, record_id: str) -> dict[str, tuple[str, ...]]:
    if type(meta) is not dict:
        raise TypeError(_malformed(record_id, f"meta is {json_type_name(meta)}, not an object"))
    result = {}
    for key, values in meta.items():
        if type(key) is not str:
            raise TypeError(_malformed(record_id, f"meta key {key!r} is not a string"))
        if type(values) is not list:
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


def _bad_score(score: object, where: str, record_id: str) -> Exception:
    if type(score) is not dict:
        return TypeError(_malformed(record_id, f"{where} is {json_type_name(score)}"))
    name = score.get("name")
    if type(name) is not str:
        return TypeError(_malformed(record_id, f"{where}.name is {json_type_name(name)}"))
    value = score.get("value")
    if type(value) is not float and type(value) is not int:
        return TypeError(
            _malformed(record_id, f"{where}.value is {json_type_name(value)}, not a number")
        )
    return ValueError(_malformed(record_id, f"{where}.value {value!r} is not a finite number >= 0"))


def _bad_component(component: object, where: str, record_id: str) -> Exception:
    if type(component) is not dict:
        return TypeError(_malformed(record_id, f"{where} is {json_type_name(component)}"))
    name = component.get("name")
    if type(name) is not str:
        return TypeError(_malformed(record_id, f"{where}.name is {json_type_name(name)}"))
    amount = component.get("amount")
    if type(amount) is not int:
        return TypeError(
            _malformed(record_id, f"{where}.amount is {json_type_name(amount)}, not an integer")
        )
    if not 0 <= amount <= MAX_AMOUNT:
        return ValueError(
            _malformed(record_id, f"{where}.amount {amount} is outside 0..{MAX_AMOUNT}")
        )
    scores = component.get("scores")
    return TypeError(
        _malformed(record_id, f"{where}.scores is {json_type_name(scores)}, not an array")
    )


def _server_components(components: object, record_id: str) -> tuple[str, str]:
    """Check received components; return their JSON arrays in wire and in to_json key order."""
    if type(components) is not list:
        raise TypeError(
            _malformed(record_id, f"components is {json_type_name(components)}, not an array")
        )
    wire: list[str] = []
    ordered: list[str] = []
    # Rendered from the checked values only: unknown keys do not reach to_json() or request
    # bodies, and keys come out in AUDITOR's order whatever order the server used.  Error
    # context is only worked out once something is wrong.
    for component in components:
        if type(component) is not dict:
            raise _bad_component(component, f"components[{len(wire)}]", record_id)
        name = component.get("name")
        amount = component.get("amount")
        scores = component.get("scores")
        if scores is None:
            scores = ()
        if (
            type(name) is not str
            or type(amount) is not int
            or not 0 <= amount <= MAX_AMOUNT
            or (type(scores) is not list and scores != ())
        ):
            raise _bad_component(component, f"components[{len(wire)}]", record_id)
        texts: list[str] = []
        for score in scores:
            score_name = score.get("name") if type(score) is dict else None
            value = score.get("value") if type(score) is dict else None
            if type(value) is not float:
                # An integer value from a server is the float it stands for (10 is 10.0).
                value = float(value) if type(value) is int else None
            if type(score_name) is not str or value is None or not 0.0 <= value < _INF:
                where = f"components[{len(wire)}].scores[{len(texts)}]"
                raise _bad_score(score, where, record_id)
            texts.append(_score_json(score_name, value))
        name_json = encode_string(name)
        scores_json = "[" + ",".join(texts) + "]"
        wire.append(f'{{"name":{name_json},"amount":{amount},"scores":{scores_json}}}')
        ordered.append(f'{{"amount":{amount},"name":{name_json},"scores":{scores_json}}}')
    return f"[{','.join(wire)}]", f"[{','.join(ordered)}]"


def record_from_server(obj: object) -> Record:
    """Wrap one record object decoded from a server response (``json.loads`` output).

    Accepts what AUDITOR sends: an object with ``record_id``, ``meta``, ``components`` (``null``
    for legacy rows), ``start_time``, ``stop_time`` and ``runtime``.  Keys other than
    ``record_id`` may be missing (taken as ``null``, as python-auditor does); unknown keys are
    ignored.  Timestamps need an offset (``Z`` or ``+HH:MM``) and are converted to UTC.
    ``runtime`` is the server's value, even if it contradicts the timestamps.  Names are not
    checked against the client-side rules: the server already accepted them (sending such a
    record again checks them).

    ``obj`` is not changed, and the record keeps nothing of it but strings and numbers, so the
    parsed tree can be dropped at once.  Integer score values (``10``) become floats (``10.0``).

    Raises:
        TypeError: ``obj`` or one of its values has the wrong JSON type.
        ValueError: ``record_id`` is missing, a value is out of range (negative amount,
            negative or non-finite score value), or a timestamp is malformed or has no offset.
    """
    record = object.__new__(Record)
    _fill_from_server(record, obj)
    return record


_LAZY_FIELDS = frozenset(
    ("_start", "_stop", "_runtime", "_meta", "_meta_sorted", "_comps", "_comps_sorted", "_local")
)


def record_from_stream(value: object, text: str, position: int, offset: int) -> Record:
    """Wrap one value of a ``GET /records`` stream as a Record, decoding its fields lazily.

    The arguments are what :class:`~pyauditor._stream.ObjectStreamDecoder` hands its factory:
    the parsed value, the text it was parsed from, its position in the stream and its byte
    offset.  The value's JSON syntax is already checked; here it must be an object with a
    string ``record_id``.  The other fields are decoded from ``text`` when first read (see
    :meth:`Record._lazy_field`), and a malformed one raises :class:`StreamDecodeError` then.

    Raises:
        StreamDecodeError: the value is not an object with a string ``record_id``.
    """
    try:
        record_id = value["record_id"]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        record_id = None
    if record_id.__class__ is not str or value.__class__ is not dict:
        if type(value) is not dict:
            problem = f"expected a record object, got {json_type_name(value)}"
        elif "record_id" not in value:
            problem = "record_id is missing"
        else:
            problem = f"record_id is {json_type_name(record_id)}, not a string"
        raise StreamDecodeError(
            f"malformed GET /records body: record #{position} at byte {offset}: {problem}",
            index=position,
            offset=offset,
            body=text[:120],
        )
    record = _new_record(Record)
    record._id = record_id
    record._raw = text
    record._position = position
    record._offset = offset
    return record


_new_record = object.__new__


# A record exactly as AUDITOR's server writes it (serde_json, struct field order, no
# whitespace), for the stream decoder's shortcut: matching it checks the JSON syntax of a
# record at about twice the speed of the C scanner, because no dicts, lists, strings or floats
# are built for a record whose fields are decoded only when read.  Only valid JSON matches
# (a subset of the grammar: no whitespace, numbers within 19 digits, a record id without
# escapes), so a match means the scanner would have parsed the same text to an object with that
# string record id; everything else goes through the scanner.  Possessive quantifiers keep
# the regex engine from saving backtracking state it would never use (the grammar never needs
# to backtrack).
_S = r'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+"'
_UINT = r"(?:0|[1-9][0-9]{0,18}+)"
_NUMBER = _UINT + r"(?:\.[0-9]++)?+(?:[eE][-+]?[0-9]++)?+"
_LIST = rf"\[(?:{_S}(?:,{_S})*+)?+\]"
_SCORE = rf'\{{"name":{_S},"value":{_NUMBER}\}}'
_COMPONENT = rf'\{{"name":{_S},"amount":{_UINT},"scores":\[(?:{_SCORE}(?:,{_SCORE})*+)?+\]\}}'
_RECORD_LAYOUT = (
    r'\{"record_id":"([^"\\\x00-\x1f]*+)",'
    rf'"meta":(?:null|\{{(?:{_S}:{_LIST}(?:,{_S}:{_LIST})*+)?+\}}),'
    rf'"components":(?:null|\[(?:{_COMPONENT}(?:,{_COMPONENT})*+)?+\]),'
    rf'"start_time":(?:null|{_S}),"stop_time":(?:null|{_S}),"runtime":(?:null|-?{_UINT})\}}'
)
_SERVER_RECORD = re.compile(_RECORD_LAYOUT)
# The same layout with a group per field (id, meta, components, start, stop, runtime), for
# decoding a record's fields without parsing it (see _fill_from_parts).  Groups cost get() 4%,
# so the shortcut's pattern does without them.
_SERVER_RECORD_PARTS = re.compile(_RECORD_LAYOUT.replace(":(?:null|", ":(null|"))


def record_from_match(record_id: str, text: str, position: int, offset: int) -> Record:
    """:func:`record_from_stream` for a record :data:`RECORD_SHORTCUT` matched.

    The match proved the text an object with the string ``record_id`` (without escapes, so the
    matched characters are the id), so there is nothing left to check.
    """
    record = _new_record(Record)
    record._id = record_id
    record._raw = text
    record._position = position
    record._offset = offset
    return record


RECORD_SHORTCUT: Shortcut[Record] = Shortcut(_SERVER_RECORD, record_from_match)
"""The stream decoder's fast path for records in the AUDITOR server's own layout."""


def record_stream_decoder() -> ObjectStreamDecoder[Record]:
    """A decoder of ``GET /records`` bodies that hands out lazily decoded Records."""
    return ObjectStreamDecoder(record_from_stream, RECORD_SHORTCUT)


def _fill_from_server(record: Record, obj: object) -> None:
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
    if meta is None:
        record._meta = record._meta_sorted = None
    else:
        record._meta, record._meta_sorted = _meta_texts_of(_server_meta(meta, record_id))
    components = obj.get("components")
    if components is None:
        record._comps = record._comps_sorted = None
    else:
        record._comps, record._comps_sorted = _server_components(components, record_id)
    record._id = record_id
    record._start = _server_time(obj.get("start_time"), "start_time", record_id)
    record._stop = _server_time(obj.get("stop_time"), "stop_time", record_id)
    record._runtime = runtime
    record._local = False
    record._raw = None


# Received meta and components by their text in the record, to what _fill_from_server makes of
# them (it depends on nothing else); see _remember for why these hit.
_server_meta_texts: dict[str, tuple[str, str]] = {}
_server_component_texts: dict[str, tuple[str, str]] = {}


def _json_string(text: str) -> str:
    """The value of a JSON string literal (quotes included) the layout pattern matched."""
    return text[1:-1] if "\\" not in text else _parse(text)


_fromisoformat = _datetime.fromisoformat


def _time_of(literal: str, key: str, record_id: str) -> _dt.datetime:
    """:func:`_server_time` of a JSON string literal, quicker for what AUDITOR sends (``Z``).

    Takes the result of ``fromisoformat`` only where parse_response_timestamp_utc would return
    it unchanged (a date-time in UTC); anything else goes the full way, errors included.
    """
    if len(literal) >= 21 and literal[11] in "Tt " and "\\" not in literal:
        try:
            parsed = _fromisoformat(literal[1:-1])
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return parsed
    return _server_time(_json_string(literal), key, record_id)  # type: ignore[return-value]


def _fill_from_parts(record: Record, parts: re.Match[str]) -> None:
    """:func:`_fill_from_server` for a record text that :data:`_SERVER_RECORD_PARTS` matched.

    The match vouches for every JSON type, so each field is taken from its own text without
    parsing the record: meta and components through the same checks as _fill_from_server
    (remembered by text), timestamps and runtime directly.  Checks run in the same order, so a
    record with several problems reports the same one.
    """
    record_id, meta, components, start, stop, runtime = parts.groups()
    if meta == "null":
        record._meta = record._meta_sorted = None
    else:
        texts = _server_meta_texts.get(meta)
        if texts is None:
            data = _server_meta(_parse(meta), record_id)
            texts = _remember(_server_meta_texts, meta, _meta_texts_of(data))
        record._meta, record._meta_sorted = texts
    if components == "null":
        record._comps = record._comps_sorted = None
    else:
        texts = _server_component_texts.get(components)
        if texts is None:
            texts = _server_components(_parse(components), record_id)
            _remember(_server_component_texts, components, texts)
        record._comps, record._comps_sorted = texts
    record._start = None if start == "null" else _time_of(start, "start_time", record_id)
    record._stop = None if stop == "null" else _time_of(stop, "stop_time", record_id)
    record._runtime = None if runtime == "null" else int(runtime)
    record._local = False


# ---------------------------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------------------------


def _no_start(record_id: str) -> ValidationError:
    rule = "a record needs a start_time"
    return ValidationError(
        f"record {describe(record_id)} has no start_time: {rule}",
        field="start_time",
        value=None,
        rule=rule,
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
        ValidationError: a meta key or value breaks a name rule, the start time (add) or stop
            time (update) is missing, or a record received from a server has an invalid name.
    """
    if type(record) is not Record:
        raise type_error(record, "Record")
    return record._wire_json(update)


def record_wire(record: Record, *, update: bool = False) -> dict[str, Any]:
    """:func:`record_wire_json` as a new ``dict`` (in the same key order)."""
    return _loads(record_wire_json(record, update=update))  # type: ignore[no-any-return]


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
    texts = []
    for index, record in enumerate(records):
        if type(record) is not Record:
            raise type_error(record, "Record")
        try:
            texts.append(record._wire_json(False))
        except ValidationError as error:
            raise ValidationError(
                f"records[{index}]: {error}", field=error.field, value=error.value, rule=error.rule
            ) from None
    return texts


def records_bulk_body(records: Iterable[Record]) -> str:
    """The JSON body of ``POST /records``: the array of :func:`records_wire_json`.

    ``[]`` gives ``"[]"``.  AUDITOR limits bodies to 2 MiB; split large batches
    (``_protocol.batch_json_array`` groups :func:`records_wire_json` texts).

    Raises:
        TypeError, ValidationError: as :func:`records_wire_json`.
    """
    return "[" + ",".join(records_wire_json(records)) + "]"
