"""The query DSL: :class:`QueryBuilder` and the pieces it is built from.

``QueryBuilder().build()`` returns the query string for ``GET /records?<query>`` (pass it to
``advanced_query``), byte-identical to python-auditor's (serde_qs):

* fields in the order ``record_id, start_time, stop_time, runtime, meta, component, sort_by,
  limit``, whatever the order of the calls;
* operators in the order ``gt, lt, gte, lte, equals``;
* ``meta[<key>][c][<i>]`` entries before ``meta[<key>][dnc][<i>]``;
* datetimes as ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]+00:00``;
* keys and values form-urlencoded (``A-Z a-z 0-9 * - . _`` kept, space as ``+``, everything
  else ``%XX`` over UTF-8), structural brackets literal;
* several meta keys or component names in the order they were first added (python-auditor's
  order is random; the server does not care).

Nothing is validated semantically, as in python-auditor: a sort column ``"bogus"`` is sent and
the server rejects it.

Every method mutates its object and returns it, and every argument is copied when it is
passed (internally, by rendering it to its final text at once).
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, NoReturn, final
from urllib.parse import quote_plus

import msgspec

from ._grammar import OPERATOR_NAMES as _OPERATORS
from ._time import UTC, to_utc
from ._validation import check_str, check_str_list, check_u8, check_u64, type_error

__all__ = [
    "ComponentQuery",
    "MetaOperator",
    "MetaQuery",
    "Operator",
    "QueryBuilder",
    "SortBy",
    "Value",
]

_datetime = _dt.datetime
_new = object.__new__
_MAX_U64 = 2**64 - 1
_SAFE = re.compile(r"[A-Za-z0-9*\-._]*").fullmatch

# Positions of the top-level fields in the query string.
_RECORD_ID, _START_TIME, _STOP_TIME, _RUNTIME, _META, _COMPONENT, _SORT_BY, _LIMIT = range(8)


def _no_subclass(name: str) -> NoReturn:
    raise TypeError(f"type '{name}' is not an acceptable base type")


_write_json = msgspec.json.encode


def encode(text: str) -> str:
    """Form-urlencode ``text`` as serde_qs does (``~`` is encoded, ``*`` is not).

    The renderers of a query's parts write it inline, ``text if _SAFE(text) is not None else
    _quote(text)``: building a query calls it four times, and the calls were a tenth of it.
    """
    return text if _SAFE(text) is not None else _quote(text)


def _quote(text: str) -> str:
    """``text`` (holding a character outside ``_SAFE``) form-urlencoded as serde_qs does."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def _str_list(value: object) -> list[str]:
    if type(value) is list:
        items = value.copy()
        for item in items:
            if type(item) is not str:
                return check_str_list(items)
        return items
    return check_str_list(value)


