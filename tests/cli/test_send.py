"""``pyauditor send``: input layouts, validation, duplicates, rejections, failures, progress."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from pyauditor import Record
from pyauditor._errors import RecordExistsError
from pyauditor._protocol import status_error
from pyauditor.cli import _send
from pyauditor.cli._input import ParsedRecord, read_records, record_from_json
from pyauditor.cli._send import SendAborted, Sender, SendSummary
from pyauditor.testing import AuditorTestServer, LoggedRequest, Respond

from .conftest import job, ndjson, run


def stored_ids(server: AuditorTestServer) -> set[str]:
    return {r["record_id"] for r in server.records()}


def requests_after(server: AuditorTestServer, count: int) -> list[LoggedRequest]:
    """The request log once it holds ``count`` entries (an exchange is logged just after its
    answer went out, so the client can be a moment ahead of the log)."""
    deadline = time.monotonic() + 5
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return server.requests


# -- input layouts -----------------------------------------------------------------------------


def test_ndjson_file_is_sent_and_stored_as_given(server: AuditorTestServer, tmp_path: Path) -> None:
    path = tmp_path / "jobs.ndjson"
    path.write_bytes(ndjson([job(i) for i in range(5)]))
    result = run("send", server.url, str(path))
    assert result.code == 0, result.err
    assert result.out.startswith("sent 5 records, 0 duplicates")
    assert result.err == ""
    stored = server.record("job-3")
    assert stored is not None
    assert stored["meta"] == {"site_id": ["site1"], "group_id": ["atlas"]}
    assert stored["components"][0]["scores"] == [{"name": "HEPSPEC06", "value": 10.5}]
    assert stored["runtime"] == 3600


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda rs: json.dumps(rs).encode(), id="array"),
        pytest.param(lambda rs: json.dumps(rs, indent=2).encode(), id="pretty-array"),
        pytest.param(lambda rs: "".join(json.dumps(r, indent=2) for r in rs).encode(), id="jq"),
        pytest.param(lambda rs: "".join(json.dumps(r) for r in rs).encode(), id="concatenated"),
        pytest.param(lambda rs: b"\r\n".join(json.dumps(r).encode() for r in rs), id="crlf"),
    ],
)
def test_every_json_layout_is_read(server: AuditorTestServer, tmp_path: Path, layout: Any) -> None:
    path = tmp_path / "jobs.json"
    path.write_bytes(layout([job(i) for i in range(3)]))
    result = run("send", server.url, str(path))
    assert (result.code, result.out.split(",")[0]) == (0, "sent 3 records"), result
    assert stored_ids(server) == {"job-0", "job-1", "job-2"}


def test_a_single_object_file(server: AuditorTestServer, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(job(1), indent=4))
    assert run("send", server.url, str(path)).code == 0
    assert stored_ids(server) == {"job-1"}


def test_stdin_with_dash_and_without_files(server: AuditorTestServer) -> None:
    assert run("send", server.url, "-", stdin=ndjson([job(1)])).code == 0
    assert run("send", server.url, stdin=ndjson([job(2)])).code == 0
    assert stored_ids(server) == {"job-1", "job-2"}


def test_several_files_and_stdin_together(server: AuditorTestServer, tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_bytes(ndjson([job(1), job(2)]))
    (tmp_path / "b.json").write_text(json.dumps([job(3)]))
    result = run(
        "send", server.url, str(tmp_path / "a.ndjson"), "-", str(tmp_path / "b.json"),
        stdin=ndjson([job(4)]),
    )  # fmt: skip
    assert result.code == 0
    assert stored_ids(server) == {"job-1", "job-2", "job-3", "job-4"}


def test_empty_input_sends_nothing(server: AuditorTestServer) -> None:
    result = run("send", server.url, stdin=b"  \n")
    assert result.code == 0
    assert result.out.startswith("sent 0 records")
    assert [r.method for r in server.requests] == []


def test_query_output_can_be_sent_again(server_factory: Any) -> None:
    source, target = server_factory(), server_factory()
    jobs = [job(i, stop_time=None) if i == 2 else job(i) for i in range(4)]
    assert run("send", source.url, stdin=ndjson(jobs)).code == 0
    exported = run("query", source.url, "--format", "ndjson")
    assert exported.code == 0
    assert run("send", target.url, stdin=exported.out.encode()).code == 0

    def by_id(server: AuditorTestServer) -> list[dict[str, Any]]:
        return sorted(server.records(), key=lambda r: r["record_id"])

    assert by_id(source) == by_id(target)


# -- validation --------------------------------------------------------------------------------


BAD_RECORDS = [
    ({"record_id": "a/b", "start_time": "2024-05-01T00:00:00Z"}, "forbidden character '/'"),
    ({"record_id": "x", "start_time": "2024-05-01T00:00:00"}, "offset"),
    ({"record_id": "x", "start_time": 17}, "not an RFC 3339 timestamp string"),
    ({"record_id": "x"}, "start_time is missing"),
    ({"start_time": "2024-05-01T00:00:00Z"}, "record_id is null"),
    ({"record_id": "x", "start_tme": "2024-05-01T00:00:00Z"}, "unknown key 'start_tme'"),
    (
        {"record_id": "x", "start_time": "2024-05-01T00:00:00Z", "meta": {"site": "s1"}},
        "meta['site'] must be an array of strings",
    ),
    (
        {"record_id": "x", "start_time": "2024-05-01T00:00:00Z", "meta": {"site": [" "]}},
        "meta value",
    ),
    (
        {
            "record_id": "x",
            "start_time": "2024-05-01T00:00:00Z",
            "components": [{"name": "cpu", "amount": -1}],
        },
        "amount -1 is negative",
    ),
    (
        {
            "record_id": "x",
            "start_time": "2024-05-01T00:00:00Z",
            "components": [{"name": "cpu", "amount": "8"}],
        },
        "components[0].amount is a string",
    ),
    (
        {
            "record_id": "x",
            "start_time": "2024-05-01T00:00:00Z",
            "components": [{"name": "cpu", "amount": 1, "scores": [{"name": "HS", "value": -1}]}],
        },
        "score value",
    ),
    (
        {
            "record_id": "x",
            "start_time": "2024-05-01T00:00:00Z",
            "components": [{"name": "cpu", "amount": 1, "scores": [{"name": "HS", "valu": 1}]}],
        },
        "unknown key 'valu'",
    ),
    (["not", "a", "record"], "expected a record object, got an array"),
]


@pytest.mark.parametrize(("value", "reason"), BAD_RECORDS)
def test_invalid_records_are_reported_and_skipped(
    server: AuditorTestServer, value: Any, reason: str
) -> None:
    result = run("send", server.url, stdin=ndjson([job(1), value, job(2)]))
    assert result.code == 1
    assert "sent 2 records" in result.out
    assert "1 invalid (not sent)" in result.out
    assert "<stdin> record 2" in result.out
    assert reason in result.out
    assert stored_ids(server) == {"job-1", "job-2"}


def test_a_record_reads_back_equal_to_what_python_code_builds() -> None:
    built = record_from_json(job(7))
    assert isinstance(built, Record)
    assert json.loads(built.to_json())["runtime"] == 3600
    assert built.to_json() == record_from_json(json.loads(built.to_json())).to_json()


def test_broken_json_ends_the_file_but_not_the_others(
    server: AuditorTestServer, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.ndjson"
    broken.write_bytes(
        ndjson([job(1)]) + b'{"record_id": "job-2", "start' + b"\n" + ndjson([job(3)])
    )
    fine = tmp_path / "fine.ndjson"
    fine.write_bytes(ndjson([job(4)]))
    result = run("send", server.url, str(broken), str(fine))
    assert result.code == 1
    assert f"{broken} record 2 (byte " in result.out
    assert "not valid JSON, the rest of the file was not read" in result.out
    assert stored_ids(server) == {"job-1", "job-4"}


def test_forbidden_characters_can_be_allowed(server: AuditorTestServer) -> None:
    value = {"record_id": "job(1)", "start_time": "2024-05-01T00:00:00Z"}
    assert run("send", server.url, stdin=ndjson([value])).code == 1
    try:
        result = run("send", "--allow-forbidden-characters", server.url, stdin=ndjson([value]))
    finally:
        from pyauditor import allow_forbidden_characters

        allow_forbidden_characters(False)
    assert result.code == 0, result
    assert stored_ids(server) == {"job(1)"}


def test_many_invalid_records_are_counted_not_all_listed(server: AuditorTestServer) -> None:
    bad = [{"record_id": f"bad {i}/", "start_time": "2024-05-01T00:00:00Z"} for i in range(30)]
    result = run("send", server.url, stdin=ndjson(bad))
    assert "30 invalid (not sent)" in result.out
    assert result.out.count("forbidden character") == _send.SHOWN_PROBLEMS
    assert "... and 10 more" in result.out


# -- duplicates --------------------------------------------------------------------------------


def test_sending_again_counts_duplicates_and_stores_the_rest(server: AuditorTestServer) -> None:
    assert run("send", server.url, stdin=ndjson([job(i) for i in range(0, 300, 2)])).code == 0
    requests_after(server, 1)
    server.clear_requests()
    result = run(
        "send", "--batch-size", "100", server.url, stdin=ndjson([job(i) for i in range(300)])
    )
    assert result.code == 0, result
    assert result.out.startswith("sent 150 records, 150 duplicates (already stored)")
    assert stored_ids(server) == {f"job-{i}" for i in range(300)}
    # The first batch is refused, then settled by a query and a retry of its new records;
    # later batches are looked up before they are sent.
    methods = [r.method for r in requests_after(server, 7)]
    assert methods.count("GET") == 3
    assert methods.count("POST") == 4


def test_a_whole_resend_is_cheap(server: AuditorTestServer) -> None:
    records = ndjson([job(i) for i in range(2000)])
    assert run("send", server.url, stdin=records).code == 0
    result = run("send", server.url, stdin=records)
    assert result.out.startswith("sent 0 records, 2,000 duplicates")
    # Two batches the first time; the second time a refused POST and a query for the first
    # batch, and only a query for the second.
    assert [r.method for r in requests_after(server, 5)] == ["POST", "POST", "POST", "GET", "GET"]


def test_an_id_repeated_within_the_input(server: AuditorTestServer) -> None:
    result = run("send", server.url, stdin=ndjson([job(i) for i in range(100)] + [job(5)]))
    assert result.code == 0
    assert result.out.startswith("sent 100 records, 1 duplicate (already stored)")
    assert len(stored_ids(server)) == 100


def test_a_stored_id_with_another_start_time(server: AuditorTestServer) -> None:
    # The query by start time cannot find it; splitting the batch still isolates it, and the
    # stored record is another record (its start time differs): a conflict, not a duplicate.
    moved = job(50, start_time="2020-01-01T00:00:00Z", stop_time=None)
    assert run("send", server.url, stdin=ndjson([moved])).code == 0
    result = run("send", server.url, stdin=ndjson([job(i) for i in range(200)]))
    assert result.code == 1
    assert result.out.startswith(
        "sent 199 records, 0 duplicates (already stored), 0 rejected by the server, "
        "1 in conflict with stored records"
    )
    assert "<stdin> record 51 ('job-50'): AUDITOR already stores a different record" in result.out
    assert server.record("job-50")["start_time"] == "2020-01-01T00:00:00Z"  # type: ignore[index]


def test_ignore_record_exists_error_servers_lose_nothing(server_factory: Any) -> None:
    # Such a server answers a batch holding a duplicate with 200 and a warning, and stores none
    # of the batch.
    server = server_factory(ignore_record_exists_error=True)
    assert run("send", server.url, stdin=ndjson([job(3)])).code == 0
    result = run("send", server.url, stdin=ndjson([job(i) for i in range(10)]))
    assert result.code == 0
    assert result.out.startswith("sent 9 records, 1 duplicate")
    assert stored_ids(server) == {f"job-{i}" for i in range(10)}


# -- the sending strategy, with a scripted server ----------------------------------------------


class ScriptedClient:
    """Stands in for AuditorClientBlocking: answers each POST by a rule per record.

    It cannot be queried (like a client with a write-only certificate under RBAC), so
    duplicates are found by splitting batches.
    """

    def __init__(
        self, answers: dict[str, tuple[int, bytes]], stored: set[str] | None = None
    ) -> None:
        self.answers = answers
        self.stored = set(stored or ())
        self.posts: list[list[str]] = []

    def _url(self, path: str) -> str:
        return "http://auditor" + path

    def _exchange(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        assert body is not None
        document = json.loads(body)
        if document == []:
            return 200, b""  # the planner's probe
        ids = [r["record_id"] for r in (document if path == "/records" else [document])]
        self.posts.append(ids)
        for record_id in ids:
            if record_id in self.stored or ids.count(record_id) > 1:
                return 500, b"RECORD_EXISTS"
            if record_id in self.answers:
                return self.answers[record_id]
        self.stored.update(ids)
        return 200, b""

    def iter_records(self, query: str) -> list[Any]:
        raise status_error(403, b"Access denied by RBAC policy", "GET", self._url("/records"))

    def get_single_record(self, record_id: str) -> Record:
        number = int(record_id.removeprefix("job-"))
        return record_from_json(job(number))


def items(count: int) -> list[ParsedRecord]:
    values = list(read_records(io.BytesIO(ndjson([job(i) for i in range(count)])), "in"))
    assert all(isinstance(v, ParsedRecord) for v in values)
    return values  # type: ignore[return-value]


def send(client: ScriptedClient, count: int) -> SendSummary:
    summary = SendSummary()
    Sender(client, summary).send(items(count))  # type: ignore[arg-type]
    return summary


def test_a_bad_record_is_isolated_by_bisection() -> None:
    client = ScriptedClient({"job-700": (400, b"Json deserialize error: bad things")})
    summary = send(client, 1000)
    assert summary.sent == 999
    assert summary.rejected.shown == [
        ("in record 701 ('job-700')", "HTTP 400: Json deserialize error: bad things")
    ]
    assert len(client.posts) <= 2 * 10 + 1


def test_a_too_large_record_is_rejected_alone() -> None:
    summary = send(ScriptedClient({"job-3": (413, b"JSON payload too large")}), 10)
    assert (summary.sent, summary.rejected.count) == (9, 1)


def test_without_queries_duplicates_are_found_by_splitting() -> None:
    client = ScriptedClient({}, stored={"job-10", "job-999"})
    summary = send(client, 1000)
    assert (summary.sent, summary.duplicates) == (998, 2)
    assert len(client.posts) < 120  # record by record would be 1000


def test_a_server_failure_stops_sending() -> None:
    client = ScriptedClient({f"job-{i}": (503, b"maintenance") for i in range(10)})
    with pytest.raises(SendAborted, match="HTTP 503"):
        send(client, 10)


def test_a_5xx_for_one_record_alone_rejects_it() -> None:
    # Its neighbours are stored and the server's probe succeeds: the record is the trouble.
    client = ScriptedClient({"job-5": (500, b"UNEXPECTED_ERROR")})
    summary = send(client, 10)
    assert summary.sent == 9
    assert summary.rejected.shown == [("in record 6 ('job-5')", "HTTP 500: UNEXPECTED_ERROR")]


def test_the_2xx_record_exists_quirk_counts_as_a_duplicate() -> None:
    client = ScriptedClient({"job-0": (200, b"RECORD_EXISTS")})
    summary = send(client, 1)
    assert summary.duplicates == 1


def test_status_error_helper_matches_the_clients() -> None:
    assert isinstance(status_error(500, b"RECORD_EXISTS", "POST", "u"), RecordExistsError)


# -- failures and exit codes -------------------------------------------------------------------


def test_server_down_stops_with_one_line(server: AuditorTestServer) -> None:
    with server.down():
        result = run("send", "--retries", "0", server.url, stdin=ndjson([job(1)]))
    assert result.code == 1
    assert result.out.startswith("sent 0 records")
    [line] = result.err.strip().splitlines()
    assert line.startswith("pyauditor send: stopped: POST ")
    assert "cannot connect" in line
    assert "Run the same command again" in line


def test_a_server_error_midway_reports_how_far_it_got(server: AuditorTestServer) -> None:
    assert run("send", server.url, stdin=ndjson([job(i) for i in range(100)])).code == 0
    down = Respond(503, "down for maintenance")
    server.inject(down, method="POST", path="/records", times=None)
    server.inject(down, method="POST", path="/record", times=None)
    result = run(
        "send", "--batch-size", "10", server.url, stdin=ndjson([job(i) for i in range(100, 130)])
    )
    assert result.code == 1
    assert result.out.startswith("sent 0 records")
    assert "HTTP 503: down for maintenance" in result.err


def test_a_passing_server_error_is_bridged(server: AuditorTestServer) -> None:
    fault = server.inject(Respond(503, "down for maintenance"), method="POST", path="/records")
    result = run("send", server.url, stdin=ndjson([job(i) for i in range(30)]))
    assert fault.hits == 1
    assert result.code == 0
    assert result.out.startswith("sent 30 records")


def test_missing_file_is_a_usage_error(server: AuditorTestServer, tmp_path: Path) -> None:
    result = run("send", server.url, str(tmp_path / "nope.json"))
    assert result.code == 2
    assert "no such file" in result.err


def test_url_from_the_environment(
    server: AuditorTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jobs.ndjson"
    path.write_bytes(ndjson([job(1)]))
    monkeypatch.setenv("AUDITOR_URL", server.url)
    assert run("send", str(path)).code == 0
    assert run("send", server.url, str(path)).out.startswith("sent 0 records, 1 duplicate")
    assert stored_ids(server) == {"job-1"}


def test_a_file_given_as_url_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.ndjson"
    path.write_bytes(ndjson([job(1)]))
    result = run("send", str(path))
    assert result.code == 2
    assert "is a file, not a server URL" in result.err


# -- progress ----------------------------------------------------------------------------------


@pytest.fixture
def instant_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress line from the first batch on, redrawn after every one."""
    monkeypatch.setattr(_send.Progress, "DELAY", 0.0)
    monkeypatch.setattr(_send.Progress, "INTERVAL", 0.0)


