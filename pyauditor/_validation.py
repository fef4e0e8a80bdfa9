"""Every rule pyauditor checks before anything reaches an AUDITOR server, in one place.

Names
    Record ids, component names, score names, meta keys and meta values must

    * not be blank: at least one character that is not Unicode White_Space (Rust's
      ``str::trim`` definition; a zero-width space is *not* whitespace);
    * have at most 256 extended grapheme clusters (user-perceived characters, UAX #29), so
      ``"e\\u0301" * 256`` (512 code points) is fine;
    * be storable in PostgreSQL ``text``/``jsonb``, AUDITOR's database: encodable as UTF-8 (no
      lone surrogates such as ``"\\ud800"``) and without the NUL character ``"\\x00"``, the only
      valid character PostgreSQL cannot hold (AUDITOR accepts both, then fails the insert
      with ``500 UNEXPECTED_ERROR``, so a queued record would be retried forever);
    * not contain any of the characters ``/ ( ) " < > \\ { }`` -- the rule python-auditor
      documents.  It is enforced by default.  AUDITOR servers 0.7 and newer accept these
      characters, and python-auditor 0.11 never enforced the rule, so it can be relaxed for the
      whole process: :func:`allow_forbidden_characters` from code, or the environment variable
      ``PYAUDITOR_ALLOW_FORBIDDEN_CHARACTERS=1`` (read once, at import) for a collector you
      cannot modify.

    Record ids, component names and score names are checked when they are created; meta keys and
    values when a record is sent or queued, as python-auditor does.  ``Record.validate()``
    checks everything at any time.

Numbers
    * component amount: an integer from 0 to 2**63-1 (``bool`` counts as 0/1); a negative amount
      is a :class:`ValidationError`, a larger one an :class:`OverflowError`, a non-integer a
      :class:`TypeError` (as in python-auditor);
    * score value: anything :class:`float` accepts except strings (int, Decimal, Fraction, ...),
      finite and ``>= 0`` (``-0.0`` is fine).  python-auditor silently sends NaN and infinity as
      ``null``, which the server then rejects; pyauditor rejects them up front;
    * ``Value.set_count``: 0..255; ``Value.set_runtime`` and ``QueryBuilder.limit``: 0..2**64-1,
      with python-auditor's :class:`OverflowError` messages.

Datetimes
    Any timezone-aware datetime, converted to UTC (see :mod:`pyauditor._time`).

Wrong argument *types* raise :class:`TypeError` with python-auditor's messages (``'int' object
is not an instance of 'str'``).  Broken rules raise :class:`~pyauditor.ValidationError`, whose
one-line message names the field, the value (shortened when huge) and the rule.
"""

from __future__ import annotations

import datetime as _dt
import math
import operator
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import ValidationError
from ._time import to_utc
from ._unicode import exceeds_graphemes, is_blank

__all__ = [
    "ENV_ALLOW_FORBIDDEN",
    "FORBIDDEN_CHARACTERS",
    "KNOWN_PLAIN",
    "MAX_AMOUNT",
    "MAX_NAME_GRAPHEMES",
    "PLAIN_NAME",
    "allow_forbidden_characters",
    "are_plain_metas_json",
    "check_amount",
    "check_datetime",
    "check_meta",
    "check_name",
    "check_score_value",
    "check_str",
    "check_str_list",
    "check_u8",
    "check_u64",
    "describe",
    "forbidden_characters_allowed",
    "is_plain",
    "is_plain_meta_json",
    "is_valid_server_name",
    "type_error",
]

FORBIDDEN_CHARACTERS = '/()"<>\\{}'
"""The characters python-auditor's documentation forbids in names."""

MAX_NAME_GRAPHEMES = 256
MAX_AMOUNT = 2**63 - 1
_MAX_U64 = 2**64 - 1