@final
class Value:
    """A typed value for an :class:`Operator`: a datetime, a runtime or a count.

    Create one with the static methods; ``Value()`` raises :class:`TypeError`.

    Example::

        Value.set_datetime(datetime.datetime(2022, 8, 8, 11, 30, tzinfo=datetime.timezone.utc))
        Value.set_runtime(3600)     # seconds
        Value.set_count(8)          # a component amount
    """

    __slots__ = ("_kind", "_raw", "_text")
    _kind: str
    _raw: Any
    _text: str

    def __new__(cls, *args: object, **kwargs: object) -> Value:
        raise TypeError(
            "cannot create 'Value' instances; use Value.set_datetime(), "
            "Value.set_runtime() or Value.set_count()"
        )

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Value")

    @classmethod
    def _make(cls, kind: str, raw: Any, text: str) -> Value:
        value = object.__new__(cls)
        value._kind = kind
        value._raw = raw
        value._text = text
        return value

    @staticmethod
    def set_datetime(datetime: _dt.datetime) -> Value:
        """A point in time, for ``start_time`` and ``stop_time`` queries.

        Args:
            datetime: A timezone-aware datetime; any zone is converted to UTC (python-auditor
                accepted only ``datetime.timezone.utc``).  A naive datetime is rejected.

        Raises:
            TypeError: not a datetime, or a naive one.

        Example::

            # UTC:
            since = datetime.datetime(2022, 8, 8, 11, 30, tzinfo=datetime.timezone.utc)
            # local time of this machine, converted automatically:
            since = datetime.datetime(2022, 8, 8, 13, 30).astimezone()
            value = Value.set_datetime(since)
        """
        if datetime.__class__ is not _datetime or datetime.tzinfo is not UTC:
            datetime = to_utc(datetime, "datetime")
        # As python-auditor writes it in a query, percent-encoded: the text holds only digits
        # and "-T:.+", so one replacement of ":" and the offset written encoded are the whole
        # encoding.  The fraction follows chrono's AutoSi rule (none, 3 or 6 digits), as in
        # pyauditor._time.format_offset.  msgspec writes RFC 3339 with "Z" ten times faster
        # than isoformat() of an aware datetime ('"...Z"': the quotes and the Z are cut off).
        iso = _write_json(datetime).decode()
        micro = datetime.microsecond
        value = _new(Value)
        value._kind = "datetime"
        value._raw = datetime
        value._text = (iso[1:-5] if micro and not micro % 1000 else iso[1:-2]).replace(
            ":", "%3A"
        ) + "%2B00%3A00"
        return value

    @staticmethod
    def set_runtime(runtime: int) -> Value:
        """A runtime in seconds, for ``runtime`` queries.

        Args:
            runtime: An integer from 0 to 2**64-1.

        Raises:
            TypeError: not an integer.
            OverflowError: negative or too large.

        Example::

            QueryBuilder().with_runtime(Operator().gt(Value.set_runtime(100000)))
        """
        number = (
            runtime if type(runtime) is int and 0 <= runtime <= _MAX_U64 else check_u64(runtime)
        )
        value = _new(Value)
        value._kind = "runtime"
        value._raw = number
        value._text = str(number)
        return value

    @staticmethod
    def set_count(count: int) -> Value:
        """A count, for component queries (the component's amount).

        Args:
            count: An integer from 0 to 255 (python-auditor's limit).

        Raises:
            TypeError: not an integer.
            OverflowError: negative or larger than 255.

        Example::

            ComponentQuery().component_operator("cpu", Operator().equals(Value.set_count(8)))
        """
        number = count if type(count) is int and 0 <= count <= 255 else check_u8(count)
        value = _new(Value)
        value._kind = "count"
        value._raw = number
        value._text = str(number)
        return value

    def __repr__(self) -> str:
        return f"Value.set_{self._kind}({self._raw!r})"

    def __copy__(self) -> Value:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Value:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Value._make, (self._kind, self._raw, self._text))


