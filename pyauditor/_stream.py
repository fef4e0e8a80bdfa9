"""Incremental decoding of ``GET /records`` bodies, independent of any I/O.

AUDITOR 0.9 and newer stream the matching records as JSON objects concatenated with no separator
(``{..}{..}``, an empty body for no result); servers 0.4 to 0.8 sent a JSON array.  Proxies and
hand-made servers also produce newline-delimited objects.  :class:`ObjectStreamDecoder` accepts
all of these, fed in chunks of any size (an object may be split anywhere, even inside a UTF-8
sequence), and hands out each top-level value as soon as it is complete, so a result of any
length is decoded in memory bounded by the largest single object.

Every value comes with the exact text it was parsed from, its index in the stream and the byte
offset where it starts.  Keeping the text is what lets callers drop the parsed tree: a parsed
record is eight or so dicts and lists that the cyclic garbage collector traverses again and again
while a large result accumulates, which made decoding 100k records five times slower than the
parsing itself.  Callers keep the text and re-parse the parts they need on demand.

Malformed input raises :class:`~pyauditor.StreamDecodeError` naming the index and byte offset of
the bad value; values before it have already been handed out, nothing after it is guessed at.

A caller that only needs a little of each value (the record id, say) can pass a
:class:`Shortcut`: a regular expression for the layout it expects, matched at the start of each
value before the JSON scanner is tried.  Matching checks the syntax as the scanner would but
builds no objects, which is most of the scanner's cost; any value the expression does not
match (another layout, whitespace, a value cut off by the end of a chunk, a syntax error) goes
through the scanner as before, so the expression only ever decides *how fast*, never *what*.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, NoReturn, TypeVar

from ._errors import StreamDecodeError

__all__ = ["MAX_OBJECT_CHARS", "ObjectStreamDecoder", "Shortcut", "StreamObject"]

MAX_OBJECT_CHARS = 64 * 1024 * 1024
"""Largest single value the decoder buffers while waiting for the rest of it.

