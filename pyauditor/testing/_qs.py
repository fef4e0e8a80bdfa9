"""The ``GET /records`` query string, read as AUDITOR 0.11 reads it.

AUDITOR deserialises the raw query string with serde_qs 0.15 (strict mode, maximum depth 5)
into a ``Filters`` struct with ``deny_unknown_fields``.  A query it cannot read is answered with
``400 {"error": "<serde_qs message>"}``; this module reproduces the grammar and those messages.

Reading happens in two steps, as in serde_qs: the query string is parsed into a tree of
``_Level`` nodes (maps, ordered and unordered sequences, flat strings, and "invalid" markers for
repeated keys), and the tree is then deserialised field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._grammar import FILTER_FIELDS as _FILTER_FIELDS
from .._grammar import META_OPERATORS as _META_OPERATORS
from .._grammar import OPERATOR_NAMES as _OPERATOR_FIELDS
from .._grammar import SORT_COLUMNS as _SORT_COLUMNS
from .._grammar import SORT_DIRECTIONS as _SORT_DIRECTIONS
from ._chrono import ChronoError, parse_timestamp
from ._names import is_valid_name
from ._serde import rust_debug_str

__all__ = [
    "Filters",
    "MetaFilter",
    "Operators",
    "QueryError",
    "parse_filters",
    "parse_rbac_meta",
]

_MAX_DEPTH = 5
_I64_MAX = (1 << 63) - 1
_ENCODED_BRACKET_HINT = (
    "\nInvalid field contains an encoded bracket -- did you mean to use non-strict mode?"
    "\n  https://docs.rs/serde_qs/latest/serde_qs/#strict-vs-non-strict-modes"
)


class QueryError(ValueError):
    """A query string serde_qs would reject; ``str(error)`` is its message."""


@dataclass
class Operators:
    """The comparison operators given for one field (values already converted)."""

    gt: int | None = None
    lt: int | None = None
    gte: int | None = None
    lte: int | None = None
    equals: int | None = None


@dataclass
class MetaFilter:
    """``meta[key][c][..]`` and ``meta[key][dnc][..]`` of one meta key."""

    c: list[str] | None = None
    dnc: list[str] | None = None


@dataclass
class Filters:
    """AUDITOR's ``Filters``: every field is ``None`` when the query does not mention it.

    Times are UTC nanoseconds at full request precision; runtime, component amounts and limit
    are non-negative integers.
    """

    record_id: str | None = None
    start_time: Operators | None = None
    stop_time: Operators | None = None
    runtime: Operators | None = None
    meta: dict[str, MetaFilter] | None = None
    component: dict[str, Operators] | None = None
    sort_by: tuple[str, str] | None = None
    limit: int | None = None


# --------------------------------------------------------------------------------------------
# Step 1: the parse tree


class _Level:
    """serde_qs's ``Level``: Nested, OrderedSeq, Sequence, Flat, Invalid or Uninitialised."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any = None) -> None:
        self.kind = kind
        self.value = value

    def __repr__(self) -> str:  # Rust's Debug, as serde_qs puts it into messages
        if self.kind == "Flat" or self.kind == "Invalid":
            return f"{self.kind}({rust_debug_str(self.value)})"
        if self.kind == "Sequence":
            return "Sequence([" + ", ".join(repr(v) for v in self.value) + "])"
        if self.kind == "Nested":
            items = ", ".join(f"{rust_debug_str(k)}: {v!r}" for k, v in sorted(self.value.items()))
            return "Nested({" + items + "})"
        if self.kind == "OrderedSeq":
            items = ", ".join(f"{k}: {v!r}" for k, v in sorted(self.value.items()))
            return "OrderedSeq({" + items + "})"
        return "Uninitialised"

    def insert_map_value(self, key: str, value: str) -> None:
        if self.kind == "Nested":
            if key in self.value:
                self.value[key] = _Level(
                    "Invalid", f"Multiple values for one key: {rust_debug_str(key)}"
                )
            else:
                self.value[key] = _Level("Flat", value)
        elif self.kind == "Uninitialised":
            self.kind, self.value = "Nested", {key: _Level("Flat", value)}
        else:
            self.kind, self.value = (
                "Invalid",
                "Attempted to insert map value into non-map structure",
            )

    def insert_ord_seq_value(self, key: int, value: str) -> None:
        if self.kind == "OrderedSeq":
            if key in self.value:
                self.value[key] = _Level("Invalid", "Multiple values for one key")
            else:
                self.value[key] = _Level("Flat", value)
        elif self.kind == "Uninitialised":
            self.kind, self.value = "OrderedSeq", {key: _Level("Flat", value)}
        else:
            self.kind, self.value = (
                "Invalid",
                "Attempted to insert seq value into non-seq structure",
            )

    def insert_seq_value(self, value: str) -> None:
        if self.kind == "Sequence":
            self.value.append(_Level("Flat", value))
        elif self.kind == "Uninitialised":
            self.kind, self.value = "Sequence", [_Level("Flat", value)]
        else:
            self.kind, self.value = (
                "Invalid",
                "Attempted to insert seq value into non-seq structure",
            )


