"""Request bodies read exactly as AUDITOR's actix-web extractor reads them.

AUDITOR deserialises ``POST /record``, ``POST /records`` and ``PUT /record`` bodies with
``serde_json::from_slice`` into serde-derived structs, and answers a failure with
``400 Json deserialize error: <serde_json error>``.  Clients and their tests look at those
messages, so this module reproduces them, positions (``at line L column C``) included.

Two readers share the work:

* :func:`_fast_read` uses the C ``json`` module and then checks the result.  It only ever says
  "valid, here it is" or "not sure"; it never produces an error message.
* :class:`_Deserializer` is a port of the parts of serde_json's ``Deserializer`` that AUDITOR's
  types reach (strings, numbers, ``Option``, ``Vec``, ``HashMap``, derived structs and
  ``IgnoredAny``), with serde's error texts and serde_json's position bookkeeping.  It decides
  every body the fast reader is unsure about, so it is the single source of truth for errors.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from .._json import format_float
from ._chrono import ChronoError, parse_timestamp
from ._names import is_valid_name

__all__ = [
    "Component",
    "IncomingRecord",
    "JsonBodyError",
    "read_record",
    "read_records",
    "read_update",
    "rust_debug_str",
]

_I64_MAX = (1 << 63) - 1
_U64_MAX = (1 << 64) - 1


class Component(NamedTuple):
    """One component of a request: ``(name, amount, [(score name, value), ...])``."""

    name: str
    amount: int
    scores: list[tuple[str, float]]


class IncomingRecord(NamedTuple):
    """A ``RecordAdd`` or ``RecordUpdate`` after validation (times in UTC nanoseconds)."""

    record_id: str
    meta: dict[str, list[str]] | None
    components: list[Component]
    start_ns: int | None
    stop_ns: int | None


class JsonBodyError(ValueError):
    """A serde_json error; ``str(error)`` is exactly what serde_json's ``Display`` prints."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line == 0:
            return self.message
        return f"{self.message} at line {self.line} column {self.column}"


# --------------------------------------------------------------------------------------------
# Rust formatting helpers used inside serde's messages


def rust_debug_str(s: str) -> str:
    """Rust's ``{:?}`` of a ``str``: quotes, ``\\n``-style escapes and ``\\u{..}`` for
    characters Rust does not consider printable (approximated with Unicode categories)."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif ch != " " and unicodedata.category(ch) in _RUST_ESCAPED_CATEGORIES:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_RUST_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs", "Mn", "Me"})


def _rust_display_f64(value: float) -> str:
    """Rust's ``{}`` of an ``f64``: shortest round-trip digits, never an exponent."""
    text = format(Decimal(repr(value)).normalize(), "f")
    return "-0" if text == "0" and math.copysign(1.0, value) < 0 else text


# --------------------------------------------------------------------------------------------
# The exact reader: a port of serde_json's Deserializer

_WS = frozenset(b" \n\t\r")
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_STRING_STOP = re.compile(rb'["\\\x00-\x1f]')

_EOF_VALUE = "EOF while parsing a value"
_EOF_LIST = "EOF while parsing a list"
_EOF_OBJECT = "EOF while parsing an object"
_EOF_STRING = "EOF while parsing a string"
_EXPECTED_COLON = "expected `:`"
_EXPECTED_LIST_COMMA = "expected `,` or `]`"
_EXPECTED_OBJECT_COMMA = "expected `,` or `}`"
_EXPECTED_IDENT = "expected ident"
_EXPECTED_VALUE = "expected value"
_INVALID_ESCAPE = "invalid escape"
_INVALID_NUMBER = "invalid number"
_OUT_OF_RANGE = "number out of range"
_INVALID_CODE_POINT = "invalid unicode code point"
_CONTROL = "control character (\\u0000-\\u001F) found while parsing a string"
_KEY_STRING = "key must be a string"
_LONE_SURROGATE = "lone leading surrogate in hex escape"
_TRAILING_COMMA = "trailing comma"
_TRAILING = "trailing characters"
_END_OF_HEX = "unexpected end of hex escape"
_RECURSION = "recursion limit exceeded"


