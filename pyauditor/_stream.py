"""Incremental decoding of streamed JSON values (``GET /records`` bodies, record files).

AUDITOR 0.9 and newer stream the matching records as JSON objects concatenated with no separator
(``{..}{..}``, an empty body for no result); servers 0.4 to 0.8 sent a JSON array.  Proxies and
hand-made servers also produce newline-delimited objects.  :class:`ObjectStreamDecoder` accepts
all of these, fed in chunks of any size (a value may be split anywhere, even inside a UTF-8
sequence), and hands out each top-level value as soon as it is complete, so a result of any
length is decoded in memory bounded by the largest single value, which is itself bounded
(``max_value_bytes``).

Time is linear in the input, whatever it holds.  Values complete within the text received are
parsed in place by the C scanner behind ``json.loads``.  A value cut off by the end of a chunk
is not parsed again from its start on every chunk (which made a 16 MB unterminated value cost
8 s): its end is found by a scanner that keeps its state (nesting depth, inside a string or
not) across chunks and looks at every character once, and the value is parsed once, when it
is complete.

Every value comes with the exact text it was parsed from, its index in the stream and the byte
offset where it starts.  Malformed input raises :class:`~pyauditor.StreamDecodeError` naming
the index and byte offset of the bad value; values before it have already been handed out,
nothing after it is guessed at.  No other exception escapes: deep nesting, huge numbers and
invalid UTF-8 are malformed input like any other.

The record decoder (:mod:`pyauditor._record_codec`) puts a faster path in front of this one for
the server's own layout and falls back to it for anything else.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, NoReturn, TypeVar

from ._errors import StreamDecodeError

__all__ = ["MAX_VALUE_BYTES", "ObjectStreamDecoder", "StreamObject", "parse_error_reason"]

MAX_VALUE_BYTES = 64 * 1024 * 1024
"""Default bound of a single value the decoder buffers while waiting for the rest of it."""

_EXCERPT = 120
_TAIL_CHARS = 4096
_next_non_blank = re.compile(r"[^ \t\n\r]").search
# Where a container's structure changes, outside strings, and where a string may end.
_structural = re.compile(r'["{}\[\]]').search
_string_special = re.compile(r'["\\]').search
# Where a top-level number or literal ends.
_scalar_end = re.compile(r'[ \t\n\r,\[\]{}"]').search
# A literal or number cut off at the end of the data looks like an error to the scanner; this
# matches such a tail (including the empty one), so the decoder waits for more data instead.
_incomplete_token = re.compile(
    r"t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?|-?\d*(?:\.\d*)?(?:[eE][-+]?\d*)?"
).fullmatch
# The C scanner behind json.loads, which parses one value at a given position.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


_T = TypeVar("_T")


class StreamObject(NamedTuple):
    """One decoded top-level value of a stream."""

    value: Any
    """The parsed JSON value (a dict for every well-formed record)."""
    text: str
    """The exact text the value was parsed from."""
    position: int
    """Zero-based position of the value in the stream."""
    offset: int
    """Byte offset of the value's first byte in the body."""


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def parse_error_reason(error: BaseException) -> str:
    """What a parse failure of the C scanner or msgspec means, in one line."""
    if isinstance(error, RecursionError):
        return "the value is nested too deeply to decode"
    if isinstance(error, json.JSONDecodeError):
        return error.msg
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


