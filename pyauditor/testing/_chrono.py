"""Timestamps exactly as the AUDITOR server reads, stores and writes them.

The server parses request timestamps with chrono's ``FromStr for DateTime<FixedOffset>`` (the
"relaxed RFC 3339" grammar of chrono 0.4.45), stores them in PostgreSQL with microsecond
precision and writes them back with ``SecondsFormat::AutoSi`` and a literal ``Z``.  This module
reproduces all three steps on plain integers, so that years outside ``datetime``'s 1..9999 range
(chrono accepts -262144..=262143 with an explicit sign) behave as they do upstream.
"""

from __future__ import annotations

import datetime as _dt

from .._time import format_z

__all__ = [
    "ChronoError",
    "format_micros",
    "ns_to_pg_micros",
    "parse_timestamp",
    "runtime_seconds",
]

# chrono's ParseErrorKind Display texts.
OUT_OF_RANGE = "input is out of range"
IMPOSSIBLE = "no possible date and time matching input"
INVALID = "input contains invalid characters"
TOO_SHORT = "premature end of input"
TOO_LONG = "trailing input"

# Rust's `str::trim_start` strips Unicode White_Space (not Python's `str.isspace` set).
_WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_NS = 1_000_000_000
# NaiveDateTime's range in chrono: -262144-01-01T00:00:00 ..= +262143-12-31T23:59:59.999999999.
_MIN_YEAR = -262_144
_MAX_YEAR = 262_143
# PostgreSQL stores timestamptz as microseconds since 2000-01-01; it rejects values before
# 4714-11-24 BC (proleptic Gregorian) with "timestamp out of range".
_PG_EPOCH_NS = 946_684_800 * _NS
_PG_MIN_MICROS = -211_813_488_000_000_000
_UNIX_EPOCH = _dt.datetime(1970, 1, 1)


class ChronoError(ValueError):
    """A timestamp chrono would reject; ``str(error)`` is chrono's message."""


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _trim_start(s: str) -> str:
    i = 0
    while i < len(s) and s[i] in _WHITE_SPACE:
        i += 1
    return s[i:]


def _number(s: str, max_width: int) -> tuple[str, int]:
    """chrono `scan::number(s, 1, max_width)`: 1..=max_width ASCII digits."""
    if not s:
        raise ChronoError(TOO_SHORT)
    n = 0
    i = 0
    while i < len(s) and i < max_width:
        c = s[i]
        if not ("0" <= c <= "9"):
            if i < 1:
                raise ChronoError(INVALID)
            return s[i:], n
        n = n * 10 + (ord(c) - 48)
        if n > 0x7FFF_FFFF_FFFF_FFFF:
            raise ChronoError(OUT_OF_RANGE)
        i += 1
    return s[i:], n


def _literal(s: str, prefix: str) -> str:
    if len(s.encode()) < len(prefix):
        raise ChronoError(TOO_SHORT)
    if not s.startswith(prefix):
        raise ChronoError(INVALID)
    return s[len(prefix) :]