class _Number(NamedTuple):
    kind: str  # "u" (u64), "i" (negative i64) or "f" (f64), as serde_json's ParserNumber
    value: int | float

    def unexpected(self) -> str:
        if self.kind == "f":
            return f"floating point `{format_float(float(self.value))}`"
        return f"integer `{self.value}`"


_Reader = Callable[["_Deserializer"], Any]


class _Field(NamedTuple):
    name: str
    read: _Reader
    optional: bool


class _Deserializer:
    """serde_json's ``Deserializer<SliceRead>``, limited to what AUDITOR's types use."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.index = 0
        self.length = len(data)
        self.remaining_depth = 128

    # -- positions and errors ---------------------------------------------------------------

    def _position(self, index: int) -> tuple[int, int]:
        start = self.data.rfind(b"\n", 0, index) + 1
        return 1 + self.data.count(b"\n", 0, start), index - start

    def error(self, message: str) -> JsonBodyError:
        return JsonBodyError(message, *self._position(self.index))

    def peek_error(self, message: str) -> JsonBodyError:
        return JsonBodyError(message, *self._position(min(self.length, self.index + 1)))

    def fix_position(self, err: JsonBodyError) -> JsonBodyError:
        if err.line == 0:
            err.line, err.column = self._position(self.index)
        return err

    # -- bytes ---------------------------------------------------------------------------------

    def peek(self) -> int | None:
        return self.data[self.index] if self.index < self.length else None

    def peek_or_null(self) -> int:
        return self.data[self.index] if self.index < self.length else 0

    def next_char(self) -> int | None:
        if self.index < self.length:
            self.index += 1
            return self.data[self.index - 1]
        return None

    def parse_whitespace(self) -> int | None:
        data, i, n = self.data, self.index, self.length
        while i < n and data[i] in _WS:
            i += 1
        self.index = i
        return data[i] if i < n else None

    def parse_ident(self, ident: bytes) -> None:
        for expected in ident:
            got = self.next_char()
            if got is None:
                raise self.error(_EOF_VALUE)
            if got != expected:
                raise self.error(_EXPECTED_IDENT)

    # -- strings ---------------------------------------------------------------------------

    def _decode_hex_escape(self) -> int:
        if self.index + 4 > self.length:
            self.index = self.length
            raise self.error(_EOF_STRING)
        digits = self.data[self.index : self.index + 4]
        self.index += 4
        if not all(b in _HEX for b in digits):
            raise self.error(_INVALID_ESCAPE)
        return int(digits, 16)

    def _next_or_eof(self) -> int:
        got = self.next_char()
        if got is None:
            raise self.error(_EOF_STRING)
        return got

    def _peek_or_eof(self) -> int:
        got = self.peek()
        if got is None:
            raise self.error(_EOF_STRING)
        return got

    def _parse_escape(self, scratch: bytearray, validate: bool) -> None:
        ch = self._next_or_eof()
        simple = {34: b'"', 92: b"\\", 47: b"/", 98: b"\b", 102: b"\f", 110: b"\n", 114: b"\r"}
        if ch in simple:
            scratch += simple[ch]
        elif ch == 116:  # t
            scratch += b"\t"
        elif ch == 117:  # u
            if validate:
                self._parse_unicode_escape(scratch)
            else:
                self._decode_hex_escape()
        else:
            raise self.error(_INVALID_ESCAPE)

    def _parse_unicode_escape(self, scratch: bytearray) -> None:
        n = self._decode_hex_escape()
        if 0xDC00 <= n <= 0xDFFF:
            raise self.error(_LONE_SURROGATE)
        if not 0xD800 <= n <= 0xDBFF:
            scratch += chr(n).encode()
            return
        if self._peek_or_eof() != 92:
            self.index += 1
            raise self.error(_END_OF_HEX)
        self.index += 1
        if self._peek_or_eof() != 117:
            self.index += 1
            raise self.error(_END_OF_HEX)
        self.index += 1
        n2 = self._decode_hex_escape()
        if not 0xDC00 <= n2 <= 0xDFFF:
            raise self.error(_LONE_SURROGATE)
        scratch += chr((((n - 0xD800) << 10) | (n2 - 0xDC00)) + 0x10000).encode()

    def _scan_str(self, validate: bool) -> bytes:
        """The string body after the opening quote, unescaped (escapes only checked unless
        ``validate``, which is serde_json's ``ignore_str``)."""
        scratch = bytearray()
        data = self.data
        while True:
            start = self.index
            match = _STRING_STOP.search(data, start)
            if match is None:
                self.index = self.length
                raise self.error(_EOF_STRING)
            self.index = match.start()
            scratch += data[start : self.index]
            byte = data[self.index]
            if byte == 34:  # closing quote
                self.index += 1
                return bytes(scratch)
            if byte == 92:  # backslash
                self.index += 1
                self._parse_escape(scratch, validate)
            else:
                self.index += 1
                raise self.error(_CONTROL)

    def parse_str(self) -> str:
        raw = self._scan_str(validate=True)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(_INVALID_CODE_POINT) from None

    # -- numbers ---------------------------------------------------------------------------

    def parse_integer(self, positive: bool) -> _Number:
        """serde_json's ``parse_integer`` (the sign has been consumed)."""
        start = self.index
        first = self.next_char()
        if first is None:
            raise self.error(_EOF_VALUE)
        if first == 48:  # '0': only one leading zero
            if self.peek_or_null() in _DIGITS:
                raise self.peek_error(_INVALID_NUMBER)
        elif 49 <= first <= 57:
            while self.peek_or_null() in _DIGITS:
                self.index += 1
        else:
            raise self.error(_INVALID_NUMBER)
        is_float = False
        if self.peek_or_null() == 46:  # '.'
            self.index += 1
            digits = 0
            while self.peek_or_null() in _DIGITS:
                self.index += 1
                digits += 1
            if digits == 0:
                if self.peek() is None:
                    raise self.peek_error(_EOF_VALUE)
                raise self.peek_error(_INVALID_NUMBER)
            is_float = True
        if self.peek_or_null() in (101, 69):  # e E
            self.index += 1
            if self.peek_or_null() in (43, 45):
                self.index += 1
            got = self.next_char()
            if got is None:
                raise self.error(_EOF_VALUE)
            if got not in _DIGITS:
                raise self.error(_INVALID_NUMBER)
            while self.peek_or_null() in _DIGITS:
                self.index += 1
            is_float = True
        text = self.data[start : self.index]
        if not is_float:
            significand = int(text)
            if positive and significand <= _U64_MAX:
                return _Number("u", significand)
            if not positive and significand == 0:
                return _Number("f", -0.0)
            if not positive and significand <= 1 << 63:
                return _Number("i", -significand)
        value = float(text) if positive else -float(text)
        if math.isinf(value):
            raise self.error(_OUT_OF_RANGE)
        return _Number("f", value)

    # -- generic structure -------------------------------------------------------------------

    def peek_invalid_type(self, expected: str) -> JsonBodyError:
        peek = self.peek_or_null()
        if peek == 110:  # n
            self.index += 1
            self.parse_ident(b"ull")
            unexpected = "null"
        elif peek == 116:  # t
            self.index += 1
            self.parse_ident(b"rue")
            unexpected = "boolean `true`"
        elif peek == 102:  # f
            self.index += 1
            self.parse_ident(b"alse")
            unexpected = "boolean `false`"
        elif peek == 45:  # -
            self.index += 1
            unexpected = self.parse_integer(False).unexpected()
        elif peek in _DIGITS:
            unexpected = self.parse_integer(True).unexpected()
        elif peek == 34:  # "
            self.index += 1
            unexpected = f"string {rust_debug_str(self.parse_str())}"
        elif peek == 91:
            unexpected = "sequence"
        elif peek == 123:
            unexpected = "map"
        else:
            return self.peek_error(_EXPECTED_VALUE)
        return self.fix_position(JsonBodyError(f"invalid type: {unexpected}, expected {expected}"))

    def _enter(self) -> None:
        self.remaining_depth -= 1
        if self.remaining_depth == 0:
            raise self.peek_error(_RECURSION)
        self.index += 1

    def end_seq(self) -> None:
        got = self.parse_whitespace()
        if got == 93:  # ]
            self.index += 1
        elif got == 44:  # ,
            self.index += 1
            if self.parse_whitespace() == 93:
                raise self.peek_error(_TRAILING_COMMA)
            raise self.peek_error(_TRAILING)
        elif got is None:
            raise self.peek_error(_EOF_LIST)
        else:
            raise self.peek_error(_TRAILING)

    def end_map(self) -> None:
        got = self.parse_whitespace()
        if got == 125:  # }
            self.index += 1
        elif got == 44:
            raise self.peek_error(_TRAILING_COMMA)
        elif got is None:
            raise self.peek_error(_EOF_OBJECT)
        else:
            raise self.peek_error(_TRAILING)

    def _finish(self, visit: Callable[[], Any], end: Callable[[], None]) -> Any:
        # serde_json evaluates `(ret, self.end_seq())` as a tuple: the end is parsed (moving the
        # position) even after the visitor failed, and the visitor's error wins.
        try:
            value = visit()
        except JsonBodyError as err:
            self.remaining_depth += 1
            try:
                end()
            except JsonBodyError:
                pass
            raise self.fix_position(err) from None
        self.remaining_depth += 1
        try:
            end()
        except JsonBodyError as err:
            raise self.fix_position(err) from None
        return value

    def has_next_element(self, first: bool) -> bool:
        peek = self.parse_whitespace()
        if peek is None:
            raise self.peek_error(_EOF_LIST)
        if peek == 93:
            return False
        if first:
            return True
        if peek == 44:
            self.index += 1
            got = self.parse_whitespace()
            if got == 93:
                raise self.peek_error(_TRAILING_COMMA)
            if got is None:
                raise self.peek_error(_EOF_VALUE)
            return True
        raise self.peek_error(_EXPECTED_LIST_COMMA)

    def next_key(self, first: bool) -> str | None:
        peek = self.parse_whitespace()
        if peek == 125:
            return None
        if peek == 44 and not first:
            self.index += 1
            peek = self.parse_whitespace()
        elif peek is None:
            raise self.peek_error(_EOF_OBJECT)
        elif not first:
            raise self.peek_error(_EXPECTED_OBJECT_COMMA)
        if peek == 34:
            self.index += 1
            return self.parse_str()
        if peek == 125:
            raise self.peek_error(_TRAILING_COMMA)
        if peek is None:
            raise self.peek_error(_EOF_VALUE)
        raise self.peek_error(_KEY_STRING)

    def parse_object_colon(self) -> None:
        got = self.parse_whitespace()
        if got == 58:
            self.index += 1
        elif got is None:
            raise self.peek_error(_EOF_OBJECT)
        else:
            raise self.peek_error(_EXPECTED_COLON)

    def ignore_value(self) -> None:
        """serde_json's ``ignore_value`` (``IgnoredAny``): syntax only, no depth limit."""
        stack: list[int] = []
        while True:
            peek = self.parse_whitespace()
            if peek is None:
                raise self.peek_error(_EOF_VALUE)
            frame: int | None = None
            if peek == 110:
                self.index += 1
                self.parse_ident(b"ull")
            elif peek == 116:
                self.index += 1
                self.parse_ident(b"rue")
            elif peek == 102:
                self.index += 1
                self.parse_ident(b"alse")
            elif peek == 45:
                self.index += 1
                self._ignore_integer()
            elif peek in _DIGITS:
                self._ignore_integer()
            elif peek == 34:
                self.index += 1
                self._scan_str(validate=False)
            elif peek in (91, 123):
                self.index += 1
                frame = peek
            else:
                raise self.peek_error(_EXPECTED_VALUE)
            if frame is not None:
                accept_comma = False
            elif stack:
                frame = stack.pop()
                accept_comma = True
            else:
                return
            while True:
                got = self.parse_whitespace()
                if got == 44 and accept_comma:
                    self.index += 1
                    break
                if (got == 93 and frame == 91) or (got == 125 and frame == 123):
                    self.index += 1
                    if not stack:
                        return
                    frame = stack.pop()
                    accept_comma = True
                    continue
                if got is None:
                    raise self.peek_error(_EOF_LIST if frame == 91 else _EOF_OBJECT)
                if accept_comma:
                    raise self.peek_error(
                        _EXPECTED_LIST_COMMA if frame == 91 else _EXPECTED_OBJECT_COMMA
                    )
                break
            if frame == 123:
                got = self.parse_whitespace()
                if got == 34:
                    self.index += 1
                elif got is None:
                    raise self.peek_error(_EOF_OBJECT)
                else:
                    raise self.peek_error(_KEY_STRING)
                self._scan_str(validate=False)
                got = self.parse_whitespace()
                if got == 58:
                    self.index += 1
                elif got is None:
                    raise self.peek_error(_EOF_OBJECT)
                else:
                    raise self.peek_error(_EXPECTED_COLON)
            stack.append(frame)

    def _ignore_integer(self) -> None:
        first = self.peek_or_null()
        if self.index < self.length:
            self.index += 1
        if first == 48:
            if self.peek_or_null() in _DIGITS:
                raise self.peek_error(_INVALID_NUMBER)
        elif 49 <= first <= 57:
            while self.peek_or_null() in _DIGITS:
                self.index += 1
        else:
            raise self.error(_INVALID_NUMBER)
        if self.peek_or_null() == 46:
            self.index += 1
            digits = 0
            while self.peek_or_null() in _DIGITS:
                self.index += 1
                digits += 1
            if not digits:
                raise self.peek_error(_INVALID_NUMBER)
        if self.peek_or_null() in (101, 69):
            self.index += 1
            if self.peek_or_null() in (43, 45):
                self.index += 1
            got = self.peek_or_null()
            if self.index < self.length:
                self.index += 1
            if got not in _DIGITS:
                raise self.error(_INVALID_NUMBER)
            while self.peek_or_null() in _DIGITS:
                self.index += 1

    # -- typed readers ---------------------------------------------------------------------

    def read_string(self) -> str:
        return str(self._read_str_with("a string", lambda s: s))

    def _read_str_with(self, expected: str, visit: Callable[[str], Any]) -> Any:
        peek = self.parse_whitespace()
        if peek is None:
            raise self.peek_error(_EOF_VALUE)
        if peek != 34:
            raise self.peek_invalid_type(expected)
        self.index += 1
        text = self.parse_str()
        try:
            return visit(text)
        except JsonBodyError as err:
            raise self.fix_position(err) from None

    def read_number(self, expected: str) -> _Number:
        peek = self.parse_whitespace()
        if peek is None:
            raise self.peek_error(_EOF_VALUE)
        if peek == 45:
            self.index += 1
            return self.parse_integer(False)
        if peek in _DIGITS:
            return self.parse_integer(True)
        raise self.peek_invalid_type(expected)

    def read_option(self, inner: _Reader) -> Any:
        if self.parse_whitespace() == 110:
            self.index += 1
            self.parse_ident(b"ull")
            return None
        return inner(self)

    def read_seq(self, element: _Reader) -> list[Any]:
        peek = self.parse_whitespace()
        if peek is None:
            raise self.peek_error(_EOF_VALUE)
        if peek != 91:
            raise self.peek_invalid_type("a sequence")
        self._enter()

        def visit() -> list[Any]:
            items: list[Any] = []
            while self.has_next_element(not items):
                items.append(element(self))
            return items

        result: list[Any] = self._finish(visit, self.end_seq)
        return result

    def read_name_map(self) -> dict[str, list[str]]:
        """``HashMap<ValidName, Vec<ValidName>>`` (AUDITOR's ``ValidMeta``)."""
        peek = self.parse_whitespace()
        if peek is None:
            raise self.peek_error(_EOF_VALUE)
        if peek != 123:
            raise self.peek_invalid_type("a map")
        self._enter()

        def visit() -> dict[str, list[str]]:
            result: dict[str, list[str]] = {}
            first = True
            while (key := self.next_key(first)) is not None:
                first = False
                _check_name(key)
                self.parse_object_colon()
                # A repeated key replaces the earlier value, as HashMap::insert does.
                result[key] = self.read_seq(_read_name)
            return result

        mapping: dict[str, list[str]] = self._finish(visit, self.end_map)
        return mapping

    def read_struct(self, name: str, fields: tuple[_Field, ...]) -> list[Any]:
        """A serde-derived struct: a JSON object, or a JSON array read positionally."""
        peek = self.parse_whitespace()
        if peek is None:
            raise self.peek_error(_EOF_VALUE)
        if peek == 91:
            self._enter()

            def visit_seq() -> list[Any]:
                values: list[Any] = []
                for position, field in enumerate(fields):
                    if not self.has_next_element(position == 0):
                        raise JsonBodyError(
                            f"invalid length {position}, expected struct {name} "
                            f"with {len(fields)} elements"
                        )
                    values.append(field.read(self))
                return values

            result: list[Any] = self._finish(visit_seq, self.end_seq)
            return result
        if peek != 123:
            raise self.peek_invalid_type(f"struct {name}")
        self._enter()
        by_name = {field.name: index for index, field in enumerate(fields)}

        def visit_map() -> list[Any]:
            found: dict[int, Any] = {}
            first = True
            while (key := self.next_key(first)) is not None:
                first = False
                index = by_name.get(key)
                if index is None:
                    self.parse_object_colon()
                    self.ignore_value()
                    continue
                if index in found:
                    raise JsonBodyError(f"duplicate field `{key}`")
                self.parse_object_colon()
                found[index] = fields[index].read(self)
            values: list[Any] = []
            for index, field in enumerate(fields):
                if index in found:
                    values.append(found[index])
                elif field.optional:
                    values.append(None)
                else:
                    raise JsonBodyError(f"missing field `{field.name}`")
            return values

        mapping_result: list[Any] = self._finish(visit_map, self.end_map)
        return mapping_result

    def end(self) -> None:
        if self.parse_whitespace() is not None:
            raise self.peek_error(_TRAILING)


def _check_name(value: str) -> str:
    if not is_valid_name(value):
        # ValidName's Deserialize: anyhow context "Parsing '{buf}' failed" (no period).
        raise JsonBodyError(f"Parsing '{value}' failed")
    return value


def _read_name(de: _Deserializer) -> str:
    return _check_name(de.read_string())


def _read_amount(de: _Deserializer) -> int:
    number = de.read_number("i64")
    if number.kind == "f":
        raise de.fix_position(JsonBodyError(f"invalid type: {number.unexpected()}, expected i64"))
    if number.value > _I64_MAX:
        raise de.fix_position(JsonBodyError(f"invalid value: {number.unexpected()}, expected i64"))
    amount = int(number.value)
    if amount < 0:
        raise JsonBodyError(f"Parsing '{amount}' failed.")
    return amount


def _read_score_value(de: _Deserializer) -> float:
    value = float(de.read_number("f64").value)
    if value < 0.0:
        raise JsonBodyError(f"Parsing '{_rust_display_f64(value)}' failed.")
    return value


def _parse_time(text: str) -> int:
    try:
        return parse_timestamp(text)
    except ChronoError as err:
        raise JsonBodyError(str(err)) from None


def _read_time(de: _Deserializer) -> int:
    ns: int = de._read_str_with("an RFC 3339 formatted date and time string", _parse_time)
    return ns


def _read_score(de: _Deserializer) -> tuple[str, float]:
    name, value = de.read_struct("Score", _SCORE_FIELDS)
    return name, value


def _read_component(de: _Deserializer) -> Component:
    name, amount, scores = de.read_struct("Component", _COMPONENT_FIELDS)
    return Component(name, amount, scores)


_SCORE_FIELDS = (
    _Field("name", _read_name, False),
    _Field("value", _read_score_value, False),
)
_COMPONENT_FIELDS = (
    _Field("name", _read_name, False),
    _Field("amount", _read_amount, False),
    _Field("scores", lambda de: de.read_seq(_read_score), False),
)
_META = _Field("meta", lambda de: de.read_option(_Deserializer.read_name_map), True)
_COMPONENTS = _Field("components", lambda de: de.read_seq(_read_component), False)
_RECORD_ADD_FIELDS = (
    _Field("record_id", _read_name, False),
    _META,
    _COMPONENTS,
    _Field("start_time", _read_time, False),
    _Field("stop_time", lambda de: de.read_option(_read_time), True),
)
_RECORD_UPDATE_FIELDS = (
    _Field("record_id", _read_name, False),
    _META,
    _COMPONENTS,
    _Field("start_time", lambda de: de.read_option(_read_time), True),
    _Field("stop_time", _read_time, False),
)


def _read_add(de: _Deserializer) -> IncomingRecord:
    return IncomingRecord(*de.read_struct("RecordAdd", _RECORD_ADD_FIELDS))


def _read_update(de: _Deserializer) -> IncomingRecord:
    return IncomingRecord(*de.read_struct("RecordUpdate", _RECORD_UPDATE_FIELDS))


def _exact(body: bytes, reader: _Reader) -> Any:
    de = _Deserializer(body)
    value = reader(de)
    de.end()
    return value


# --------------------------------------------------------------------------------------------
# The fast reader


class _Unsure(Exception):
    """The fast reader cannot vouch for this body; the exact reader decides."""


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abAB]")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Unsure  # duplicate keys: serde rejects them in structs, keeps the last in maps
    return result