@pytest.mark.usefixtures("instant_progress")
def test_progress_bar_on_a_terminal_only(server: AuditorTestServer, tmp_path: Path) -> None:
    path = tmp_path / "jobs.ndjson"
    path.write_bytes(ndjson([job(i) for i in range(300)]))
    shown = run("send", "--batch-size", "50", server.url, str(path), terminal=True)
    assert shown.code == 0
    assert "\r[" in shown.err
    assert "records" in shown.err
    assert "100%" in shown.err
    assert shown.err.endswith("\r\x1b[K")  # the line is cleared before the summary
    server.clear()
    assert run("send", "--batch-size", "50", server.url, str(path)).err == ""
    server.clear()
    quiet = run("send", "--no-progress", server.url, str(path), terminal=True)
    assert quiet.err == ""
    server.clear()
    piped = run("send", "--batch-size", "50", server.url, stdin=path.read_bytes(), terminal=True)
    assert "\r300 records" in piped.err  # no total size known: a count, no bar
    assert "\r[" not in piped.err


# -- size --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.without_exchange_hook
def test_fifty_thousand_records(auditor_server: AuditorTestServer, tmp_path: Path) -> None:
    # No contract check: checking 50k records against the OpenAPI schema takes far longer than
    # sending them, and the smaller send tests check the same requests.
    path = tmp_path / "jobs.ndjson"
    path.write_bytes(ndjson([job(i, group=("atlas", "cms")[i % 2]) for i in range(50_000)]))
    result = run("send", auditor_server.url, str(path))
    assert result.code == 0, result.err
    assert result.out.startswith("sent 50,000 records, 0 duplicates")
    assert auditor_server.count() == 50_000
    again = run("send", auditor_server.url, str(path))
    assert again.out.startswith("sent 0 records, 50,000 duplicates")


