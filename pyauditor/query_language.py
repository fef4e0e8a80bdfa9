"""The vocabulary of AUDITOR's ``GET /records`` query language, as read-only tables.

What the query DSL (:class:`~pyauditor.QueryBuilder`) renders, what the embedded server
(:mod:`pyauditor.testing`) parses and what ``pyauditor query`` offers on the command line all
come from these tables, so they cannot disagree.  A tool that builds its own front end over the
DSL (a command line, a web form) takes its choices from here::

    from pyauditor.query_language import OPERATOR_BY_SYMBOL, SORT_COLUMNS

    OPERATOR_BY_SYMBOL[">="]  # 'gte'
    "runtime" in SORT_COLUMNS  # True

The orders are AUDITOR's declaration orders, which its query strings and error messages follow.
"""

from __future__ import annotations

from typing import Final

from . import _grammar

# The same objects as the internal table (a test checks); assigned here so the docs show them.

FILTER_FIELDS: Final = _grammar.FILTER_FIELDS
"""The top-level query fields, in the order AUDITOR declares (and serde_qs renders) them."""

OPERATORS: Final = _grammar.OPERATORS
"""Comparison operator name -> its symbol (also the SQL operator AUDITOR generates), in
declaration order."""

OPERATOR_NAMES: Final = _grammar.OPERATOR_NAMES
"""``("gt", "lt", "gte", "lte", "equals")``: the operators in declaration order."""

OPERATOR_BY_SYMBOL: Final = _grammar.OPERATOR_BY_SYMBOL
"""Symbol (``>=``, ``<=``, ``>``, ``<``, ``=``, and ``==`` for ``equals``) -> operator name,
longest symbols first, so a regex alternation built from the keys in order matches greedily."""

META_OPERATORS: Final = _grammar.META_OPERATORS
"""The meta operators: ``c`` (contains every value), ``dnc`` (contains none of them)."""

SORT_DIRECTIONS: Final = _grammar.SORT_DIRECTIONS
"""The keys of ``sort_by[...]``; with both given, AUDITOR uses the first (``asc``)."""

SORT_COLUMNS: Final = _grammar.SORT_COLUMNS
"""The columns ``sort_by`` accepts."""

__all__ = [
    "FILTER_FIELDS",
    "META_OPERATORS",
    "OPERATORS",
    "OPERATOR_BY_SYMBOL",
    "OPERATOR_NAMES",
    "SORT_COLUMNS",
    "SORT_DIRECTIONS",
]
