"""The :class:`Record` facade: python-auditor's API over the generated ``Record`` wire struct.

A Record holds one :class:`pyauditor_api.wire.Record` (``_w``), the struct ``make generate``
writes from openapi.yaml, its meta as JSON (``_meta``, see there) and two flags.  Records built
here and records decoded from a server are the same thing: a decoded record is its struct,
wrapped, so ``get()`` of 100k records costs one small object per record on top of msgspec's
decoding, and a field the spec gains is kept on decoded records (and written by
:meth:`Record.to_json`) without code here.  Record itself is a msgspec Struct with
``gc=False``, so that holding 100k of them costs the cyclic garbage collector nothing.

Timestamps are stored as UTC-aware datetimes; the getters return *naive* UTC wall time, as
python-auditor does.  Getters return copies: new lists, a Meta decoded from the JSON (or
sharing a decoded dict until it is changed), and Component/Score views of the (never changed)
wire structs.
"""

from __future__ import annotations

import datetime as _dt
import itertools
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, final

import msgspec

from ._parts import (
    Component,
    Meta,
    MetaData,
    _no_subclass,
    components_equal,
)
from ._time import UTC, to_utc
from ._validation import (
    KNOWN_PLAIN,
    PLAIN_NAME,
    check_meta,
    check_name,
    is_plain,
    type_error,
)
from ._wire import (
    RECORD_DECODER,
    WireComponent,
    WireRecord,
    encode,
    encode_sorted,
    exact_float,
    exact_time,
    plain_time,
)

__all__ = ["SERVER_RECORD", "Record", "exact_record", "record_of"]

_datetime = _dt.datetime
_combine = _datetime.combine
_plain = PLAIN_NAME.fullmatch
_known = KNOWN_PLAIN
_new = object.__new__
_replace = msgspec.structs.replace
_Raw = msgspec.Raw
_chain = itertools.chain
_decode_meta = msgspec.json.Decoder(dict[str, tuple[str, ...]] | None).decode
_EXPONENT_FROM = 1e16  # see _wire.exact_float


class _RecordType(msgspec.StructMeta):
    """Builds Records the way python-auditor does: ``Record(record_id, start_time)``.

    Record is a msgspec Struct only so that it is not tracked by the cyclic garbage collector
    (``gc=False``): a program holding 100k records then costs the collector nothing, where
    tracked records made it spend a third of the time of building them.  A Struct cannot
    define ``__init__``, so the public constructor lives here.
    """

    def __call__(cls, record_id: str, start_time: _dt.datetime) -> Record:
        # Record ids are unique, so they are not remembered like other names.
        if type(record_id) is not str or _plain(record_id) is None:
            record_id = check_name(record_id, "record_id")
        if start_time.__class__ is not _datetime or start_time.tzinfo is not UTC:
            start_time = to_utc(start_time, "start_time")
        micro = start_time.microsecond
        if micro and not micro % 1000:
            start_time = exact_time(start_time)
        return _replace(
            _LOCAL, _w=WireRecord(record_id=record_id, components=(), start_time=start_time)
        )


