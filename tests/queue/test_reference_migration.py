"""Opening a queue file written by python-auditor 0.11 imports its pending rows."""

from __future__ import annotations

import json
import math
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyauditor._queue import QueueStore, parse_database_path
from pyauditor._reference_queue import ReferenceBlobError, decode_reference_blob

from ..conftest import ROOT

VECTORS = json.loads((ROOT / "tests/data/python-auditor-0.11.2-vectors.json").read_text())
OBSERVED = VECTORS["queued_client_observations"]
T0 = "2022-08-08T11:30:00Z"
T1 = "2022-08-08T12:30:00Z"


# -- a bincode 1.x writer for the documented format (checked against the vectors below) --------


def _str(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("<Q", len(raw)) + raw


def _record(record_id: str, meta: dict[str, list[str]] | None, components: list[Any]) -> bytes:
    out = _str(record_id)
    if meta is None:
        out += b"\x00"
    else:
        out += b"\x01" + struct.pack("<Q", len(meta))
        for key, values in meta.items():
            out += _str(key) + struct.pack("<Q", len(values)) + b"".join(map(_str, values))
    out += struct.pack("<Q", len(components))
    for name, amount, scores in components:
        out += _str(name) + struct.pack("<q", amount) + struct.pack("<Q", len(scores))
        for score_name, value in scores:
            out += _str(score_name) + struct.pack("<d", value)
    return out


def insert_blob(
    record_id: str, meta: Any = None, components: Any = (), start: str = T0, stop: str | None = None
) -> bytes:
    tail = _str(start) + (b"\x00" if stop is None else b"\x01" + _str(stop))
    return _record(record_id, meta, list(components)) + tail


def update_blob(
    record_id: str, meta: Any = None, components: Any = (), start: str | None = T0, stop: str = T1
) -> bytes:
    head = b"\x00" if start is None else b"\x01" + _str(start)
    return _record(record_id, meta, list(components)) + head + _str(stop)


EXAMPLE_META = {"site": ["s1"]}
EXAMPLE_COMPONENTS = [("cpu", 2, [("hs", 9.2)])]
EXAMPLE_BODY = (
    '{"record_id":"q1","meta":{"site":["s1"]},"components":[{"name":"cpu","amount":2,'
    '"scores":[{"name":"hs","value":9.2}]}],"start_time":"2022-08-08T11:30:00Z","stop_time":%s}'
)


def test_the_test_encoder_reproduces_the_reference_blobs() -> None:
    assert (
        insert_blob("q1", EXAMPLE_META, EXAMPLE_COMPONENTS).hex()
        == OBSERVED["insert_blob_example"]["hex"]
    )
    assert (
        update_blob("q1", EXAMPLE_META, EXAMPLE_COMPONENTS).hex()
        == OBSERVED["update_blob_example"]["hex"]
    )


def test_the_reference_insert_example_decodes_to_its_wire_body() -> None:
    blob = bytes.fromhex(OBSERVED["insert_blob_example"]["hex"])
    assert decode_reference_blob(blob, "insert") == ("q1", EXAMPLE_BODY % "null")


def test_the_reference_update_example_decodes_to_its_wire_body() -> None:
    blob = bytes.fromhex(OBSERVED["update_blob_example"]["hex"])
    assert decode_reference_blob(blob, "update") == ("q1", EXAMPLE_BODY % f'"{T1}"')


def test_decoded_bodies_are_the_reference_wire_bodies() -> None:
    # The body python-auditor sends for Record('r1', t0) (wire_request_vectors).
    wire = next(
        v
        for v in VECTORS["wire_request_vectors"]
        if v["python"] == "await ac.add(Record('r1', t0))"
    )
    assert decode_reference_blob(insert_blob("r1"), "insert")[1] == wire["body"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (1e-5, "0.00001"),
        (1e-7, "1e-7"),
        (1e16, "1e+16"),
        (math.nan, "null"),
        (math.inf, "null"),
        (-0.0, "-0.0"),
    ],
)
def test_score_values_are_written_as_serde_json_writes_them(value: float, text: str) -> None:
    _, body = decode_reference_blob(insert_blob("r", None, [("cpu", 1, [("s", value)])]), "insert")
    assert f'"value":{text}}}' in body