@final
class Operator:
    """Comparison operators on one field: ``gt``, ``lt``, ``gte``, ``lte``, ``equals``.

    Several operators are combined with AND.  Setting the same operator again replaces it.

    Example::

        # started in August 2022
        operator = (
            Operator()
            .gte(Value.set_datetime(datetime.datetime(2022, 8, 1, tzinfo=datetime.timezone.utc)))
            .lt(Value.set_datetime(datetime.datetime(2022, 9, 1, tzinfo=datetime.timezone.utc)))
        )
        QueryBuilder().with_start_time(operator).build()
    """

    __slots__ = ("_ops",)
    _ops: dict[str, Value]

    def __init__(self) -> None:
        self._ops = {}

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Operator")

    def gt(self, value: Value) -> Operator:
        """Set the greater-than (``gt``) operand and return this Operator.

        Example::

            Operator().gt(Value.set_count(4))
        """
        if type(value) is not Value:
            raise type_error(value, "Value")
        self._ops["gt"] = value
        return self

    def lt(self, value: Value) -> Operator:
        """Set the less-than (``lt``) operand and return this Operator.

        Example::

            Operator().lt(Value.set_runtime(3600))
        """
        if type(value) is not Value:
            raise type_error(value, "Value")
        self._ops["lt"] = value
        return self

    def gte(self, value: Value) -> Operator:
        """Set the greater-than-or-equal (``gte``) operand and return this Operator.

        Example::

            Operator().gte(Value.set_datetime(since))
        """
        if type(value) is not Value:
            raise type_error(value, "Value")
        self._ops["gte"] = value
        return self

    def lte(self, value: Value) -> Operator:
        """Set the less-than-or-equal (``lte``) operand and return this Operator.

        Example::

            Operator().lte(Value.set_count(8))
        """
        if type(value) is not Value:
            raise type_error(value, "Value")
        self._ops["lte"] = value
        return self

    def equals(self, value: Value) -> Operator:
        """Set the equals operand and return this Operator.

        Example::

            Operator().equals(Value.set_count(8))
        """
        if type(value) is not Value:
            raise type_error(value, "Value")
        self._ops["equals"] = value
        return self

    def __repr__(self) -> str:
        ops = self._ops
        inner = ", ".join(f"{name}={ops[name]!r}" for name in _OPERATORS if name in ops)
        return f"Operator({inner})"

    def __copy__(self) -> Operator:
        copy = Operator()
        copy._ops = self._ops.copy()
        return copy


def _render_operator(prefix: str, ops: dict[str, Value]) -> str:
    if len(ops) == 1:
        ((name, value),) = ops.items()
        return f"{prefix}[{name}]={value._text}"
    return "&".join(f"{prefix}[{name}]={ops[name]._text}" for name in _OPERATORS if name in ops)


@final
class MetaOperator:
    """Conditions on the values of one meta key: ``contains`` and ``does_not_contain``.

    Both take a list of values (all must be present, respectively all absent).  Like the
    examples in python-auditor's documentation, a single ``str`` is also accepted and means a
    one-element list (python-auditor itself raised a TypeError for it).

    Example::

        MetaQuery().meta_operator("group_id", MetaOperator().contains(["atlas"]))
        MetaQuery().meta_operator("group_id", MetaOperator().does_not_contain("cms"))
    """

    __slots__ = ("_c", "_dnc")
    _c: list[str]
    _dnc: list[str]

    def __init__(self) -> None:
        self._c = []
        self._dnc = []

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("MetaOperator")

    def contains(self, c: list[str] | str) -> MetaOperator:
        """Require every value in ``c`` to be present; replaces an earlier ``contains``.

        Args:
            c: A list or tuple of str, or a single str.  ``[]`` removes the condition.

        Example::

            MetaOperator().contains(["site1", "site2"])
        """
        # A bare str is a one-element list here (unlike Meta.insert): a query for the values
        # "s", "i", "t", "e" is never what was meant, and the documentation's examples pass one.
        self._c = [c] if type(c) is str else _str_list(c)
        return self

    def does_not_contain(self, dnc: list[str] | str) -> MetaOperator:
        """Require every value in ``dnc`` to be absent; replaces an earlier ``does_not_contain``.

        Args:
            dnc: A list or tuple of str, or a single str.  ``[]`` removes the condition.

        Example::

            MetaOperator().does_not_contain(["test-queue"])
        """
        self._dnc = [dnc] if type(dnc) is str else _str_list(dnc)
        return self

    def __repr__(self) -> str:
        parts = []
        if self._c:
            parts.append(f"contains={self._c!r}")
        if self._dnc:
            parts.append(f"does_not_contain={self._dnc!r}")
        return f"MetaOperator({', '.join(parts)})"