@final
class Record(msgspec.Struct, gc=False, metaclass=_RecordType):
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

    # The one struct that holds everything (never shared with another Record), except the meta
    # of with_meta (below).
    _w: WireRecord
    # True if every name was checked here (built here, or validated before sending) and every
    # value is stored in its exact form (_wire.exact_*); False for a record from a server.
    _checked: bool = True
    # The meta as its JSON (msgspec.Raw, keys in insertion order), set by with_meta and by
    # decoding; _w.meta is then None.  A dict of tuples is a container the cyclic GC tracks
    # until a full pass, and 100k records holding one made building them cost 40 % more in
    # collections and decoding them hold 60 MB more; bytes are not tracked, take a fifth of
    # the memory, and are written into request bodies as they are.  The meta getter decodes
    # them (a copy, as python-auditor's getter returns).  None: the meta is _w.meta.
    _meta: msgspec.Raw | None = None
    # Whether every key and value of _meta is a plain name (valid under every rule).
    _meta_plain: bool = True
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    if TYPE_CHECKING:  # the constructor is _RecordType.__call__

        def __init__(self, record_id: str, start_time: _dt.datetime) -> None: ...

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Record")

    @classmethod
    def _from_server(cls, obj: object) -> Record:
        """Wrap one record object decoded from a server response (see ``record_from_server``)."""
        from ._record_codec import record_from_server

        return record_from_server(obj)

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
        data = meta._d
        # The names are checked when the record is sent, as python-auditor does; whether they
        # are all plain is noted now, while they are at hand.
        known = _known
        plain = known.issuperset(data) and known.issuperset(_chain(*data.values()))
        if not plain:
            plain = all(
                (key in known or is_plain(key))
                and all(value in known or is_plain(value) for value in values)
                for key, values in data.items()
            )
        self._meta = _Raw(encode(data))
        self._meta_plain = plain
        self._w.meta = None
        return self

    def _meta_dict(self) -> MetaData | None:
        """The meta as a dict of tuples (decoded from its JSON if with_meta set it)."""
        raw = self._meta
        if raw is None:
            return self._w.meta
        return _decode_meta(raw)

    def _full_wire(self) -> WireRecord:
        """The struct with the meta in it (for to_json and pickling)."""
        if self._meta is None:
            return self._w
        return _replace(self._w, meta=_decode_meta(self._meta))

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
        wire = self._w
        components = wire.components
        # The component's struct is shared; Component.with_score never changes it.
        wire.components = (*components, component._w) if components else (component._w,)
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
        micro = stop_time.microsecond
        if micro and not micro % 1000:
            stop_time = exact_time(stop_time)
        wire = self._w
        wire.stop_time = stop_time
        delta = stop_time - wire.start_time
        seconds = delta.days * 86400 + delta.seconds
        # timedelta floors toward -inf; AUDITOR (chrono num_seconds) truncates toward zero.
        if seconds < 0 and delta.microseconds:
            seconds += 1
        wire.runtime = seconds
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
        if not self._checked:
            self._exact()
        return encode_sorted(self._full_wire()).decode()

    def _exact(self) -> WireRecord:
        """The struct with every value in its exact form (see ``_wire``); stored for next time."""
        wire = self._w = exact_record(self._w)
        return wire

    def validate(self) -> Record:
        """Check the whole record under the current rules and return it.

        Checks what the server will check: the record id, every meta key and value, every
        component and score name.  A record built by its constructor is valid except possibly
        for its meta, and sending or queueing a record checks its meta anyway, so this is for
        finding a bad record before a batch is sent, for checking a record received from a
        server, or for re-checking after :func:`pyauditor.allow_forbidden_characters` changed
        the rule.

        Raises:
            ValidationError: the first rule broken, naming the field and the value.

        Example::

            Record("r1", start).with_meta(Meta().insert("site", [""])).validate()
            # ValidationError: meta value of key 'site' '' is empty: ...
        """
        wire = self._w
        check_name(wire.record_id, "record_id")
        meta = self._meta_dict()
        if meta is not None:
            check_meta(meta)
        for component in wire.components or ():
            name = component.name
            if name not in _known and not is_plain(name):
                check_name(name, "component name")
            for score in component.scores:
                name = score.name
                if name not in _known and not is_plain(name):
                    check_name(name, "score name")
        return self

    def _checked_wire(self) -> tuple[WireRecord, Any]:
        """The struct to send and its meta (a dict, or the JSON of with_meta): every name
        checked, every value exact.

        A record built here only needs its meta checked (Meta.insert checks types only, as
        python-auditor does); a record from a server is checked whole, once.
        """
        if not self._checked:
            self.validate()
            self._exact()
            self._checked = True
        elif not self._meta_plain:
            check_meta(self._meta_dict() or {})
        wire = self._w
        raw = self._meta
        return wire, (wire.meta if raw is None else raw)

    @property
    def record_id(self) -> str:
        """The record's id."""
        return self._w.record_id

    @property
    def meta(self) -> Meta | None:
        """A copy of the record's meta data, or ``None`` if none was set."""
        raw = self._meta
        data = self._w.meta if raw is None else _decode_meta(raw)
        if data is None:
            return None
        meta = _new(Meta)
        meta._d = data  # shared until the Meta is changed (copy on write)
        meta._shared = True
        return meta

    @property
    def components(self) -> list[Component] | None:
        """A new list of copies of the record's components (``[]`` if none were added).

        ``None`` only for a record received from a server that stored none (legacy rows).
        """
        wires = self._w.components
        if wires is None:
            return None
        new = _new
        out = []
        for wire in wires:
            component = new(Component)
            component._w = wire
            out.append(component)
        return out

    @property
    def start_time(self) -> _dt.datetime:
        """The start time as a *naive* datetime holding UTC wall time (as python-auditor).

        Attach the zone with ``record.start_time.replace(tzinfo=datetime.timezone.utc)``.
        """
        start = self._w.start_time
        return _combine(start.date(), start.time())

    @property
    def stop_time(self) -> _dt.datetime | None:
        """The stop time as a naive UTC datetime, or ``None`` if it is not set."""
        stop = self._w.stop_time
        return None if stop is None else _combine(stop.date(), stop.time())

    @property
    def runtime(self) -> int | None:
        """Whole seconds from start to stop (truncated toward zero), ``None`` without a stop time.

        For a record received from a server this is the server's value.
        """
        return self._w.runtime

    def __eq__(self, other: object) -> bool:
        if type(other) is not Record:
            return NotImplemented
        a, b = self._w, other._w
        if (
            a.record_id != b.record_id
            or a.start_time != b.start_time
            or a.stop_time != b.stop_time
            or a.runtime != b.runtime
            or self._meta_dict() != other._meta_dict()
        ):
            return False
        if a.components is None or b.components is None:
            return a.components is b.components
        return components_equal(a.components, b.components)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self) -> str:
        wire = self._w
        stop = wire.stop_time
        return (
            f"Record(record_id={wire.record_id!r}, start_time={plain_time(wire.start_time)!r}, "
            f"stop_time={None if stop is None else plain_time(stop)!r}, "
            f"runtime={wire.runtime!r}, meta={self.meta!r}, components={self.components!r})"
        )

    def __copy__(self) -> Record:
        # Only the record's own struct is copied: its parts are never changed in place.
        return _replace(self, _w=_replace(self._w))

    def __deepcopy__(self, memo: dict[int, Any]) -> Record:
        return self.__copy__()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_record_from_json, (encode(self._full_wire()), self._checked))


