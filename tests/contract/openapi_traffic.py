"""Validate real HTTP traffic against ``openapi.yaml``.

Project rule: every request our clients send and every response our embedded test server
produces in the test suite is validated against ``openapi.yaml``.  This module is the one place
that does it.  It uses openapi-core 0.23 for everything it handles correctly and works around its
gaps (ecosystem-notes §5) and the places where the server's real behaviour can't be expressed in
the document; each workaround is marked ``WORKAROUND`` below with the reason.

Layers (all public):

* :class:`OpenAPITraffic` -- the stateless validator.  ``OpenAPITraffic.shared()`` returns the
  instance for the repo's ``openapi.yaml`` (parsed once per process).  ``validate_request`` /
  ``validate_response`` take raw parts (method, URL, headers, body bytes) and raise
  :class:`OpenAPIViolation` (an ``AssertionError``); ``request_problems`` / ``response_problems``
  return the list of problems instead; ``validate_httpx_request`` / ``validate_httpx_response``
  take httpx objects.
* :class:`TrafficRecorder` -- records exchanges, validates each one and remembers violations;
  returned by the ``openapi_traffic`` fixture.  It hooks into httpx clients in two ways:

  - ``recorder.transport(inner)``: a :class:`ValidatingTransport` wrapping the real transport
    (sync *and* async in one object, like ``httpx.MockTransport``).  It tees the response
    stream and validates the body when the response is **closed**, so streamed responses are
    validated without buffering anything in the client; a stream closed before the end is
    validated for status, headers and the complete records read so far.  This is the
    recommended hook.
  - ``recorder.event_hooks()`` / ``recorder.async_event_hooks()``: httpx event hooks.  The
    response hook has to read the whole body before the client sees it, which defeats
    streaming (memory-bounded tests must use the transport).

  Violations raise ``OpenAPIViolation`` where they happen *and* are recorded: if the client
  under test swallows the exception (``health_check`` never raises, for example), the fixture
  still fails the test at teardown.
* Deliberately invalid traffic (a test that sends a bad query to check the server's ``400``,
  or a mock server that answers outside the contract to test client robustness) goes inside
  ``with openapi_traffic.expect_violation(match=..., kind="request"):`` -- violations there are
  collected instead of raised, and the block fails if none happened.  ``with
  openapi_traffic.skip_validation():`` records without validating (for traffic that is outside
  the contract on purpose, e.g. a connection string with a path prefix).
* Server side: an embedded server can call ``recorder.check_exchange(...)`` (or the validator's
  ``validate_request``/``validate_response``) with what it received and sent.

Example::

    def test_add(openapi_traffic):
        with httpx.Client(transport=openapi_traffic.transport(httpx.MockTransport(handler)),
                          base_url="http://127.0.0.1:8000") as client:
            client.post("/record", json=record)        # request and response validated
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import re
import threading
import weakref
from collections.abc import (
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias
from urllib.parse import parse_qsl, urlsplit

import httpx
import jsonschema
import pytest
import yaml
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS31Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

__all__ = [
    "SPEC_PATH",
    "AsyncValidatingTransport",
    "Exchange",
    "OpenAPITraffic",
    "OpenAPIViolation",
    "TrafficRecorder",
    "ValidatingTransport",
    "records_query_problems",
    "relaxed_timestamp_problem",
    "server_timestamp_problem",
    "split_concatenated_json",
    "valid_name_problem",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT / "openapi.yaml"

HeadersLike: TypeAlias = Mapping[str, str] | httpx.Headers | Sequence[tuple[str, str]] | None
Kind: TypeAlias = Literal["request", "response"]

# Unicode White_Space (what Rust's `char::is_whitespace`/`str::trim` use).  Python's `str.isspace`
# and `re`'s `\s` differ: they also match U+001C..U+001F, which the server treats as ordinary.
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
# How many per-object problems of one records stream are reported (the rest are counted).
MAX_REPORTED_OBJECT_PROBLEMS = 10


class OpenAPIViolation(AssertionError):
    """A request or response that breaks ``openapi.yaml``.

    ``kind`` is ``"request"`` or ``"response"``, ``status`` the response status (None for
    requests), ``problems`` the individual findings; ``str()`` gives method, URL, status and
    every problem.
    """

    def __init__(
        self,
        kind: Kind,
        method: str,
        url: str,
        problems: Sequence[str],
        status: int | None = None,
    ) -> None:
        self.kind: Kind = kind
        self.method = method.upper()
        self.url = url
        self.status = status
        self.problems = list(problems)
        if kind == "request":
            head = f"OpenAPI violation in request {self.method} {url}"
        else:
            head = f"OpenAPI violation in response {status} to {self.method} {url}"
        super().__init__(head + "".join(f"\n  - {p}" for p in self.problems))


# ------------------------------------------------------------------------------------------------
# Scalar rules of the server (auditor-server-0.11.md §1.1), shared by query and body checks.


def _grapheme_lower_bound(text: str) -> int:
    """A lower bound of the number of extended grapheme clusters (UAX #29) in ``text``.

    The stdlib has no grapheme segmentation, so this counts only boundaries that are certain:
    the start, and every ASCII character that follows an ASCII character except LF after CR
    (no UAX #29 rule joins two ASCII characters other than GB3).  Exact for ASCII text, an
    under-estimate otherwise -- so the validator never rejects a name the server accepts, but
    may miss a non-ASCII name that is too long.
    """
    if not text:
        return 0
    count = 1
    for prev, cur in itertools.pairwise(text):
        if prev < "\x80" and cur < "\x80" and not (prev == "\r" and cur == "\n"):
            count += 1
    return count


def _max_name_graphemes() -> int:
    """The grapheme limit of a name, from the Name schema's ``x-auditor-max-graphemes``."""
    return int(_repo_spec()["components"]["schemas"]["Name"]["x-auditor-max-graphemes"])


def valid_name_problem(text: str) -> str | None:
    """Why ``text`` is not a server ValidName (blank after White_Space trim, too many graphemes:
    the limit is the Name schema's ``x-auditor-max-graphemes`` in openapi.yaml)."""
    if all(ch in WHITE_SPACE for ch in text):
        return f"{text!r} is not a valid name (empty after trimming Unicode White_Space)"
    limit = _max_name_graphemes()
    if _grapheme_lower_bound(text) > limit:
        return f"{text[:40]!r}... is not a valid name (more than {limit} graphemes)"
    return None


class _TimestampError(ValueError):
    pass


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _check_date_time_ranges(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> None:
    # chrono's NaiveDate covers years -262144..=262143; Parsed allows second 60 (leap second).
    if not -262144 <= year <= 262143:
        raise _TimestampError("input is out of range (year)")
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise _TimestampError("input is out of range (month/day)")
    if day > _days_in_month(year, month):
        raise _TimestampError("no possible date and time matching input")
    if hour > 23 or minute > 59 or second > 60:
        raise _TimestampError("input is out of range (time)")


def relaxed_timestamp_problem(text: str) -> str | None:
    """Why the server would reject ``text`` as a timestamp in a request, or None.

    Mirrors chrono 0.4.45 ``DateTime<FixedOffset>::from_str`` (``parse_rfc3339_relaxed``), which
    the server uses for request bodies and query values: whitespace allowed between components,
    unpadded numbers, ``T``/``t``/space between date and time, years outside 0..=9999 only with a
    sign, an optional ``.`` fraction of 1+ digits, and a **mandatory** offset: ``Z``/``z``,
    ``UTC`` (any case), or ``+``/``-``/U+2212 then ``HH``, optional colons/whitespace, ``MM``.
    """
    s, n = text, len(text)
    i = 0

    def skip_ws() -> None:
        nonlocal i
        while i < n and s[i] in WHITE_SPACE:
            i += 1

    def number(lo: int, hi: int) -> int:
        nonlocal i
        skip_ws()  # chrono trims leading whitespace before every numeric item
        j = i
        while j < n and j - i < hi and "0" <= s[j] <= "9":
            j += 1
        if j - i < lo:
            raise _TimestampError(
                "premature end of input" if j >= n else "input contains invalid characters"
            )
        value = int(s[i:j])
        i = j
        return value

    def literal(ch: str) -> None:
        nonlocal i
        skip_ws()
        if i >= n:
            raise _TimestampError("premature end of input")
        if s[i] != ch:
            raise _TimestampError("input contains invalid characters")
        i += 1

    try:
        skip_ws()
        if i < n and s[i] in "+-":
            sign = -1 if s[i] == "-" else 1
            i += 1
            year = sign * number(1, 30)
        else:
            year = number(1, 4)
        literal("-")
        month = number(1, 2)
        literal("-")
        day = number(1, 2)
        if i >= n:
            raise _TimestampError("premature end of input")
        if s[i] not in "tT ":
            raise _TimestampError("input contains invalid characters")
        i += 1
        hour = number(1, 2)
        literal(":")
        minute = number(1, 2)
        literal(":")
        second = number(1, 2)
        if i < n and s[i] == ".":  # fraction: 1..9 digits used, further digits skipped
            i += 1
            number(1, 9)
            while i < n and "0" <= s[i] <= "9":
                i += 1
        skip_ws()
        if s[i : i + 3].upper() == "UTC" and s[i : i + 3].isascii():
            offset = 0
            i += 3
        elif i < n and s[i] in "Zz":
            offset = 0
            i += 1
        else:
            if i >= n:
                raise _TimestampError("premature end of input")
            if s[i] not in "+-\u2212":
                raise _TimestampError("input contains invalid characters")
            sign = 1 if s[i] == "+" else -1
            i += 1
            if i + 2 > n:
                raise _TimestampError("premature end of input")
            if not ("0" <= s[i] <= "9" and "0" <= s[i + 1] <= "9"):
                raise _TimestampError("input contains invalid characters")
            hours = int(s[i : i + 2])
            i += 2
            while i < n and (s[i] == ":" or s[i] in WHITE_SPACE):
                i += 1
            if i + 2 > n:
                raise _TimestampError("premature end of input")
            if not ("0" <= s[i] <= "9" and "0" <= s[i + 1] <= "9"):
                raise _TimestampError("input contains invalid characters")
            minutes = int(s[i : i + 2])
            if minutes > 59:
                raise _TimestampError("input is out of range (offset minutes)")
            i += 2
            offset = sign * (hours * 3600 + minutes * 60)
        skip_ws()
        if i != n:
            raise _TimestampError("trailing input")
        if abs(offset) >= 86400:
            raise _TimestampError("input is out of range (offset)")
        _check_date_time_ranges(year, month, day, hour, minute, second)
    except _TimestampError as exc:
        return f"{text!r} is not a timestamp the server accepts: {exc}"
    return None


_SERVER_TIMESTAMP = re.compile(
    r"(?P<year>\d{4}|[+-]\d{4,})-(?P<month>\d\d)-(?P<day>\d\d)"
    r"T(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)(?:\.(?P<fraction>\d{3}|\d{6}))?Z",
    re.ASCII,
)


def server_timestamp_problem(text: str) -> str | None:
    """Why ``text`` is not a timestamp as the server writes it in responses, or None.

    chrono ``Serialize`` with ``SecondsFormat::AutoSi`` and ``use_z``: UTC with a literal ``Z``;
    no fraction when it is zero, 3 digits for a whole number of milliseconds, else 6 (storage
    has microsecond precision).
    """
    match = _SERVER_TIMESTAMP.fullmatch(text)
    if match is None:
        return (
            f"{text!r} is not in the server's timestamp format YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z"
        )
    fraction = match["fraction"]
    if fraction is not None and (set(fraction) == {"0"} or fraction.endswith("000")):
        return f"{text!r}: the server writes this fraction with fewer digits (AutoSi)"
    try:
        _check_date_time_ranges(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
        )
    except _TimestampError as exc:
        return f"{text!r}: {exc}"
    return None


# ------------------------------------------------------------------------------------------------
# WORKAROUND (openapi-core): GET /records query strings.  The server parses them with serde_qs
# (strict mode) into a struct with `deny_unknown_fields`; openapi-core's deepObject support can't
# parse the nested brackets (`meta[k][c][0]=v`, `component[name][op]=n`) and silently accepts
# unknown keys.  So the query string is validated here against the grammar of
# auditor-server-0.11.md §7.2 instead.  Deliberate choices where that grammar is silent:
#   * unknown keys inside `meta[<k>][...]` are rejected (the server silently ignores them, which
#     is how upstream bug #998 returned all records -- exactly what this check must catch);
#   * a pair without `=`, a malformed `%` escape and an empty `sort_by[...]` value are rejected
#     (no client should produce them; the server's reaction is not documented).


class _QueryError(ValueError):
    pass


def _form_decode(raw: str) -> str:
    """Decode like serde_qs: ``+`` is a space, ``%XX`` a byte; the result must be UTF-8."""
    data = raw.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x2B:  # '+'
            out.append(0x20)
            i += 1
        elif byte == 0x25:  # '%'
            hex_digits = data[i + 1 : i + 3]
            if len(hex_digits) != 2 or not all(c in b"0123456789abcdefABCDEF" for c in hex_digits):
                raise _QueryError(f"malformed percent-escape in {raw!r}")
            out.append(int(hex_digits, 16))
            i += 3
        else:
            out.append(byte)
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise _QueryError(f"{raw!r} does not decode to UTF-8") from None


def _split_pair(segment: str) -> tuple[str, list[str], str]:
    """Split ``root[g1][g2]=value`` on its *literal* brackets (still percent-encoded parts)."""
    n = len(segment)
    i = 0
    while i < n and segment[i] not in "[=":
        i += 1
    root, groups = segment[:i], []
    while i < n and segment[i] == "[":
        j = i + 1
        while j < n and segment[j] not in "[]":
            j += 1  # '=' is part of a bracketed key in serde_qs
        if j >= n:
            raise _QueryError("unclosed '[' in the key")
        if segment[j] == "[":
            raise _QueryError("'[' inside brackets")
        groups.append(segment[i + 1 : j])
        i = j + 1
    if i >= n:
        raise _QueryError("no '=' (a key without a value)")
    if segment[i] != "=":
        raise _QueryError(f"unexpected {segment[i]!r} after ']' in the key")
    return root, groups, segment[i + 1 :]


def _count_problem(value: str) -> str | None:
    # Rust `str::parse::<i64>` plus ValidAmount (>= 0).
    if not re.fullmatch(r"[+-]?[0-9]+", value, re.ASCII):
        return f"{value!r} is not an integer"
    number = int(value)
    if number < 0:
        return f"{value!r} is negative"
    if number > I64_MAX:
        return f"{value!r} does not fit in i64"
    return None


@dataclass(frozen=True)
class _QueryGrammar:
    """The ``GET /records`` query grammar, read from the operation's parameters in openapi.yaml.

    Every query parameter is a root key.  A ``deepObject`` parameter nests: an object schema
    with ``properties`` takes one of them as the next ``[...]`` (``start_time[gte]``), one with
    ``additionalProperties`` takes a name (``meta[<name>]``), an array takes an index
    (``[<i>]`` or ``[]``).  The leaf schema checks the value: a Name (grapheme rule), a
    date-time (chrono's relaxed forms), an integer (its bounds), an enum.
    """

    schemas: Mapping[str, Any]
    params: Mapping[str, Mapping[str, Any]]  # name -> resolved parameter

    @staticmethod
    @functools.cache
    def of_repo() -> _QueryGrammar:
        return _QueryGrammar.from_spec(_repo_spec())

    @staticmethod
    def from_spec(spec: Mapping[str, Any]) -> _QueryGrammar:
        schemas = spec["components"]["schemas"]
        operation = spec["paths"]["/records"]["get"]
        params = {}
        for parameter in operation.get("parameters", []):
            if "$ref" in parameter:
                name = parameter["$ref"].rsplit("/", 1)[-1]
                parameter = spec["components"]["parameters"][name]
            if parameter.get("in") == "query":
                params[parameter["name"]] = parameter
        return _QueryGrammar(schemas, params)

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def pattern(self, root: str) -> str:
        """How a pair of ``root`` is written, e.g. ``meta[<name>][c|dnc][<i>]``."""
        text = root
        node = self.resolve(self.params[root].get("schema", {}))
        while True:
            if "properties" in node:
                text += "[" + "|".join(node["properties"]) + "]"
                options = [self.resolve(s) for s in node["properties"].values()]
                node = options[0] if options else {}
            elif isinstance(node.get("additionalProperties"), dict):
                text += "[<name>]"
                node = self.resolve(node["additionalProperties"])
            elif node.get("type") == "array":
                text += "[<i>]"
                node = self.resolve(node.get("items", {}))
            else:
                return text

    def describe(self) -> str:
        return ", ".join(self.pattern(root) for root in self.params)


def _label(schema_ref: str | None, fallback: str) -> str:
    if schema_ref is None:
        return fallback
    name = schema_ref.rsplit("/", 1)[-1]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower()


def _leaf_problem(
    grammar: _QueryGrammar, schema: Mapping[str, Any], value: str, root: str
) -> str | None:
    ref = schema.get("$ref")
    node = grammar.resolve(schema)
    if "enum" in node:
        if value not in node["enum"]:
            label = _label(ref, "value")
            return f"{label} {value!r} is not one of {', '.join(map(str, node['enum']))}"
        return None
    kind = node.get("type")
    if kind == "integer":
        problem = _count_problem(value)
        return problem
    if kind == "string" and node.get("format") == "date-time":
        problem = relaxed_timestamp_problem(value)
        if problem and "+" not in value and " " in value:
            problem += " (a raw `+` in a query value decodes to a space; send `%2B` or `Z`)"
        return problem
    if kind == "string" and "x-auditor-max-graphemes" in node:
        return valid_name_problem(value)
    return None


def records_query_problems(raw_query: str) -> list[str]:
    """Check a raw (still percent-encoded) ``GET /records`` query string against §7.2.

    Returns one message per problem; ``[]`` means the server accepts the query.  Empty values of
    optional fields (``limit=``, ``record_id=``, ``start_time[gt]=``) are accepted, like the
    server does; see the module comment for the deliberate extra strictness.
    """
    problems: list[str] = []
    seen: set[tuple[str, ...]] = set()
    list_style: dict[tuple[str, str], str] = {}
    for segment in raw_query.split("&"):
        if not segment:
            continue  # serde_qs skips empty segments (`&&`, leading/trailing `&`)
        try:
            raw_root, raw_groups, raw_value = _split_pair(segment)
            root = _form_decode(raw_root)
            groups = [_form_decode(g) for g in raw_groups]
            value = _form_decode(raw_value)
        except _QueryError as exc:
            problems.append(f"query pair {segment!r}: {exc}")
            continue
        found = _pair_problems(root, groups, value)
        path = (root, *groups)
        if root == "meta" and len(groups) == 3 and groups[1] in ("c", "dnc"):
            style = "pushed" if groups[2] == "" else "indexed"
            if list_style.setdefault((groups[0], groups[1]), style) != style:
                found.append("mixes `[]` and `[<i>]` in one list")
            if style == "pushed":
                path = ()  # `c[]=a&c[]=b` appends; not a repeated key
        if path and path in seen:
            found.append("repeated key (the server answers 400 `Multiple values for one key`)")
        seen.add(path)
        problems.extend(f"query pair {segment!r}: {p}" for p in found)
    return problems


def _pair_problems(root: str, groups: list[str], value: str) -> list[str]:
    if "[" in root or "]" in root:
        return [
            f"unknown key {root!r}: brackets must be literal `[`/`]`, not percent-encoded "
            "(the server treats encoded brackets as part of the name)"
        ]
    grammar = _QueryGrammar.of_repo()
    shape = f"{root}" + "".join(f"[{g}]" for g in groups)
    parameter = grammar.params.get(root)
    if parameter is None:
        return [f"unknown key {shape!r}; the grammar allows {grammar.describe()}"]
    pattern = grammar.pattern(root)
    schema: Mapping[str, Any] = parameter.get("schema", {})
    problems: list[str] = []
    in_list = False
    for group in groups:
        node = grammar.resolve(schema)
        if "properties" in node and parameter.get("style") == "deepObject":
            if group not in node["properties"]:
                return [f"expected {pattern}, got {shape!r}"]
            schema = node["properties"][group]
        elif isinstance(node.get("additionalProperties"), dict):
            label = "meta key" if root == "meta" else f"{root} name"
            problems += [f"{label}: {p}" for p in (valid_name_problem(group),) if p]
            schema = node["additionalProperties"]
        elif node.get("type") == "array":
            if group != "" and not re.fullmatch(r"[0-9]+", group, re.ASCII):
                problems.append(f"list index {group!r} is not a non-negative integer or empty")
            schema = node.get("items", {})
            in_list = True
        else:
            if not groups or node is grammar.resolve(parameter.get("schema", {})):
                return [f"{root} takes no [...] (got {shape!r})"]
            return [f"expected {pattern}, got {shape!r}"]
    node = grammar.resolve(schema)
    if node.get("type") == "array":
        return [f"{shape!r} needs an index: {pattern} (lists since 0.10)"]
    if "properties" in node or isinstance(node.get("additionalProperties"), dict):
        return [f"expected {pattern}, got {shape!r}"]
    if value == "" and not in_list and "enum" not in node:
        return problems  # an empty optional value is treated as absent
    problem = _leaf_problem(grammar, schema, value, root)
    if problem:
        problems.append(f"list element: {problem}" if in_list else problem)
    return problems


# ------------------------------------------------------------------------------------------------
# JSON bodies


class _StrictJSONError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _StrictJSONError(f"{name} is not JSON (serde_json rejects it)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _StrictJSONError(f"number {text} is out of range for f64")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _StrictJSONError(f"duplicate key {key!r}")
        result[key] = value
    return result


_STRICT_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
)


def _lone_surrogate(value: Any) -> str | None:
    """serde_json rejects lone UTF-16 surrogates (`"\\ud800"`); Python's json accepts them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return f"string {item[:40]!r} contains a lone surrogate"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _strict_json_problems(body: bytes) -> list[str]:
    """Problems only a strict (serde_json-like) parser sees; plain syntax errors are left to the
    caller, which reports them anyway."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"JSON body is not UTF-8: {exc}"]
    try:
        value = _STRICT_DECODER.decode(text)
    except _StrictJSONError as exc:
        return [f"JSON body: {exc}"]
    except ValueError:
        return []
    found = _lone_surrogate(value)
    return [f"JSON body: {found}"] if found else []


def split_concatenated_json(body: bytes) -> list[tuple[int, Any]]:
    """Split a body of concatenated JSON values (``{..}{..}``, whitespace allowed between them)
    into ``(character offset, value)`` pairs; ``b""`` gives ``[]``.

    Raises ``ValueError`` (with the offset) on anything that is not a complete JSON value.
    Parsing is strict like serde_json (no NaN/Infinity, no duplicate keys).
    """
    return list(_concatenated_values(body.decode("utf-8")))


def _concatenated_values(text: str) -> Iterator[tuple[int, Any]]:
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":  # JSON whitespace (NDJSON)
            pos += 1
        if pos >= end:
            return
        try:
            value, next_pos = _STRICT_DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, _StrictJSONError) as exc:
            raise ValueError(f"no complete JSON value at character {pos}: {exc}") from None
        yield pos, value
        pos = next_pos


# ------------------------------------------------------------------------------------------------
# openapi-core adapters (its Request/Response protocols; modelled on contrib/requests)


class _CoreRequest:
    """``openapi_core.protocols.Request`` for raw request parts."""

    def __init__(
        self,
        host_url: str,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: httpx.Headers,
        body: bytes | None,
    ) -> None:
        self.host_url = host_url
        self.path = path
        self.method = method.lower()
        self.body = body
        self.content_type = headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(query)),
            header=Headers(list(headers.multi_items())),
            cookie=ImmutableMultiDict(),
        )


