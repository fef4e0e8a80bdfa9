"""GET /records: the serde_qs grammar, its error answers and AUDITOR's filter semantics (§7)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pyauditor.testing import AuditorTestServer

from .test_routes import record

UNKNOWN_TOP = (
    "unknown field `{}`, expected one of `record_id`, `start_time`, `stop_time`, `runtime`, "
    "`meta`, `component`, `sort_by`, `limit`"
)
HINT = (
    "\nInvalid field contains an encoded bracket -- did you mean to use non-strict mode?"
    "\n  https://docs.rs/serde_qs/latest/serde_qs/#strict-vs-non-strict-modes"
)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    decoder = json.JSONDecoder()
    text = response.text
    out: list[str] = []
    index = 0
    while index < len(text):
        value, index = decoder.raw_decode(text, index)
        out.append(value["record_id"])
    return out


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("x=1", UNKNOWN_TOP.format("x")),
        ("start_time%5Bgte%5D=2022-01-01T00:00:00Z", UNKNOWN_TOP.format("start_time[gte]") + HINT),
        ("limit=1&limit=2", 'Multiple values for one key: "limit"'),
        (
            "start_time[gte]=2022-01-01T00:00:00Z&start_time[gte]=2022-01-02T00:00:00Z",
            'Multiple values for one key: "gte"',
        ),
        ("meta[k][c][0]=a&meta[k][c][0]=b", "Multiple values for one key"),
        ("meta[k][c]=a", 'invalid type: string "a", expected a sequence'),
        ("meta[k][c][0]=", "Parsing '' failed"),
        ("meta[k]=x", 'could not convert Flat("x") to QsDeserializer<\'a>'),
        ("start_time=2022", 'could not convert Flat("2022") to QsDeserializer<\'a>'),
        ("start_time[gte]=2022-10-01T09:47:00+00:00", "input contains invalid characters"),
        ("start_time[gte]=2022-10-01T09:47:00", "premature end of input"),
        ("start_time[equals]=yesterday", "input contains invalid characters"),
        ("runtime[gt]=abc", "invalid digit found in string"),
        ("runtime[gt]=-1", "Parsing '-1' failed."),
        ("runtime[gt]=99999999999999999999", "number too large to fit in target type"),
        (
            "runtime[foo]=1",
            "unknown field `foo`, expected one of `gt`, `lt`, `gte`, `lte`, `equals`",
        ),
        ("component[cpu][gt]=1.5", "invalid digit found in string"),
        ("sort_by[ASC]=runtime", "unknown variant `ASC`, expected `asc` or `desc`"),
        (
            "sort_by[asc]=bogus",
            "unknown variant `bogus`, expected one of `start_time`, `stop_time`, `runtime`, "
            "`record_id`",
        ),
        ("limit=-1", "Parsing '-1' failed."),
        ("record_id=%20", "Parsing ' ' failed"),
        ("record_id=%FF", "invalid utf-8 sequence of 1 bytes from index 0"),
        (
            "a[[b]=1",
            "parsing failed with error: 'found another opening bracket before the closed bracket' "
            "at position: 3",
        ),
    ],
)
def test_query_errors_are_400_json(http: httpx.Client, query: str, error: str) -> None:
    response = http.get("/records?" + query)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": error}


@pytest.fixture
def dataset(http: httpx.Client) -> None:
    """r1..r9: start 2022-10-0iT12:00, stop +i hours (r9 without stop), assorted meta."""
    records = []
    for i in range(1, 10):
        meta: dict[str, list[str]] | None = {"site": [f"s{i % 3}"], "tag": ["x"] if i % 2 else []}
        if i == 5:
            meta = None
        if i == 6:
            meta = {"other": ["y"]}
        records.append(
            record(
                f"r{i}",
                meta=meta,
                components=[
                    {"name": "cpu" if i < 7 else "mem", "amount": i, "scores": []},
                    {"name": "cpu", "amount": 100, "scores": []},
                ],
                start_time=f"2022-10-0{i}T12:00:00Z",
                stop_time=None if i == 9 else f"2022-10-0{i}T{12 + i}:00:00Z",
            )
        )
    assert http.post("/records", json=records).status_code == 200


@pytest.mark.usefixtures("dataset")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"]),
        ("?", ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"]),
        ("?&&", ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"]),
        ("?limit=", ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"]),
        ("?record_id=r3", ["r3"]),
        ("?record_id=R3", []),
        ("?start_time[gte]=2022-10-07T00:00:00Z", ["r7", "r8", "r9"]),
        ("?start_time[gt]=2022-10-07T12:00:00%2B00:00", ["r8", "r9"]),
        ("?start_time[gte]=2022-10-02T00:00:00Z&start_time[lt]=2022-10-04T00:00:00Z", ["r2", "r3"]),
        ("?start_time[lte]=2022-10-02T12:00:00.000001Z", ["r1", "r2"]),
        # gt together with gte drops the whole start_time filter (lt included)
        (
            "?start_time[gt]=2022-10-05T00:00:00Z&start_time[gte]=2022-10-05T00:00:00Z"
            "&start_time[lt]=2022-10-06T00:00:00Z",
            ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"],
        ),
        # datetime `equals` is validated and then ignored
        (
            "?start_time[equals]=2022-10-03T12:00:00Z",
            ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"],
        ),
        ("?stop_time[gte]=2022-10-08T00:00:00Z", ["r8"]),
        ("?runtime[gte]=25200", ["r7", "r8"]),
        ("?runtime[equals]=3600", ["r1"]),
        (
            "?runtime[lt]=7200&runtime[lte]=1",
            ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"],
        ),
        ("?meta[site][c][0]=s1", ["r1", "r4", "r7"]),
        ("?meta[site][c][]=s1&meta[tag][c][]=x", ["r1", "r7"]),
        ("?meta[site][c][0]=s1&meta[site][c][1]=s2", []),
        # dnc: records without the key (r5: meta null, r6: other key) are excluded too
        ("?meta[site][dnc][0]=s1", ["r2", "r3", "r8", "r9"]),
        ("?meta[tag][dnc][0]=x", ["r2", "r4", "r8"]),
        ("?meta[site][ignored]=1", ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"]),
        # only the first component counts
        ("?component[cpu][gte]=0", ["r1", "r2", "r3", "r4", "r5", "r6"]),
        ("?component[cpu][gt]=50", []),
        ("?component[mem][equals]=8", ["r8"]),
        ("?component[cpu][gte]=0&component[mem][gte]=0", []),
        ("?sort_by[desc]=start_time&limit=4", ["r9", "r8", "r7", "r6"]),
        ("?sort_by[desc]=stop_time&limit=2", ["r9", "r8"]),
        ("?sort_by[asc]=runtime", ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"]),
        ("?sort_by[asc]=record_id&sort_by[desc]=record_id&limit=2", ["r1", "r2"]),
        ("?limit=0", []),
        # a bound before PostgreSQL's range fails the query: 200 with an empty body
        ("?start_time[gte]=-5000-01-01T00:00:00Z", []),
        ("?%5Blimit%5D=1", None),
    ],
)
def test_filter_semantics(http: httpx.Client, query: str, expected: list[str] | None) -> None:
    response = http.get("/records" + query)
    if expected is None:
        assert response.status_code == 400
        return
    assert ids(response) == expected


def test_bracket_root_key_and_literal_plus(http: httpx.Client) -> None:
    http.post("/record", json=record("a b"))
    assert ids(http.get("/records?[record_id]=a+b")) == ["a b"]
    assert ids(http.get("/records?record_id=a%20b")) == ["a b"]


def test_empty_result_is_an_empty_body(http: httpx.Client) -> None:
    response = http.get("/records")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"
    assert response.headers["transfer-encoding"] == "chunked"


def test_records_are_streamed_in_chunks_without_buffering_everything(
    server: AuditorTestServer,
) -> None:
    body = [record(f"s{i:05d}") for i in range(3000)]
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/records", json=body).status_code == 200
        with http.stream("GET", "/records") as response:
            pieces = list(response.iter_raw())
    assert len(pieces) > 5
    assert len(ids_of(b"".join(pieces))) == 3000


def ids_of(body: bytes) -> list[Any]:
    decoder = json.JSONDecoder()
    text = body.decode()
    out = []
    index = 0
    while index < len(text):
        value, index = decoder.raw_decode(text, index)
        out.append(value["record_id"])
    return out
