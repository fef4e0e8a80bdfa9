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
be present (respectively absent).  ``--component`` takes ``>=``, ``<=``, ``>``, ``<`` or ``=``.

The records are streamed (:meth:`~pyauditor.AuditorClientBlocking.iter_records`) and written
as they arrive, so memory stays bounded however many match, in every format.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

from .._grammar import OPERATOR_BY_SYMBOL as _OPERATOR_NAMES
from .._grammar import SORT_COLUMNS as SORT_FIELDS
from .._grammar import SORT_DIRECTIONS
from .._query import (
    ComponentQuery,
    MetaOperator,
    MetaQuery,
    Operator,
    QueryBuilder,
    SortBy,
    Value,
)
from .._records import Record
from ._common import UsageError, int_at_least

__all__ = ["FORMATS", "add_filter_options", "build_query", "write_records"]

FORMATS = ("table", "json", "ndjson", "csv")
_SYMBOLS = "|".join(map(re.escape, _OPERATOR_NAMES))
_COMPONENT = re.compile(rf"\s*([^<>=]+?)\s*({_SYMBOLS})\s*(\d+)\s*")
_TABLE_SAMPLE = 50
"""Rows a table waits for to size its columns; later rows use those widths."""


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _component(text: str) -> tuple[str, str, int]:
    match = _COMPONENT.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected NAME>=N (or <=, >, <, =) with a whole number N, got {text!r}"
        )
    name, operator, number = match.groups()
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
        help="component NAME's amount compared with N: >=, <=, >, < or = (repeatable)",
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


_HEADER = ("RECORD_ID", "START (UTC)", "STOP (UTC)", "RUNTIME", "COMPONENTS", "META")


def _row(record: Record) -> tuple[str, ...]:
    start, stop = record.start_time, record.stop_time
    return (
        record.record_id,
        "" if start is None else start.strftime("%Y-%m-%d %H:%M:%S"),
        "" if stop is None else stop.strftime("%Y-%m-%d %H:%M:%S"),
        _duration(record.runtime),
        _components_text(record),
        _meta_text(record),
    )


def _write_table(records: Iterator[Record], out: TextIO) -> int:
    # A table must size its columns before the first row, but the records are streamed:
    # the first rows decide the widths, later ones that are wider push their line out.
    sample: list[tuple[str, ...]] = []
    count = 0
    for record in records:
        sample.append(_row(record))
        count += 1
        if len(sample) >= _TABLE_SAMPLE:
            break
    widths = [max([len(h), *(len(row[i]) for row in sample)]) for i, h in enumerate(_HEADER)]

    def line(cells: Iterable[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=True)]
        return "  ".join(padded).rstrip()

    out.write(line(_HEADER) + "\n")
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


def write_records(records: Iterable[Record], fmt: str, out: TextIO) -> int:
    """Write ``records`` to ``out`` in format ``fmt`` as they come; return how many."""
    iterator = iter(records)
    if fmt == "table":
        return _write_table(iterator, out)
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