def _parse_error(message: str, position: int) -> QueryError:
    return QueryError(f"parsing failed with error: '{message}' at position: {position}")


def _decode(raw: bytes) -> str:
    """Form-urlencoded decoding: ``+`` is a space, ``%XX`` a byte, malformed escapes stay."""
    raw = raw.replace(b"+", b" ")
    if b"%" in raw:
        out = bytearray()
        i = 0
        while i < len(raw):
            byte = raw[i]
            if byte == 0x25 and i + 2 < len(raw) and _is_hex(raw[i + 1 : i + 3]):
                out.append(int(raw[i + 1 : i + 3], 16))
                i += 3
            else:
                out.append(byte)
                i += 1
        raw = bytes(out)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        # Rust's Utf8Error Display.
        if err.reason == "unexpected end of data":
            raise QueryError(f"incomplete utf-8 byte sequence from index {err.start}") from None
        raise QueryError(
            f"invalid utf-8 sequence of {err.end - err.start} bytes from index {err.start}"
        ) from None


def _is_hex(two: bytes) -> bool:
    return len(two) == 2 and all(b in b"0123456789abcdefABCDEF" for b in two)


def _is_key_start(byte: int) -> bool:
    # serde_qs: a bracketed key may start with a printable ASCII character other than [ ] and
    # digits (digits start a sequence index).
    return 0x20 <= byte <= 0x2F or 0x3A <= byte <= 0x5A or byte == 0x5C or 0x5E <= byte <= 0x7E


class _Segment:
    """One ``key=value`` pair of the query string, with its offset for error positions."""

    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset
        self.pos = 0

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def position(self) -> int:
        # serde_qs reports the number of bytes consumed, counting the offending one.
        return self.offset + self.pos + 1

    def value(self) -> str:
        return _decode(self.data[self.pos + 1 :])

    def read_until(self, stops: bytes) -> bytes:
        start = self.pos
        while self.pos < len(self.data) and self.data[self.pos] not in stops:
            self.pos += 1
        return self.data[start : self.pos]


def _parse_tree(query: bytes) -> dict[str, _Level]:
    root = _Level("Nested", {})
    offset = 0
    for part in query.split(b"&"):
        if part:
            _parse_segment(_Segment(part, offset), root)
        offset += len(part) + 1
    result: dict[str, _Level] = root.value
    return result


def _parse_segment(seg: _Segment, root: _Level) -> None:
    if seg.peek() == 0x5B:  # "[key]=..." at the root is read like "key=..."
        _parse_bracket(seg, root, _MAX_DEPTH)
        return
    key = _decode(seg.read_until(b"[="))
    _parse_value(seg, key, root, _MAX_DEPTH)