def _fast_int(text: str) -> int:
    if text == "-0":
        raise _Unsure  # serde_json reads -0 as the float -0.0
    return int(text)


def _fast_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Unsure
    return value


def _reject_constant(text: str) -> Any:
    raise _Unsure


_decoder = json.JSONDecoder(
    object_pairs_hook=_pairs,
    parse_int=_fast_int,
    parse_float=_fast_float,
    parse_constant=_reject_constant,
)


def _fast_name(value: Any) -> str:
    if type(value) is not str or not is_valid_name(value):
        raise _Unsure
    return value


def _fast_time(value: Any) -> int:
    if type(value) is not str:
        raise _Unsure
    try:
        return parse_timestamp(value)
    except ChronoError:
        raise _Unsure from None


def _fast_record(item: Any, update: bool) -> IncomingRecord:
    if type(item) is not dict:
        raise _Unsure
    record_id = _fast_name(item.get("record_id"))
    meta = item.get("meta")
    if meta is not None:
        if type(meta) is not dict:
            raise _Unsure
        for key, values in meta.items():
            _fast_name(key)
            if type(values) is not list:
                raise _Unsure
            for value in values:
                _fast_name(value)
    raw_components = item.get("components")
    if type(raw_components) is not list:
        raise _Unsure
    components = []
    for raw in raw_components:
        if type(raw) is not dict:
            raise _Unsure
        amount = raw.get("amount")
        if type(amount) is not int or not 0 <= amount <= _I64_MAX:
            raise _Unsure
        raw_scores = raw.get("scores")
        if type(raw_scores) is not list:
            raise _Unsure
        scores = []
        for score in raw_scores:
            if type(score) is not dict:
                raise _Unsure
            value = score.get("value")
            if type(value) is int:
                value = float(value)
            if type(value) is not float or value < 0.0:
                raise _Unsure
            scores.append((_fast_name(score.get("name")), value))
        components.append(Component(_fast_name(raw.get("name")), amount, scores))
    start = item.get("start_time")
    stop = item.get("stop_time")
    if update:
        start_ns = None if start is None else _fast_time(start)
        stop_ns: int | None = _fast_time(stop)
    else:
        start_ns = _fast_time(start)
        stop_ns = None if stop is None else _fast_time(stop)
    return IncomingRecord(record_id, meta, components, start_ns, stop_ns)


