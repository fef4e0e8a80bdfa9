"""``pyauditor query`` and ``pyauditor get``: command-line filters onto the query DSL, and output.

Filters map one to one onto :class:`~pyauditor.QueryBuilder`:

=========================  ===========================================================
``--record-id ID``         ``with_record_id(ID)``
``--start-after T``        ``with_start_time(Operator().gte(T))``
``--start-before T``       ``with_start_time(Operator().lt(T))``
``--stop-after T``         ``with_stop_time(Operator().gte(T))``
``--stop-before T``        ``with_stop_time(Operator().lt(T))``
``--runtime-min S``        ``with_runtime(Operator().gte(S))``
``--runtime-max S``        ``with_runtime(Operator().lte(S))``
``--meta KEY=VALUE``       ``MetaOperator().contains([VALUE, ...])`` for KEY
``--meta-not KEY=VALUE``   ``MetaOperator().does_not_contain([VALUE, ...])`` for KEY
``--component NAME>=N``    ``ComponentQuery().component_operator(NAME, Operator().gte(N))``
``--sort FIELD[:desc]``    ``sort_by(SortBy().ascending(FIELD))`` or ``descending``
``--limit N``              ``limit(N)``
=========================  ===========================================================

"After" includes the instant and "before" excludes it, so ``--stop-after 2024-05-01
--stop-before 2024-06-01`` is exactly May, and consecutive windows neither overlap nor leave a
gap.  ``--meta`` and ``--meta-not`` may be repeated, also for one key: every value given must
be present (respectively absent).  ``--component`` takes ``>=``, ``<=``, ``>``, ``<`` or ``=``;
any other operator (``cpu!=8``) is refused with that list rather than read as part of the name.

The records are streamed (:meth:`~pyauditor.AuditorClientBlocking.iter_records`) and written
as they arrive, so memory stays bounded however many match, in every format.  The table is
for people: it fits the terminal (80 columns when the output is not one), shortening long
record ids in the middle and components and meta at the end; ``--wide`` shows everything.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple, TextIO

from .. import (
    ComponentQuery,
    MetaOperator,
    MetaQuery,
    Operator,
    QueryBuilder,
    Record,
    SortBy,
    Value,
)

# The one table of the query language's operators and sort columns (shared with the DSL and the
# embedded server) is internal to pyauditor; see tests/cli/test_public_api.py.
from ..query_language import OPERATOR_BY_SYMBOL as _OPERATOR_NAMES
from ..query_language import SORT_COLUMNS as SORT_FIELDS
from ..query_language import SORT_DIRECTIONS
from ._common import UsageError, int_at_least

__all__ = ["FORMATS", "add_filter_options", "build_query", "write_records"]

FORMATS = ("table", "json", "ndjson", "csv")
# The name is everything before the first character that can belong to an operator, so that
# `cpu!=8` is an unknown operator `!=`, not a comparison of a component called `cpu!`.
_COMPONENT = re.compile(r"\s*([^<>=!~]*?)\s*([<>=!~]+)\s*(.*?)\s*")
_SHOWN = [symbol for symbol in _OPERATOR_NAMES if symbol != "=="]  # == is a synonym of =
_OPERATORS = f"{', '.join(_SHOWN[:-1])} or {_SHOWN[-1]}"
_TABLE_SAMPLE = 50
"""Rows a table waits for to size its columns; later rows use those widths."""


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _component(text: str) -> tuple[str, str, int]:
    match = _COMPONENT.fullmatch(text)
    if match is None or not match.group(1):
        raise argparse.ArgumentTypeError(
            f"expected NAME>=N (or another of {_OPERATORS}) with a whole number N, got {text!r}"
        )
    name, operator, number = match.groups()
    if operator not in _OPERATOR_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown operator {operator!r} in {text!r}: use one of {_OPERATORS}"
        )
    if not number.isdecimal() or not number.isascii():
        raise argparse.ArgumentTypeError(
            f"expected NAME>=N (or another of {_OPERATORS}) with a whole number N, got {text!r}"
        )
    if int(number) > 255:
        # Value.set_count takes a u8, as in python-auditor and AUDITOR's query grammar.
        raise argparse.ArgumentTypeError(f"a component amount in a query is at most 255: {text!r}")
    return name, _OPERATOR_NAMES[operator], int(number)


def _sort(text: str) -> tuple[str, bool]:
    field, _, direction = text.partition(":")
    if field not in SORT_FIELDS:
        raise argparse.ArgumentTypeError(
            f"cannot sort by {field!r}; choose one of {', '.join(SORT_FIELDS)}"
        )
    if direction not in ("", *SORT_DIRECTIONS):
        raise argparse.ArgumentTypeError(f"the direction must be asc or desc, got {direction!r}")
    return field, direction == "desc"


_seconds = int_at_least(0, "a whole number of seconds")
_count = int_at_least(0, "a whole number")


def add_filter_options(
    parser: argparse.ArgumentParser, parse_time: Callable[[str], _dt.datetime]
) -> None:
    """Add the query filters (see the module docstring) to ``parser``."""
    group = parser.add_argument_group("filters (all must match)")
    group.add_argument("--record-id", metavar="ID", help="exactly this record id")
    for field in ("start", "stop"):
        group.add_argument(
            f"--{field}-after",
            type=parse_time,
            metavar="TIME",
            help=f"{field} time at or after TIME (2024-05-01, 2024-05-01T10:00:00Z; no offset: UTC)",
        )
        group.add_argument(
            f"--{field}-before", type=parse_time, metavar="TIME", help=f"{field} time before TIME"
        )
    group.add_argument(
        "--runtime-min", type=_seconds, metavar="SECONDS", help="runtime of at least SECONDS"
    )
    group.add_argument(
        "--runtime-max", type=_seconds, metavar="SECONDS", help="runtime of at most SECONDS"
    )
    group.add_argument(
        "--meta",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="meta KEY holds VALUE (repeatable; all must hold)",
    )
    group.add_argument(
        "--meta-not",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="meta KEY does not hold VALUE (repeatable)",
    )
    group.add_argument(
        "--component",
        type=_component,
        action="append",
        default=[],
        metavar="NAME>=N",
        help=f"component NAME's amount compared with N: {_OPERATORS} (repeatable)",
    )
    parser.add_argument(
        "--sort",
        type=_sort,
        metavar="FIELD[:desc]",
        help=f"order by {', '.join(SORT_FIELDS)}; ascending unless :desc",
    )
    parser.add_argument("--limit", type=_count, metavar="N", help="at most N records")


def build_query(args: argparse.Namespace) -> str:
    """The query string for the filters in ``args``.

    Raises:
        UsageError: one comparison given twice for the same component (the DSL keeps one).
    """
    query = QueryBuilder()
    if args.record_id is not None:
        query.with_record_id(args.record_id)
    for field in ("start", "stop"):
        after: _dt.datetime | None = getattr(args, f"{field}_after")
        before: _dt.datetime | None = getattr(args, f"{field}_before")
        if after is None and before is None:
            continue
        operator = Operator()
        if after is not None:
            operator.gte(Value.set_datetime(after))
        if before is not None:
            operator.lt(Value.set_datetime(before))
        if field == "start":
            query.with_start_time(operator)
        else:
            query.with_stop_time(operator)
    if args.runtime_min is not None or args.runtime_max is not None:
        operator = Operator()
        if args.runtime_min is not None:
            operator.gte(Value.set_runtime(args.runtime_min))
        if args.runtime_max is not None:
            operator.lte(Value.set_runtime(args.runtime_max))
        query.with_runtime(operator)
    if args.meta or args.meta_not:
        wanted: dict[str, tuple[list[str], list[str]]] = {}
        for key, value in args.meta:
            wanted.setdefault(key, ([], []))[0].append(value)
        for key, value in args.meta_not:
            wanted.setdefault(key, ([], []))[1].append(value)
        meta = MetaQuery()
        for key, (present, absent) in wanted.items():
            meta.meta_operator(key, MetaOperator().contains(present).does_not_contain(absent))
        query.with_meta_query(meta)
    if args.component:
        comparisons: dict[str, dict[str, int]] = {}
        for name, operator_name, number in args.component:
            ops = comparisons.setdefault(name, {})
            if operator_name in ops:
                raise UsageError(f"--component gives the same comparison twice for {name!r}")
            ops[operator_name] = number
        components = ComponentQuery()
        for name, ops in comparisons.items():
            operator = Operator()
            for operator_name, number in ops.items():
                getattr(operator, operator_name)(Value.set_count(number))
            components.component_operator(name, operator)
        query.with_component_query(components)
    if args.sort is not None:
        field, descending = args.sort
        query.sort_by(SortBy().descending(field) if descending else SortBy().ascending(field))
    if args.limit is not None:
        query.limit(args.limit)
    return query.build()


# -- output ------------------------------------------------------------------------------------


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    minutes, secs = divmod(abs(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def _meta_text(record: Record) -> str:
    meta = record.meta
    if meta is None:
        return ""
    return " ".join(f"{key}={','.join(values)}" for key, values in meta.to_dict().items())


def _components_text(record: Record) -> str:
    parts = []
    for component in record.components or ():
        scores = ",".join(f"{score.name}={score.value:g}" for score in component.scores)
        parts.append(f"{component.name}={component.amount}" + (f"({scores})" if scores else ""))
    return " ".join(parts)


class _Column(NamedTuple):
    title: str
    cut: str  # where a long value is shortened: "middle" (ids: both ends tell), or "end"


_COLUMNS = (
    _Column("RECORD_ID", "middle"),
    _Column("START (UTC)", "end"),
    _Column("STOP (UTC)", "end"),
    _Column("RUNTIME", "end"),
    _Column("COMPONENTS", "end"),
    _Column("META", "end"),
)
_ID, _STOP, _COMPONENTS, _META = 0, 2, 4, 5
# What a table too wide for its terminal gives up, step by step, until it fits: a column
# dropped (None) or shortened to at most a width.  The stop time goes first (the runtime,
# "running" without one, says most of it), then long ids are cut in the middle (HTCondor's
# "schedd#cluster.proc#timestamp" ids differ at both ends), then components and meta.
_FIT_STEPS: tuple[tuple[int, int | None], ...] = (
    (_STOP, None),
    (_ID, 28),
    (_META, 16),
    (_COMPONENTS, 16),
    (_META, 10),
    (_COMPONENTS, 12),
    (_ID, 16),
    (_META, None),
    (_COMPONENTS, None),
    (_ID, 12),
)
_GAP = "  "
DEFAULT_WIDTH = 80
"""The table's width when the output is not a terminal (and ``COLUMNS`` is not set)."""
MIN_WIDTH = 42
"""The narrowest table: a shortened id, the start time and the runtime."""


