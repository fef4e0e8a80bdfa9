"""Routes, status codes, bodies and headers of the embedded server (contract §0, §2-§6)."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from pyauditor.testing import AuditorTestServer

from .conftest import ContractCheck, ServerFactory

RECORD: dict[str, Any] = {
    "record_id": "1",
    "meta": {"site_id": ["site1"], "group_id": ["atlas", "atlas"]},
    "components": [
        {"name": "NumCPUs", "amount": 40, "scores": [{"name": "HEPSPEC", "value": 1.2}]}
    ],
    "start_time": "2022-06-27T15:00:00Z",
    "stop_time": "2022-06-27T15:01:00Z",
}
NOT_FOUND = b"The requested resource was not found. 404 Not Found"


def record(record_id: str, **changes: Any) -> dict[str, Any]:
    return {**RECORD, "record_id": record_id, **changes}


def test_health_check_is_an_empty_200(http: httpx.Client) -> None:
    response = http.get("/health_check")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert "content-type" not in response.headers


def test_add_then_get_returns_the_record_with_runtime_and_z_times(http: httpx.Client) -> None:
    response = http.post("/record", json=RECORD)
    assert (response.status_code, response.content) == (200, b"")
    assert "content-type" not in response.headers
    got = http.get("/record/1")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    assert got.content == (
        b'{"record_id":"1","meta":{"site_id":["site1"],"group_id":["atlas","atlas"]},'
        b'"components":[{"name":"NumCPUs","amount":40,"scores":[{"name":"HEPSPEC","value":1.2}]}],'
        b'"start_time":"2022-06-27T15:00:00Z","stop_time":"2022-06-27T15:01:00Z","runtime":60}'
    )


def test_defaults_floats_offsets_and_unknown_fields(http: httpx.Client) -> None:
    body = {
        "record_id": " padded ",
        "components": [{"name": "c", "amount": 0, "scores": [{"name": "s", "value": 10}]}],
        "start_time": "2022-06-27 17:00:00.1234567+02:00",
        "runtime": 999,
        "updated_at": "whatever",
    }
    assert http.post("/record", json=body).status_code == 200
    got = http.get("/record/%20padded%20").json()
    assert got == {
        "record_id": " padded ",
        "meta": None,
        "components": [{"name": "c", "amount": 0, "scores": [{"name": "s", "value": 10.0}]}],
        "start_time": "2022-06-27T15:00:00.123456Z",
        "stop_time": None,
        "runtime": None,
    }
    assert b'"value":10.0' in http.get("/record/%20padded%20").content


@pytest.mark.parametrize(
    ("start", "stop", "runtime"),
    [
        ("2022-01-01T00:00:00Z", "2022-01-01T00:59:59.876544Z", 3599),
        ("2022-01-01T00:00:00.5Z", "2022-01-01T00:00:00Z", 0),
        ("2022-01-01T00:00:01.5Z", "2022-01-01T00:00:00Z", -1),
        ("2022-01-01T01:00:00Z", "2022-01-01T00:00:00Z", -3600),
        # full request precision: 0.9999999 s is still 0 s, though µs storage shows .999999
        ("2022-01-01T00:00:00Z", "2022-01-01T00:00:00.9999999Z", 0),
    ],
)
def test_runtime_is_truncated_toward_zero(
    http: httpx.Client, start: str, stop: str, runtime: int
) -> None:
    http.post("/record", json=record("r", start_time=start, stop_time=stop))
    assert http.get("/record/r").json()["runtime"] == runtime


def test_duplicate_is_500_record_exists_without_content_type(http: httpx.Client) -> None:
    assert http.post("/record", json=RECORD).status_code == 200
    response = http.post("/record", json=record("1", stop_time=None))
    assert (response.status_code, response.content) == (500, b"RECORD_EXISTS")
    assert "content-type" not in response.headers
    assert http.get("/record/1").json()["stop_time"] == "2022-06-27T15:01:00Z"


def test_bulk_insert_is_all_or_nothing(http: httpx.Client, server: AuditorTestServer) -> None:
    assert http.post("/records", json=[]).status_code == 200
    assert http.post("/records", json=[record("a"), record("b")]).status_code == 200
    clash = http.post("/records", json=[record("c"), record("a")])
    assert (clash.status_code, clash.content) == (500, b"RECORD_EXISTS")
    inside = http.post("/records", json=[record("d"), record("d")])
    assert (inside.status_code, inside.content) == (500, b"RECORD_EXISTS")
    invalid = http.post("/records", json=[record("e"), record("", stop_time=None)])
    assert invalid.status_code == 400
    assert [r["record_id"] for r in server.records()] == ["a", "b"]


def test_ignore_record_exists_error_warns_and_bulk_stores_nothing(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(ignore_record_exists_error=True)
    with httpx.Client(base_url=server.url) as http:
        http.post("/record", json=RECORD)
        one = http.post("/record", json=RECORD)
        assert one.status_code == 200
        assert one.headers["content-type"] == "application/json"
        assert one.json() == {
            "warning": "Record already exists, but the error was ignored due to AUDITOR "
            "configuration."
        }
        many = http.post("/records", json=[record("new"), RECORD])
        assert many.status_code == 200
        assert many.json()["warning"].startswith("One or more records already exist")
        # The documented quirk: the batch rolled back, so "new" was not stored.
        assert server.record("new") is None
        assert server.count() == 1


def test_update_sets_only_stop_time_and_runtime_from_stored_start(http: httpx.Client) -> None:
    http.post(
        "/record", json=record("u", stop_time=None, start_time="2022-03-01T12:00:00.0000009Z")
    )
    update = record(
        "u",
        meta={"other": ["x"]},
        components=[],
        start_time="2000-01-01T00:00:00Z",
        stop_time="2022-03-01T13:00:00.0000005-00:00",
    )
    response = http.put("/record", json=update)
    assert (response.status_code, response.content) == (200, b"")
    got = http.get("/record/u").json()
    assert got["stop_time"] == "2022-03-01T13:00:00Z"
    assert got["start_time"] == "2022-03-01T12:00:00Z"
    assert got["runtime"] == 3600
    assert got["meta"] == RECORD["meta"]
    assert got["components"] == RECORD["components"]
    # an existing stop_time is overwritten, negative runtimes allowed
    http.put("/record", json=record("u", stop_time="2022-03-01T11:00:00Z"))
    assert http.get("/record/u").json()["runtime"] == -3600


def test_update_errors(http: httpx.Client) -> None:
    unknown = http.put("/record", json=record("nope"))
    assert unknown.status_code == 404
    assert unknown.content == b"Updating unknown record nope not possible."
    assert unknown.headers["content-type"] == "text/plain; charset=utf-8"
    no_components = {k: v for k, v in record("x").items() if k != "components"}
    response = http.put("/record", json=no_components)
    assert response.status_code == 400
    assert response.text.startswith("Json deserialize error: missing field `components`")
    response = http.put("/record", json=record("x", stop_time=None))
    assert response.text.startswith("Json deserialize error: invalid type: null, expected an RFC")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"record_id": "", "meta": null, "components": []}',
            "Json deserialize error: Parsing '' failed at line 1 column 16",
        ),
        (
            b'{"record_id":"a","meta":{},"start_time":"2022-06-27T15:00:00Z","stop_time":null,'
            b'"x":[1,{"y":2}]}',
            "Json deserialize error: missing field `components` at line 1 column 96",  # after }
        ),
        (b"", "Json deserialize error: EOF while parsing a value at line 1 column 0"),
        (
            b"[]",
            "Json deserialize error: invalid length 0, expected struct RecordAdd with 5 "
            "elements at line 1 column 2",
        ),
        (
            b'{"record_id":"a","components":[{"name":"c","amount":1.0,"scores":[]}],'
            b'"start_time":"2022-06-27T15:00:00Z"}',
            "Json deserialize error: invalid type: floating point `1.0`, expected i64 at line 1 "
            "column 55",
        ),
        (
            b'{"record_id":"a","components":[{"name":"c","amount":-1,"scores":[]}],'
            b'"start_time":"2022-06-27T15:00:00Z"}',
            "Json deserialize error: Parsing '-1' failed. at line 1 column 54",
        ),
        (
            b'{"record_id":"a","components":[{"name":"c","amount":1,"scores":[{"name":"s",'
            b'"value":-1e-300}]}],"start_time":"2022-06-27T15:00:00Z"}',
            "Json deserialize error: Parsing '-0." + "0" * 299 + "1' failed. at line 1 column 92",
        ),
        (
            b'{"record_id":"a","components":[],"start_time":"2022-06-27T15:00:00+00:00 x"}',
            "Json deserialize error: trailing input at line 1 column 75",
        ),
        (
            b'{"record_id":"a","components":[],"start_time":1656342000}',
            "Json deserialize error: invalid type: integer `1656342000`, expected an RFC 3339 "
            "formatted date and time string at line 1 column 56",
        ),
    ],
)
def test_json_errors_read_like_serde_json(http: httpx.Client, body: bytes, message: str) -> None:
    response = http.post("/record", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == message


@pytest.mark.parametrize("field", ["record_id", "components", "start_time"])
def test_null_in_a_required_field_is_400_and_nothing_is_stored(
    http: httpx.Client, server: AuditorTestServer, field: str
) -> None:
    response = http.post("/record", json={**record("n"), field: None})
    assert response.status_code == 400
    assert server.count() == 0


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "json", "application/json;;"],
)
def test_a_non_json_content_type_is_400_content_type_error(
    http: httpx.Client, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = http.post("/record", content=json.dumps(RECORD).encode(), headers=headers)
    assert (response.status_code, response.text) == (400, "Content type error")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "text/json", "application/vnd.x+json"],
)
def test_json_like_content_types_are_accepted(http: httpx.Client, content_type: str) -> None:
    response = http.post(
        "/record", content=json.dumps(RECORD).encode(), headers={"content-type": content_type}
    )
    assert response.status_code == 200


def test_bodies_above_2_mib_are_413(http: httpx.Client) -> None:
    big = json.dumps([record(f"r{i}") for i in range(9000)]).encode()
    assert len(big) > 2_097_152
    response = http.post("/records", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.text == (
        f"JSON payload ({len(big)} bytes) is larger than allowed (limit: 2097152 bytes)."
    )

    def chunks() -> Any:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    response = http.post("/records", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.text == "JSON payload has exceeded limit (2097152 bytes)."


def test_chunked_and_gzip_request_bodies(http: httpx.Client, server: AuditorTestServer) -> None:
    payload = json.dumps([record("z1"), record("z2")]).encode()
    response = http.post(
        "/records",
        content=iter([payload[:10], payload[10:]]),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    response = http.post(
        "/record",
        content=gzip.compress(json.dumps(record("z3")).encode()),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 200
    assert server.count() == 3


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/record", 405, "POST, PUT"),
        ("DELETE", "/record", 405, "POST, PUT"),
        ("PUT", "/records", 405, "POST, GET"),
        ("HEAD", "/records", 405, "POST, GET"),
        ("POST", "/health_check", 404, None),
        ("POST", "/metrics", 404, None),
        ("DELETE", "/record/1", 404, None),
        ("GET", "/records/", 404, None),
        ("GET", "/record/", 404, None),
        ("GET", "//records", 404, None),
        ("GET", "/record/a/b", 404, None),
        ("GET", "/nope", 404, None),
        ("GET", "/get/wrong/since/2022-03-01T13:00:00-00:00", 404, None),
    ],
)
def test_unknown_routes_and_wrong_methods(
    server: AuditorTestServer, method: str, path: str, status: int, allow: str | None
) -> None:
    # httpx would normalise "//records"; send the raw target.
    with httpx.Client() as client:
        request = client.build_request(method, server.url)
        request.url = request.url.copy_with(raw_path=path.encode())
        response = client.send(request)
    assert response.status_code == status
    assert "content-type" not in response.headers
    if status == 405:
        assert response.headers["allow"] == allow
        assert response.content == b""
    elif method != "HEAD":
        assert response.content == NOT_FOUND


def test_get_one_record_decodes_the_path_and_its_quirks(http: httpx.Client) -> None:
    http.post("/record", json=record("a/b c+d%e"))
    http.post("/record", json=record("r"))
    assert http.get("/record/a%2Fb%20c+d%25e").json()["record_id"] == "a/b c+d%e"
    assert http.get("/record/%72").json()["record_id"] == "r"
    assert http.get("/%72ecord/r").status_code == 200  # actix re-quotes the path
    invalid = http.get("/record/%20%20")
    assert (invalid.status_code, invalid.content) == (200, b"null")
    assert invalid.headers["content-type"] == "application/json"
    missing = http.get("/record/missing")
    assert missing.status_code == 500
    assert missing.json() == {
        "error": "A database error was encountered while trying to get a record from the database"
    }


def test_nul_characters_and_out_of_range_times_are_unexpected_errors(http: httpx.Client) -> None:
    for body in (
        record("nul\u0000"),
        record("m", meta={"k": ["a\u0000"]}),
        record("t", start_time="-5000-01-01T00:00:00Z"),
    ):
        response = http.post("/record", json=body)
        assert (response.status_code, response.content) == (500, b"UNEXPECTED_ERROR")
    response = http.post("/records", json=[record("ok"), record("nul\u0000")])
    assert (response.status_code, response.content) == (500, b"UNEXPECTED_ERROR")
    assert http.get("/record/ok").status_code == 500


def test_extreme_years_are_written_like_chrono(http: httpx.Client, contract: ContractCheck) -> None:
    http.post(
        "/record",
        json=record("y", start_time="+10000-01-01T00:00:00.5Z", stop_time="0000-06-01T00:00:00Z"),
    )
    got = http.get("/record/y").json()
    assert got["start_time"] == "+10000-01-01T00:00:00.500Z"
    assert got["stop_time"] == "0000-06-01T00:00:00Z"
    # chrono writes years above 9999 with a sign, and PostgreSQL stores them; the contract's
    # ServerTimestamp pattern allows exactly that.
    assert contract.problems == []


def test_metrics_count_records_per_site_group_and_user(http: httpx.Client) -> None:
    http.post("/record", json=record("1", meta={"site": ["s1"], "group": ["g"], "user": ["u"]}))
    http.post("/record", json=record("2", meta={"site": ["s1", "s2"], "group": ["g"]}))
    http.post("/record", json=record("3", meta={"site": ['we"ird']}))
    response = http.get("/metrics")
    assert response.status_code == 200
    assert "content-type" not in response.headers
    text = response.text
    assert "num_records_database 3\n" in text
    assert 'num_records_database_per_site{site="s1"} 2\n' in text
    assert 'num_records_database_per_site{site="we\\"ird"} 1\n' in text
    assert 'num_records_database_per_group{group_id="g"} 2\n' in text
    assert 'num_records_database_per_user{user_id="u"} 1\n' in text
    assert "# TYPE num_records_database gauge\n" in text


def test_keep_alive_serves_many_requests_on_one_connection(http: httpx.Client) -> None:
    for i in range(50):
        assert http.post("/record", json=record(f"k{i}")).status_code == 200
    assert len(list(_objects(http.get("/records").content))) == 50


def _objects(body: bytes) -> Any:
    decoder = json.JSONDecoder()
    text = body.decode()
    index = 0
    while index < len(text):
        value, index = decoder.raw_decode(text, index)
        yield value


def test_an_empty_record_id_never_selects_a_record(http: httpx.Client) -> None:
    """Issue 12: ``get_single_record("")`` reached ``GET /record/`` and an unrelated record was
    printed.  ``/record/`` is AUDITOR's 404 page whatever is stored; it was the query form,
    ``record_id=``, that returns every record: serde_qs reads an empty value as "no filter"
    (so clients must refuse an empty id before they ask)."""
    assert http.post("/record", json=record("stored")).status_code == 200
    response = http.get("/record/")
    assert (response.status_code, response.content) == (404, NOT_FOUND)
    assert "content-type" not in response.headers
    assert http.get("/record/%20").json() is None  # blank: AUDITOR's `200 null`
    assert b'"record_id":"stored"' in http.get("/records?record_id=").content