class _Pending:
    """The part of a value received so far, and where its scan stands (see the module doc)."""

    __slots__ = ("chars", "depth", "escape", "in_string", "kind", "offset", "pieces")

    def __init__(self, first: str, offset: int) -> None:
        self.pieces = [first]
        self.chars = 0
        self.offset = offset  # byte offset of the value's first character
        char = first[0]
        self.kind = "container" if char in "{[" else "string" if char == '"' else "scalar"
        self.depth = 0
        self.in_string = False
        self.escape = False

    def scan(self, text: str, pos: int) -> int:
        """Scan ``text`` from ``pos`` on; return where the value ends in it, or -1."""
        end = len(text)
        if self.kind == "scalar":
            found = _scalar_end(text, pos)
            return -1 if found is None else found.start()
        depth = self.depth
        in_string = self.in_string
        try:
            while True:
                if in_string:
                    if self.escape:
                        if pos >= end:
                            return -1
                        pos += 1
                        self.escape = False
                    found = _string_special(text, pos)
                    if found is None:
                        return -1
                    pos = found.end()
                    if text[found.start()] == "\\":
                        self.escape = True
                        continue
                    in_string = False
                    if depth == 0:  # a top-level string
                        return pos
                    continue
                found = _structural(text, pos)
                if found is None:
                    return -1
                pos = found.end()
                char = text[found.start()]
                if char == '"':
                    in_string = True
                elif char in "{[":
                    depth += 1
                else:
                    depth -= 1
                    if depth <= 0:
                        return pos
        finally:
            self.depth = depth
            self.in_string = in_string