def _parse_bracket(seg: _Segment, node: _Level, depth: int) -> None:
    """The segment is at a ``[``: read one bracketed key and continue below it."""
    if depth == 0:
        # Maximum depth reached: the rest of the key, brackets included, is one map key.
        key = _decode(seg.read_until(b"="))
        _store(seg, node, key)
        return
    seg.pos += 1
    first = seg.peek()
    if first is None:
        raise QueryError("query string ended before expected")
    if first == 0x5B:
        raise _parse_error(
            "found another opening bracket before the closed bracket", seg.position()
        )
    if first == 0x5D:  # "[]": an unordered sequence, which must end the key
        seg.pos += 1
        nxt = seg.peek()
        if nxt is None:
            node.insert_seq_value("")
        elif nxt == 0x3D:
            node.insert_seq_value(seg.value())
        else:
            raise _parse_error("non-indexed sequence of structs not supported", seg.position())
        return
    if 0x30 <= first <= 0x39:
        text = seg.read_until(b"]")
        seg.pos += 1 if seg.peek() == 0x5D else 0
        try:
            index = int(text.decode("ascii")) if text.isdigit() else None
        except ValueError:
            index = None
        if index is None:
            raise QueryError("invalid digit found in string")
        if index > (1 << 64) - 1:
            raise QueryError("number too large to fit in target type")
        _parse_value(seg, index, node, depth)
        return
    if _is_key_start(first):
        key = _decode(seg.read_until(b"]"))
        seg.pos += 1 if seg.peek() == 0x5D else 0
        _parse_value(seg, key, node, depth)
        return
    char = bytes([first]).decode("utf-8", "replace")
    raise _parse_error(f"unexpected character: {char}", seg.position())


def _store(seg: _Segment, node: _Level, key: str) -> None:
    value = seg.value() if seg.peek() == 0x3D else ""
    node.insert_map_value(key, value)


def _parse_value(seg: _Segment, key: str | int, node: _Level, depth: int) -> None:
    """What follows a map key (``str``) or a sequence index (``int``): a value or a level.

    serde_qs's ``parse_map_value`` and ``parse_ord_seq_value``, which differ only in the kind
    of level they make and insert into.
    """
    kind = "OrderedSeq" if isinstance(key, int) else "Nested"
    nxt = seg.peek()
    if nxt is None or nxt == 0x3D:
        value = "" if nxt is None else seg.value()
        if isinstance(key, int):
            node.insert_ord_seq_value(key, value)
        else:
            node.insert_map_value(key, value)
    elif nxt == 0x5B:
        if node.kind == "Uninitialised":
            node.kind, node.value = kind, {}
        if node.kind != kind:
            raise _parse_error(f"tried to insert a new key into {node!r}", seg.position())
        child = node.value.setdefault(key, _Level("Uninitialised"))
        _parse_bracket(seg, child, depth - 1)
    else:
        char = bytes([nxt]).decode("utf-8", "replace")
        raise _parse_error(f"Unexpected character: '{char}' found when parsing", seg.position())


# --------------------------------------------------------------------------------------------
# Step 2: deserialising the tree into Filters


def _one_of(names: tuple[str, ...]) -> str:
    quoted = [f"`{name}`" for name in names]
    if len(quoted) == 2:
        return f"{quoted[0]} or {quoted[1]}"
    return "one of " + ", ".join(quoted)


def _invalid_type(level: _Level, expected: str) -> QueryError:
    """What serde reports when ``deserialize_any`` meets ``level`` instead of ``expected``."""
    if level.kind == "Invalid":
        return QueryError(level.value)
    if level.kind == "Flat":
        return QueryError(
            f"invalid type: string {rust_debug_str(level.value)}, expected {expected}"
        )
    if level.kind == "Nested":
        return QueryError(f"invalid type: map, expected {expected}")
    if level.kind in ("OrderedSeq", "Sequence"):
        return QueryError(f"invalid type: sequence, expected {expected}")
    return QueryError("attempted to deserialize unitialised value")


def _is_none(level: _Level) -> bool:
    # serde_qs reads an empty flat value as `None` for every `Option` field.
    return level.kind == "Flat" and level.value == ""


def _name(level: _Level) -> str:
    if level.kind != "Flat":
        raise _invalid_type(level, "a string")
    value: str = level.value
    if not is_valid_name(value):
        raise QueryError(f"Parsing '{value}' failed")
    return value


def _time(level: _Level) -> int:
    if level.kind != "Flat":
        raise _invalid_type(level, "an RFC 3339 formatted date and time string")
    try:
        return parse_timestamp(level.value)
    except ChronoError as err:
        raise QueryError(str(err)) from None