AUDITOR accepts request bodies of at most 2 MiB, so no stored record comes near this; a body that
grows past it without completing a value is malformed, and failing then keeps memory bounded
instead of buffering a broken stream to its end.
"""

_EXCERPT = 120
_TAIL_CHARS = 4096
_next_non_blank = re.compile(r"[^ \t\n\r]").search
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


class Shortcut(NamedTuple, Generic[_T]):
    """A fast path for values of one expected layout (see the module docstring).

    ``pattern`` must match nothing but complete, valid JSON values (a subset of the grammar the
    scanner accepts, ending exactly where the scanner would stop), and must not match an empty
    string.  For a value it matches, ``factory(match.group(1), text, position, offset)`` is
    called instead of the decoder's factory; it must build what the decoder's factory would
    have built from the parsed value.
    """

    pattern: re.Pattern[str]
    factory: Callable[[str, str, int, int], _T]


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class ObjectStreamDecoder(Generic[_T]):
    """Split a body of concatenated, newline-delimited or array-wrapped JSON values.

    Feed it bytes with :meth:`feed`, which returns the values completed by that chunk, and call
    :meth:`finish` after the last chunk, which returns a value completed by the end of the body
    and raises if the body ends inside a value or an array.  Each value is handed to
    ``factory(value, text, position, offset)`` (by default building a :class:`StreamObject`),
    so callers can build their own objects without an intermediate one; values a ``shortcut``
    matches are built by its factory instead.  One decoder per response; not thread-safe.
    """

    __slots__ = (
        "_array",
        "_closed",
        "_decoder",
        "_error",
        "_factory",
        "_index",
        "_offset",
        "_shortcut",
        "_text",
    )

    def __init__(
        self,
        factory: Callable[[Any, str, int, int], _T] | None = None,
        shortcut: Shortcut[_T] | None = None,
    ) -> None:
        self._factory: Callable[[Any, str, int, int], Any] = factory or StreamObject
        self._shortcut = shortcut
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._text = ""  # received, not yet consumed
        self._offset = 0  # byte offset of _text[0] in the body
        self._array: bool | None = None  # None until the first non-blank character
        self._closed = False  # the closing bracket of an array was consumed
        self._index = 0
        # Set once the body is known to be malformed; every later call raises it.  Values
        # completed before the problem in the same chunk are handed out first.
        self._error: StreamDecodeError | None = None

    @property
    def count(self) -> int:
        """How many values were handed out so far."""
        return self._index

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
            self._fail(f"invalid UTF-8 ({error.reason})", 0)
        if not text:
            return []
        self._text = self._text + text if self._text else text
        return self._drain(final=False)

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
        self._text += text
        values = self._drain(final=True)
        if self._array and not self._closed:
            try:
                self._fail("the body ends inside a JSON array (no closing ']')", len(self._text))
            except StreamDecodeError:
                if not values:
                    raise
        return values

    def _drain(self, *, final: bool) -> list[_T]:
        out: list[_T] = []
        try:
            self._drain_into(out, final=final)
        except StreamDecodeError:
            if not out:
                raise
        return out

    def _drain_into(self, out: list[_T], *, final: bool) -> None:
        text = self._text
        end = len(text)
        append = out.append
        factory = self._factory
        scan = _scan_once
        pos = 0
        # Byte offsets: for ASCII text (the common case) a byte is a character, so the offset of
        # position p is base + p; otherwise base is moved along as text is consumed.
        ascii_text = text.isascii()
        base = self._offset  # byte offset of text[mark]
        mark = 0
        index = self._index
        concatenated = self._array is False
        shortcut = self._shortcut
        match = shortcut.pattern.match if shortcut is not None else None
        make = shortcut.factory if shortcut is not None else factory
        missed = -1  # where the shortcut last failed to match (not tried twice)
        try:
            while True:
                if concatenated and match is not None:
                    # The hot loop: values one right after the other, each in the layout the
                    # shortcut knows; anything else ends it and goes the general way below.
                    fast = match(text, pos)
                    while fast is not None:
                        value_text, key = fast.group(0, 1)
                        if not ascii_text:
                            base += _utf8_length(text[mark:pos])
                            mark = pos
                        append(make(key, value_text, index, base + pos - mark))
                        index += 1
                        pos += len(value_text)
                        fast = match(text, pos)
                    missed = pos
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
                if match is not None and start != missed:
                    fast = match(text, start)
                    if fast is not None:
                        stop = fast.end()
                        append(make(fast.group(1), text[start:stop], index, offset))
                        index += 1
                        pos = stop
                        continue
                # A value near the end of a long text is usually one cut off by the chunk's
                # end, and the scanner's error for it would count the lines of all the text
                # before it (JSONDecodeError's lineno, 64 KiB per chunk): scan a copy of the
                # tail instead, and shift positions back by `shift`.
                shift = start if start > _TAIL_CHARS >= end - start else 0
                try:
                    value, stop = scan(text[shift:] if shift else text, start - shift)
                except StopIteration as stop_error:
                    error_pos = stop_error.value + shift
                    if not final and self._may_continue(text, error_pos, start, ""):
                        break
                    self._index = index
                    self._fail("expected a JSON value", error_pos, text, start, offset)
                except json.JSONDecodeError as error:
                    error_pos = error.pos + shift
                    if not final and self._may_continue(text, error_pos, start, error.msg):
                        break
                    self._index = index
                    self._fail(error.msg, error_pos, text, start, offset)
                stop += shift
                if stop >= end and not final and not isinstance(value, dict | list):
                    break  # a number at the very end of the data may still grow
                append(factory(value, text[start:stop], index, offset))
                index += 1
                pos = stop
        finally:
            # Drop what was consumed, so memory stays bounded by the value being assembled.
            self._offset = base + (pos - mark if ascii_text else _utf8_length(text[mark:pos]))
            self._text = text[pos:]
            self._index = index

    @staticmethod
    def _may_continue(text: str, error_pos: int, start: int, message: str) -> bool:
        """Whether the parse error at ``error_pos`` could be cured by more data."""
        if len(text) - start > MAX_OBJECT_CHARS:
            return False
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
            text, start, offset = self._text, 0, self._offset
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