def test_strings_meta_order_and_optional_fields() -> None:
    meta = {"z": ["1", "2"], "a": [], 'ü"\\': ["\n\x00"]}
    _, body = decode_reference_blob(
        update_blob("id/#?", meta, [("c", 0, []), ("d", 2**63 - 1, [])], start=None), "update"
    )
    assert body == (
        '{"record_id":"id/#?","meta":{"z":["1","2"],"a":[],"ü\\"\\\\":["\\n\\u0000"]},'
        '"components":[{"name":"c","amount":0,"scores":[]},{"name":"d","amount":9223372036854775807,"scores":[]}],'
        f'"start_time":null,"stop_time":"{T1}"}}'
    )
    assert json.loads(body)["meta"] == meta


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        insert_blob("r")[:-1],
        insert_blob("r") + b"\x00",
        insert_blob("r").replace(b"\x00", b"\x02", 1)[:0] + _str("r") + b"\x02",
        struct.pack("<Q", 2**40) + b"x",
        _str("r")[:8] + b"\xff" + b"\x00" + struct.pack("<Q", 0) + _str(T0) + b"\x00",
    ],
    ids=["empty", "truncated", "trailing", "bad-option-tag", "huge-length", "bad-utf8"],
)
def test_malformed_blobs_are_refused(blob: bytes) -> None:
    with pytest.raises(ReferenceBlobError):
        decode_reference_blob(blob, "insert")


def make_reference_file(path: Path, inserts: list[bytes], updates: list[bytes]) -> None:
    """A queue file laid out as python-auditor 0.11 (sqlx) creates it."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=wal")
        for statement in OBSERVED["schema"]:
            conn.execute(statement)
        version, description, success, checksum = OBSERVED["migration_row"]
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?, ?, ?, ?, 1)",
            (version, description, success, bytes.fromhex(checksum)),
        )
        conn.executemany("INSERT INTO inserts (record) VALUES (?)", [(b,) for b in inserts])
        conn.executemany("INSERT INTO updates (record) VALUES (?)", [(b,) for b in updates])
    conn.close()


def queued(store: QueueStore) -> list[tuple[str, str, str]]:
    """Every queued row in queue order, read through a connection of its own."""
    assert store.location.path is not None
    with sqlite3.connect(store.location.path) as conn:
        rows = conn.execute(
            "SELECT kind, record_id, body FROM pyauditor_queue ORDER BY seq"
        ).fetchall()
    conn.close()
    return rows


def test_a_reference_file_is_imported_in_send_order_and_emptied(tmp_path: Path) -> None:
    path = tmp_path / "ref.db"
    make_reference_file(
        path,
        inserts=[insert_blob("a"), insert_blob("b", stop=T1)],
        updates=[update_blob("a"), update_blob("x")],
    )
    store = QueueStore(parse_database_path(str(path)))
    assert [(k, i) for k, i, _ in queued(store)] == [
        ("insert", "a"),
        ("insert", "b"),
        ("update", "a"),
        ("update", "x"),
    ]
    # The update of "a" is offered only after its insert; the one of "x" at once.
    assert [r.record_id for r in store.next_updates(0, 10)] == ["x"]
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM inserts").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM updates").fetchone() == (0,)
        # sqlx's bookkeeping stays, so python-auditor can still open the file.
        assert conn.execute("SELECT count(*) FROM _sqlx_migrations").fetchone() == (1,)
    conn.close()
    reopened = QueueStore(parse_database_path(str(path)))
    assert len(queued(reopened)) == 4  # imported once, not again


def test_rows_python_auditor_queued_later_are_imported_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "ref.db"
    make_reference_file(path, [insert_blob("a")], [])
    QueueStore(parse_database_path(str(path))).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO inserts (record) VALUES (?)", (insert_blob("b"),))
    conn.close()
    store = QueueStore(parse_database_path(str(path)))
    assert [i for _, i, _ in queued(store)] == ["a", "b"]


def test_an_undecodable_row_is_left_in_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ref.db"
    make_reference_file(path, [insert_blob("a"), b"garbage", insert_blob("c")], [])
    store = QueueStore(parse_database_path(str(path)))
    assert [i for _, i, _ in queued(store)] == ["a", "c"]
    assert "left row 2 of python-auditor's inserts table in place" in caplog.text
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT rowid, record FROM inserts").fetchall() == [(2, b"garbage")]
    conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


REFERENCE_SCRIPT = """
import asyncio, datetime as dt, sys
from pyauditor import *
UTC = dt.timezone.utc
t0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=UTC)
async def main():
    client = await (AuditorClientBuilder().address("127.0.0.1", int(sys.argv[2]))
                    .database_path(sys.argv[1]).send_interval(3600).build_queued())
    await client.add(Record("m1", t0)
        .with_meta(Meta().insert("site", ["s1", "s2"]).insert("user", ["\u00fc"]))
        .with_component(Component("cpu", 2).with_score(Score("hs", 9.2)).with_score(Score("tiny", 1e-5))))
    await client.bulk_insert([Record(f"b{i}", t0) for i in range(3)])
    await client.update(Record("m1", t0).with_stop_time(dt.datetime(2022, 8, 8, 12, 30, 0, 120000, tzinfo=UTC)))
    await client.add(Record("late", t0).with_stop_time(t0))
    if sys.argv[3] == "stop":
        await client.stop()
