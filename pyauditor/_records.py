"""Records and their wire form, re-exported from the modules that implement them.

:mod:`pyauditor._parts` (Meta, Component, Score), :mod:`pyauditor._record` (Record),
:mod:`pyauditor._record_codec` (request bodies, decoding answers and streams) and
:mod:`pyauditor._wire` (the generated structs and exact JSON).  Kept so that code importing the
codec from here goes on working.
"""

from __future__ import annotations

from ._parts import Component, Meta, Score
from ._record import Record
from ._record_codec import (
    BATCH_BYTES,
    MAX_RECORD_BYTES,
    RecordStreamDecoder,
    decode_record_body,
    decode_warning,
    record_add_body,
    record_from_server,
    record_stream_decoder,
    record_update_body,
    record_wire,
    record_wire_json,
    records_bulk_body,
    records_wire_json,
)

__all__ = [
    "BATCH_BYTES",
    "MAX_RECORD_BYTES",
    "Component",
    "Meta",
    "Record",
    "RecordStreamDecoder",
    "Score",
    "decode_record_body",
    "decode_warning",
    "record_add_body",
    "record_from_server",
    "record_stream_decoder",
    "record_update_body",
    "record_wire",
    "record_wire_json",
    "records_bulk_body",
    "records_wire_json",
]