class ObjectStreamDecoder(Generic[_T]):
    """Split a body of concatenated, newline-delimited or array-wrapped JSON values.

    Feed it bytes with :meth:`feed`, which returns the values completed by that chunk, and call
    :meth:`finish` after the last chunk, which returns a value completed by the end of the body
    and raises if the body ends inside a value or an array.  Each value is handed to
    ``factory(value, text, position, offset)`` (by default building a :class:`StreamObject`),
    so callers can build their own objects without an intermediate one.  A value larger than
    ``max_value_bytes`` is an error.  One decoder per response; not thread-safe.
    """

    __slots__ = (
        "_array",
        "_closed",
        "_decoder",
        "_error",
        "_factory",
        "_index",
        "_limit",
        "_offset",
        "_pending",
        "_text",
        "_too_large",
    )

    def __init__(
        self,
        factory: Callable[[Any, str, int, int], _T] | None = None,
        *,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self._factory: Callable[[Any, str, int, int], Any] = factory or StreamObject
        self._limit = max_value_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._text = ""  # received, not yet consumed (empty while a value is pending)
        self._offset = 0  # byte offset of _text[0] in the body
        self._pending: _Pending | None = None
        self._array: bool | None = None  # None until the first non-blank character
        self._closed = False  # the closing bracket of an array was consumed
        self._index = 0
        # Set once the body is known to be malformed; every later call raises it.  Values
        # completed before the problem in the same chunk are handed out first.
        self._error: StreamDecodeError | None = None
        self._too_large = False

    @property
    def count(self) -> int:
        """How many values were handed out so far."""
        return self._index

    @property
    def too_large(self) -> bool:
        """True once decoding stopped at a value larger than ``max_value_bytes``."""
        return self._too_large

    @property
    def idle(self) -> bool:
        """True between values: nothing of a value is buffered (and no array is open)."""
        return (
            self._pending is None
            and not self._text.strip(" \t\n\r")
            and not self._array
            and self._error is None
        )

    @property
    def offset(self) -> int:
        """Byte offset of the first byte not consumed yet."""
        return self._offset if self._pending is None else self._pending.offset

    def start_at(self, index: int, offset: int) -> None:
        """Continue a stream whose first ``index`` values (``offset`` bytes) were decoded elsewhere.

        Only for a fresh decoder; the body is known to be concatenated objects.
        """
        self._index = index
        self._offset = offset
        self._array = False

    def feed(self, chunk: bytes) -> list[_T]:
        """Add ``chunk`` to the body and return the values it completes.

        Raises:
            StreamDecodeError: the body is malformed.  Values completed before the malformed
                one are returned first; the error is raised by the next call then.
        """
        if self._error is not None:
            raise self._error
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError as error:
            return self._invalid_utf8(error)
        if not text:
            return []
        return self._take(text, final=False)

    def _invalid_utf8(self, error: UnicodeDecodeError) -> list[_T]:
        """Hand out the values before the invalid bytes, then fail at the value holding them."""
        out: list[_T] = []
        try:
            prefix = bytes(error.object[: error.start]).decode("utf-8")
            if prefix:
                out = self._take(prefix, final=False)
            self._fail(f"invalid UTF-8 ({error.reason})", 0)
        except StreamDecodeError:
            if not out:
                raise
        return out

    def finish(self) -> list[_T]:
        """Signal the end of the body: return what is left and check that nothing is cut off.

        Raises:
            StreamDecodeError: the body is malformed or cut off (after the values before the
                problem were returned, see :meth:`feed`).
        """
        if self._error is not None:
            raise self._error
        try:
            text = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            self._fail(f"the body ends inside a UTF-8 sequence ({error.reason})", 0)
        values = self._take(text, final=True)
        if self._array and not self._closed:
            try:
                self._fail("the body ends inside a JSON array (no closing ']')", len(self._text))
            except StreamDecodeError:
                if not values:
                    raise
        return values

    def _take(self, text: str, *, final: bool) -> list[_T]:
        out: list[_T] = []
        try:
            pending = self._pending
            if pending is not None:
                text = self._continue(pending, text, out, final=final)
                if self._pending is not None:
                    return out
            self._text = self._text + text if self._text else text
            self._drain_into(out, final=final)
        except StreamDecodeError:
            if not out:
                raise
        return out

    def _continue(self, pending: _Pending, text: str, out: list[_T], *, final: bool) -> str:
        """Go on with a value cut off earlier; return the text after it ("" if still open)."""
        end = pending.scan(text, 0) if text else -1
        if end < 0:
            if text:
                pending.pieces.append(text)
                pending.chars += _utf8_length(text)
                self._check_size(pending.chars, pending.offset, pending.pieces[0])
            if not final:
                return ""
            end = len(text)  # the body ended: parse what there is, which reports the problem
        value_text = "".join(pending.pieces) + text[:end]
        self._pending = None
        self._check_size(pending.chars + _utf8_length(text[:end]), pending.offset, value_text)
        self._parse_whole(value_text, pending.offset, out, final=final)
        self._offset = pending.offset + _utf8_length(value_text)
        return text[end:]

    def _parse_whole(self, value_text: str, offset: int, out: list[_T], *, final: bool) -> None:
        index = self._index
        start = 0
        found = _next_non_blank(value_text)
        if found is not None:
            start = found.start()
        try:
            value, stop = _scan_once(value_text, start)
        except StopIteration as stop_error:
            self._fail("expected a JSON value", stop_error.value, value_text, 0, offset)
        except (ValueError, RecursionError) as error:
            pos = error.pos if isinstance(error, json.JSONDecodeError) else 0
            self._fail(parse_error_reason(error), pos, value_text, 0, offset)
        if stop != len(value_text):
            self._fail("expected the end of the value", stop, value_text, 0, offset)
        out.append(self._factory(value, value_text, index, offset))
        self._index = index + 1

    def _check_size(self, size: int, offset: int, text: str) -> None:
        if size > self._limit:
            self._too_large = True
            self._fail(
                f"larger than the limit of {self._limit} bytes for one value",
                0,
                text,
                0,
                offset,
            )

    def _drain_into(self, out: list[_T], *, final: bool) -> None:
        text = self._text
        end = len(text)
        append = out.append
        factory = self._factory
        scan = _scan_once
        limit = self._limit
        pos = 0
        # Byte offsets: for ASCII text (the common case) a byte is a character, so the offset of
        # position p is base + p; otherwise base is moved along as text is consumed.
        ascii_text = text.isascii()
        base = self._offset  # byte offset of text[mark]
        mark = 0
        index = self._index
        concatenated = self._array is False
        try:
            while True:
                if concatenated and pos < end and text[pos] == "{":
                    start = pos  # the common case: one record right after the other
                else:
                    found = _next_non_blank(text, pos)
                    start = found.start() if found is not None else end
                    pos = start
                    if pos >= end:
                        break
                    char = text[pos]
                    if self._closed:
                        self._index = index
                        at = base + (pos - mark if ascii_text else _utf8_length(text[mark:pos]))
                        self._fail("data after the end of the JSON array", pos, text, pos, at)
                    if self._array is None:
                        self._array = char == "["
                        concatenated = not self._array
                        if self._array:
                            pos += 1
                            continue
                    if index and char == ",":
                        # Separates array elements; between bare objects (`{A},{B}`) no server
                        # sends it, but it is unambiguous, so it is accepted there too.
                        pos += 1
                        continue
                    if self._array and char == "]":
                        self._closed = True
                        pos += 1
                        continue
                if not ascii_text:
                    base += _utf8_length(text[mark:start])
                    mark = start
                offset = base + start - mark
                # A value near the end of a long text is usually one cut off by the chunk's
                # end, and the scanner's error for it would count the lines of all the text
                # before it (JSONDecodeError's lineno, 64 KiB per chunk): scan a copy of the
                # tail instead, and shift positions back by `shift`.
                shift = start if start > _TAIL_CHARS >= end - start else 0
                try:
                    value, stop = scan(text[shift:] if shift else text, start - shift)
                except StopIteration as stop_error:
                    error_pos = stop_error.value + shift
                    if not final and self._may_continue(text, error_pos, ""):
                        self._index = index
                        self._suspend(text, start, offset, "expected a JSON value", error_pos)
                        pos = end
                        break
                    self._index = index
                    self._fail("expected a JSON value", error_pos, text, start, offset)
                except (ValueError, RecursionError) as error:
                    if isinstance(error, json.JSONDecodeError):
                        error_pos = error.pos + shift
                        message = error.msg
                    else:
                        error_pos, message = start, parse_error_reason(error)
                    if not final and self._may_continue(text, error_pos, message):
                        self._index = index
                        self._suspend(text, start, offset, message, error_pos)
                        pos = end
                        break
                    self._index = index
                    self._fail(message, error_pos, text, start, offset)
                stop += shift
                if stop >= end and not final and not isinstance(value, dict | list):
                    # A number (or literal) at the very end of the data may still grow.
                    self._index = index
                    self._suspend(text, start, offset, "cut off", stop)
                    pos = end
                    break
                if stop - start > limit:
                    self._index = index
                    self._check_size(stop - start, offset, text[start:stop])
                append(factory(value, text[start:stop], index, offset))
                index += 1
                pos = stop
        finally:
            # Drop what was consumed, so memory stays bounded by the value being assembled.
            if self._pending is None:
                self._offset = base + (pos - mark if ascii_text else _utf8_length(text[mark:pos]))
                self._text = text[pos:]
                self._index = index
            else:
                self._text = ""

    def _suspend(self, text: str, start: int, offset: int, reason: str, error_pos: int) -> None:
        """Keep the value starting at ``start`` for the next chunk, or fail if it is complete.

        The C scanner stopped at the end of the data; the value's own scan tells whether it
        really is cut off there (then it waits for more) or ends inside the text, broken.
        """
        first = text[start:]
        pending = _Pending(first, offset)
        if pending.scan(first, 0) >= 0:
            self._fail(reason, error_pos, text, start, offset)
        pending.chars = _utf8_length(first)
        self._check_size(pending.chars, offset, first)
        self._pending = pending

    @staticmethod
    def _may_continue(text: str, error_pos: int, message: str) -> bool:
        """Whether the parse error at ``error_pos`` could be cured by more data."""
        if message.startswith("Unterminated string"):
            return True
        if message.startswith("Invalid \\uXXXX escape"):
            # An escape (or the second half of a surrogate pair) cut off by the end of the data.
            return len(text) - error_pos < 12
        return _incomplete_token(text, error_pos) is not None

    def _fail(
        self,
        reason: str,
        error_pos: int,
        text: str | None = None,
        start: int = 0,
        offset: int | None = None,
    ) -> NoReturn:
        if text is None:
            text, start, offset = self._text, 0, self.offset
        assert offset is not None
        excerpt = text[start : start + _EXCERPT]
        position = f" (character {error_pos - start} of it)" if error_pos > start else ""
        self._error = StreamDecodeError(
            f"malformed GET /records body: value #{self._index} at byte {offset}: "
            f"{reason}{position}; it starts with {excerpt!r}",
            index=self._index,
            offset=offset,
            body=excerpt,
        )
        raise self._error
