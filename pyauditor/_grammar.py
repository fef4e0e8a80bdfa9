"""The vocabulary of AUDITOR's ``GET /records`` query: fields, operators, sort columns.

One table for every part of pyauditor that speaks the query language: the query DSL
(:mod:`pyauditor._query`) renders it, the embedded server (:mod:`pyauditor.testing`) parses and
executes it, and ``pyauditor query`` (:mod:`pyauditor.cli`) offers it on the command line.  The
orders below are AUDITOR's declaration orders (``Filters``, ``Operator<T>``, ``SortOption``),
which serde_qs follows when it renders a query and reports errors, so they are part of the
byte-exact output of ``QueryBuilder().build()``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = [
    "FILTER_FIELDS",
    "META_OPERATORS",
    "OPERATORS",
    "OPERATOR_BY_SYMBOL",
    "OPERATOR_NAMES",
    "SORT_COLUMNS",
    "SORT_DIRECTIONS",
]

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
"""The top-level query fields, in the order AUDITOR declares (and serde_qs renders) them."""

OPERATORS: Final = MappingProxyType({"gt": ">", "lt": "<", "gte": ">=", "lte": "<=", "equals": "="})
"""Comparison operator name -> its symbol (also the SQL operator AUDITOR generates), in
declaration order."""

OPERATOR_NAMES: Final = tuple(OPERATORS)
"""``("gt", "lt", "gte", "lte", "equals")``: the operators in declaration order."""

OPERATOR_BY_SYMBOL: Final = MappingProxyType(
    dict(
        sorted(
            [*((symbol, name) for name, symbol in OPERATORS.items()), ("==", "equals")],
            key=lambda item: -len(item[0]),
        )
    )
)
"""Symbol (``>=``, ``<=``, ``>``, ``<``, ``=``, and ``==`` for ``equals``) -> operator name,
longest symbols first, so a regex alternation built from the keys in order matches greedily."""

META_OPERATORS: Final = ("c", "dnc")
"""The meta operators: ``c`` (contains every value), ``dnc`` (contains none of them)."""

SORT_DIRECTIONS: Final = ("asc", "desc")
"""The keys of ``sort_by[...]``; with both given, AUDITOR uses the first (``asc``)."""

SORT_COLUMNS: Final = ("start_time", "stop_time", "runtime", "record_id")
"""The columns ``sort_by`` accepts."""
