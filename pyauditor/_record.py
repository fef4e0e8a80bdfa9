"""The :class:`Record` facade: python-auditor's API on a struct with the generated fields.

A Record *is* a wire struct: a msgspec Struct with the fields of the generated ``Record``
(:mod:`pyauditor_api.wire`, which ``make generate`` writes from openapi.yaml), under private
names.  msgspec decodes a ``GET /records`` answer straight into Records, Components and
Scores: ``get()`` of 100k records runs no Python code per record.  A field the spec gains is
added by :class:`_RecordType` (as ``_wire_<name>``), so decoded records keep it and
:meth:`Record.to_json` writes it, without code here.  Records are frozen (python-auditor's
attributes are read-only; the ``with_*`` methods change them with msgspec's ``force_setattr``)
and not tracked by the cyclic garbage collector (``gc=False``), so holding 100k of them costs the
collector nothing.

Timestamps are stored as aware datetimes (UTC, except on a record from a server that wrote
another offset, until it is sent or written); the getters return *naive* UTC wall time, as
python-auditor does.  Getters return copies: new lists, copies of the components, a Meta decoded
from the JSON (or sharing a dict until it is changed).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, NoReturn, final

import msgspec

from ._parts import (
    Component,
    Meta,
    MetaData,
    _no_subclass,
    appended,
    components_equal,
    copy_component,
    new_component,
    new_score,
)
from ._time import UTC, to_utc
from ._validation import (
    KNOWN_PLAIN,
    PLAIN_NAME,
    check_meta,
    check_name,
    is_plain,
    is_plain_meta_json,
    type_error,
)
from ._wire import (
    NULL,
    WireMeta,
    WireRecord,
    encode,
    encode_sorted,
    exact_float,
    exact_time,
)

__all__ = [
    "RECORD_DECODER",
    "SERVER_RECORD",
    "Record",
    "new_record",
]

_datetime = _dt.datetime
_plain = PLAIN_NAME.fullmatch
_known = KNOWN_PLAIN
_plain_json = is_plain_meta_json
_new = object.__new__
_replace = msgspec.structs.replace
_set = msgspec.structs.force_setattr
_Raw = msgspec.Raw
_decode_meta = msgspec.json.Decoder(WireMeta | None).decode
_EXPONENT_FROM = 1e16  # see _wire.exact_float
# Naive UTC wall time of an aware datetime: NAIVE_EPOCH + (value - AWARE_EPOCH) is two C
# operations (0.06 us), correct for any offset; replace(tzinfo=None) takes 0.85 us.
_AWARE_EPOCH: Final = _datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = _datetime(1970, 1, 1)

_Timestamp = Annotated[_dt.datetime, msgspec.Meta(tz=True)]
_Runtime = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


def _user_time(value: _dt.datetime, what: str) -> _dt.datetime:
    """A timestamp a user gives a record, as the record holds it: UTC, in its exact form."""
    if value.__class__ is not _datetime or value.tzinfo is not UTC:
        value = to_utc(value, what)
    return exact_time(value)


def _exact_utc(value: _dt.datetime) -> _dt.datetime:
    """A stored (aware) timestamp in UTC and its exact form; ``value`` itself if it is."""
    return exact_time(value if value.tzinfo is UTC else value.astimezone(UTC))


class _Local:
    """The type of :data:`_LOCAL_MARK`; msgspec cannot decode anything into it (see _local)."""

    __slots__ = ()


_LOCAL_MARK: Final = _Local()
_META_JSON: Final = _Local()
_FROM_TIMES: Final = _Local()

# Names of the generated Record's fields that Record declares itself (under private names).
_DECLARED = frozenset(("record_id", "meta", "components", "start_time", "stop_time", "runtime"))
_EXTRA_PREFIX = "_wire_"


def _extra_fields() -> list[msgspec.structs.FieldInfo]:
    """The generated Record's fields that Record does not declare (a field the spec gained)."""
    return [f for f in msgspec.structs.fields(WireRecord) if f.encode_name not in _DECLARED]