# -- for scripts: --json, --errors, stop before start -------------------------------------------


def test_json_summary(server: AuditorTestServer) -> None:
    assert run("send", server.url, stdin=ndjson([job(1)])).code == 0
    bad = {"record_id": "bad/1", "start_time": "2024-05-01T00:00:00Z"}
    result = run("send", "--json", server.url, stdin=ndjson([job(1), job(2), bad]))
    assert result.code == 1
    summary = json.loads(result.out)
    assert {k: summary[k] for k in ("sent", "duplicates", "rejected", "invalid")} == {
        "sent": 1,
        "duplicates": 1,
        "rejected": 0,
        "invalid": 1,
    }
    assert summary["complete"] is False
    assert summary["interrupted"] is False
    assert summary["problems"][0]["kind"] == "invalid"
    assert "forbidden character '/'" in summary["problems"][0]["reason"]
    assert result.err.startswith("pyauditor send: error: not stored: 1 invalid")
    ok = json.loads(run("send", "--json", server.url, stdin=ndjson([job(3)])).out)
    assert (ok["sent"], ok["complete"], ok["stopped"]) == (1, True, None)


def test_errors_file_holds_every_bad_record(server: AuditorTestServer, tmp_path: Path) -> None:
    bad = [{"record_id": f"bad {i}/", "start_time": "2024-05-01T00:00:00Z"} for i in range(30)]
    errors = tmp_path / "errors.ndjson"
    # One record per batch goes out as POST /record.
    server.inject(Respond(400, "Json deserialize error: no"), method="POST", path="/record")
    result = run(
        "send", "--errors", str(errors), "--batch-size", "1", server.url,
        stdin=ndjson([*bad, job(1)]),
    )  # fmt: skip
    assert result.code == 1
    assert f"... and 10 more (all of them are in {errors})" in result.out
    lines = [json.loads(line) for line in errors.read_text().splitlines()]
    assert len(lines) == 31
    assert [line["kind"] for line in lines] == ["invalid"] * 30 + ["rejected"]
    assert lines[0]["record"] == bad[0]  # as read, so it can be fixed and sent again
    assert lines[0]["record_id"] == "bad 0/"
    assert lines[-1]["record_id"] == "job-1"
    assert lines[-1]["reason"] == "HTTP 400: Json deserialize error: no"
    assert lines[-1]["record"]["record_id"] == "job-1"
    without = run("send", server.url, stdin=ndjson(bad))
    assert "... and 10 more (--errors FILE lists them all)" in without.out