def _row(record: Record) -> tuple[str, ...]:
    start, stop = record.start_time, record.stop_time
    return (
        record.record_id,
        "" if start is None else start.strftime("%Y-%m-%d %H:%M:%S"),
        "" if stop is None else stop.strftime("%Y-%m-%d %H:%M:%S"),
        "running" if stop is None else _duration(record.runtime),
        _components_text(record),
        _meta_text(record),
    )


def _layout(natural: list[int], width: int | None) -> list[int]:
    """Each column's width (0: dropped), so that the line fits ``width`` (None: no limit)."""
    widths = list(natural)

    def total() -> int:
        shown = [w for w in widths if w]
        return sum(shown) + len(_GAP) * (len(shown) - 1)

    for index, limit in _FIT_STEPS:
        if width is None or total() <= width:
            break
        if limit is None:
            widths[index] = 0
        else:
            floor = min(widths[index], max(limit, len(_COLUMNS[index].title)))
            widths[index] = max(floor, widths[index] - (total() - width))
    return widths


def _fit(text: str, width: int, cut: str, ellipsis: str) -> str:
    if len(text) <= width:
        return text
    if cut == "middle":
        head = (width - len(ellipsis) + 1) // 2
        tail = width - len(ellipsis) - head
        return text[:head] + ellipsis + (text[-tail:] if tail else "")
    return text[: width - len(ellipsis)] + ellipsis