@final
class MetaQuery:
    """Meta conditions for several keys, each given by a :class:`MetaOperator`.

    Example::

        meta_query = (
            MetaQuery()
            .meta_operator("site_id", MetaOperator().contains(["site1"]))
            .meta_operator("group_id", MetaOperator().does_not_contain(["cms"]))
        )
        QueryBuilder().with_meta_query(meta_query).build()
    """

    __slots__ = ("_d",)
    _d: dict[str, tuple[list[str], list[str]]]

    def __init__(self) -> None:
        self._d = {}

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("MetaQuery")

    def meta_operator(self, query_id: str, meta_operator: MetaOperator) -> MetaQuery:
        """Set the conditions for meta key ``query_id`` (replacing earlier ones) and return self.

        Args:
            query_id: The meta key.
            meta_operator: The conditions; copied.

        Example::

            MetaQuery().meta_operator("site_id", MetaOperator().contains(["site1"]))
        """
        if type(query_id) is not str:
            query_id = check_str(query_id)
        if type(meta_operator) is not MetaOperator:
            raise type_error(meta_operator, "MetaOperator")
        # The operator's lists are replaced, never changed in place, so sharing them copies.
        self._d[query_id] = (meta_operator._c, meta_operator._dnc)
        return self

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{key!r}: {_meta_operator_repr(c, dnc)}" for key, (c, dnc) in self._d.items()
        )
        return f"MetaQuery({{{inner}}})"

    def __copy__(self) -> MetaQuery:
        copy = MetaQuery()
        copy._d = self._d.copy()
        return copy


def _meta_operator_repr(c: list[str], dnc: list[str]) -> str:
    operator = MetaOperator()
    operator._c = c
    operator._dnc = dnc
    return repr(operator)


def _render_meta(query: dict[str, tuple[list[str], list[str]]]) -> str:
    if len(query) == 1:
        ((key, (contained, not_contained)),) = query.items()
        if len(contained) == 1 and not not_contained:
            value = contained[0]
            return (
                f"meta[{key if _SAFE(key) is not None else _quote(key)}][c][0]="
                f"{value if _SAFE(value) is not None else _quote(value)}"
            )
    parts = []
    for key, (contained, not_contained) in query.items():
        name = encode(key)
        for index, item in enumerate(contained):
            parts.append(f"meta[{name}][c][{index}]={encode(item)}")
        for index, item in enumerate(not_contained):
            parts.append(f"meta[{name}][dnc][{index}]={encode(item)}")
    return "&".join(parts)


@final
class ComponentQuery:
    """Conditions on the amounts of components, by component name.

    Example::

        # records with more than 4 CPU cores
        component_query = ComponentQuery().component_operator(
            "cpu", Operator().gt(Value.set_count(4))
        )
        QueryBuilder().with_component_query(component_query).build()
    """

    __slots__ = ("_d",)
    _d: dict[str, dict[str, Value]]

    def __init__(self) -> None:
        self._d = {}

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("ComponentQuery")

    def component_operator(self, query_id: str, operator: Operator) -> ComponentQuery:
        """Set the condition on component ``query_id``'s amount (replacing an earlier one).

        Args:
            query_id: The component's name.
            operator: Comparisons with the amount (use :meth:`Value.set_count`); copied.

        Example::

            ComponentQuery().component_operator("cpu", Operator().equals(Value.set_count(8)))
        """
        if type(query_id) is not str:
            query_id = check_str(query_id)
        if type(operator) is not Operator:
            raise type_error(operator, "Operator")
        self._d[query_id] = operator._ops.copy()
        return self

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{key!r}: Operator("
            + ", ".join(f"{name}={ops[name]!r}" for name in _OPERATORS if name in ops)
            + ")"
            for key, ops in self._d.items()
        )
        return f"ComponentQuery({{{inner}}})"

    def __copy__(self) -> ComponentQuery:
        copy = ComponentQuery()
        copy._d = self._d.copy()
        return copy