def _rust_i64(text: str) -> int:
    """Rust's ``str::parse::<i64>()`` with its error texts."""
    if not text:
        raise QueryError("cannot parse integer from empty string")
    digits = text[1:] if text[0] in "+-" else text
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise QueryError("invalid digit found in string")
    value = int(text)
    if value > _I64_MAX:
        raise QueryError("number too large to fit in target type")
    if value < -_I64_MAX - 1:
        raise QueryError("number too small to fit in target type")
    return value


def _amount(level: _Level) -> int:
    kinds = {"Nested": "a Map", "OrderedSeq": "an OrderedSequence", "Sequence": "a Sequence"}
    if level.kind in kinds:
        raise QueryError(f'Expected: "i64", got {kinds[level.kind]}')
    if level.kind == "Invalid":
        raise QueryError(level.value)
    value = _rust_i64(level.value)
    if value < 0:
        raise QueryError(f"Parsing '{value}' failed.")
    return value


def _struct_map(level: _Level) -> dict[str, _Level]:
    """``LevelDeserializer::into_deserializer`` for a struct or map value."""
    if level.kind == "Nested":
        result: dict[str, _Level] = level.value
        return result
    if level.kind == "OrderedSeq":
        return {str(k): v for k, v in sorted(level.value.items())}
    if level.kind == "Invalid":
        raise QueryError(level.value)
    raise QueryError(f"could not convert {level!r} to QsDeserializer<'a>")


def _fields_in_order(
    mapping: dict[str, _Level], fields: tuple[str, ...], deny_unknown: bool
) -> list[tuple[str, _Level]]:
    """serde_qs 0.15 hands a struct its fields in declaration order, then the other keys in
    key order; with ``deny_unknown_fields`` the first other key is an error."""
    present = [(name, mapping[name]) for name in fields if name in mapping]
    others = sorted(key for key in mapping if key not in fields)
    if others and deny_unknown:
        present.append(("", _Level("Unknown", others[0])))
    else:
        present.extend((key, mapping[key]) for key in others)
    return present


def _unknown_field(key: str, fields: tuple[str, ...]) -> QueryError:
    message = f"unknown field `{key}`, expected {_one_of(fields)}"
    if "[" in key:
        message += _ENCODED_BRACKET_HINT
    return QueryError(message)


def _operators(level: _Level, convert: Any) -> Operators:
    result = Operators()
    for key, value in _fields_in_order(_struct_map(level), _OPERATOR_FIELDS, True):
        if value.kind == "Unknown":
            raise _unknown_field(value.value, _OPERATOR_FIELDS)
        if not _is_none(value):
            setattr(result, key, convert(value))
    return result


def _ignore(level: _Level) -> None:
    """``IgnoredAny``: accepts anything except an invalid node somewhere inside."""
    if level.kind == "Invalid":
        raise QueryError(level.value)
    if level.kind in ("Nested", "OrderedSeq"):
        for child in level.value.values():
            _ignore(child)
    elif level.kind == "Sequence":
        for child in level.value:
            _ignore(child)


def _name_list(level: _Level) -> list[str]:
    if level.kind == "OrderedSeq":
        return [_name(v) for _, v in sorted(level.value.items())]
    if level.kind == "Sequence":
        return [_name(v) for v in level.value]
    raise _invalid_type(level, "a sequence")


def _meta_filter(level: _Level) -> MetaFilter:
    result = MetaFilter()
    for key, value in _fields_in_order(_struct_map(level), _META_OPERATORS, False):
        if key in _META_OPERATORS:
            if not _is_none(value):
                setattr(result, key, _name_list(value))
        else:
            _ignore(value)
    return result


def _name_keyed_map(level: _Level, convert: Any) -> dict[str, Any]:
    if level.kind == "OrderedSeq":
        mapping = _struct_map(level)
    elif level.kind == "Nested":
        mapping = level.value
    else:
        raise _invalid_type(level, "a map")
    result: dict[str, Any] = {}
    for key in sorted(mapping):
        if not is_valid_name(key):
            message = f"Parsing '{key}' failed"
            raise QueryError(message + _ENCODED_BRACKET_HINT if "[" in key else message)
        result[key] = convert(mapping[key])
    return result


def _not_an_enum(level: _Level) -> QueryError:
    return QueryError(f"{level!r} does not appear to be an enum")