def _record_from_json(data: bytes, checked: bool) -> Record:
    return record_of(exact_record(RECORD_DECODER.decode(data)), checked)


_LOCAL: Record = msgspec.StructMeta.__call__(Record, None, True)
# A record from a server: names unchecked, meta (as JSON) not known to be plain.
SERVER_RECORD: Record = msgspec.StructMeta.__call__(Record, None, False, None, False)
"""A template: ``msgspec.structs.replace(SERVER_RECORD, _w=wire)`` is a Record from a server."""


def record_of(wire: WireRecord, checked: bool = False) -> Record:
    """A Record viewing ``wire`` (which it then owns); ``checked``: see ``Record._checked``.

    A struct of ``_wire.RECORD_DECODER`` holds its meta as JSON (``msgspec.Raw``), which the
    Record takes over (copied out of the decoder's buffer).
    """
    meta: Any = wire.meta
    if meta.__class__ is _Raw:
        wire.meta = None
        return _replace(
            _LOCAL if checked else SERVER_RECORD, _w=wire, _meta=meta.copy(), _meta_plain=False
        )
    return _replace(_LOCAL if checked else SERVER_RECORD, _w=wire)


def exact_record(wire: WireRecord) -> WireRecord:
    """``wire`` with every value in its exact form (see ``_wire``): itself if nothing changes."""
    start = exact_time(wire.start_time)
    stop = wire.stop_time
    if stop is not None:
        stop = exact_time(stop)
    components = wire.components
    if components:
        exact = tuple(map(_exact_component, components))
        if any(a is not b for a, b in zip(exact, components, strict=True)):
            components = exact
    if start is wire.start_time and stop is wire.stop_time and components is wire.components:
        return wire
    return _replace(wire, start_time=start, stop_time=stop, components=components)


def _exact_component(component: WireComponent) -> WireComponent:
    scores = component.scores
    if not any(s.value >= _EXPONENT_FROM and s.value.__class__ is float for s in scores):
        return component
    return _replace(
        component, scores=tuple(_replace(s, value=exact_float(s.value)) for s in scores)
    )