def _render_components(query: dict[str, dict[str, Value]]) -> str:
    if len(query) == 1:
        ((name, ops),) = query.items()
        if len(ops) == 1:  # _render_operator's first case, inline
            ((op, value),) = ops.items()
            name = name if _SAFE(name) is not None else _quote(name)
            return f"component[{name}][{op}]={value._text}"
        return _render_operator(f"component[{encode(name)}]", ops) if ops else ""
    return "&".join(
        _render_operator(f"component[{encode(name)}]", ops) for name, ops in query.items() if ops
    )


@final
class SortBy:
    """The order of the returned records: by ``start_time``, ``stop_time``, ``runtime`` or
    ``record_id``, ascending or descending.

    Only one direction is meaningful; the server rejects a query with both.  The column is not
    checked here (as in python-auditor); the server rejects unknown ones.

    Example::

        QueryBuilder().sort_by(SortBy().descending("stop_time")).limit(10).build()
    """

    __slots__ = ("_asc", "_desc")
    _asc: str | None
    _desc: str | None

    def __init__(self) -> None:
        self._asc = None
        self._desc = None

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("SortBy")

    def ascending(self, column: str) -> SortBy:
        """Sort by ``column`` in ascending order and return this SortBy.

        Args:
            column: ``"start_time"``, ``"stop_time"``, ``"runtime"`` or ``"record_id"``.

        Example::

            SortBy().ascending("start_time")
        """
        self._asc = column if type(column) is str else check_str(column)
        return self

    def descending(self, column: str) -> SortBy:
        """Sort by ``column`` in descending order and return this SortBy.

        Args:
            column: ``"start_time"``, ``"stop_time"``, ``"runtime"`` or ``"record_id"``.

        Example::

            SortBy().descending("runtime")
        """
        self._desc = column if type(column) is str else check_str(column)
        return self

    def __repr__(self) -> str:
        parts = []
        if self._asc is not None:
            parts.append(f"ascending={self._asc!r}")
        if self._desc is not None:
            parts.append(f"descending={self._desc!r}")
        return f"SortBy({', '.join(parts)})"


