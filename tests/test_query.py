"""The query DSL: Value, Operator, MetaOperator, MetaQuery, ComponentQuery, SortBy, QueryBuilder."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from typing import Any

import pytest

from pyauditor import (
    ComponentQuery,
    MetaOperator,
    MetaQuery,
    Operator,
    QueryBuilder,
    SortBy,
    Value,
)

UTC = dt.UTC
T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=UTC)
T1 = dt.datetime(2022, 8, 9, 11, 30, tzinfo=UTC)
T0_TEXT = "2022-08-08T11%3A30%3A00%2B00%3A00"


def test_value_has_only_factories() -> None:
    with pytest.raises(TypeError, match="cannot create 'Value' instances"):
        Value()
    assert repr(Value.set_runtime(runtime=5)) == "Value.set_runtime(5)"
    assert repr(Value.set_count(count=4)) == "Value.set_count(4)"
    assert repr(Value.set_datetime(datetime=T0)) == (
        "Value.set_datetime(datetime.datetime(2022, 8, 8, 11, 30, tzinfo=datetime.timezone.utc))"
    )
    with pytest.raises(TypeError, match="is not an acceptable base type"):
        type("Sub", (Value,), {})


def test_values_copy_and_pickle() -> None:
    value = Value.set_datetime(T0)
    assert copy.copy(value) is value  # immutable
    restored = pickle.loads(pickle.dumps(value))
    query = QueryBuilder().with_start_time(Operator().gt(restored)).build()
    assert query == f"start_time[gt]={T0_TEXT}"


@pytest.mark.parametrize(
    ("target", "call"),
    [
        (Operator(), lambda o: o.gt(Value.set_count(1))),
        (Operator(), lambda o: o.lt(Value.set_count(1))),
        (Operator(), lambda o: o.gte(Value.set_count(1))),
        (Operator(), lambda o: o.lte(Value.set_count(1))),
        (Operator(), lambda o: o.equals(Value.set_count(1))),
        (MetaOperator(), lambda o: o.contains(["a"])),
        (MetaOperator(), lambda o: o.does_not_contain(["a"])),
        (MetaQuery(), lambda o: o.meta_operator("k", MetaOperator())),
        (ComponentQuery(), lambda o: o.component_operator("cpu", Operator())),
        (SortBy(), lambda o: o.ascending("runtime")),
        (SortBy(), lambda o: o.descending("runtime")),
        (QueryBuilder(), lambda o: o.with_record_id("r")),
        (QueryBuilder(), lambda o: o.with_start_time(Operator())),
        (QueryBuilder(), lambda o: o.with_stop_time(Operator())),
        (QueryBuilder(), lambda o: o.with_runtime(Operator())),
        (QueryBuilder(), lambda o: o.with_meta_query(MetaQuery())),
        (QueryBuilder(), lambda o: o.with_component_query(ComponentQuery())),
        (QueryBuilder(), lambda o: o.sort_by(SortBy())),
        (QueryBuilder(), lambda o: o.limit(1)),
    ],
)
def test_every_method_mutates_and_returns_self(target: Any, call: Any) -> None:
    assert call(target) is target


def test_keyword_arguments_of_the_reference() -> None:
    query = (
        QueryBuilder()
        .with_record_id(record_id="x")
        .with_start_time(operator=Operator().gt(value=Value.set_datetime(datetime=T0)))
        .with_meta_query(
            meta=MetaQuery().meta_operator(
                query_id="k",
                meta_operator=MetaOperator().contains(c=["a"]).does_not_contain(dnc=["b"]),
            )
        )
        .with_component_query(
            component=ComponentQuery().component_operator(
                query_id="cpu", operator=Operator().equals(value=Value.set_count(count=1))
            )
        )
        .sort_by(sort_by=SortBy().ascending(column="runtime"))
        .limit(number=1)
        .build()
    )
    assert query == (
        f"record_id=x&start_time[gt]={T0_TEXT}&meta[k][c][0]=a&meta[k][dnc][0]=b"
        "&component[cpu][equals]=1&sort_by[asc]=runtime&limit=1"
    )


def test_arguments_are_copied_when_passed() -> None:
    operator = Operator().gt(Value.set_runtime(1))
    builder = QueryBuilder().with_runtime(operator)
    operator.lt(Value.set_runtime(9))
    assert builder.build() == "runtime[gt]=1"

    values = ["a"]
    meta_operator = MetaOperator().contains(values)
    values.append("b")
    meta_query = MetaQuery().meta_operator("k", meta_operator)
    meta_operator.contains(["c"])
    builder = QueryBuilder().with_meta_query(meta_query)
    meta_query.meta_operator("other", MetaOperator().contains(["o"]))
    assert builder.build() == "meta[k][c][0]=a"

    count = Operator().gt(Value.set_count(1))
    component_query = ComponentQuery().component_operator("cpu", count)
    count.lt(Value.set_count(5))
    builder = QueryBuilder().with_component_query(component_query)
    component_query.component_operator("mem", Operator().gt(Value.set_count(2)))
    assert builder.build() == "component[cpu][gt]=1"

    sort = SortBy().ascending("runtime")
    builder = QueryBuilder().sort_by(sort)
    sort.descending("stop_time")
    assert builder.build() == "sort_by[asc]=runtime"


def test_several_keys_keep_insertion_order() -> None:
    # python-auditor's order is random (a Rust HashMap); insertion order is deterministic.
    meta = (
        MetaQuery()
        .meta_operator("site_id", MetaOperator().contains(["s1"]))
        .meta_operator("group_id", MetaOperator().does_not_contain(["g1"]))
        .meta_operator("site_id", MetaOperator().contains(["s2"]))  # replaces, keeps its place
    )
    assert QueryBuilder().with_meta_query(meta).build() == (
        "meta[site_id][c][0]=s2&meta[group_id][dnc][0]=g1"
    )
    components = (
        ComponentQuery()
        .component_operator("mem", Operator().lt(Value.set_count(2)))
        .component_operator("cpu", Operator().gt(Value.set_count(1)).lte(Value.set_count(8)))
    )
    assert QueryBuilder().with_component_query(components).build() == (
        "component[mem][lt]=2&component[cpu][gt]=1&component[cpu][lte]=8"
    )


def test_a_bare_str_is_a_one_element_list_in_meta_operators() -> None:
    # The API documentation's examples pass one str; python-auditor raised TypeError for it.
    query = QueryBuilder().with_meta_query(
        MetaQuery().meta_operator(
            "group_id", MetaOperator().contains("group_1").does_not_contain("test")
        )
    )
    assert query.build() == "meta[group_id][c][0]=group_1&meta[group_id][dnc][0]=test"


def test_empty_parts_vanish_and_parts_are_replaced() -> None:
    assert QueryBuilder().build() == ""
    builder = QueryBuilder().with_start_time(Operator().gt(Value.set_datetime(T0))).limit(3)
    builder.with_start_time(Operator())
    assert builder.build() == "limit=3"
    builder.with_meta_query(MetaQuery().meta_operator("k", MetaOperator().contains([])))
    builder.with_component_query(ComponentQuery().component_operator("cpu", Operator()))
    builder.sort_by(SortBy())
    assert builder.build() == "limit=3"


def test_encoding() -> None:
    cases = {
        "a b": "a+b",
        "a+b": "a%2Bb",
        "~-._*": "%7E-._*",
        "ü": "%C3%BC",
        "!$()*,;:@": "%21%24%28%29*%2C%3B%3A%40",
        "": "",
    }
    for text, encoded in cases.items():
        assert QueryBuilder().with_record_id(text).build() == f"record_id={encoded}"
        assert (
            QueryBuilder().sort_by(SortBy().descending(text)).build() == f"sort_by[desc]={encoded}"
        )
    with pytest.raises(UnicodeEncodeError):
        QueryBuilder().with_record_id("\ud800")


def test_other_time_zones_are_converted() -> None:
    berlin = dt.datetime(2022, 8, 8, 13, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    query = QueryBuilder().with_stop_time(Operator().lte(Value.set_datetime(berlin))).build()
    assert query == f"stop_time[lte]={T0_TEXT}"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Operator().gt(5), "'int' object is not an instance of 'Value'"),
        (lambda: Operator().equals(None), "'None' is not an instance of 'Value'"),
        (lambda: MetaOperator().contains([1]), "'int' object is not an instance of 'str'"),
        (lambda: MetaOperator().contains(None), "'None' is not an instance of 'Sequence'"),
        (
            lambda: MetaQuery().meta_operator("k", Operator()),
            "'Operator' object is not an instance of 'MetaOperator'",
        ),
        (
            lambda: MetaQuery().meta_operator(1, MetaOperator()),
            "'int' object is not an instance of 'str'",
        ),
        (
            lambda: ComponentQuery().component_operator("k", MetaOperator()),
            "'MetaOperator' object is not an instance of 'Operator'",
        ),
        (lambda: QueryBuilder().with_start_time(None), "'None' is not an instance of 'Operator'"),
        (
            lambda: QueryBuilder().with_meta_query(MetaOperator()),
            "'MetaOperator' object is not an instance of 'MetaQuery'",
        ),
        (
            lambda: QueryBuilder().with_component_query(Operator()),
            "'Operator' object is not an instance of 'ComponentQuery'",
        ),
        (lambda: QueryBuilder().sort_by(None), "'None' is not an instance of 'SortBy'"),
        (lambda: QueryBuilder().with_record_id(5), "'int' object is not an instance of 'str'"),
        (lambda: SortBy().ascending(1), "'int' object is not an instance of 'str'"),
        (lambda: QueryBuilder().limit(1.0), "'float' object cannot be interpreted as an integer"),
    ],
)
def test_type_errors_like_the_reference(call: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == message


def test_reprs() -> None:
    operator = Operator().lt(Value.set_runtime(9)).gt(Value.set_runtime(1))
    assert repr(operator) == "Operator(gt=Value.set_runtime(1), lt=Value.set_runtime(9))"
    assert repr(MetaOperator().contains(["a"])) == "MetaOperator(contains=['a'])"
    assert repr(MetaQuery().meta_operator("k", MetaOperator().does_not_contain(["x"]))) == (
        "MetaQuery({'k': MetaOperator(does_not_contain=['x'])})"
    )
    assert repr(ComponentQuery().component_operator("cpu", Operator().gt(Value.set_count(1)))) == (
        "ComponentQuery({'cpu': Operator(gt=Value.set_count(1))})"
    )
    assert repr(SortBy().descending("runtime")) == "SortBy(descending='runtime')"
    assert repr(QueryBuilder().limit(5)) == "<QueryBuilder 'limit=5'>"


def test_builders_copy() -> None:
    builder = QueryBuilder().limit(5)
    duplicate = copy.copy(builder)
    duplicate.with_record_id("r")
    assert builder.build() == "limit=5"
    assert copy.deepcopy(duplicate).build() == "record_id=r&limit=5"
    operator = Operator().gt(Value.set_count(1))
    operator_copy = copy.copy(operator).lt(Value.set_count(2))
    assert QueryBuilder().with_runtime(operator).build() == "runtime[gt]=1"
    assert QueryBuilder().with_runtime(operator_copy).build() == "runtime[gt]=1&runtime[lt]=2"


@pytest.mark.parametrize(
    "cls", [Operator, MetaOperator, MetaQuery, ComponentQuery, SortBy, QueryBuilder]
)
def test_closed_classes(cls: type) -> None:
    instance = cls()
    with pytest.raises(AttributeError):
        instance.foo = 1
    with pytest.raises(TypeError, match="is not an acceptable base type"):
        type("Sub", (cls,), {})
    hash(instance)  # identity hash, as python-auditor
