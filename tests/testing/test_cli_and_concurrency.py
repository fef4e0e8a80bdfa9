"""``python -m pyauditor.testing`` and several threads and processes sharing one database."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .conftest import ServerFactory
from .test_routes import record


@contextmanager
def cli_server(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyauditor.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("AUDITOR test server listening on http://127.0.0.1:"), (
            line + proc.stderr.read() if proc.stderr else line
        )
        yield proc, line.rsplit(" ", 1)[1].strip()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_shuts_down_cleanly(signum: signal.Signals) -> None:
    with cli_server() as (proc, url):
        assert httpx.get(url + "/health_check").status_code == 200
        assert httpx.post(url + "/record", json=record("cli")).status_code == 200
        with httpx.Client(base_url=url) as keep_alive:  # an open connection must not block exit
            assert keep_alive.get("/record/cli").status_code == 200
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.strip().endswith("AUDITOR test server stopped")


def test_cli_reports_a_busy_port() -> None:
    with cli_server() as (_, url):
        port = url.rsplit(":", 1)[1]
        proc = subprocess.run(
            [sys.executable, "-m", "pyauditor.testing", "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 2
    assert "cannot start" in proc.stderr


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("missing/dir/x.db", "does not exist; create it first"),
        ("records.json", "is not an SQLite database"),
        (".", "is a directory"),
    ],
)
def test_cli_refuses_an_unusable_database_in_one_line(
    tmp_path: Path, db: str, message: str
) -> None:
    (tmp_path / "records.json").write_text('[{"record_id": "a"}]')
    proc = subprocess.run(
        [sys.executable, "-m", "pyauditor.testing", "--port", "0", "--db", db],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"pyauditor.testing: cannot start: --db {db}: ")
    assert message in line


def _writer(url: str, prefix: str, count: int, statuses: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(0, count, 5):
            if i % 10:
                batch = [record(f"{prefix}-{j}") for j in range(i, i + 5)]
                statuses.append(client.post("/records", json=batch).status_code)
            else:
                for j in range(i, i + 5):
                    statuses.append(
                        client.post("/record", json=record(f"{prefix}-{j}")).status_code
                    )
            statuses.append(client.get("/records?limit=3").status_code)


WRITER_PROCESS = """
import sys, httpx
url, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
record = {"record_id": "", "meta": None, "components": [], "start_time": "2022-01-01T00:00:00Z"}
bad = 0
with httpx.Client(base_url=url, timeout=60) as client:
    for i in range(count):
        status = client.post("/record", json={**record, "record_id": f"{prefix}-{i}"}).status_code
        bad += status != 200
        bad += client.get(f"/record/{prefix}-{i}").status_code != 200
print(bad)
"""


def test_threads_and_processes_share_one_database_file(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "shared.db"
    local = [server_factory(db=db), server_factory(db=db)]
    with cli_server("--db", str(db)) as (_, remote_url), cli_server("--db", str(db)) as (_, url2):
        statuses: list[int] = []
        threads = [
            threading.Thread(target=_writer, args=(url, f"t{n}", 60, statuses))
            for n, url in enumerate([local[0].url, local[1].url, remote_url, url2] * 2)
        ]
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER_PROCESS, url, f"p{n}", "60"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for n, url in enumerate([local[0].url, remote_url, url2])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        outputs = [w.communicate(timeout=120)[0].strip() for w in writers]
        assert outputs == ["0", "0", "0"]
        assert set(statuses) == {200}
        assert local[1].count() == 8 * 60 + 3 * 60
        body = httpx.get(remote_url + "/records", timeout=60).text
        decoder = json.JSONDecoder()
        ids = []
        index = 0
        while index < len(body):
            value, index = decoder.raw_decode(body, index)
            ids.append(value["record_id"])
        assert len(ids) == len(set(ids)) == 8 * 60 + 3 * 60


def test_racing_duplicates_store_one_record(server_factory: ServerFactory) -> None:
    server = server_factory()
    statuses: list[int] = []
    barrier = threading.Barrier(12)

    def insert(n: int) -> None:
        with httpx.Client(base_url=server.url) as client:
            barrier.wait()
            body = [record(f"unique-{n}"), record("same")] if n % 2 else record("same")
            statuses.append(client.post("/records" if n % 2 else "/record", json=body).status_code)

    threads = [threading.Thread(target=insert, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200] + [500] * 11
    stored = [r["record_id"] for r in server.records()]
    assert stored.count("same") == 1
    assert len(stored) in (1, 2)  # the winner may have been a batch with its unique record
