"""The vocabulary of AUDITOR's ``GET /records`` query: fields, operators, sort columns.

One table for every part of pyauditor that speaks the query language: the query DSL
(:mod:`pyauditor._query`) renders it, the embedded server (:mod:`pyauditor.testing`) parses and
executes it, and ``pyauditor query`` (:mod:`pyauditor.cli`) offers it on the command line.  The
orders below are AUDITOR's declaration orders (``Filters``, ``Operator<T>``, ``SortOption``),
which serde_qs follows when it renders a query and reports errors, so they are part of the
byte-exact output of ``QueryBuilder().build()``.

The public face of these tables, with what each one means, is :mod:`pyauditor.query_language`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# What is exported is listed once, in pyauditor.query_language.__all__.

FILTER_FIELDS: Final = (
    "record_id",
    "start_time",
    "stop_time",
    "runtime",
    "meta",
    "component",
    "sort_by",
    "limit",
)

OPERATORS: Final = MappingProxyType({"gt": ">", "lt": "<", "gte": ">=", "lte": "<=", "equals": "="})

OPERATOR_NAMES: Final = tuple(OPERATORS)

OPERATOR_BY_SYMBOL: Final = MappingProxyType(
    dict(
        sorted(
            [*((symbol, name) for name, symbol in OPERATORS.items()), ("==", "equals")],
            key=lambda item: -len(item[0]),
        )
    )
)

META_OPERATORS: Final = ("c", "dnc")

SORT_DIRECTIONS: Final = ("asc", "desc")

SORT_COLUMNS: Final = ("start_time", "stop_time", "runtime", "record_id")