def test_records_that_stop_before_they_start(server: AuditorTestServer) -> None:
    backwards = job(1, stop_time="2024-04-30T23:00:00Z")
    result = run("send", server.url, stdin=ndjson([backwards, job(2)]))
    assert result.code == 0
    assert result.out.startswith("sent 2 records")
    [warning] = result.err.splitlines()
    assert warning == (
        "pyauditor send: warning: 1 record stops before it starts (a negative runtime) and "
        "was sent anyway: <stdin> record 1 ('job-1')"
    )
    assert server.record("job-1")["runtime"] == -3601  # type: ignore[index]
    refused = run(
        "send", "--refuse-stop-before-start", server.url,
        stdin=ndjson([job(3, stop_time="2024-04-30T00:00:00Z"), job(4)]),
    )  # fmt: skip
    assert refused.code == 1
    assert "stops before it starts (--refuse-stop-before-start)" in refused.out
    assert "1 record stops before it starts (a negative runtime) and was not sent" in (refused.err)
    assert server.record("job-3") is None
    assert server.record("job-4") is not None


@pytest.mark.usefixtures("instant_progress")
def test_progress_in_records_with_rate_and_eta(server: AuditorTestServer, tmp_path: Path) -> None:
    path = tmp_path / "jobs.ndjson"
    path.write_bytes(ndjson([job(i) for i in range(400)]))
    shown = run("send", "--batch-size", "100", server.url, str(path), terminal=True).err
    frames = [frame for frame in shown.split("\r") if frame.startswith("[")]
    assert frames
    # Records done of an estimate of the total (from the bytes read), the rate, the time left.
    assert any(" 100 of ~" in frame and " records " in frame for frame in frames)
    assert all("/s" in frame and "ETA " in frame for frame in frames)
    assert " 400 of ~400 records" in frames[-1]


