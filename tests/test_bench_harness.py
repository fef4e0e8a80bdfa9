"""Smoke tests of the benchmark harness's own pieces (bench/): servers, child runs, tables.

No timing is asserted anywhere: the numbers belong to ``make bench``, which is not part of the test
suite.  These tests only make sure the harness measures what it claims to and reports missing
parts and failures instead of inventing numbers.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.run import PACKAGE_DIRS, child_env, rows
from bench.servers import DiscardServer, RecordsServer, record_json, records_body, serve_in_thread
from bench.workloads import WORKLOADS, Metric, Target, Workload

ROOT = Path(__file__).resolve().parent.parent


def request(port: int, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Transfer-Encoding"), resp.read()
    finally:
        conn.close()


def test_discard_server_counts_what_arrives() -> None:
    with serve_in_thread(DiscardServer()) as server:
        body = ("[" + ",".join(record_json(i) for i in range(3)) + "]").encode()
        assert request(server.port, "POST", "/records", body) == (200, None, b"")
        # A chunked body (no Content-Length) is read to its end as well.
        chunks = iter([record_json(7).encode()])
        status, _, _ = request(server.port, "PUT", "/record", chunks)  # type: ignore[arg-type]
        assert status == 200
        status, _, raw = request(server.port, "GET", "/_bench/wait?records=4&timeout=5")
        stats = json.loads(raw)
        assert stats["reached"] is True
        assert stats["requests"] == 2
        assert stats["records"] == 4
        assert stats["by_route"] == {"POST /records": 1, "PUT /record": 1}
        assert stats["bytes"] == len(body) + len(record_json(7))
        # Waiting for more than arrived gives up after the timeout and says so.
        _, _, raw = request(server.port, "GET", "/_bench/wait?records=5&timeout=0.05")
        assert json.loads(raw)["reached"] is False


def test_records_server_serves_auditor_format_chunked() -> None:
    with serve_in_thread(RecordsServer(5, chunk_size=100)) as server:
        status, encoding, body = request(server.port, "GET", "/records?limit=1")
        assert (status, encoding) == (200, "chunked")
        assert body == records_body(5)
        decoder, text, pos, ids = json.JSONDecoder(), body.decode(), 0, []
        while pos < len(text):
            value, pos = decoder.raw_decode(text, pos)
            assert list(value) == [
                "record_id",
                "meta",
                "components",
                "start_time",
                "stop_time",
                "runtime",
            ]
            ids.append(value["record_id"])
        assert ids == [f"record-{i}" for i in range(5)]
        assert request(server.port, "GET", "/health_check")[0] == 200
        assert request(server.port, "GET", "/nothing")[0] == 404


def test_records_server_can_frame_each_record_as_a_chunk() -> None:
    # As AUDITOR (actix-web) sends GET /records: one chunk per record.
    with (
        serve_in_thread(RecordsServer(3, chunk_size=0)) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET /records HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    body = raw.split(b"\r\n\r\n", 1)[1]
    expected = b"".join(
        b"%x\r\n%s\r\n" % (len(record_json(i)), record_json(i).encode()) for i in range(3)
    )
    assert body == expected + b"0\r\n\r\n"


def test_record_size_matches_the_reference_baseline() -> None:
    # perf_baseline: 249.9 bytes per record on average over 100k records.
    assert len(records_body(100_000)) / 100_000 == pytest.approx(249.9, abs=0.05)


def run_child(impl: str, *args: str) -> tuple[dict[str, Any], int]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "child.py"), *args],
        env=child_env(impl),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(proc.stdout.splitlines()[-1]), proc.returncode


@pytest.mark.reference
def test_child_runs_the_reference_and_checks_what_it_imported() -> None:
    # The `reference` marker makes the suite fail (not skip) when .reference is missing.
    expect = str(PACKAGE_DIRS["reference"])
    result, code = run_child("reference", "construct", "--n", "10", "--expect", expect)
    assert code == 0
    assert result["status"] == "ok"
    assert result["module"].startswith(expect)
    assert {"wall", "cpu", "peak_rss_mb"} <= set(result)
    # Asked to measure pyauditor but given the reference: an error, never numbers.
    wrong = str(PACKAGE_DIRS["pyauditor"])
    result, code = run_child("reference", "construct", "--n", "10", "--expect", wrong)
    assert code == 3
    assert result["status"] == "error"
    assert "wall" not in result


def test_child_on_pyauditor_measures_or_says_what_is_missing() -> None:
    result, code = run_child(
        "pyauditor", "query", "--n", "10", "--expect", str(PACKAGE_DIRS["pyauditor"])
    )
    assert code == 0
    assert result["module"] == str(PACKAGE_DIRS["pyauditor"] / "__init__.py")
    if result["status"] == "unavailable":
        assert result["reason"].startswith("ImportError: cannot import name")
        assert "wall" not in result
    else:
        assert result["status"] == "ok"


def _data(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    return {"impls": {"pyauditor": ours, "reference": ref}}


def test_verdicts() -> None:
    workload = Workload(
        "w",
        "a workload",
        "construct",
        1,
        (
            Metric("wall", "wall", "s", Target("ratio", 1.0)),
            Metric("cpu", "client CPU", "s"),
            Metric("peak_rss_mb", "peak RSS", "MB", Target("absolute", 100.0)),
        ),
    )
    ref = {"status": "ok", "median": {"wall": 0.2, "cpu": 0.2, "peak_rss_mb": 1500.0}}
    ours = {"status": "ok", "median": {"wall": 0.3, "cpu": 0.1, "peak_rss_mb": 40.0}}
    out = rows(workload, _data(ours, ref))
    assert [r["verdict"] for r in out] == ["MISSED", "info", "met"]
    assert out[0]["ratio"] == pytest.approx(1.5)
    assert out[2]["target"] == "pyauditor < 100 MB"

    missing = {"status": "unavailable", "reason": "ImportError: x"}
    out = rows(workload, _data(missing, ref))
    assert {r["verdict"] for r in out} == {"not available"}
    assert all(r["pyauditor"] is None and r["ratio"] is None for r in out)

    failed = {"status": "error", "reason": "boom"}
    assert rows(workload, _data(ours, failed))[0]["verdict"] == "no reference"


def test_tables_show_missing_parts_and_missed_targets() -> None:
    base = {
        "workload": "w",
        "title": "a workload",
        "unit": "s",
        "reference": 0.25,
        "reference_status": "ok",
        "target": "ratio <= 1",
    }
    table_rows = [
        base
        | {"metric": "wall", "pyauditor": 0.5, "pyauditor_status": "ok", "ratio": 2.0}
        | {"verdict": "MISSED"},
        base
        | {"metric": "cpu", "pyauditor": None, "pyauditor_status": "unavailable", "ratio": None}
        | {"verdict": "not available"},
    ]
    text = report.text_table(table_rows)
    assert text.splitlines()[0].split() == list(report.HEADERS)
    for cell in ("0.500 s", "0.250 s", "not available", "MISSED"):
        assert cell in text
    markdown = report.markdown_table(table_rows)
    assert "| **MISSED** |" in markdown
    assert markdown.count("\n") == 3


def test_every_workload_has_a_child_function_and_a_target() -> None:
    from bench.child import WORKLOADS as CHILD_WORKLOADS

    for workload in WORKLOADS:
        assert workload.child in CHILD_WORKLOADS
        informational = workload.note.startswith("Informational")
        assert informational or any(m.target for m in workload.metrics), workload.name
