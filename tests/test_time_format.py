"""Timestamp conversion and formatting (pyauditor._time)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyauditor._time import (
    drop_zone,
    format_offset,
    format_z,
    parse_response_timestamp,
    parse_response_timestamp_utc,
    to_naive_utc,
    to_utc,
)

UTC = dt.UTC


@pytest.mark.parametrize(
    ("microsecond", "suffix"),
    [
        (0, ""),
        (1, ".000001"),
        (10, ".000010"),
        (1000, ".001"),
        (10000, ".010"),
        (100000, ".100"),
        (120000, ".120"),
        (123000, ".123"),
        (123400, ".123400"),
        (123456, ".123456"),
        (500000, ".500"),
        (999999, ".999999"),
    ],
)
def test_fraction_rule(microsecond: int, suffix: str) -> None:
    value = dt.datetime(2022, 8, 8, 11, 30, 0, microsecond)
    assert format_z(value) == f"2022-08-08T11:30:00{suffix}Z"
    assert format_offset(value) == f"2022-08-08T11:30:00{suffix}+00:00"


def test_range_ends() -> None:
    assert format_z(dt.datetime(1, 1, 1)) == "0001-01-01T00:00:00Z"
    assert format_z(dt.datetime(9999, 12, 31, 23, 59, 59, 999999)) == "9999-12-31T23:59:59.999999Z"


def test_utc_is_stripped_without_conversion() -> None:
    value = to_naive_utc(dt.datetime(2022, 8, 8, 11, 30, 0, 5, tzinfo=UTC), "start_time")
    assert value == dt.datetime(2022, 8, 8, 11, 30, 0, 5)
    assert value.tzinfo is None


@pytest.mark.parametrize(
    "tz",
    [
        dt.timezone(dt.timedelta(0)),
        dt.timezone(dt.timedelta(hours=2)),
        dt.timezone(dt.timedelta(hours=-5, minutes=-30)),
        zoneinfo.ZoneInfo("UTC"),
        zoneinfo.ZoneInfo("Europe/Berlin"),
    ],
)
def test_any_aware_datetime_is_converted_to_utc(tz: dt.tzinfo) -> None:
    local = dt.datetime(2022, 8, 8, 13, 30, 0, 123456, tzinfo=tz)
    expected = local.astimezone(UTC).replace(tzinfo=None)
    assert to_naive_utc(local, "start_time") == expected


def test_datetime_subclass_is_normalised() -> None:
    class Stamp(dt.datetime):
        pass

    value = to_naive_utc(Stamp(2022, 8, 8, tzinfo=UTC), "x")
    assert type(value) is dt.datetime


def test_naive_datetime_is_rejected_with_a_fix() -> None:
    with pytest.raises(
        TypeError, match=r"start_time must be a timezone-aware datetime.*timezone\.utc"
    ):
        to_naive_utc(dt.datetime(2022, 8, 8), "start_time")


@pytest.mark.parametrize("value", [dt.date(2022, 8, 8), "2022-08-08T11:30:00Z", 0, None])
def test_non_datetimes_are_rejected(value: object) -> None:
    with pytest.raises(TypeError, match="is not an instance of 'datetime'"):
        to_naive_utc(value, "start_time")


def test_overflow_when_converting_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="outside the range"):
        to_naive_utc(dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), "start_time")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-08-08T11:30:00Z", dt.datetime(2022, 8, 8, 11, 30)),
        ("2022-08-08T11:30:00.120Z", dt.datetime(2022, 8, 8, 11, 30, 0, 120000)),
        ("2022-08-08T13:30:00.5+02:00", dt.datetime(2022, 8, 8, 11, 30, 0, 500000)),
        ("2022-08-08T11:30:00.123456789Z", dt.datetime(2022, 8, 8, 11, 30, 0, 123456)),
    ],
)
def test_response_timestamps(text: str, expected: dt.datetime) -> None:
    assert parse_response_timestamp(text) == expected


@pytest.mark.parametrize("text", ["2022-08-08T13:30:00", "2022-08-08", "yesterday", ""])
def test_response_timestamps_need_a_time_and_an_offset(text: str) -> None:
    with pytest.raises(ValueError):
        parse_response_timestamp(text)


@given(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)))
def test_format_and_parse_round_trip(value: dt.datetime) -> None:
    assert parse_response_timestamp(format_z(value)) == value
    assert parse_response_timestamp(format_offset(value)) == value


def test_to_utc_keeps_utc_datetimes_and_converts_the_rest() -> None:
    value = dt.datetime(2022, 8, 8, 11, 30, tzinfo=UTC)
    assert to_utc(value, "start_time") is value
    berlin = dt.datetime(2022, 8, 8, 13, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    converted = to_utc(berlin, "start_time")
    assert converted == value
    assert converted.tzinfo is UTC
    assert type(to_utc(dt.datetime(2022, 8, 8, tzinfo=dt.timezone(dt.timedelta(0))), "x")) is (
        dt.datetime
    )
    with pytest.raises(TypeError, match="start_time must be a timezone-aware datetime"):
        to_utc(dt.datetime(2022, 8, 8), "start_time")
    with pytest.raises(TypeError, match="'None' is not an instance of 'datetime'"):
        to_utc(None, "start_time")


@pytest.mark.parametrize("microsecond", [0, 1, 1000, 120000, 123456])
def test_utc_aware_datetimes_format_like_naive_ones(microsecond: int) -> None:
    naive = dt.datetime(2022, 8, 8, 11, 30, 0, microsecond)
    aware = naive.replace(tzinfo=UTC)
    assert format_z(aware) == format_z(naive)
    assert format_offset(aware) == format_offset(naive)


def test_formatting_cache_is_keyed_by_identity() -> None:
    # Many distinct datetimes (more than the cache holds), each formatted twice.
    values = [dt.datetime(2022, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i) for i in range(2000)]
    first = [format_z(v) for v in values]
    assert [format_z(v) for v in values] == first
    assert [format_z(v.replace(microsecond=5)) for v in values[:3]] == [
        "2022-01-01T00:00:00.000005Z",
        "2022-01-01T00:00:01.000005Z",
        "2022-01-01T00:00:02.000005Z",
    ]


def test_response_timestamps_in_utc() -> None:
    parsed = parse_response_timestamp_utc("2022-08-08T13:30:00.5+02:00")
    assert parsed == dt.datetime(2022, 8, 8, 11, 30, 0, 500000, tzinfo=UTC)
    assert parsed.tzinfo is UTC
    assert parse_response_timestamp_utc("2022-08-08T11:30:00Z").tzinfo is UTC
    with pytest.raises(ValueError, match="outside the range"):
        parse_response_timestamp_utc("0001-01-01T00:00:00+01:00")
    with pytest.raises(ValueError, match="without a UTC offset"):
        parse_response_timestamp_utc("2022-08-08T11:30:00")


@given(st.datetimes(timezones=st.just(dt.UTC)), st.sampled_from([0, 1]))
def test_drop_zone_is_replace_tzinfo_none(value: dt.datetime, fold: int) -> None:
    value = value.replace(fold=fold)
    naive = drop_zone(value)
    assert type(naive) is dt.datetime
    assert naive.tzinfo is None
    assert naive == value.replace(tzinfo=None)
    assert naive.fold == fold