ENV_ALLOW_FORBIDDEN = "PYAUDITOR_ALLOW_FORBIDDEN_CHARACTERS"
"""Environment variable that relaxes the forbidden-character rule when it is ``1``/``true``."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

# Printable ASCII without space, without the forbidden characters, 1..256 long: valid under
# every rule without looking further.  Nearly every real name (site-1, HEPSPEC06, cpu) takes
# this path, which matters when a collector builds hundreds of thousands of records.
PLAIN_NAME = re.compile(r"[!#-'*-.0-;=?-\[\]-z|~]{1,256}")
_FORBIDDEN = re.compile(r'[/()"<>\\{}]')
_SURROGATE = re.compile("[\ud800-\udfff]")

# The bytes a plain name may hold, and the quote that delimits names in JSON.
_PLAIN_JSON_BYTES = bytes(b for b in range(128) if PLAIN_NAME.fullmatch(chr(b))) + b'"'
_MAX_PLAIN_JSON = 258  # "{" + at most 256 bytes + "}": no name inside can be longer than 256


def is_plain_meta_json(data: Any) -> bool:
    """True if ``data``, the compact JSON of a meta object (``{"key":["value",...],...}``, bytes
    or ``msgspec.Raw``), holds only plain names (see :data:`PLAIN_NAME`), judged without
    decoding it: :func:`are_plain_metas_json` of this one meta.  False means "not known to be
    plain" (a longer meta, or one with any other name): check its names one by one.
    """
    return are_plain_metas_json((data,))


def are_plain_metas_json(metas: Sequence[Any]) -> bool:
    """True if every item of ``metas`` holds only plain names, judged together without decoding
    them: a few passes in C over their concatenation.  False: at least one is not known to be
    plain.

    Every item must be the compact JSON of a meta *object* (bytes or ``msgspec.Raw``, as
    ``Record.with_meta`` encodes it).  Between its braces there may be only bytes of plain names
    and quotes: no escape, no whitespace, no non-ASCII byte; ``""`` (an empty name) must not
    occur; and each item is short enough that no name in it can be longer than 256.  Each item
    keeps its two braces, and braces are not plain bytes, so after deleting the plain bytes and
    quotes exactly two bytes per item remain if, and only if, no item holds anything else;
    ``""`` cannot span two items (they meet as ``}{``).  An item without braces (a JSON
    ``null``) would let another's inner braces pass.
    """
    if not metas:
        return True
    joined = b"".join(metas)
    return (
        max(map(len, metas)) <= _MAX_PLAIN_JSON
        and len(joined.translate(None, _PLAIN_JSON_BYTES)) == 2 * len(metas)
        and b'""' not in joined
    )


# Component, score and meta names repeat endlessly ("cpu", "HEPSPEC06", "site_id"); a set
# lookup is cheaper than the regex.  Only plain names are remembered, and those are valid under
# every rule, so the forbidden-character switch never invalidates the set.
KNOWN_PLAIN: set[str] = set()
"""Plain names seen so far; callers may test membership before calling :func:`is_plain`."""
_KNOWN_LIMIT = 4096


def is_plain(value: str) -> bool:
    """True if ``value`` (a str) is a plain name: valid under every rule without further checks.

    Plain names are remembered in :data:`KNOWN_PLAIN`, so a repeated name costs a set lookup.
    """
    if value in KNOWN_PLAIN:
        return True
    if PLAIN_NAME.fullmatch(value) is None:
        return False
    if len(KNOWN_PLAIN) >= _KNOWN_LIMIT:
        KNOWN_PLAIN.clear()
    KNOWN_PLAIN.add(value)
    return True


_RULE_BLANK = "a name must contain a character that is not whitespace"
_RULE_LENGTH = (
    f"a name may have at most {MAX_NAME_GRAPHEMES} characters (extended grapheme clusters)"
)
_RULE_SURROGATE = "a name must be valid Unicode (encodable as UTF-8)"
_RULE_NUL = "a name must not contain NUL (U+0000), which AUDITOR's PostgreSQL cannot store"
_RULE_FORBIDDEN = (
    f"names must not contain any of {' '.join(FORBIDDEN_CHARACTERS)} "
    "(AUDITOR servers 0.7 and newer accept them: call pyauditor.allow_forbidden_characters() "
    f"or set {ENV_ALLOW_FORBIDDEN}=1)"
)
_RULE_AMOUNT = f"an amount must be an integer from 0 to {MAX_AMOUNT}"
_RULE_SCORE = "a score value must be a finite number >= 0"

# How much of a huge value an error message quotes.
_QUOTE_LIMIT = 60


def _read_environment() -> bool:
    raw = os.environ.get(ENV_ALLOW_FORBIDDEN, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        # A typo must not silently change which records are accepted, nor break the import.
        warnings.warn(
            f"{ENV_ALLOW_FORBIDDEN}={raw!r} is not one of 1/true/yes/on or 0/false/no/off; "
            "the forbidden-character rule stays enforced",
            RuntimeWarning,
            stacklevel=2,
        )
    return False


_allow_forbidden: bool = _read_environment()


def allow_forbidden_characters(allow: bool = True) -> None:
    """Accept (or, with ``False``, reject again) the characters ``/ ( ) " < > \\ { }`` in names.

    python-auditor documents that record ids, component and score names and meta keys and values
    must not contain these characters, but never enforced it; AUDITOR servers 0.7 and newer
    accept them.  pyauditor enforces the documented rule by default, so a record that an old
    server would reject fails early, with a message naming the character.  Call this once at
    start-up if your server is 0.7 or newer and your names need these characters.  The setting
    is process-wide and applies to every check made after the call (records built earlier keep
    their validated names).

    The environment variable ``PYAUDITOR_ALLOW_FORBIDDEN_CHARACTERS=1`` does the same without
    changing code; it is read once, when pyauditor is imported.  A call to this function
    overrides it.

    Example::

        import pyauditor
        pyauditor.allow_forbidden_characters()
        record = pyauditor.Record("job/42(retry)", start_time)   # accepted now

    Args:
        allow: ``True`` to accept the characters, ``False`` to enforce the rule again.
    """
    global _allow_forbidden
    if type(allow) is not bool:
        raise type_error(allow, "bool")
    _allow_forbidden = allow


def forbidden_characters_allowed() -> bool:
    """Return ``True`` if names may currently contain ``/ ( ) " < > \\ { }``.

    See :func:`allow_forbidden_characters`.
    """
    return _allow_forbidden


def describe(value: str) -> str:
    """Quote ``value`` for an error message: ``repr`` (one line), shortened when huge."""
    if len(value) <= _QUOTE_LIMIT:
        return repr(value)
    return f"{value[:_QUOTE_LIMIT]!r}… ({len(value)} characters)"


def type_error(value: object, expected: str) -> TypeError:
    """The TypeError python-auditor raises for an argument of the wrong type."""
    if value is None:
        return TypeError(f"'None' is not an instance of '{expected}'")
    return TypeError(f"'{type(value).__name__}' object is not an instance of '{expected}'")


def check_str(value: object) -> str:
    """Return ``value`` as an exact :class:`str`; raise python-auditor's TypeError otherwise."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        # A subclass could override __eq__/__hash__/__str__; keep plain text only.
        return str.__str__(value)
    raise type_error(value, "str")