class _CoreResponse:
    """``openapi_core.protocols.Response`` for raw response parts."""

    def __init__(self, status: int, content_type: str, headers: httpx.Headers, body: bytes) -> None:
        self.status_code = status
        self.content_type = content_type
        self.headers = Headers(list(headers.multi_items()))
        self.data = body


def _schema_error_text(error: ValidationError, *, response: bool) -> str:
    """One line for a jsonschema error: the most relevant sub-error (``oneOf`` branches), its
    JSON path, and the reason where the generic format/pattern message would hide it."""
    best = best_match([error]) or error
    instance = best.instance
    if best.validator == "format" and best.validator_value == "date-time":
        check = server_timestamp_problem if response else relaxed_timestamp_problem
        reason = check(instance) if isinstance(instance, str) else None
        text = reason or best.message
    elif best.validator == "format" and best.validator_value == "int64":
        text = (
            f"{instance!r} is not an int64 as the server reads it (a JSON integer without "
            "fraction or exponent, within i64)"
        )
    elif (
        best.validator in ("pattern", "minLength")
        and isinstance(instance, str)
        and valid_name_problem(instance) is not None
    ):
        # A Name (its pattern encodes "not blank"): say it in the server's terms.
        text = valid_name_problem(instance) if isinstance(instance, str) else None
        text = text or best.message
    else:
        text = best.message
    return f"{_shorten(text)} (at {best.json_path})"


