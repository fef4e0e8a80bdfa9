"""Timestamps: accepting them from users, formatting them for AUDITOR, reading them back.

Internally every timestamp is a *naive* datetime holding UTC wall time, which is also what the
getters of python-auditor return.  Users may pass any timezone-aware datetime; it is converted to
UTC here, in one place.
"""

from __future__ import annotations

import datetime as _dt

__all__ = [
    "UTC",
    "format_offset",
    "format_z",
    "parse_response_timestamp",
    "to_naive_utc",
]

UTC = _dt.UTC

_NAIVE_HINT = (
    "attach the zone it is in, for example value.replace(tzinfo=datetime.timezone.utc) "
    "for UTC or value.astimezone() for the machine's local time"
)


def to_naive_utc(value: object, what: str) -> _dt.datetime:
    """Check that ``value`` is a timezone-aware datetime and return it as naive UTC.

    Raises:
        TypeError: ``value`` is not a datetime, or it is naive (it names the fix).
        ValueError: the instant cannot be represented in UTC (year 1 or 9999 overflow).
    """
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"'{type(value).__name__}' object is not an instance of 'datetime'")
    tz = value.tzinfo
    if tz is UTC and type(value) is _dt.datetime:
        # The common case: no conversion, just drop the zone.
        return value.replace(tzinfo=None)
    offset = value.utcoffset() if tz is not None else None
    if offset is None:
        raise TypeError(
            f"{what} must be a timezone-aware datetime, got naive {value!r}; {_NAIVE_HINT}"
        )
    try:
        shifted = value.replace(tzinfo=None) - offset
    except OverflowError:
        raise ValueError(
            f"{what} {value.isoformat()} is outside the range of datetime when converted to UTC"
        ) from None
    return _dt.datetime(
        shifted.year,
        shifted.month,
        shifted.day,
        shifted.hour,
        shifted.minute,
        shifted.second,
        shifted.microsecond,
    )


def _fraction_trimmed(iso: str, microsecond: int) -> str:
    # chrono's SecondsFormat::AutoSi: no fraction when zero, else the shortest of 3 or 6 digits
    # that is exact (9 never occurs: datetimes and PostgreSQL both stop at microseconds).
    if microsecond == 0:
        return iso
    if microsecond % 1000 == 0:
        return iso[:-3]
    return iso


def format_z(value: _dt.datetime) -> str:
    """Format a naive UTC datetime as AUDITOR writes it in JSON: ``2022-08-08T11:30:00.120Z``."""
    return _fraction_trimmed(value.isoformat(), value.microsecond) + "Z"


def format_offset(value: _dt.datetime) -> str:
    """Format a naive UTC datetime as python-auditor writes it in queries: ``...+00:00``.

    The result still has to be percent-encoded (``+`` would otherwise decode to a space).
    """
    return _fraction_trimmed(value.isoformat(), value.microsecond) + "+00:00"


def parse_response_timestamp(text: str) -> _dt.datetime:
    """Read a timestamp from a server response and return it as naive UTC.

    AUDITOR always sends RFC 3339 with ``Z``; offsets are accepted and converted.  A timestamp
    without an offset is ambiguous and rejected.

    Raises:
        ValueError: ``text`` is not an RFC 3339 timestamp with an offset.
    """
    parsed = _dt.datetime.fromisoformat(text)
    if len(text) < 19 or text[10] not in "Tt ":
        # fromisoformat also reads bare dates and week dates; AUDITOR never sends those.
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    offset = parsed.utcoffset()
    if offset is None:
        raise ValueError(f"timestamp without a UTC offset: {text!r}")
    if offset:
        parsed = parsed - offset
    return parsed.replace(tzinfo=None)