def _variant(name: str, variants: tuple[str, ...]) -> str:
    if name not in variants:
        raise QueryError(f"unknown variant `{name}`, expected {_one_of(variants)}")
    return name


def _sort_column(level: _Level) -> str:
    if level.kind == "Nested":
        return _variant(min(level.value), _SORT_COLUMNS)
    if level.kind == "Flat":
        return _variant(level.value, _SORT_COLUMNS)
    raise _not_an_enum(level)


def _sort_by(level: _Level) -> tuple[str, str]:
    if level.kind == "Nested":
        # Only the first variant in key order is read ("asc" before "desc"); the rest is
        # dropped silently.
        direction = _variant(min(level.value), _SORT_DIRECTIONS)
        return direction, _sort_column(level.value[direction])
    if level.kind == "Flat":
        _variant(level.value, _SORT_DIRECTIONS)
        raise _not_an_enum(_Level("Invalid", "this value can only deserialize to a UnitVariant"))
    raise _not_an_enum(level)


def parse_filters(query: bytes) -> Filters:
    """Read the raw (still percent-encoded) query string of ``GET /records``.

    Raises:
        QueryError: with the message AUDITOR puts into ``{"error": ...}``.
    """
    root = _parse_tree(query)
    filters = Filters()
    for key, level in _fields_in_order(root, _FILTER_FIELDS, True):
        if level.kind == "Unknown":
            raise _unknown_field(level.value, _FILTER_FIELDS)
        if _is_none(level):
            continue
        if key == "record_id":
            filters.record_id = _name(level)
        elif key in ("start_time", "stop_time"):
            setattr(filters, key, _operators(level, _time))
        elif key == "runtime":
            filters.runtime = _operators(level, _amount)
        elif key == "meta":
            filters.meta = _name_keyed_map(level, _meta_filter)
        elif key == "component":
            filters.component = _name_keyed_map(level, lambda v: _operators(v, _amount))
        elif key == "sort_by":
            filters.sort_by = _sort_by(level)
        elif key == "limit":
            filters.limit = _amount(level)
    return filters


def _string_list(level: _Level) -> list[str]:
    """``Vec<String>``: like a name list, without the name rule."""
    if level.kind in ("OrderedSeq", "Sequence"):
        items = (
            [v for _, v in sorted(level.value.items())]
            if level.kind == "OrderedSeq"
            else level.value
        )
        result = []
        for item in items:
            if item.kind != "Flat":
                raise _invalid_type(item, "a string")
            result.append(item.value)
        return result
    raise _invalid_type(level, "a sequence")


def parse_rbac_meta(query: bytes) -> dict[str, tuple[list[str] | None, list[str] | None]] | None:
    """Read the query as AUDITOR's RBAC middleware does, into ``RbacAccess``.

    ``RbacAccess { meta: Option<HashMap<String, MetaOuter { c, dnc: Option<Vec<String>> }>> }``
    has no ``deny_unknown_fields`` and no name rule, so it accepts more than
    :func:`parse_filters`; it still fails on repeated keys, a flat ``meta[k][c]=v``, bad
    escapes and the like.

    Returns:
        Meta key -> ``(c, dnc)``, or ``None`` when the query has no ``meta``.

    Raises:
        QueryError: serde_qs fails (where AUDITOR's middleware unwraps, and panics).
    """
    root = _parse_tree(query)
    result: dict[str, tuple[list[str] | None, list[str] | None]] | None = None
    for key, level in _fields_in_order(root, ("meta",), False):
        if key != "meta":
            _ignore(level)
            continue
        if _is_none(level):
            continue
        if level.kind not in ("Nested", "OrderedSeq"):
            raise _invalid_type(level, "a map")
        result = {}
        for name, value in sorted(_struct_map(level).items()):
            lists: dict[str, list[str] | None] = {"c": None, "dnc": None}
            for field, item in _fields_in_order(_struct_map(value), _META_OPERATORS, False):
                if field in _META_OPERATORS:
                    lists[field] = None if _is_none(item) else _string_list(item)
                else:
                    _ignore(item)
            result[name] = (lists["c"], lists["dnc"])
    return result