class _RecordType(msgspec.StructMeta):
    """Record's metaclass: adds the spec's new fields, builds Records as python-auditor does.

    Record is a msgspec Struct so that msgspec decodes answers straight into it and so that it
    is not tracked by the cyclic garbage collector; a Struct cannot define ``__init__``, so the
    public constructor ``Record(record_id, start_time)`` lives here.
    """

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> _RecordType:
        # A field openapi.yaml gives Record, which this module does not know yet, is kept
        # on decoded records (and written by to_json) as _wire_<name>.
        annotations = dict(namespace.get("__annotations__", {}))
        namespace = dict(namespace)
        for field in _extra_fields():
            attribute = _EXTRA_PREFIX + field.name
            annotations[attribute] = field.type
            default = None if field.required else field.default
            namespace[attribute] = msgspec.field(name=field.encode_name, default=default)
        namespace["__annotations__"] = annotations
        return super().__new__(mcls, name, bases, namespace, **kwargs)

    def __call__(cls, record_id: str, start_time: _dt.datetime) -> Record:
        # Record ids are unique, so they are not remembered like other names.
        if type(record_id) is not str or _plain(record_id) is None:
            record_id = check_name(record_id, "record_id")
        return _replace(_LOCAL, _id=record_id, _start=_user_time(start_time, "start_time"))


