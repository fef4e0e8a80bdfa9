"""Differential tests: random records, names and queries, ours against python-auditor 0.11.2.

A few hundred expressions are generated from a fixed seed and evaluated in ONE reference
subprocess (tests.reference_harness), then here.  With the forbidden-character rule relaxed,
every name the reference accepts must be accepted and every one it rejects rejected, and every
to_json() and query string must be byte-identical (multi-key meta and component queries are
compared as sets of pairs: the reference's order is random).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

import pyauditor
from pyauditor import ValidationError
from tests.reference_harness import ReferenceResult, eval_reference

pytestmark = pytest.mark.reference

PRELUDE = "from pyauditor import *\nimport datetime as dt\nUTC = dt.timezone.utc\n"

# Characters that stress the rules: whitespace of several kinds (White_Space and not),
# combining marks and joiners (grapheme clusters), the forbidden characters, JSON escapes,
# query-encoding specials, astral and private-use code points.
POOL = (
    "aZ09_-.~*"
    " \t\n\r\x0b\x0c\x1c\x85\xa0\u2000\u2028\u3000\u200b\ufeff"
    "\u0301\u200d\u0308\U0001f468\U0001f469\U0001f1e9\U0001f1ea\u0915\u094d"
    '/()"<>\\{}'
    "&=?#%+[]!$',;:@^`|"
    "\x00\x01\x1f\x7fü€\U0001f600\ue000"
)


def random_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(["", " ", "\t\n", "\u3000", "\u200b", "\r\n" * 129])
    if roll < 0.12:
        unit = rng.choice(["a", "e\u0301", "\U0001f600", "\U0001f468\u200d\U0001f469", "\r\n"])
        return unit * rng.choice([255, 256, 257])
    return "".join(rng.choice(POOL) for _ in range(rng.randint(1, 8)))


def random_float(rng: random.Random) -> float:
    return rng.choice(
        [
            rng.random() * 10 ** rng.randint(-12, 22),
            float(rng.randint(0, 10**6)),
            rng.choice([0.0, -0.0, 1e-5, 1.5e-5, 9.99e-5, 1e-4, 1e-7, 1e16, 5e-324, 1e-9]),
        ]
    )


def random_datetime(rng: random.Random) -> str:
    return (
        f"dt.datetime({rng.randint(1, 9999)}, {rng.randint(1, 12)}, {rng.randint(1, 28)}, "
        f"{rng.randint(0, 23)}, {rng.randint(0, 59)}, {rng.randint(0, 59)}, "
        f"{rng.choice([0, 0, 1000 * rng.randint(0, 999), rng.randint(0, 999999)])}, tzinfo=UTC)"
    )


def random_record(rng: random.Random) -> str:
    expression = f"Record({random_name(rng)!r}, {random_datetime(rng)})"
    if rng.random() < 0.6:
        meta = "Meta()"
        for _ in range(rng.randint(0, 3)):
            values = [random_name(rng) for _ in range(rng.randint(0, 2))]
            meta += f".insert({random_name(rng)!r}, {values!r})"
        expression += f".with_meta({meta})"
    for _ in range(rng.randint(0, 2)):
        component = f"Component({random_name(rng)!r}, {rng.choice([0, 1, 7, 2**31, 2**63 - 1])})"
        for _ in range(rng.randint(0, 2)):
            component += f".with_score(Score({random_name(rng)!r}, {random_float(rng)!r}))"
        expression += f".with_component({component})"
    if rng.random() < 0.5:
        expression += f".with_stop_time({random_datetime(rng)})"
    return expression + ".to_json()"


def random_operator(rng: random.Random, value: str) -> str:
    expression = "Operator()"
    for op in rng.sample(["gt", "lt", "gte", "lte", "equals"], rng.randint(0, 3)):
        expression += f".{op}({value})"
    return expression


def random_query(rng: random.Random) -> str:
    expression = "QueryBuilder()"
    if rng.random() < 0.4:
        expression += f".with_record_id({random_name(rng)!r})"
    for field in ("with_start_time", "with_stop_time"):
        if rng.random() < 0.4:
            value = f"Value.set_datetime({random_datetime(rng)})"
            expression += f".{field}({random_operator(rng, value)})"
    if rng.random() < 0.4:
        value = f"Value.set_runtime({rng.choice([0, 5, 2**64 - 1])})"
        expression += f".with_runtime({random_operator(rng, value)})"
    if rng.random() < 0.5:
        meta = "MetaQuery()"
        for _ in range(rng.randint(0, 2)):
            contained = [random_name(rng) for _ in range(rng.randint(0, 2))]
            not_contained = [random_name(rng) for _ in range(rng.randint(0, 2))]
            meta += (
                f".meta_operator({random_name(rng)!r}, MetaOperator()"
                f".contains({contained!r}).does_not_contain({not_contained!r}))"
            )
        expression += f".with_meta_query({meta})"
    if rng.random() < 0.4:
        components = "ComponentQuery()"
        for _ in range(rng.randint(0, 2)):
            value = f"Value.set_count({rng.randint(0, 255)})"
            components += (
                f".component_operator({random_name(rng)!r}, {random_operator(rng, value)})"
            )
        expression += f".with_component_query({components})"
    if rng.random() < 0.4:
        sort = "SortBy()"
        for direction in rng.sample(["ascending", "descending"], rng.randint(0, 2)):
            sort += f".{direction}({random_name(rng)!r})"
        expression += f".sort_by({sort})"
    if rng.random() < 0.4:
        expression += f".limit({rng.choice([0, 1, 500, 2**64 - 1])})"
    return expression + ".build()"


def expressions() -> list[str]:
    rng = random.Random(20240811)
    records = [random_record(rng) for _ in range(250)]
    queries = [random_query(rng) for _ in range(250)]
    return records + queries


@pytest.fixture(scope="module")
def reference_results() -> list[ReferenceResult]:
    return eval_reference(expressions(), PRELUDE)


@pytest.fixture
def relaxed() -> Iterator[None]:
    before = pyauditor.forbidden_characters_allowed()
    pyauditor.allow_forbidden_characters()
    yield
    pyauditor.allow_forbidden_characters(before)


def ours(expression: str) -> tuple[bool, Any]:
    namespace: dict[str, Any] = {}
    exec(PRELUDE, namespace)
    try:
        return False, eval(expression, namespace)
    except Exception as error:
        return True, error


def test_random_records_and_queries_match_the_reference(
    reference_results: list[ReferenceResult], relaxed: None
) -> None:
    accepted = rejected = 0
    for expected in reference_results:
        raised, value = ours(expected.expression)
        where = expected.expression
        if expected.raised:
            # Invalid names: RuntimeError there, ValidationError (a RuntimeError) here.
            assert expected.exception_type == "RuntimeError", expected.describe()
            assert raised, f"{where}: the reference rejects it, we returned {value!r}"
            assert isinstance(value, ValidationError), f"{where}: {value!r}"
            rejected += 1
            continue
        if raised and isinstance(value, ValidationError) and "NUL" in str(value):
            # Deliberate: AUDITOR's PostgreSQL cannot store NUL, so the reference's records
            # with one could never be stored (issue 14 item 8).
            rejected += 1
            continue
        assert not raised, f"{where}: the reference accepts it, we raised {value!r}"
        reference_value = expected.unwrap()
        if where.endswith(".build()") and value != reference_value:
            # Several meta keys or component names: the reference's order is random.
            assert sorted(value.split("&")) == sorted(str(reference_value).split("&")), where
        else:
            assert value == reference_value, where
        accepted += 1
    # The generator must exercise both outcomes in earnest.
    assert accepted > 300
    assert rejected > 20
