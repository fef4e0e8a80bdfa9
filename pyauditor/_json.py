"""JSON exactly as AUDITOR's Rust code writes it (serde_json), as fast as the C encoder allows.

serde_json and Python's ``json`` agree on everything pyauditor emits (compact separators, string
escaping with ``ensure_ascii=False``, integers) except the formatting of some floats:

* serde_json (ryu) writes decimal notation for ``1e-5 <= |x| < 1e16`` and scientific notation
  otherwise, without zero-padding the exponent: ``0.00001``, ``1e-7``, ``1e+16``.
* ``repr(float)`` switches to scientific notation below ``1e-4`` and pads the exponent to two
  digits: ``1e-05``, ``1e-07``.  Both print the same shortest round-trip digits.

So the C encoder's output is already byte-exact unless a float lies in ``[1e-9, 1e-4)`` (the
only range where the two disagree) or is not finite.  :func:`float_is_plain` tells them apart;
documents holding such a float go through the slower exact writer :func:`dumps_exact`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "dumps",
    "dumps_exact",
    "dumps_sorted",
    "encode_string",
    "float_is_plain",
    "format_float",
    "json_type_name",
]

_INF = math.inf

encode_string: Callable[[str], str] = json.encoder.encode_basestring
"""Quote and escape a string exactly like serde_json (``"``, ``\\``, control characters)."""


def _encoder(sort_keys: bool) -> Callable[[Any], str]:
    # allow_nan=False: a NaN reaching the fast path is a bug upstream (plainness is checked
    # first), and failing loudly beats sending ``NaN``, which is not JSON.
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=sort_keys
        ).encode

    def default(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    # One C encoder built once and reused: JSONEncoder.encode builds a new one per call, which
    # costs more than encoding a small record.  No circular-reference markers: pyauditor only
    # encodes trees it built itself.
    try:
        encoder = c_make_encoder(
            None, default, encode_string, None, ":", ",", sort_keys, False, False
        )
    except TypeError:  # a CPython whose private encoder takes other arguments
        return json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=sort_keys
        ).encode
    join = "".join

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encode_string(value)
        return join(encoder(value, 0))

    return encode


dumps: Callable[[Any], str] = _encoder(sort_keys=False)
"""Compact JSON in the objects' own key order; only for documents whose floats are plain."""

dumps_sorted: Callable[[Any], str] = _encoder(sort_keys=True)
"""Compact JSON with keys sorted at every level; only for documents whose floats are plain."""


def float_is_plain(value: float) -> bool:
    """True if ``repr(value)`` is exactly what serde_json writes for ``value``."""
    magnitude = abs(value)
    return (magnitude >= 1e-4 and magnitude != _INF) or magnitude < 1e-9


def format_float(value: float) -> str:
    """Format ``value`` exactly as serde_json does; NaN and infinities become ``null``."""
    if value != value or value in (_INF, -_INF):
        return "null"
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, _, exponent_text = text.partition("e")
    exponent = int(exponent_text)
    if exponent == -5:
        # 1e-5 <= |x| < 1e-4: serde_json stays in decimal notation.
        sign = "-" if mantissa.startswith("-") else ""
        digits = mantissa.lstrip("-").replace(".", "")
        return f"{sign}0.0000{digits}"
    return f"{mantissa}e{'+' if exponent > 0 else ''}{exponent}"


def dumps_exact(value: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON with serde_json's float formatting, for any document.

    Slower than :func:`dumps`; use it when :func:`float_is_plain` is false for some float.
    """
    parts: list[str] = []
    _write(value, parts, sort_keys)
    return "".join(parts)


def _write(value: Any, out: list[str], sort_keys: bool) -> None:
    if isinstance(value, str):
        out.append(encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(format_float(value))
    elif isinstance(value, dict):
        items = sorted(value.items()) if sort_keys else value.items()
        out.append("{")
        first = True
        for key, item in items:
            if not first:
                out.append(",")
            first = False
            out.append(encode_string(key))
            out.append(":")
            _write(item, out, sort_keys)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, sort_keys)
        out.append("]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_type_name(value: object) -> str:
    """How a decoded JSON value is called in error messages: "a string", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