@final
class Record(msgspec.Struct, frozen=True, gc=False, kw_only=True, metaclass=_RecordType):
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

    # The generated Record's fields (decoded by msgspec under these names, see module doc).
    _id: str = msgspec.field(name="record_id")
    # The meta: its JSON (msgspec.Raw; copied out of the answer on a record from a server,
    # encoded by with_meta, written into request bodies as it is), a dict of tuples on a record
    # of record_from_server, NULL (the JSON null) for none.  A dict of tuples is a container
    # the cyclic GC tracks: holding one per record took 45 MB more per 100k production records
    # than the JSON (bytes, untracked) and made building 100k records 15 % slower in
    # collections.  The getter decodes it (a copy, as python-auditor's getter returns).
    if TYPE_CHECKING:
        _meta: msgspec.Raw | MetaData
    else:
        _meta: msgspec.Raw = msgspec.field(name="meta", default=NULL)
    _components: tuple[Component, ...] | None = msgspec.field(name="components", default=None)
    _start: _Timestamp = msgspec.field(name="start_time")
    _stop: _Timestamp | None = msgspec.field(name="stop_time", default=None)
    # The server's value on a record from a server; _FROM_TIMES on a record built here (and
    # once with_stop_time set the stop time): the getter computes it, so building a record
    # neither computes nor stores it.
    if TYPE_CHECKING:
        _runtime: int | _Local | None
    else:
        _runtime: _Runtime | None = msgspec.field(name="runtime", default=None)
    # _LOCAL_MARK if every name was checked here (built here, or validated before sending) and
    # every value is in its exact form (_wire.exact_*); None on a record from a server.  No
    # JSON decodes into a _Local, so an answer cannot set it.
    _local: _Local | None = None
    # How sending checks the meta's names (python-auditor checks them when a record is sent):
    # _LOCAL_MARK: not at all (no meta); _META_JSON: judged from the JSON with_meta encoded,
    # the metas of a whole batch in one pass (_record_codec.records_wire_json), name by name
    # only if that cannot tell; None: name by name.
    _meta_check: _Local | None = None
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
        # The names are checked when the record is sent, as python-auditor does.
        _set(self, "_meta", _Raw(encode(meta._d)))
        _set(self, "_meta_check", _META_JSON)
        return self

    def _meta_dict(self) -> MetaData | None:
        """The meta as a dict of tuples (decoded from its JSON on a record from a server)."""
        meta = self._meta
        if meta.__class__ is dict:
            return meta
        return _decode_meta(meta)  # type: ignore[arg-type]

    def _wire(self, meta: Any) -> WireRecord:
        """The generated struct of this record, with ``meta`` (for to_json and pickling)."""
        wire = WireRecord(
            record_id=self._id,
            meta=meta,
            components=self._components,  # type: ignore[arg-type]  # the same fields
            start_time=self._start,
            stop_time=self._stop,
            runtime=self.runtime,
        )
        if _EXTRAS:
            for name, attribute in _EXTRAS:
                setattr(wire, name, getattr(self, attribute))
        return wire

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
        _set(self, "_components", appended(self._components, copy_component(component)))
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
        _set(self, "_stop", _user_time(stop_time, "stop_time"))
        if self._runtime is not _FROM_TIMES:  # a record from a server: its runtime no longer is
            _set(self, "_runtime", _FROM_TIMES)
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
        if self._local is None:
            self._exact()
        return encode_sorted(self._wire(self._meta_dict())).decode()

    def _exact(self) -> None:
        """Store every value in its exact form (see ``_wire``), timestamps in UTC."""
        start = self._start
        exact = _exact_utc(start)
        if exact is not start:
            _set(self, "_start", exact)
        stop = self._stop
        if stop is not None:
            exact = _exact_utc(stop)
            if exact is not stop:
                _set(self, "_stop", exact)
        components = self._components
        if components and any(
            s._value >= _EXPONENT_FROM and s._value.__class__ is float
            for c in components
            for s in c._scores
        ):
            _set(self, "_components", tuple(map(_exact_component, components)))

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
        check_name(self._id, "record_id")
        meta = self._meta_dict()
        if meta is not None:
            check_meta(meta)
        for component in self._components or ():
            name = component.name
            if name not in _known and not is_plain(name):
                check_name(name, "component name")
            for score in component._scores:
                name = score.name
                if name not in _known and not is_plain(name):
                    check_name(name, "score name")
        return self

    def _checked_meta(self, batch: list[Any] | None = None) -> Any:
        """The record's meta for a request body (a dict, or JSON), once every name is checked
        and every value is exact.

        A record built here only needs its meta checked (Meta.insert checks types only, as
        python-auditor does); a record from a server is checked whole, once.  With ``batch``,
        the JSON of a meta set by with_meta is appended to it instead of being judged: the
        caller judges the batch's metas together (``_meta_json_checked``).
        """
        meta = self._meta
        if self._local is None:
            self.validate()
            self._exact()
            _set(self, "_local", _LOCAL_MARK)
            return meta
        check = self._meta_check
        if check is _META_JSON:
            if batch is not None:
                batch.append(meta)
            else:
                self._meta_json_checked()
        elif check is None and meta is not NULL:
            check_meta(self._meta_dict() or {})
        return meta

    def _meta_json_checked(self) -> None:
        """Check the names of a meta set by with_meta (if the record's meta is one): judged
        from its JSON, name by name only if that cannot tell."""
        if self._meta_check is _META_JSON and not _plain_json(self._meta):
            check_meta(self._meta_dict() or {})

    @property
    def record_id(self) -> str:
        """The record's id."""
        return self._id

    @property
    def meta(self) -> Meta | None:
        """A copy of the record's meta data, or ``None`` if none was set."""
        data = self._meta
        meta = _new(Meta)
        if data.__class__ is dict:
            meta._d = data
            meta._shared = True  # copy on write
            return meta
        decoded = _decode_meta(data)  # type: ignore[arg-type]
        if decoded is None:
            return None
        meta._d = decoded
        meta._shared = False
        return meta

    @property
    def components(self) -> list[Component] | None:
        """A new list of copies of the record's components (``[]`` if none were added).

        ``None`` only for a record received from a server that stored none (legacy rows).
        """
        components = self._components
        if components is None:
            return None
        return [*map(copy_component, components)]

    @property
    def start_time(self) -> _dt.datetime:
        """The start time as a *naive* datetime holding UTC wall time (as python-auditor).

        Attach the zone with ``record.start_time.replace(tzinfo=datetime.timezone.utc)``.
        """
        return _NAIVE_EPOCH + (self._start - _AWARE_EPOCH)

    @property
    def stop_time(self) -> _dt.datetime | None:
        """The stop time as a naive UTC datetime, or ``None`` if it is not set."""
        stop = self._stop
        return None if stop is None else _NAIVE_EPOCH + (stop - _AWARE_EPOCH)

    @property
    def runtime(self) -> int | None:
        """Whole seconds from start to stop (truncated toward zero), ``None`` without a stop time.

        For a record received from a server this is the server's value.
        """
        runtime = self._runtime
        if runtime is not _FROM_TIMES:
            return runtime  # type: ignore[return-value]
        stop = self._stop
        if stop is None:
            return None
        delta = stop - self._start
        seconds = delta.days * 86400 + delta.seconds
        # timedelta floors toward -inf; AUDITOR (chrono num_seconds) truncates toward zero.
        return seconds + 1 if seconds < 0 and delta.microseconds else seconds

    def __eq__(self, other: object) -> bool:
        if type(other) is not Record:
            return NotImplemented
        if (
            self._id != other._id
            or self._start != other._start
            or self._stop != other._stop
            or self.runtime != other.runtime
            or self._meta_dict() != other._meta_dict()
        ):
            return False
        a, b = self._components, other._components
        if a is None or b is None:
            return a is b
        return components_equal(a, b)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self) -> str:
        stop = self._stop
        return (
            f"Record(record_id={self._id!r}, start_time={_aware_utc(self._start)!r}, "
            f"stop_time={None if stop is None else _aware_utc(stop)!r}, "
            f"runtime={self.runtime!r}, meta={self.meta!r}, components={self.components!r})"
        )

    # __copy__ is msgspec's (in C): the copy shares the meta dict or JSON and the components,
    # which are replaced, never changed, by the with_* methods.

    def __deepcopy__(self, memo: dict[int, Any]) -> Record:
        return _replace(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_record_from_json, (encode(self._wire(self._meta_dict())), self._local is not None))