def _fast_read(body: bytes) -> Any:
    if _SURROGATE_ESCAPE.search(body):
        raise _Unsure
    try:
        return _decoder.decode(body.decode("utf-8"))
    except (ValueError, RecursionError, OverflowError):
        raise _Unsure from None


def read_record(body: bytes) -> IncomingRecord:
    """Read a ``POST /record`` body (``RecordAdd``).

    Raises:
        JsonBodyError: the body is not what serde_json would accept.
    """
    try:
        return _fast_record(_fast_read(body), update=False)
    except (_Unsure, OverflowError):
        result: IncomingRecord = _exact(body, _read_add)
        return result


def read_update(body: bytes) -> IncomingRecord:
    """Read a ``PUT /record`` body (``RecordUpdate``).

    Raises:
        JsonBodyError: the body is not what serde_json would accept.
    """
    try:
        return _fast_record(_fast_read(body), update=True)
    except (_Unsure, OverflowError):
        result: IncomingRecord = _exact(body, _read_update)
        return result


def read_records(body: bytes) -> list[IncomingRecord]:
    """Read a ``POST /records`` body (``Vec<RecordAdd>``).

    Raises:
        JsonBodyError: the body is not what serde_json would accept.
    """
    try:
        items = _fast_read(body)
        if type(items) is not list:
            raise _Unsure
        return [_fast_record(item, update=False) for item in items]
    except (_Unsure, OverflowError):
        result: list[IncomingRecord] = _exact(body, lambda de: de.read_seq(_read_add))
        return result