def _output_width(out: TextIO) -> int:
    """The terminal's width if ``out`` is one, else ``$COLUMNS``, else :data:`DEFAULT_WIDTH`.

    Never less than :data:`MIN_WIDTH`.
    """
    try:
        if out.isatty():
            return max(os.get_terminal_size(out.fileno()).columns, MIN_WIDTH)
    except (AttributeError, ValueError, OSError):
        pass
    columns = os.environ.get("COLUMNS", "")
    return max(int(columns), MIN_WIDTH) if columns.isdecimal() else DEFAULT_WIDTH


def _ellipsis(out: TextIO) -> str:
    try:
        "\u2026".encode(getattr(out, "encoding", None) or "utf-8")
    except (LookupError, UnicodeEncodeError):
        return "~"
    return "\u2026"


def _write_table(records: Iterator[Record], out: TextIO, width: int | None) -> int:
    # A table must size its columns before the first row, but the records are streamed:
    # the first rows decide the widths, and later rows are cut to them, so they line up.
    sample: list[tuple[str, ...]] = []
    count = 0
    for record in records:
        sample.append(_row(record))
        count += 1
        if len(sample) >= _TABLE_SAMPLE:
            break
    natural = [
        max([len(column.title), *(len(row[i]) for row in sample)])
        for i, column in enumerate(_COLUMNS)
    ]
    widths = _layout(natural, width)
    ellipsis = _ellipsis(out)
    limits = list(widths)
    if width is not None:
        # The last column may use whatever the line has left, for rows wider than the sample.
        last = max(i for i, w in enumerate(widths) if w)
        others = sum(w for i, w in enumerate(widths) if w and i != last)
        shown = sum(1 for w in widths if w)
        limits[last] = max(widths[last], width - others - len(_GAP) * (shown - 1))

    def line(cells: Iterable[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            if not widths[i]:
                continue
            if width is not None:
                cell = _fit(cell, limits[i], _COLUMNS[i].cut, ellipsis)
            parts.append(cell.ljust(widths[i]))
        return _GAP.join(parts).rstrip()

    out.write(line(column.title for column in _COLUMNS) + "\n")
    for row in sample:
        out.write(line(row) + "\n")
    for record in records:
        out.write(line(_row(record)) + "\n")
        count += 1
    out.write(f"({count:,} record{'' if count == 1 else 's'})\n")
    return count


def _write_json(records: Iterator[Record], out: TextIO) -> int:
    count = 0
    out.write("[")
    for record in records:
        out.write(("\n" if count == 0 else ",\n") + record.to_json())
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _write_ndjson(records: Iterator[Record], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(record.to_json() + "\n")
        count += 1
    return count


_CSV_HEADER = ("record_id", "start_time", "stop_time", "runtime", "meta", "components")


def _write_csv(records: Iterator[Record], out: TextIO) -> int:
    # Meta keys and component names vary from record to record and a stream cannot know them
    # all up front, so those two columns hold compact JSON, as to_json() writes them, which
    # every CSV reader keeps intact.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    count = 0
    compact = (",", ":")
    for record in records:
        data = json.loads(record.to_json())
        meta, components = data["meta"], data["components"]
        writer.writerow(
            (
                data["record_id"],
                data["start_time"] or "",
                data["stop_time"] or "",
                "" if data["runtime"] is None else data["runtime"],
                "" if meta is None else json.dumps(meta, separators=compact),
                "" if components is None else json.dumps(components, separators=compact),
            )
        )
        count += 1
    return count


def write_records(records: Iterable[Record], fmt: str, out: TextIO, *, wide: bool = False) -> int:
    """Write ``records`` to ``out`` in format ``fmt`` as they come; return how many.

    A table fits the output's width (:func:`_output_width`) unless ``wide``.
    """
    iterator = iter(records)
    if fmt == "table":
        return _write_table(iterator, out, None if wide else _output_width(out))
    if fmt == "json":
        return _write_json(iterator, out)
    if fmt == "ndjson":
        return _write_ndjson(iterator, out)
    if fmt == "csv":
        return _write_csv(iterator, out)
    raise ValueError(f"unknown format {fmt!r}")


def write_record(record: Record, out: TextIO) -> None:
    """Write one record as indented JSON (``pyauditor get``)."""
    out.write(json.dumps(json.loads(record.to_json()), indent=2) + "\n")