_EXTRAS: Final = tuple((f.encode_name, _EXTRA_PREFIX + f.name) for f in _extra_fields())
"""(wire name, attribute) of every field the spec gained (see _RecordType.__new__)."""

# Templates: msgspec.structs.replace of one is the fastest way to make a Record.
_LOCAL: Record = msgspec.StructMeta.__call__(
    Record,
    _id="",
    _start=_AWARE_EPOCH,
    _components=(),
    _runtime=_FROM_TIMES,
    _local=_LOCAL_MARK,
    _meta_check=_LOCAL_MARK,
)
SERVER_RECORD: Record = msgspec.StructMeta.__call__(Record, _id="", _start=_AWARE_EPOCH)
"""A template of a record from a server: ``new_record`` fills it."""

RECORD_DECODER: Final[msgspec.json.Decoder[Record]] = msgspec.json.Decoder(Record)
"""One ``Record`` object (``GET /record/{id}``), or with ``decode_lines`` the records of a
``GET /records`` run; a meta is kept as JSON (a view into the decoded buffer: copy it)."""


def new_record(
    record_id: str,
    meta: MetaData | None,
    components: tuple[Component, ...] | None,
    start_time: _dt.datetime,
    stop_time: _dt.datetime | None,
    runtime: int | None,
) -> Record:
    """A record from a server, of values checked already (``record_from_server``)."""
    return _replace(
        SERVER_RECORD,
        _id=record_id,
        _meta=NULL if meta is None else meta,
        _components=components,
        _start=start_time,
        _stop=stop_time,
        _runtime=runtime,
    )


def _record_from_json(data: bytes, local: bool) -> Record:
    record = RECORD_DECODER.decode(data)
    _set(record, "_meta", record._meta.copy())
    record._exact()
    if local:
        _set(record, "_local", _LOCAL_MARK)
    return record


def _aware_utc(value: _dt.datetime) -> _dt.datetime:
    """The plain datetime (UTC) of a stored timestamp, for reprs."""
    if value.__class__ is _datetime and value.tzinfo is UTC:
        return value
    value = value.astimezone(UTC)
    return _datetime.combine(value.date(), value.time(), UTC)


def _exact_component(component: Component) -> Component:
    scores = component._scores
    if not any(s._value >= _EXPONENT_FROM and s._value.__class__ is float for s in scores):
        return component
    return new_component(
        component.name,
        component.amount,
        tuple(new_score(s.name, exact_float(s._value)) for s in scores),
    )