def _core_error_lines(exc: BaseException, *, response: bool) -> list[str]:
    """Turn an openapi-core exception into short, precise lines (schema errors with paths)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    schema_errors: list[ValidationError] = [
        error for link in chain for error in getattr(link, "schema_errors", None) or ()
    ]
    label = type(exc).__name__
    if getattr(exc, "name", None):
        label += f" ({exc.name})"  # type: ignore[attr-defined]
    if not schema_errors:
        return [f"{label}: {_shorten(str(exc))}"]
    return [f"{label}: {_schema_error_text(e, response=response)}" for e in schema_errors]


def _shorten(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _strict_int64(value: object) -> bool:
    # WORKAROUND (JSON Schema vs serde): `type: integer` accepts 1.0 and 1e3, but the server's
    # serde i64 rejects any JSON number written with a fraction or exponent.
    if isinstance(value, float):
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return I64_MIN <= value <= I64_MAX
    return True


def _relaxed_date_time(value: object) -> bool:
    # WORKAROUND (spec/format): `format: date-time` is strict RFC 3339, but the server (and the
    # Timestamp description in openapi.yaml) accepts chrono's relaxed form in requests.
    return not isinstance(value, str) or relaxed_timestamp_problem(value) is None


def _server_date_time(value: object) -> bool:
    # Responses must use the exact form the server writes (documented in openapi.yaml's
    # Timestamp description; JSON Schema can't say it).
    return not isinstance(value, str) or server_timestamp_problem(value) is None


@functools.cache
def _load_spec_file(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


@functools.cache
def _repo_spec() -> dict[str, Any]:
    return _load_spec_file(SPEC_PATH)


def _format_checker(date_time: Callable[[object], bool]) -> jsonschema.FormatChecker:
    checker = copy.deepcopy(OAS31Validator.FORMAT_CHECKER)
    checker.checks("date-time")(date_time)
    checker.checks("int64")(_strict_int64)
    return checker


def _split_url(url: str | httpx.URL) -> tuple[str, str]:
    """``(raw path, raw query)`` of an absolute URL or of a request target such as
    ``/records?limit=1`` (``urlsplit`` would read ``//records`` as a host)."""
    text = str(url)
    if text.startswith("/"):
        path, _, query = text.partition("#")[0].partition("?")
        return path, query
    parts = urlsplit(text)
    return parts.path or "/", parts.query


_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class _Operation:
    template: str
    method: str  # lowercase
    definition: Mapping[str, Any]


# ------------------------------------------------------------------------------------------------
# The validator


class OpenAPITraffic:
    """Validates requests and responses against an OpenAPI 3.1 document (default: the repo's
    ``openapi.yaml``).  Stateless and thread-safe after construction; construction parses the
    document and builds openapi-core validators (~0.2 s), so use :meth:`shared`.

    ``allow_legacy_records_array=True`` also accepts a ``GET /records`` body that is a JSON array
    of records, as servers 0.4 to 0.8 sent (the 0.11 contract is concatenated objects).

    Example::

        traffic = OpenAPITraffic.shared()
        traffic.validate_request("GET", "http://127.0.0.1:8000/records?limit=5", {}, b"")
        traffic.validate_response("POST", "/record", 500, {}, b"RECORD_EXISTS")
    """

    _shared_lock = threading.Lock()
    _shared_instance: OpenAPITraffic | None = None

    def __init__(
        self,
        spec: Path | Mapping[str, Any] = SPEC_PATH,
        *,
        allow_legacy_records_array: bool = False,
    ) -> None:
        raw = _load_spec_file(Path(spec).resolve()) if isinstance(spec, Path) else spec
        self.spec: dict[str, Any] = copy.deepcopy(dict(raw))
        self.allow_legacy_records_array = allow_legacy_records_array
        # openapi-core matches the request host against `servers`; the port of a test server
        # is arbitrary, so requests are presented to it as coming to the first declared server.
        servers = self.spec.get("servers") or [{"url": "http://127.0.0.1"}]
        self._host_url = str(servers[0]["url"]).rstrip("/")
        # Two openapi-core apps: timestamps are relaxed in requests and exact in responses.
        self._request_api = OpenAPI.from_dict(
            self.spec,
            config=Config(
                extra_format_validators={"date-time": _relaxed_date_time, "int64": _strict_int64}
            ),
        )
        self._response_api = OpenAPI.from_dict(
            self.spec,
            config=Config(
                extra_format_validators={"date-time": _server_date_time, "int64": _strict_int64},
                spec_validator_cls=None,  # the document was validated just above
            ),
        )
        self._response_format_checker = _format_checker(_server_date_time)
        self._schema_validators: dict[str, Validator] = {}
        self._schema_lock = threading.Lock()

    @classmethod
    def shared(cls) -> OpenAPITraffic:
        """The validator for the repo's ``openapi.yaml``, built once per process."""
        with cls._shared_lock:
            if cls._shared_instance is None:
                cls._shared_instance = cls()
            return cls._shared_instance

    # -- operation lookup -------------------------------------------------------------------

    def find_operation(self, method: str, raw_path: str) -> _Operation | None:
        """The operation for ``method`` and a raw (percent-encoded) path, or None."""
        segments = raw_path.split("/")
        for template, item in self.spec.get("paths", {}).items():
            if method.lower() not in _HTTP_METHODS or method.lower() not in item:
                continue
            definition = item[method.lower()]
            parts = template.split("/")
            if len(parts) != len(segments):
                continue
            if all(
                (p.startswith("{") and p.endswith("}") and s != "") or p == s
                for p, s in zip(parts, segments, strict=True)
            ):
                return _Operation(template, method.lower(), definition)
        return None

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _response_definition(self, operation: _Operation, status: int) -> Mapping[str, Any] | None:
        responses = operation.definition.get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if key in responses:
                return self._resolve(responses[key])
        return None

    def _schema_validator(self, key: str, schema: Mapping[str, Any]) -> Validator:
        with self._schema_lock:
            validator = self._schema_validators.get(key)
            if validator is None:
                root = {**schema, "components": self.spec.get("components", {})}
                validator = OAS31Validator(root, format_checker=self._response_format_checker)
                self._schema_validators[key] = validator
            return validator

    # -- requests -----------------------------------------------------------------------------

    def request_problems(
        self, method: str, url: str | httpx.URL, headers: HeadersLike, body: bytes | None
    ) -> list[str]:
        """Everything wrong with a request (``[]`` if it follows the contract).

        ``url`` may be absolute or just ``/path?query``; it is used as sent (percent-encoded).
        """
        hdrs = httpx.Headers(headers)
        raw_path, raw_query = _split_url(url)
        problems: list[str] = []
        if any(segment == "" for segment in raw_path.split("/")[1:]):
            problems.append(
                f"path {raw_path!r} has an empty segment (e.g. `/record/`, `//records`, a "
                "trailing slash); the server answers 404"
            )
        for segment in raw_path.split("/"):
            # Path ids must be percent-encoded (`/record/a%2Fb`): RFC 3986 pchar only.
            if not re.fullmatch(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*", segment):
                problems.append(f"path segment {segment!r} is not properly percent-encoded")
        operation = self.find_operation(method, raw_path)
        if operation is None:
            allowed = [m.upper() for m in _HTTP_METHODS if self.find_operation(m, raw_path)]
            problems.append(
                f"no operation for {method.upper()} {raw_path} in the contract"
                + (f" (the path allows {', '.join(allowed)})" if allowed else "")
            )
            return problems
        declared_query = {
            p["name"]
            for p in (self._resolve(p) for p in operation.definition.get("parameters", []))
            if p.get("in") == "query"
        }
        if operation.template == "/records" and operation.method == "get":
            problems += records_query_problems(raw_query)
            core_query: list[tuple[str, str]] = []  # openapi-core can't parse it (see above)
        else:
            # WORKAROUND (openapi-core): unknown query parameters are silently accepted.
            core_query = parse_qsl(raw_query, keep_blank_values=True)
            for name, _ in core_query:
                if name.split("[")[0] not in declared_query:
                    problems.append(
                        f"query parameter {name!r} is not declared for {method.upper()} "
                        f"{operation.template}"
                    )
        if "requestBody" in operation.definition and body:
            limit = self._max_body_bytes()
            if limit is not None and len(body) > limit:
                problems.append(
                    f"the body has {len(body)} bytes, more than the server's limit of {limit} "
                    "(x-auditor-max-body-bytes in openapi.yaml): the server answers 413"
                )
            mimetype = hdrs.get("content-type", "").split(";")[0].strip().lower()
            if mimetype == "application/json" or mimetype.endswith("+json"):
                strict = _strict_json_problems(body)
                problems += strict
                if not strict:
                    problems += self._body_name_problems(operation, mimetype, body)
        core_request = _CoreRequest(
            self._host_url, method, raw_path, core_query, hdrs, body if body else None
        )
        try:
            self._request_api.validate_request(core_request)
        except Exception as exc:
            problems += _core_error_lines(exc, response=False)
        return problems

    def _max_body_bytes(self) -> int | None:
        """The request-body limit the spec states (``x-auditor-max-body-bytes``), if any."""
        for response in self.spec.get("components", {}).get("responses", {}).values():
            if "x-auditor-max-body-bytes" in response:
                return int(response["x-auditor-max-body-bytes"])
        return None

    def _body_name_problems(self, operation: _Operation, mimetype: str, body: bytes) -> list[str]:
        """Names in a JSON body that break the rules JSON Schema cannot state (graphemes)."""
        content = self._resolve(operation.definition["requestBody"]).get("content", {})
        media = content.get(mimetype) or content.get("application/json")
        if media is None or "schema" not in media:
            return []
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            return []  # reported by the JSON checks
        problems: list[str] = []
        self._walk_names(value, media["schema"], "body", problems)
        return problems

    def _walk_names(
        self, value: Any, schema: Mapping[str, Any], where: str, problems: list[str]
    ) -> None:
        node = self._resolve(schema)
        for key in ("oneOf", "anyOf"):
            if key in node:
                options = [self._resolve(o) for o in node[key]]
                options = [o for o in options if o.get("type") != "null"]
                if value is not None and len(options) == 1:
                    self._walk_names(value, options[0], where, problems)
                return
        if "x-auditor-max-graphemes" in node and isinstance(value, str):
            problem = valid_name_problem(value)
            if problem:
                problems.append(f"{where}: {problem}")
            return
        if isinstance(value, dict):
            properties = node.get("properties", {})
            names = node.get("propertyNames")
            extra = node.get("additionalProperties")
            for key, item in value.items():
                if names is not None:
                    self._walk_names(key, names, f"{where} key {key[:40]!r}", problems)
                if key in properties:
                    self._walk_names(item, properties[key], f"{where}.{key}", problems)
                elif isinstance(extra, dict):
                    self._walk_names(item, extra, f"{where}[{key[:40]!r}]", problems)
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                self._walk_names(item, node["items"], f"{where}[{index}]", problems)

    def validate_request(
        self, method: str, url: str | httpx.URL, headers: HeadersLike, body: bytes | None
    ) -> None:
        """Raise :class:`OpenAPIViolation` unless the request follows the contract."""
        problems = self.request_problems(method, url, headers, body)
        if problems:
            raise OpenAPIViolation("request", method, str(url), problems)

    def validate_httpx_request(self, request: httpx.Request) -> None:
        """:meth:`validate_request` for an ``httpx.Request`` (a streamed body is read first)."""
        self.validate_request(request.method, request.url, request.headers, request.read())

    # -- responses ----------------------------------------------------------------------------

    def response_problems(
        self,
        method: str,
        url: str | httpx.URL,
        status: int,
        headers: HeadersLike,
        body: bytes,
        *,
        complete: bool = True,
    ) -> list[str]:
        """Everything wrong with a response to ``method url`` (``[]`` if it follows the contract).

        ``body`` is the decoded body (after Content-Encoding).  With ``complete=False`` (a
        stream closed early) only status and headers are checked, plus the complete records of
        a ``GET /records`` stream.  A response to a request outside the contract (unknown path
        or method) gives ``[]``: the request check reports it.
        """
        hdrs = httpx.Headers(headers)
        raw_path, _ = _split_url(url)
        operation = self.find_operation(method, raw_path)
        if operation is None:
            return []
        definition = self._response_definition(operation, status)
        if definition is None:
            declared = ", ".join(operation.definition.get("responses", {}))
            return [
                f"status {status} is not declared for {method.upper()} {operation.template} "
                f"(declared: {declared})"
            ]
        content: Mapping[str, Any] = definition.get("content") or {}
        content_type = hdrs.get("content-type")
        mimetype = content_type.split(";")[0].strip().lower() if content_type else None
        json_media = content.get("application/json")
        if json_media is not None and "concatenated-json" in (
            definition.get("x-auditor-body-format"),  # where openapi.yaml puts the marker
            json_media.get("x-auditor-body-format"),
        ):
            return self._stream_problems(mimetype, json_media, body, complete=complete)
        if not complete:
            return self._media_type_problems(content, mimetype, body_present=True)
        if not body:
            return self._empty_body_problems(content, mimetype)
        if not content:
            return [
                f"the contract documents an empty body for {status}, but got {len(body)} bytes: "
                f"{_shorten(repr(body[:200]))}"
            ]
        problems = self._media_type_problems(content, mimetype, body_present=True)
        if problems:
            return problems
        if mimetype is not None and (mimetype == "application/json" or mimetype.endswith("+json")):
            problems += _strict_json_problems(body)
        # WORKAROUND (server): RECORD_EXISTS, UNEXPECTED_ERROR, the 404 text and /metrics come
        # without a Content-Type; openapi.yaml declares them as text/plain (it needs a media type).
        effective_type = content_type or "text/plain"
        core_request = _CoreRequest(self._host_url, method, raw_path, [], hdrs, None)
        core_response = _CoreResponse(status, effective_type, hdrs, body)
        try:
            self._response_api.validate_response(core_request, core_response)
        except Exception as exc:
            problems += _core_error_lines(exc, response=True)
        return problems

    def _media_type_problems(
        self, content: Mapping[str, Any], mimetype: str | None, *, body_present: bool
    ) -> list[str]:
        if not content or mimetype is None or not body_present:
            return []
        if mimetype in content:
            return []
        major = mimetype.split("/")[0]
        if f"{major}/*" in content or "*/*" in content:
            return []
        return [f"Content-Type {mimetype!r} is not declared (declared: {', '.join(content)})"]

    def _empty_body_problems(self, content: Mapping[str, Any], mimetype: str | None) -> list[str]:
        # WORKAROUND (openapi-core): it rejects every empty body as "Missing response data".
        # An empty body is valid where the contract documents one: a response without content,
        # or a text media type whose schema accepts "" (e.g. the `Stored` response's
        # `maxLength: 0`).  Without a Content-Type (what actix sends for `.finish()`), any
        # declared text media type may apply.
        if not content:
            return []
        if mimetype is None:
            candidates = [m for m in content if m.startswith("text/")]
        elif mimetype in content:
            candidates = [mimetype]
        else:
            return self._media_type_problems(content, mimetype, body_present=True)
        for candidate in candidates:
            if not candidate.startswith("text/"):
                continue
            schema = content[candidate].get("schema", {})
            key = json.dumps(schema, sort_keys=True)
            if self._schema_validator(key, schema).is_valid(""):
                return []
        return [
            f"empty body{'' if mimetype is None else f' with Content-Type {mimetype!r}'}, but the "
            f"contract declares content {', '.join(content)} and no text schema accepts an "
            "empty string"
        ]

    def _stream_problems(
        self, mimetype: str | None, media: Mapping[str, Any], body: bytes, *, complete: bool
    ) -> list[str]:
        # WORKAROUND (spec/openapi-core): the GET /records 200 body is concatenated Record
        # objects (possibly none), which one JSON schema can't describe; openapi.yaml gives the
        # schema of each object.  Split the body and validate every object.
        if mimetype != "application/json":
            return [f"records stream needs Content-Type application/json, got {mimetype!r}"]
        schema = media.get("schema", {})
        validator = self._schema_validator(json.dumps(schema, sort_keys=True), schema)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [f"records stream is not UTF-8: {exc}"]
        objects: list[tuple[int, Any]] = []
        problems: list[str] = []
        try:
            objects.extend(_concatenated_values(text))
        except ValueError as exc:
            if complete:  # a stream closed early may end with a partial object
                problems.append(f"records stream: {exc}")
        if (
            self.allow_legacy_records_array
            and len(objects) == 1
            and isinstance(objects[0][1], list)
        ):
            objects = [(objects[0][0], item) for item in objects[0][1]]
        reported = 0
        for index, (offset, value) in enumerate(objects):
            if not isinstance(value, dict):
                found = [f"is a JSON {type(value).__name__}, not an object"]
                if isinstance(value, list) and not self.allow_legacy_records_array:
                    found[0] += (
                        " (a JSON array is the pre-0.9 format; construct the validator with "
                        "allow_legacy_records_array=True to accept it)"
                    )
            else:
                found = [
                    _schema_error_text(error, response=True)
                    for error in validator.iter_errors(value)
                ]
                if (surrogate := _lone_surrogate(value)) is not None:
                    found.append(surrogate)
            for item in found:
                reported += 1
                if reported <= MAX_REPORTED_OBJECT_PROBLEMS:
                    problems.append(f"records stream object #{index} (character {offset}): {item}")
        if reported > MAX_REPORTED_OBJECT_PROBLEMS:
            problems.append(
                f"... and {reported - MAX_REPORTED_OBJECT_PROBLEMS} more object problems"
            )
        return problems

    def validate_response(
        self,
        method: str,
        url: str | httpx.URL,
        status: int,
        headers: HeadersLike,
        body: bytes,
        *,
        complete: bool = True,
    ) -> None:
        """Raise :class:`OpenAPIViolation` unless the response follows the contract."""
        problems = self.response_problems(method, url, status, headers, body, complete=complete)
        if problems:
            raise OpenAPIViolation("response", method, str(url), problems, status=status)

    def validate_httpx_response(self, response: httpx.Response) -> None:
        """:meth:`validate_response` for a **read** ``httpx.Response`` (``response.read()``
        first when it was streamed); uses ``response.request`` for method and URL."""
        request = response.request
        self.validate_response(
            request.method, request.url, response.status_code, response.headers, response.content
        )


# ------------------------------------------------------------------------------------------------
# Recording and hooking into httpx


@dataclass
class Exchange:
    """One recorded request/response pair (the response part is None until it completed)."""

    method: str
    url: str
    request_headers: httpx.Headers
    request_body: bytes
    status: int | None = None
    response_headers: httpx.Headers | None = None
    response_body: bytes | None = None
    response_complete: bool = False
    validated: bool = True
    violations: list[OpenAPIViolation] = field(default_factory=list)


@dataclass
class _Expectation:
    kind: Literal["request", "response", "any"]
    pattern: re.Pattern[str] | None
    caught: list[OpenAPIViolation] = field(default_factory=list)

    def accepts(self, violation: OpenAPIViolation) -> bool:
        if self.kind != "any" and violation.kind != self.kind:
            return False
        return self.pattern is None or self.pattern.search(str(violation)) is not None


class TrafficRecorder:
    """Records HTTP exchanges and validates each against the contract (the ``openapi_traffic``
    fixture).  Thread-safe: an embedded server thread may report exchanges concurrently.

    ``raise_on_violation`` (default True) raises :class:`OpenAPIViolation` at the point of the
    violation; either way it is kept in :attr:`violations` (unexpected ones) and the fixture fails
    a test that passed despite having recorded violations.
    """

    def __init__(
        self, validator: OpenAPITraffic | None = None, *, raise_on_violation: bool = True
    ) -> None:
        self.validator = validator or OpenAPITraffic.shared()
        self.raise_on_violation = raise_on_violation
        self.exchanges: list[Exchange] = []
        self.violations: list[OpenAPIViolation] = []
        self._expectations: list[_Expectation] = []
        self._skip_depth = 0
        self._lock = threading.RLock()
        self._by_request: weakref.WeakKeyDictionary[httpx.Request, Exchange] = (
            weakref.WeakKeyDictionary()
        )

    # -- reporting ------------------------------------------------------------------------------

    def _report(
        self, exchange: Exchange, violation: OpenAPIViolation, raise_on_violation: bool | None
    ) -> None:
        with self._lock:
            exchange.violations.append(violation)
            for expectation in reversed(self._expectations):
                if expectation.accepts(violation):
                    expectation.caught.append(violation)
                    return
            self.violations.append(violation)
        if self.raise_on_violation if raise_on_violation is None else raise_on_violation:
            raise violation

    def check_request(
        self,
        method: str,
        url: str | httpx.URL,
        headers: HeadersLike,
        body: bytes | None,
        *,
        raise_on_violation: bool | None = None,
    ) -> Exchange:
        """Record and validate a request; returns its :class:`Exchange` for
        :meth:`check_response`.  Raises :class:`OpenAPIViolation` unless expected/skipped
        (``raise_on_violation`` overrides the recorder's setting for this call)."""
        exchange = Exchange(method.upper(), str(url), httpx.Headers(headers), body or b"")
        with self._lock:
            self.exchanges.append(exchange)
            exchange.validated = self._skip_depth == 0
        if exchange.validated:
            problems = self.validator.request_problems(method, url, headers, body)
            if problems:
                violation = OpenAPIViolation("request", method, str(url), problems)
                self._report(exchange, violation, raise_on_violation)
        return exchange

    def check_response(
        self,
        exchange: Exchange,
        status: int,
        headers: HeadersLike,
        body: bytes,
        *,
        complete: bool = True,
        raise_on_violation: bool | None = None,
    ) -> None:
        """Record and validate the response of ``exchange`` (see
        :meth:`OpenAPITraffic.response_problems` for ``complete``, :meth:`check_request` for
        ``raise_on_violation``)."""
        exchange.status = status
        exchange.response_headers = httpx.Headers(headers)
        exchange.response_body = body
        exchange.response_complete = complete
        if not exchange.validated:
            return
        problems = self.validator.response_problems(
            exchange.method, exchange.url, status, headers, body, complete=complete
        )
        if problems:
            self._report(
                exchange,
                OpenAPIViolation(
                    "response", exchange.method, exchange.url, problems, status=status
                ),
                raise_on_violation,
            )

    def check_exchange(
        self,
        method: str,
        url: str | httpx.URL,
        request_headers: HeadersLike,
        request_body: bytes | None,
        status: int,
        response_headers: HeadersLike,
        response_body: bytes,
        *,
        raise_on_violation: bool | None = None,
    ) -> Exchange:
        """Record and validate a whole exchange at once.

        Meant for an embedded server, which knows what it received and what it sent (``url``
        may be just the request target, e.g. ``/records?limit=1``).  A server thread should pass
        ``raise_on_violation=False``: the violation is then only recorded, and the
        ``openapi_traffic`` fixture fails the test at teardown.
        """
        exchange = self.check_request(
            method, url, request_headers, request_body, raise_on_violation=raise_on_violation
        )
        self.check_response(
            exchange, status, response_headers, response_body, raise_on_violation=raise_on_violation
        )
        return exchange

    # -- choosing what is validated --------------------------------------------------------------

    @contextmanager
    def expect_violation(
        self,
        match: str | None = None,
        *,
        kind: Literal["request", "response", "any"] = "any",
    ) -> Iterator[list[OpenAPIViolation]]:
        """Collect (instead of raising) violations of ``kind`` whose text matches the regex
        ``match`` inside the block; fail at the end of the block if there was none.

        The traffic still flows: a deliberately invalid query still reaches the server, and the
        server's response is still validated normally.  Yields the list of caught violations.

        Example::

            with openapi_traffic.expect_violation(r"unknown key 'gt'", kind="request"):
                response = client.get("/records?gt=1")
            assert response.status_code == 400      # the 400 itself was validated
        """
        expectation = _Expectation(kind, re.compile(match) if match is not None else None)
        with self._lock:
            self._expectations.append(expectation)
        try:
            yield expectation.caught
        finally:
            with self._lock:
                self._expectations.remove(expectation)
        if not expectation.caught:
            raise AssertionError(
                f"expected an OpenAPI {kind} violation"
                + (f" matching {match!r}" if match is not None else "")
                + ", but the traffic in the block followed the contract"
            )

    @contextmanager
    def skip_validation(self) -> Iterator[None]:
        """Record exchanges that start inside the block without validating them (for traffic
        that is outside the contract on purpose)."""
        with self._lock:
            self._skip_depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._skip_depth -= 1

    # -- httpx integration ----------------------------------------------------------------------

    def transport(
        self, inner: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None
    ) -> ValidatingTransport:
        """A transport that validates every exchange and then delegates to ``inner`` (default:
        a new ``httpx.HTTPTransport``/``AsyncHTTPTransport``).  Usable by sync and async
        clients alike when ``inner`` is (``httpx.MockTransport`` is).

        Example::

            client = httpx.AsyncClient(transport=openapi_traffic.transport(mock), base_url=url)
        """
        return ValidatingTransport(self, inner)

    def event_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        """``event_hooks=`` for an ``httpx.Client``.  Reads every response body in the hook, so
        it does not suit streaming tests (use :meth:`transport`)."""
        return {"request": [self._on_request], "response": [self._on_response]}

    def async_event_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        """``event_hooks=`` for an ``httpx.AsyncClient`` (same caveat as :meth:`event_hooks`)."""
        return {"request": [self._on_async_request], "response": [self._on_async_response]}

    def _on_request(self, request: httpx.Request) -> None:
        exchange = self.check_request(request.method, request.url, request.headers, request.read())
        self._by_request[request] = exchange

    async def _on_async_request(self, request: httpx.Request) -> None:
        body = await request.aread()
        exchange = self.check_request(request.method, request.url, request.headers, body)
        self._by_request[request] = exchange

    def _exchange_for(self, request: httpx.Request) -> Exchange:
        exchange = self._by_request.get(request)
        if exchange is None:  # the request hook was not installed; record the request now
            exchange = self.check_request(
                request.method, request.url, request.headers, request.read()
            )
        return exchange

    def _on_response(self, response: httpx.Response) -> None:
        body = response.read()
        exchange = self._exchange_for(response.request)
        self.check_response(exchange, response.status_code, response.headers, body)

    async def _on_async_response(self, response: httpx.Response) -> None:
        body = await response.aread()
        exchange = self._exchange_for(response.request)
        self.check_response(exchange, response.status_code, response.headers, body)


def _decode_content(headers: httpx.Headers, raw: bytes) -> bytes:
    """Undo Content-Encoding (the transport sees the body before httpx decodes it)."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    try:
        return httpx.Response(200, headers={"content-encoding": encoding}, content=raw).read()
    except httpx.DecodingError:
        return raw  # validated as is; the client reports the broken encoding itself


class _TeeStream(httpx.SyncByteStream):
    """Passes the chunks through and validates the whole body when the stream is closed."""

    def __init__(self, inner: httpx.SyncByteStream, finish: Callable[[bytes, bool], None]) -> None:
        self._inner = inner
        self._finish = finish
        self._chunks: list[bytes] = []
        self._exhausted = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk
        self._exhausted = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._inner.close()
        finally:
            self._finish(b"".join(self._chunks), self._exhausted)


class _AsyncTeeStream(httpx.AsyncByteStream):
    """Async twin of :class:`_TeeStream`."""

    def __init__(self, inner: httpx.AsyncByteStream, finish: Callable[[bytes, bool], None]) -> None:
        self._inner = inner
        self._finish = finish
        self._chunks: list[bytes] = []
        self._exhausted = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk
        self._exhausted = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._inner.aclose()
        finally:
            self._finish(b"".join(self._chunks), self._exhausted)


class ValidatingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Wraps a real transport: validates each request before sending it and each response when
    its stream is closed (``Client.send`` closes it after reading; ``client.stream()`` at the
    end of the ``with`` block).  A response whose stream was closed before its end is checked
    with ``complete=False``.  Create it with :meth:`TrafficRecorder.transport`.
    """

    def __init__(
        self,
        recorder: TrafficRecorder,
        inner: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.recorder = recorder
        self._inner = inner
        self._default_sync: httpx.HTTPTransport | None = None
        self._default_async: httpx.AsyncHTTPTransport | None = None

    def _sync_inner(self) -> httpx.BaseTransport:
        if self._inner is None:
            if self._default_sync is None:
                self._default_sync = httpx.HTTPTransport()
            return self._default_sync
        if not isinstance(self._inner, httpx.BaseTransport):
            raise TypeError(f"{type(self._inner).__name__} is not a sync transport")
        return self._inner

    def _async_inner(self) -> httpx.AsyncBaseTransport:
        if self._inner is None:
            if self._default_async is None:
                self._default_async = httpx.AsyncHTTPTransport()
            return self._default_async
        if not isinstance(self._inner, httpx.AsyncBaseTransport):
            raise TypeError(f"{type(self._inner).__name__} is not an async transport")
        return self._inner

    def _finisher(
        self, exchange: Exchange, response: httpx.Response
    ) -> Callable[[bytes, bool], None]:
        def finish(raw: bytes, complete: bool) -> None:
            self.recorder.check_response(
                exchange,
                response.status_code,
                response.headers,
                _decode_content(response.headers, raw),
                complete=complete,
            )

        return finish

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = self.recorder.check_request(
            request.method, request.url, request.headers, request.read()
        )
        response = self._sync_inner().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, self._finisher(exchange, response)),
            extensions=response.extensions,
            request=request,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        exchange = self.recorder.check_request(request.method, request.url, request.headers, body)
        response = await self._async_inner().handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_AsyncTeeStream(response.stream, self._finisher(exchange, response)),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        if self._inner is not None and isinstance(self._inner, httpx.BaseTransport):
            self._inner.close()
        if self._default_sync is not None:
            self._default_sync.close()

    async def aclose(self) -> None:
        if self._inner is not None and isinstance(self._inner, httpx.AsyncBaseTransport):
            await self._inner.aclose()
        if self._default_async is not None:
            await self._default_async.aclose()


# Kept for symmetry with httpx's names; the class handles both.
AsyncValidatingTransport = ValidatingTransport


# ------------------------------------------------------------------------------------------------
# pytest integration

_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember the call-phase report so the fixture knows whether the test body passed."""
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


@pytest.fixture
def openapi_traffic(request: pytest.FixtureRequest) -> Iterator[TrafficRecorder]:
    """A :class:`TrafficRecorder` for this test.

    At teardown it fails a test that passed although violations were recorded (the client
    under test may have swallowed the raised :class:`OpenAPIViolation`).
    """
    recorder = TrafficRecorder()
    yield recorder
    if recorder.violations:
        report = request.node.stash.get(_CALL_REPORT, None)
        if report is None or report.passed:
            pytest.fail(
                f"{len(recorder.violations)} OpenAPI violation(s) were recorded during the test "
                "(possibly swallowed by the code under test):\n"
                + "\n".join(str(v) for v in recorder.violations),
                pytrace=False,
            )