def test_conflicts_are_in_the_summary_the_json_and_the_errors_file(
    server: AuditorTestServer, tmp_path: Path
) -> None:
    moved = job(5, start_time="2020-01-01T00:00:00Z", stop_time=None)
    assert run("send", server.url, stdin=ndjson([moved])).code == 0
    errors = tmp_path / "errors.ndjson"
    result = run(
        "send", "--json", "--errors", str(errors), server.url,
        stdin=ndjson([job(i) for i in range(10)]),
    )  # fmt: skip
    assert result.code == 1
    summary = json.loads(result.out)
    assert {k: summary[k] for k in ("sent", "duplicates", "conflicts", "failed")} == {
        "sent": 9,
        "duplicates": 0,
        "conflicts": 1,
        "failed": 0,
    }
    assert summary["complete"] is False
    assert [p["kind"] for p in summary["problems"]] == ["conflict"]
    assert "1 in conflict with stored records" in result.err
    [line] = [json.loads(line) for line in errors.read_text().splitlines()]
    assert (line["kind"], line["record_id"]) == ("conflict", "job-5")
    assert line["record"] == job(5)  # what was read
    assert line["stored"]["start_time"] == "2020-01-01T00:00:00Z"  # what the server keeps


def test_a_record_the_server_failed_on_is_not_counted_as_sent(
    server: AuditorTestServer, tmp_path: Path
) -> None:
    # Answered 500 alone, with nothing stored after it: perhaps the record, perhaps the server.
    # Either way it is not stored, and the command must not say everything is.
    server.inject(Respond(500, "UNEXPECTED_ERROR"), method="POST", path="/record", times=1)
    errors = tmp_path / "errors.ndjson"
    result = run("send", "--errors", str(errors), server.url, stdin=ndjson([job(1)]))
    assert result.code == 1, result
    assert result.out.startswith(
        "sent 0 records, 0 duplicates (already stored), 0 rejected by the server, "
        "1 failed on the server, 0 invalid (not sent)"
    )
    assert "<stdin> record 1 ('job-1'): HTTP 500: UNEXPECTED_ERROR" in result.out
    assert "1 failed on the server" in result.err
    [line] = [json.loads(line) for line in errors.read_text().splitlines()]
    assert (line["kind"], line["record_id"], line["stored"]) == ("failed", "job-1", None)
    assert run("send", server.url, stdin=ndjson([job(1)])).out.startswith("sent 1 record,")