def _name_problem(value: str, strict: bool) -> tuple[str, str] | None:
    """Return ``(what is wrong, rule)`` for an invalid name, ``None`` for a valid one."""
    nul = value.find("\0")
    if nul >= 0:
        return (f"contains the NUL character at index {nul}", _RULE_NUL)
    surrogate = _SURROGATE.search(value)
    if surrogate is not None:
        return (
            f"contains the lone surrogate {surrogate.group()!r} at index {surrogate.start()}",
            _RULE_SURROGATE,
        )
    if is_blank(value):
        return ("is blank" if value else "is empty", _RULE_BLANK)
    if exceeds_graphemes(value, MAX_NAME_GRAPHEMES):
        return ("is too long", _RULE_LENGTH)
    if strict:
        forbidden = _FORBIDDEN.search(value)
        if forbidden is not None:
            return (f"contains the forbidden character {forbidden.group()!r}", _RULE_FORBIDDEN)
    return None


def check_name(value: object, field: str, label: str | None = None) -> str:
    """Check a name (record id, component or score name, meta key or value) and return it.

    Args:
        value: The candidate name.
        field: What it is, for :attr:`ValidationError.field` (``"record_id"``, ``"meta key"``).
        label: How the message introduces it, if not ``field`` (``"meta value of key 'site'"``).

    Raises:
        TypeError: ``value`` is not a str.
        ValidationError: the name breaks a rule; the message names the value and the rule.
    """
    if type(value) is str:
        if PLAIN_NAME.fullmatch(value) is not None:
            return value
    else:
        value = check_str(value)
    problem = _name_problem(value, not _allow_forbidden)
    if problem is None:
        return value
    what, rule = problem
    raise ValidationError(
        f"{label or field} {describe(value)} {what}: {rule}",
        field=field,
        value=value,
        rule=rule,
    )


def is_valid_server_name(value: object) -> bool:
    """True if an AUDITOR 0.7+ server accepts ``value`` as a name.

    The server's rule: a str, valid Unicode without NUL (which PostgreSQL cannot store), not
    blank, at most 256 extended grapheme clusters.
    The forbidden-character rule is not part of it, whatever :func:`allow_forbidden_characters`
    says: it describes what clients send, not what servers store.
    """
    if type(value) is not str:
        return False
    return PLAIN_NAME.fullmatch(value) is not None or _name_problem(value, False) is None


