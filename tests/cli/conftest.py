"""Fixtures for the ``pyauditor`` command's tests: run it in-process, against real servers.

``run(...)`` calls :func:`pyauditor.cli.main` with captured streams and returns the exit status
and output, as a shell would see them.  The servers come from the fixtures in
``tests/clients/conftest.py`` (imported below): every request the command sends and every
answer it gets is checked against ``openapi.yaml``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from pyauditor.cli import main
from tests.clients.conftest import PKI, server, server_factory, traffic  # noqa: F401

UTC = dt.UTC
T0 = dt.datetime(2024, 5, 1, tzinfo=UTC)


class Result(NamedTuple):
    code: int
    out: str
    err: str


class FakeTerminal(io.StringIO):
    """A captured stderr that claims to be a terminal (for the progress bar)."""

    def isatty(self) -> bool:
        return True


def run(*argv: str, stdin: bytes = b"", terminal: bool = False) -> Result:
    out = io.StringIO()
    err: io.StringIO = FakeTerminal() if terminal else io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.BytesIO(stdin))
    return Result(code, out.getvalue(), err.getvalue())


def job(number: int, *, site: str = "site1", group: str = "atlas", **extra: Any) -> dict[str, Any]:
    """One record as `send` reads it (the keys of Record.to_json())."""
    start = T0 + dt.timedelta(seconds=number)
    record: dict[str, Any] = {
        "record_id": f"job-{number}",
        "start_time": start.isoformat().replace("+00:00", "Z"),
        "stop_time": (start + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "meta": {"site_id": [site], "group_id": [group]},
        "components": [
            {"name": "cpu", "amount": 8, "scores": [{"name": "HEPSPEC06", "value": 10.5}]},
            {"name": "mem", "amount": 16000, "scores": []},
        ],
    }
    record.update(extra)
    return record


def ndjson(records: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@pytest.fixture(autouse=True)
def _no_auditor_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's AUDITOR_URL must not leak into tests that expect the command to need one.
    monkeypatch.delenv("AUDITOR_URL", raising=False)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("cli-pki"))
