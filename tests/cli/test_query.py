"""``pyauditor query`` and ``pyauditor get``: filters onto the DSL, every output format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
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
from pyauditor.cli import _parser
from pyauditor.cli._common import UsageError
from pyauditor.cli._query import build_query
from pyauditor.testing import AuditorTestServer

from .conftest import job, ndjson, run

UTC = dt.UTC


def query_of(*argv: str) -> str:
    return build_query(_parser().parse_args(["query", "http://x", *argv]))


def at(*parts: int) -> Value:
    return Value.set_datetime(dt.datetime(*parts, tzinfo=UTC))  # type: ignore[misc]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], QueryBuilder()),
        (["--record-id", "job 1#x"], QueryBuilder().with_record_id("job 1#x")),
        (
            ["--start-after", "2024-05-01", "--start-before", "2024-06-01T00:00:00Z"],
            QueryBuilder().with_start_time(Operator().gte(at(2024, 5, 1)).lt(at(2024, 6, 1))),
        ),
        (
            ["--stop-after", "2024-05-01T12:00:00+02:00"],
            QueryBuilder().with_stop_time(Operator().gte(at(2024, 5, 1, 10))),
        ),
        (
            ["--stop-before", "2024-05-01 10:30"],  # no offset: UTC
            QueryBuilder().with_stop_time(Operator().lt(at(2024, 5, 1, 10, 30))),
        ),
        (
            ["--runtime-min", "60", "--runtime-max", "3600"],
            QueryBuilder().with_runtime(
                Operator().gte(Value.set_runtime(60)).lte(Value.set_runtime(3600))
            ),
        ),
        (
            ["--meta", "site_id=site1", "--meta", "group_id=atlas", "--meta-not", "site_id=s2"],
            QueryBuilder().with_meta_query(
                MetaQuery()
                .meta_operator(
                    "site_id", MetaOperator().contains(["site1"]).does_not_contain(["s2"])
                )
                .meta_operator("group_id", MetaOperator().contains(["atlas"]))
            ),
        ),
        (
            ["--meta", "tags=a=b", "--meta", "tags=c"],  # the first = splits
            QueryBuilder().with_meta_query(
                MetaQuery().meta_operator("tags", MetaOperator().contains(["a=b", "c"]))
            ),
        ),
        (
            ["--component", "cpu>=2", "--component", "cpu<8", "--component", "gpu=1"],
            QueryBuilder().with_component_query(
                ComponentQuery()
                .component_operator(
                    "cpu", Operator().gte(Value.set_count(2)).lt(Value.set_count(8))
                )
                .component_operator("gpu", Operator().equals(Value.set_count(1)))
            ),
        ),
        (
            ["--component", "mem > 0", "--component", "disk<=5", "--component", "x==3"],
            QueryBuilder().with_component_query(
                ComponentQuery()
                .component_operator("mem", Operator().gt(Value.set_count(0)))
                .component_operator("disk", Operator().lte(Value.set_count(5)))
                .component_operator("x", Operator().equals(Value.set_count(3)))
            ),
        ),
        (
            ["--sort", "runtime:desc", "--limit", "10"],
            QueryBuilder().sort_by(SortBy().descending("runtime")).limit(10),
        ),
        (["--sort", "record_id"], QueryBuilder().sort_by(SortBy().ascending("record_id"))),
        (["--sort", "stop_time:asc"], QueryBuilder().sort_by(SortBy().ascending("stop_time"))),
    ],
)
def test_filters_map_onto_the_query_dsl(argv: list[str], expected: QueryBuilder) -> None:
    assert query_of(*argv) == expected.build()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sort", "site"], "cannot sort by 'site'"),
        (["--sort", "runtime:down"], "asc or desc"),
        (["--component", "cpu~4"], "unknown operator '~' in 'cpu~4': use one of >=, <=, >, < or ="),
        (["--component", "cpu!=8"], "unknown operator '!=' in 'cpu!=8': use one of >="),
        (["--component", "cpu=>8"], "unknown operator '=>'"),
        (["--component", ">=8"], "expected NAME>=N"),
        (["--component", "cpu>=8x"], "expected NAME>=N"),
        (["--component", "cpu>=300"], "at most 255"),
        (["--component", "cpu>=-1"], "expected NAME>=N"),
        (["--meta", "site_id"], "expected KEY=VALUE"),
        (["--start-after", "yesterday"], "not a date or date-time"),
        (["--limit", "-1"], "must be >= 0"),
        (["--runtime-min", "1.5"], "not a whole number of seconds"),
        (["--format", "xml"], "invalid choice"),
        (["--timeout", "-1"], "--timeout: must be a number of seconds > 0, got '-1'"),
        (["--timeout", "0"], "--timeout: must be a number of seconds > 0, got '0'"),
        (["--timeout", "nan"], "--timeout: must be a number of seconds > 0"),
        (["--timeout", "inf"], "--timeout: must be a number of seconds > 0"),
        (["--retries", "-1"], "--retries: must be >= 0"),
    ],
)
def test_bad_filters_are_usage_errors(argv: list[str], message: str) -> None:
    result = run("query", "http://localhost:1", *argv)
    assert result.code == 2
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("pyauditor query: error: ")
    assert message in line


def test_the_same_comparison_twice_is_a_usage_error() -> None:
    args = _parser().parse_args(["query", "--component", "cpu>=2", "--component", "cpu>=4"])
    with pytest.raises(UsageError, match="same comparison twice"):
        build_query(args)


@pytest.fixture
def filled(server: AuditorTestServer) -> AuditorTestServer:
    jobs = [job(i, site=f"site{i % 3}", group=("atlas", "cms")[i % 2]) for i in range(30)]
    jobs.append(job(99, stop_time=None, meta=None, components=[]))
    assert run("send", server.url, stdin=ndjson(jobs)).code == 0
    return server


def test_ndjson_is_to_json_per_line_and_filters_apply(filled: AuditorTestServer) -> None:
    result = run(
        "query", filled.url, "--meta", "site_id=site1", "--meta-not", "group_id=cms",
        "--sort", "start_time:desc", "--limit", "3", "--format", "ndjson",
    )  # fmt: skip
    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["record_id"] for r in records] == ["job-28", "job-22", "job-16"]
    assert list(records[0]) == sorted(records[0])  # Record.to_json(): sorted keys
    assert records[0]["runtime"] == 3600


def test_json_is_one_array(filled: AuditorTestServer) -> None:
    result = run("query", filled.url, "--format", "json", "--stop-after", "2024-05-01T01:00:20Z")
    records = json.loads(result.out)
    assert [r["record_id"] for r in records] == [f"job-{i}" for i in range(20, 30)]
    assert json.loads(run("query", filled.url, "--format", "json", "--limit", "0").out) == []


def test_csv_has_one_row_per_record(filled: AuditorTestServer) -> None:
    result = run("query", filled.url, "--format", "csv", "--record-id", "job-99")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert rows == [
        {
            "record_id": "job-99",
            "start_time": "2024-05-01T00:01:39Z",
            "stop_time": "",
            "runtime": "",
            "meta": "",
            "components": "[]",
        }
    ]
    [row] = csv.DictReader(
        io.StringIO(run("query", filled.url, "--format", "csv", "--record-id", "job-4").out)
    )
    assert json.loads(row["meta"]) == {"group_id": ["atlas"], "site_id": ["site1"]}
    assert json.loads(row["components"])[0] == {
        "amount": 8,
        "name": "cpu",
        "scores": [{"name": "HEPSPEC06", "value": 10.5}],
    }
    assert row["runtime"] == "3600"


def test_table_for_people(filled: AuditorTestServer) -> None:
    result = run("query", filled.url, "--component", "cpu>=8", "--limit", "2", "--wide")
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "RECORD_ID", "START", "(UTC)", "STOP", "(UTC)", "RUNTIME", "COMPONENTS", "META",
    ]  # fmt: skip
    assert lines[1].split() == [
        "job-0", "2024-05-01", "00:00:00", "2024-05-01", "01:00:00", "1:00:00",
        "cpu=8(HEPSPEC06=10.5)", "mem=16000", "site_id=site0", "group_id=atlas",
    ]  # fmt: skip
    assert lines[-1] == "(2 records)"
    # Columns line up.
    assert lines[1].index("2024") == lines[2].index("2024") == lines[0].index("START")


HTCONDOR_ID = "htcondor-schedd01.grid.uni-freiburg.de#1234567.0#1714550400"


@pytest.mark.parametrize("width", [42, 60, 80, 100, 132])
def test_the_table_fits_the_terminal(
    filled: AuditorTestServer, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = [job(200 + i, record_id=f"{HTCONDOR_ID[:-1]}{i}") for i in range(3)]
    assert run("send", filled.url, stdin=ndjson(long)).code == 0
    monkeypatch.setenv("COLUMNS", str(width))
    lines = run("query", filled.url, "--sort", "start_time").out.splitlines()
    assert max(len(line) for line in lines) <= width
    assert lines[-1] == "(34 records)"
    # Every row's columns line up with the header's, long ids included.
    start = lines[0].index("START")
    assert all(line[start : start + 4] == "2024" for line in lines[1:-1])
    ids = [line.split("  ")[0] for line in lines[-4:-1]]
    if width >= 80:
        # Cut in the middle: the schedd at the start and the job at the end stay readable.
        assert all(i.startswith("htcondor-sc") and "\u2026" in i for i in ids)
        assert [i[-1] for i in ids] == ["0", "1", "2"]
    running = next(line for line in lines if line.startswith("job-99 "))
    assert "running" in running


def test_an_80_column_table_keeps_what_fits(filled: AuditorTestServer) -> None:
    # Not a terminal, no $COLUMNS: 80 columns.
    lines = run("query", filled.url, "--limit", "3").out.splitlines()
    assert lines[0].split() == [
        "RECORD_ID", "START", "(UTC)", "RUNTIME", "COMPONENTS", "META",
    ]  # fmt: skip
    assert max(len(line) for line in lines) <= 80
    assert lines[1].startswith("job-0  ")
    assert "cpu=8(HEPSPEC06" in lines[1]
    assert "site_id=site0" in lines[1]


def test_an_ascii_terminal_gets_an_ascii_ellipsis(
    filled: AuditorTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("send", filled.url, stdin=ndjson([job(300, record_id=HTCONDOR_ID)])).code == 0
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    from pyauditor.cli import main

    assert main(["query", filled.url, "--record-id", HTCONDOR_ID], stdout=out) == 0
    out.seek(0)
    text = out.read()
    assert "htcondor-sch~#1714550400  " in text


def test_a_long_table_streams_past_its_sample(filled: AuditorTestServer) -> None:
    result = run("query", filled.url)
    assert result.out.splitlines()[-1] == "(31 records)"
    assert len(result.out.splitlines()) == 33


def test_no_match(filled: AuditorTestServer) -> None:
    assert run("query", filled.url, "--meta", "site_id=nowhere").out.splitlines() == [
        "RECORD_ID  START (UTC)  STOP (UTC)  RUNTIME  COMPONENTS  META",
        "(0 records)",
    ]
    assert run("query", filled.url, "--meta", "site_id=x", "--format", "ndjson").out == ""


def test_query_streams(filled: AuditorTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Output is written while the answer is still arriving: the writer sees the first record
    # before the client has read the last one.
    from pyauditor import AuditorClientBlocking

    seen: list[str] = []
    original = AuditorClientBlocking.iter_records

    def spy(self: AuditorClientBlocking, query: str = "") -> Any:
        for record in original(self, query):
            seen.append(f"read {record.record_id}")
            yield record

    monkeypatch.setattr(AuditorClientBlocking, "iter_records", spy)

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            seen.append("write")
            return super().write(text)

    from pyauditor.cli import main

    assert main(["query", filled.url, "--format", "ndjson"], stdout=Out()) == 0
    assert seen.index("write") < seen.index("read job-29")


def test_server_rejecting_a_query_is_a_failure(filled: AuditorTestServer) -> None:
    from pyauditor.testing import Respond

    filled.inject(Respond(400, '{"error":"bad query"}'), path="/records")
    result = run("query", filled.url)
    assert result.code == 1
    assert "HTTP 400" in result.err
    assert "bad query" in result.err


# -- get ---------------------------------------------------------------------------------------


def test_get_prints_the_record(filled: AuditorTestServer) -> None:
    result = run("get", filled.url, "job-7")
    assert result.code == 0
    record = json.loads(result.out)
    assert record["record_id"] == "job-7"
    assert record["meta"] == {"group_id": ["cms"], "site_id": ["site1"]}
    assert result.out.startswith("{\n  ")


def test_get_unknown_record_fails_fast(filled: AuditorTestServer) -> None:
    result = run("get", filled.url, "job-12345")
    assert result.code == 1
    assert result.err.strip() == f"pyauditor get: error: no record 'job-12345' on {filled.url}"
    # One query, no retries of a 500 as GET /record/{id} would need.
    deadline = time.monotonic() + 5
    while not any(r.method == "GET" for r in filled.requests) and time.monotonic() < deadline:
        time.sleep(0.005)
    gets = [(r.path, r.query) for r in filled.requests if r.method == "GET"]
    assert gets == [("/records", "record_id=job-12345")]


def test_get_with_auditor_url(filled: AuditorTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_URL", filled.url)
    assert json.loads(run("get", "job-1").out)["record_id"] == "job-1"
    assert run("get", "a", "b", "c").code == 2


def test_get_without_url() -> None:
    result = run("get", "job-1")
    assert result.code == 2
    assert "AUDITOR_URL" in result.err