def check_str_list(value: object) -> list[str]:
    """Return a new list of the strs in the sequence ``value`` (python-auditor's ``Vec<String>``).

    Lists, tuples and other sequences are accepted; a bare ``str`` is not, because it would be
    taken for a list of its characters.

    Raises:
        TypeError: ``value`` is not a sequence, is a str, or holds something other than str.
    """
    if type(value) is list or type(value) is tuple:
        items: Sequence[Any] = value
    elif isinstance(value, str):
        raise TypeError("Can't extract `str` to `Vec`")
    elif isinstance(value, Sequence):
        items = value
    else:
        raise type_error(value, "Sequence")
    result = list(items)
    for index, item in enumerate(result):
        if type(item) is not str:
            result[index] = check_str(item)
    return result


def check_meta(meta: Mapping[str, Sequence[str]]) -> None:
    """Check every key and value of a record's meta under the name rules.

    Raises:
        ValidationError: the first key or value that breaks a rule.
    """
    known = KNOWN_PLAIN
    for key, values in meta.items():
        if key not in known and not is_plain(key):
            check_name(key, "meta key")
        for item in values:
            if item not in known and not is_plain(item):
                check_name(item, "meta value", f"meta value of key {describe(key)}")


def check_amount(value: object) -> int:
    """Check a component amount: an integer from 0 to 2**63-1.

    Raises:
        TypeError: ``value`` is not an integer (``'float' object cannot be interpreted as an
            integer``).
        OverflowError: ``value`` is 2**63 or more, as in python-auditor.
        ValidationError: ``value`` is negative.
    """
    if type(value) is not int:
        value = operator.index(value)  # type: ignore[arg-type]
        # bool and int subclasses become plain ints, so JSON shows 1, not true.
        value = int(value)
    if 0 <= value <= MAX_AMOUNT:
        return value
    if value > MAX_AMOUNT:
        raise OverflowError("Python int too large to convert to C long")
    raise ValidationError(
        f"component amount {value} is negative: {_RULE_AMOUNT}",
        field="component amount",
        value=value,
        rule=_RULE_AMOUNT,
    )


def check_score_value(value: object) -> float:
    """Check a score value and return it as a float: finite and ``>= 0`` (``-0.0`` is fine).

    Raises:
        TypeError: ``value`` is not a real number (strings are not converted).
        OverflowError: an int too large for a float.
        ValidationError: negative, NaN or infinite.
    """
    if type(value) is float:
        number = value
    else:
        cls = type(value)
        if isinstance(value, str | bytes | bytearray) or not (
            hasattr(cls, "__float__") or hasattr(cls, "__index__")
        ):
            raise TypeError(f"must be real number, not {cls.__name__}")
        number = float(value)  # type: ignore[arg-type]
    if 0.0 <= number < math.inf:
        return number
    if number != number:
        what = "is not a number"
    elif number == math.inf:
        what = "is infinite"
    else:
        what = "is negative"
    raise ValidationError(
        f"score value {number!r} {what}: {_RULE_SCORE}"
        + (" (python-auditor would have sent it as null)" if what != "is negative" else ""),
        field="score value",
        value=number,
        rule=_RULE_SCORE,
    )


def check_u8(value: object) -> int:
    """Check an unsigned 8-bit integer (``Value.set_count``), with python-auditor's errors."""
    number = operator.index(value)  # type: ignore[arg-type]
    if 0 <= number <= 255:
        return int(number)
    if number < 0:
        raise OverflowError("number too small to fit in target type")
    raise OverflowError("number too large to fit in target type")


def check_u64(value: object) -> int:
    """Check an unsigned 64-bit integer (``set_runtime``, ``limit``), with python-auditor's errors."""
    number = operator.index(value)  # type: ignore[arg-type]
    if 0 <= number <= _MAX_U64:
        return int(number)
    if number < 0:
        raise OverflowError("can't convert negative int to unsigned")
    raise OverflowError("int too big to convert")


def check_datetime(value: object, what: str) -> _dt.datetime:
    """Check a timestamp argument and return it in UTC (``tzinfo`` is ``datetime.UTC``).

    Raises:
        TypeError: not a datetime, or a naive one (the message says how to fix it).
        ValueError: the instant cannot be represented in UTC.
    """
    return to_utc(value, what)