asyncio.run(main())
print("queued", flush=True)
"""


@pytest.mark.reference
@pytest.mark.parametrize("ending", ["stop", "exit"])
def test_a_file_written_by_python_auditor_is_imported(tmp_path: Path, ending: str) -> None:
    reference = ROOT / ".reference"
    if not (reference / "pyauditor").is_dir():
        pytest.skip("the reference package is not installed (make reference)")
    path = tmp_path / "reference queue.db"
    script = tmp_path / "make_queue.py"
    script.write_text(REFERENCE_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), f"sqlite://{path}", str(_free_port()), ending],
        env={"PYTHONPATH": str(reference), "PATH": "/usr/bin:/bin"},
        timeout=60,
        capture_output=True,
        text=True,
    )
    # python-auditor sometimes aborts at interpreter exit (SIGABRT, its §4.8 quirk) after its
    # work is done; what matters is that the script got to its end.
    assert done.stdout == "queued\n", done.stderr
    assert done.returncode in (0, -signal.SIGABRT), done.stderr
    store = QueueStore(parse_database_path(str(path)))
    rows = queued(store)
    assert [(k, i) for k, i, _ in rows] == [
        ("insert", "m1"),
        ("insert", "b0"),
        ("insert", "b1"),
        ("insert", "b2"),
        ("insert", "late"),
        ("update", "m1"),
    ]
    bodies = {(k, i): json.loads(b) for k, i, b in rows}
    assert bodies[("insert", "m1")] == {
        "record_id": "m1",
        "meta": {"site": ["s1", "s2"], "user": ["ü"]},
        "components": [
            {
                "name": "cpu",
                "amount": 2,
                "scores": [{"name": "hs", "value": 9.2}, {"name": "tiny", "value": 1e-5}],
            }
        ],
        "start_time": T0,
        "stop_time": None,
    }
    assert '"value":0.00001' in dict(((k, i), b) for k, i, b in rows)[("insert", "m1")]
    assert bodies[("insert", "b0")] == {
        "record_id": "b0",
        "meta": None,
        "components": [],
        "start_time": T0,
        "stop_time": None,
    }
    assert bodies[("insert", "late")]["stop_time"] == T0
    assert bodies[("update", "m1")] == {
        "record_id": "m1",
        "meta": None,
        "components": [],
        "start_time": T0,
        "stop_time": "2022-08-08T12:30:00.120Z",
    }