def _checked(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ChronoError(OUT_OF_RANGE)
    return value


def _timezone_offset(s: str) -> tuple[str, int]:
    """chrono `scan::timezone_offset(s, colon_or_space, true, false, true)`, in seconds."""
    if s[:1] in ("Z", "z"):
        return s[1:], 0
    if not s:
        raise ChronoError(TOO_SHORT)
    sign = s[0]
    if sign == "+":
        negative = False
    elif sign in ("-", "\u2212"):  # U+2212 MINUS SIGN is accepted too
        negative = True
    else:
        raise ChronoError(INVALID)
    rest = s[1:].encode()  # `digits` looks at bytes, not characters
    if len(rest) < 2:
        raise ChronoError(TOO_SHORT)
    h1, h2 = rest[0], rest[1]
    if not (48 <= h1 <= 57 and 48 <= h2 <= 57):
        raise ChronoError(INVALID)
    hours = (h1 - 48) * 10 + (h2 - 48)
    rest = rest[2:].lstrip(b": ")
    if len(rest) < 2:
        raise ChronoError(TOO_SHORT)
    m1, m2 = rest[0], rest[1]
    if 48 <= m1 <= 53 and 48 <= m2 <= 57:
        minutes = (m1 - 48) * 10 + (m2 - 48)
    elif 54 <= m1 <= 57 and 48 <= m2 <= 57:
        raise ChronoError(OUT_OF_RANGE)
    else:
        raise ChronoError(INVALID)
    seconds = hours * 3600 + minutes * 60
    return rest[2:].decode(), -seconds if negative else seconds


def parse_timestamp(text: str) -> int:
    """Parse like chrono's ``str::parse::<DateTime<FixedOffset>>()`` and return UTC nanoseconds.

    The result counts nanoseconds since 1970-01-01T00:00:00Z at full request precision (chrono
    keeps 9 fractional digits and skips the rest).  A leap second (``:60``) is kept as
    chrono keeps it, one second after ``:59``.

    Raises:
        ChronoError: with chrono's message, for example ``input contains invalid characters``.
    """
    s = _trim_start(text)
    # Year: up to 4 digits, or any number of digits after an explicit sign.
    if s[:1] in ("-", "+"):
        negative = s[0] == "-"
        s, magnitude = _number(s[1:], len(s))
        year = -magnitude if negative else magnitude
    else:
        s, year = _number(s, 4)
    if not -(1 << 31) <= year < (1 << 31):
        raise ChronoError(OUT_OF_RANGE)
    s = _literal(_trim_start(s), "-")
    s, month = _number(_trim_start(s), 2)
    _checked(month, 1, 12)
    s = _literal(_trim_start(s), "-")
    s, day = _number(_trim_start(s), 2)
    _checked(day, 1, 31)
    if not s:
        raise ChronoError(TOO_SHORT)
    if s[0] not in "tT ":
        raise ChronoError(INVALID)
    s = s[1:]
    s, hour = _number(_trim_start(s), 2)
    _checked(hour, 0, 23)
    s = _literal(_trim_start(s), ":")
    s, minute = _number(_trim_start(s), 2)
    _checked(minute, 0, 59)
    s = _literal(_trim_start(s), ":")
    s, second = _number(_trim_start(s), 2)
    _checked(second, 0, 60)
    nanos = 0
    if s.startswith("."):
        digits = s[1:]
        s, value = _number(digits, 9)
        nanos = value * 10 ** (9 - (len(digits) - len(s)))
        s = s.lstrip("0123456789")
    s = _trim_start(s)
    head = s.encode()[:3]
    if len(head) == 3 and head.lower() == b"utc":
        s, offset = s[3:], 0
    else:
        s, offset = _timezone_offset(s)
    if _trim_start(s):
        raise ChronoError(TOO_LONG)
    # Parsed::to_datetime: the date first, then the time, then the offset.
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise ChronoError(OUT_OF_RANGE)
    month_days = 29 if month == 2 and _is_leap(year) else _MONTH_DAYS[month - 1]
    if day > month_days:
        raise ChronoError(OUT_OF_RANGE)
    if second == 60:
        second, nanos = 59, nanos + _NS
    if not -86_399 <= offset <= 86_399:
        raise ChronoError(OUT_OF_RANGE)
    utc_seconds = (
        _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
    )
    if not _MIN_SECONDS <= utc_seconds <= _MAX_SECONDS:
        # The local time exists, but shifted to UTC it leaves NaiveDateTime's range.
        raise ChronoError(IMPOSSIBLE)
    return utc_seconds * _NS + nanos


_MIN_SECONDS = _days_from_civil(_MIN_YEAR, 1, 1) * 86_400
_MAX_SECONDS = _days_from_civil(_MAX_YEAR, 12, 31) * 86_400 + 86_399


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def ns_to_pg_micros(ns: int) -> int | None:
    """Microseconds since 2000-01-01 as sqlx sends them (truncated toward zero).

    Returns ``None`` when PostgreSQL would reject the value ("timestamp out of range").
    """
    micros = _trunc_div(ns - _PG_EPOCH_NS, 1000)
    return None if micros < _PG_MIN_MICROS else micros


def runtime_seconds(stop_ns: int, start_ns: int) -> int:
    """chrono ``(stop - start).num_seconds()``: whole seconds, truncated toward zero."""
    return _trunc_div(stop_ns - start_ns, _NS)


def pg_micros_to_ns(micros: int) -> int:
    """Nanoseconds since the Unix epoch for a stored (microsecond) timestamp."""
    return micros * 1000 + _PG_EPOCH_NS


def format_micros(micros: int) -> str:
    """Format a stored timestamp (µs since 2000-01-01) as the server's JSON does.

    Within years 1..9999 this is :func:`pyauditor._time.format_z`; chrono writes other years
    with an explicit sign and at least four digits (``+10000-01-01T00:00:00Z``, ``-0001-…``).
    """
    unix_micros = micros + _PG_EPOCH_NS // 1000
    if -62_135_596_800_000_000 <= unix_micros < 253_402_300_800_000_000:
        return format_z(_UNIX_EPOCH + _dt.timedelta(microseconds=unix_micros))
    days, rest = divmod(unix_micros, 86_400_000_000)
    year, month, day = _civil_from_days(days)
    seconds, fraction = divmod(rest, 1_000_000)
    hour, remainder = divmod(seconds, 3600)
    minute, second = divmod(remainder, 60)
    year_text = f"{year:04d}" if 0 <= year <= 9999 else f"{year:+05d}"
    text = f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if fraction:
        text += f".{fraction // 1000:03d}" if fraction % 1000 == 0 else f".{fraction:06d}"
    return text + "Z"