@final
class QueryBuilder:
    """Builds the query string for ``advanced_query``.

    Each ``with_*`` method (and :meth:`sort_by`, :meth:`limit`) sets one part of the query,
    replacing an earlier value of the same part, and returns the builder itself.  The order of
    the calls does not matter.  :meth:`build` returns the string.

    Example::

        import datetime
        from pyauditor import (MetaOperator, MetaQuery, Operator, QueryBuilder, SortBy, Value)

        since = datetime.datetime(2022, 8, 8, tzinfo=datetime.timezone.utc)
        query = (
            QueryBuilder()
            .with_start_time(Operator().gte(Value.set_datetime(since)))
            .with_meta_query(MetaQuery().meta_operator("site_id", MetaOperator().contains(["site1"])))
            .sort_by(SortBy().descending("stop_time"))
            .limit(500)
            .build()
        )
        records = await client.advanced_query(query)
    """

    __slots__ = ("_parts",)
    # The rendered text of each field, by position ("" if unset); rendering a part when it is
    # set is what copies it.
    _parts: list[str]

    def __init__(self) -> None:
        self._parts = ["", "", "", "", "", "", "", ""]

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("QueryBuilder")

    def with_record_id(self, record_id: str) -> QueryBuilder:
        """Select the record with exactly this id.

        Example::

            QueryBuilder().with_record_id("r101").build()     # 'record_id=r101'
        """
        if type(record_id) is not str:
            record_id = check_str(record_id)
        self._parts[_RECORD_ID] = "record_id=" + encode(record_id)
        return self

    def with_start_time(self, operator: Operator) -> QueryBuilder:
        """Conditions on the start time (use :meth:`Value.set_datetime`); the operator is copied.

        Example::

            QueryBuilder().with_start_time(Operator().gt(Value.set_datetime(since))).build()
        """
        if type(operator) is not Operator:
            raise type_error(operator, "Operator")
        ops = operator._ops
        if len(ops) == 1:  # _render_operator's first case, inline
            ((name, value),) = ops.items()
            self._parts[_START_TIME] = f"start_time[{name}]={value._text}"
        else:
            self._parts[_START_TIME] = _render_operator("start_time", ops) if ops else ""
        return self

    def with_stop_time(self, operator: Operator) -> QueryBuilder:
        """Conditions on the stop time (use :meth:`Value.set_datetime`); the operator is copied.

        Example::

            QueryBuilder().with_stop_time(Operator().lt(Value.set_datetime(until))).build()
        """
        if type(operator) is not Operator:
            raise type_error(operator, "Operator")
        ops = operator._ops
        if len(ops) == 1:  # _render_operator's first case, inline
            ((name, value),) = ops.items()
            self._parts[_STOP_TIME] = f"stop_time[{name}]={value._text}"
        else:
            self._parts[_STOP_TIME] = _render_operator("stop_time", ops) if ops else ""
        return self

    def with_runtime(self, operator: Operator) -> QueryBuilder:
        """Conditions on the runtime in seconds (use :meth:`Value.set_runtime`); copied.

        Example::

            QueryBuilder().with_runtime(Operator().gt(Value.set_runtime(100000))).build()
        """
        if type(operator) is not Operator:
            raise type_error(operator, "Operator")
        ops = operator._ops
        self._parts[_RUNTIME] = _render_operator("runtime", ops) if ops else ""
        return self

    def with_meta_query(self, meta: MetaQuery) -> QueryBuilder:
        """Conditions on meta values; the MetaQuery is copied.

        Example::

            meta_query = MetaQuery().meta_operator("group_id", MetaOperator().contains(["atlas"]))
            QueryBuilder().with_meta_query(meta_query).build()
        """
        if type(meta) is not MetaQuery:
            raise type_error(meta, "MetaQuery")
        self._parts[_META] = _render_meta(meta._d)
        return self

    def with_component_query(self, component: ComponentQuery) -> QueryBuilder:
        """Conditions on component amounts; the ComponentQuery is copied.

        Example::

            component_query = ComponentQuery().component_operator(
                "cpu", Operator().equals(Value.set_count(4))
            )
            QueryBuilder().with_component_query(component_query).build()
        """
        if type(component) is not ComponentQuery:
            raise type_error(component, "ComponentQuery")
        self._parts[_COMPONENT] = _render_components(component._d)
        return self

    def sort_by(self, sort_by: SortBy) -> QueryBuilder:
        """The order of the records; the SortBy is copied.

        Example::

            QueryBuilder().sort_by(SortBy().ascending("start_time")).build()
        """
        if type(sort_by) is not SortBy:
            raise type_error(sort_by, "SortBy")
        ascending = sort_by._asc
        descending = sort_by._desc
        if descending is None:
            text = "" if ascending is None else "sort_by[asc]=" + encode(ascending)
        elif ascending is None:
            text = "sort_by[desc]=" + (
                descending if _SAFE(descending) is not None else _quote(descending)
            )
        else:
            text = f"sort_by[asc]={encode(ascending)}&sort_by[desc]={encode(descending)}"
        self._parts[_SORT_BY] = text
        return self

    def limit(self, number: int) -> QueryBuilder:
        """Return at most ``number`` records (an integer from 0 to 2**64-1).

        Raises:
            TypeError: not an integer.
            OverflowError: negative or too large.

        Example::

            QueryBuilder().limit(500).build()      # 'limit=500'
        """
        if type(number) is not int or not 0 <= number <= _MAX_U64:
            number = check_u64(number)
        self._parts[_LIMIT] = f"limit={number}"
        return self

    def build(self) -> str:
        """Return the query string (``''`` if nothing was set), ready for ``advanced_query``."""
        return "&".join(filter(None, self._parts))

    def __repr__(self) -> str:
        return f"<QueryBuilder {self.build()!r}>"

    def __copy__(self) -> QueryBuilder:
        copy = QueryBuilder()
        copy._parts = self._parts.copy()
        return copy
