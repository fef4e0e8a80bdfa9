"""The generated wire structs, and JSON exactly as AUDITOR's Rust code writes it.

Records travel as msgspec structs with the fields of those ``make generate`` writes from
openapi.yaml (:mod:`pyauditor_api.wire`): the facade classes Record, Component and Score are
such structs themselves (decoded from answers, encoded into request bodies and ``to_json``).
msgspec writes JSON as serde_json does with two exceptions,
both rare, which this module handles without costing the common case anything:

* a float whose shortest form has a positive exponent (``>= 1e16``): serde_json writes
  ``1e+16``, msgspec ``1e16``;
* a timestamp that is a whole number of milliseconds: chrono's AutoSi form is ``.120Z``,
  msgspec writes ``.120000Z``.

Such values are stored as the subclasses :class:`ExactFloat` and :class:`ExactTime` (see
:func:`exact_float`, :func:`exact_time`), which msgspec hands to the encoders' hook, and the
hook writes them in serde_json's form.  Everything else is encoded by msgspec directly.
"""

from __future__ import annotations

import datetime as _dt
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import msgspec
from pyauditor_api import wire as _generated

from ._json import format_float
from ._time import UTC, format_z

__all__ = [
    "NULL",
    "ExactFloat",
    "ExactTime",
    "WireComponent",
    "WireMeta",
    "WireRecord",
    "WireRecordAdd",
    "WireRecordUpdate",
    "WireScore",
    "collect_young",
    "encode",
    "encode_sorted",
    "exact_float",
    "exact_time",
    "gc_paused",
]

WireRecord = _generated.Record
WireRecordAdd = _generated.RecordAdd
WireRecordUpdate = _generated.RecordUpdate
WireComponent = _generated.Component
WireScore = _generated.Score
WireMeta = _generated.Meta

_EXPONENT_FROM: Final = 1e16
"""Floats from here on are written with an exponent, where serde_json adds a ``+``."""


class ExactFloat(float):
    """A score value that msgspec would write differently from serde_json (see module doc)."""

    __slots__ = ()


class ExactTime(_dt.datetime):
    """A timestamp with a whole-millisecond fraction, written in chrono's AutoSi form."""

    __slots__ = ()


def exact_float(value: float) -> float:
    """``value``, as an :class:`ExactFloat` if msgspec would not write it as serde_json does."""
    if value >= _EXPONENT_FROM and value.__class__ is float:
        return ExactFloat(value)
    return value


def exact_time(value: _dt.datetime) -> _dt.datetime:
    """``value`` (UTC), as an :class:`ExactTime` if its fraction is whole milliseconds."""
    micro = value.microsecond
    if micro and not micro % 1000 and value.__class__ is _dt.datetime:
        return ExactTime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            micro,
            UTC,
        )
    return value


def _hook(value: Any) -> Any:
    if value.__class__ is ExactFloat:
        return msgspec.Raw(format_float(value).encode())
    if value.__class__ is ExactTime:
        return msgspec.Raw(b'"' + format_z(value).encode() + b'"')
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_hook)
_sorted_encoder = msgspec.json.Encoder(enc_hook=_hook, order="sorted")

encode = _encoder.encode
"""Compact JSON in the structs' field order (the wire order of the spec), serde_json's format."""

encode_sorted = _sorted_encoder.encode
"""Compact JSON with every key sorted (python-auditor's ``to_json``), serde_json's format."""

NULL: Final = msgspec.Raw(b"null")
"""The JSON ``null``, as a value msgspec writes as it is."""


# -- pausing the cyclic garbage collector ----------------------------------------------------

_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bounded result is received and decoded.

    Decoding 100k records allocates a million containers.  With the collector running, every
    700 allocations trigger a pass, and the meta dicts, which CPython untracks only in full
    passes, climb the generations and trigger full passes over everything decoded so far: that
    cost more than decoding itself (0.15-0.35 s per 100k production-shaped records).  Nothing
    decoded can form a cycle (the wire structs are not even tracked), so there is nothing for
    the collector to find.  Only for work whose duration is bounded (``get()`` has a
    whole-request timeout; streaming ``iter_records`` pauses per chunk only).  Pauses nest and
    may overlap between threads: the collector is enabled again when the last one ends, and
    only if it was enabled when the first one began.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def collect_young() -> None:
    """Inside a :func:`gc_paused` pause, let the collector look at what was allocated since the
    last look (its youngest generation), now, while it is still in the CPU's cache.

    Decoded records are not tracked by the collector, but the tuples of their components and
    scores are, until the collector first sees that they hold nothing it tracks and untracks
    them.  During a pause nothing looks, so they pile up, and the first pass after the pause
    walks all of them, cold in memory (0.05 s after 100k production records, 20 % of the
    decoding).  Looking after every decoded run untracks them for next to nothing.  Does
    nothing outside a pause, or if the program had disabled the collector itself.
    """
    if _gc_pauses and _gc_was_enabled:
        gc.collect(0)
