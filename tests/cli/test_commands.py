"""The ``pyauditor`` command as a whole: help, exit codes, health, TLS, and the real executable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pyauditor import __version__
from pyauditor.testing import AuditorTestServer, Delay, Respond

from .conftest import PKI, job, ndjson, run

COMMANDS = ["serve", "health", "send", "query", "get", "queue", "demo"]


def test_help_everywhere() -> None:
    top = run("--help")
    assert top.code == 0
    for command in COMMANDS:
        assert command in top.out
        sub = run(command, "--help")
        assert sub.code == 0, command
        assert sub.out.startswith(f"usage: pyauditor {command}")
        assert sub.err == ""
    for action in ("status", "flush"):
        sub = run("queue", action, "--help")
        assert sub.code == 0
        assert sub.out.startswith(f"usage: pyauditor queue {action}")


def test_version() -> None:
    assert run("--version") == (0, f"pyauditor {__version__}\n", "")


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["health", "--bogus"], ["send", "--batch-size", "0", "http://x"]],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str]) -> None:
    result = run(*argv)
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.strip().splitlines()) == 1
    assert ": error: " in result.err
    assert "--help" in result.err


@pytest.mark.parametrize("command", ["health", "query", "send", "get"])
def test_a_url_is_needed(command: str) -> None:
    result = run(command, *(["job-1"] if command == "get" else []))
    assert result.code == 2
    assert f"pyauditor {command}: error: no server URL" in result.err


@pytest.mark.parametrize("url", ["ftp://host", "http://", "http://exa mple"])
def test_unusable_urls_are_usage_errors(url: str) -> None:
    result = run("health", url)
    assert result.code == 2, result
    assert "not a usable server address" in result.err


# -- health ------------------------------------------------------------------------------------


def test_health(server: AuditorTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("health", server.url) == (0, f"{server.url} is healthy\n", "")
    monkeypatch.setenv("AUDITOR_URL", server.url)
    assert run("health").code == 0


def test_health_of_a_server_that_is_down(server: AuditorTestServer) -> None:
    with server.down():
        result = run("health", "--retries", "0", server.url)
    assert result.code == 1
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith(f"pyauditor health: error: {server.url} is not healthy: GET ")
    assert "cannot connect" in line


def test_health_timeout(server: AuditorTestServer) -> None:
    server.inject(Delay(5), path="/health_check")
    result = run("health", "--timeout", "0.2", "--retries", "0", server.url)
    assert result.code == 1
    assert "within the timeout of 0.2 s" in result.err


def test_verbose_shows_the_library_log(server: AuditorTestServer) -> None:
    with server.down():
        quiet = run("health", "--retries", "1", server.url)
        loud = run("-v", "health", "--retries", "1", server.url)
    assert "retrying" not in quiet.err
    assert "pyauditor: INFO: retrying in" in loud.err


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(server_factory: object, pki: PKI) -> AuditorTestServer:
    return server_factory(  # type: ignore[operator,no-any-return]
        tls_cert=str(pki.server_cert), tls_key=str(pki.server_key), tls_ca=str(pki.ca)
    )


def test_mutual_tls(tls_server: AuditorTestServer, pki: PKI) -> None:
    tls = ["--cert", str(pki.client_cert), "--key", str(pki.client_key), "--ca", str(pki.ca)]
    url = tls_server.tls_url
    assert url is not None
    assert run("health", *tls, url).code == 0
    assert run("send", *tls, url, stdin=ndjson([job(1)])).code == 0
    assert json.loads(run("get", *tls, url, "job-1").out)["record_id"] == "job-1"
    assert run("query", *tls, url, "--format", "ndjson").out.count("\n") == 1
    without = run("health", "--retries", "0", url)
    assert without.code == 1
    assert "not healthy" in without.err


def test_tls_option_mistakes(pki: PKI) -> None:
    half = run("health", "--cert", str(pki.client_cert), "https://localhost:1")
    assert half.code == 2
    assert "all three of --cert, --key and --ca" in half.err
    tls = ["--cert", str(pki.client_cert), "--key", str(pki.client_key), "--ca", str(pki.ca)]
    plain = run("health", *tls, "http://localhost:1")
    assert plain.code == 2
    assert "need an https:// URL" in plain.err
    swapped = ["--cert", str(pki.client_key), "--key", str(pki.client_cert), "--ca", str(pki.ca)]
    assert run("health", *swapped, "https://localhost:1").code == 2


# -- serve, and the installed executable ---------------------------------------------------------


def _executable() -> str:
    """The console script installed next to this interpreter (what users run)."""
    script = Path(sys.executable).with_name("pyauditor")
    found = str(script) if script.exists() else shutil.which("pyauditor")
    assert found, "the pyauditor console script is not installed"
    return found


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [_executable(), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("AUDITOR test server listening on http://127.0.0.1:"), line
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_console_script_end_to_end(tmp_path: Path) -> None:
    database = tmp_path / "server.db"
    env = {k: v for k, v in os.environ.items() if k != "AUDITOR_URL"}
    with serving("--db", str(database)) as (proc, url):
        exe = _executable()

        def shell(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [exe, *argv], input=stdin, capture_output=True, text=True, timeout=60, env=env
            )

        assert shell("health", url).returncode == 0
        sent = shell("send", url, stdin=ndjson([job(i) for i in range(10)]).decode())
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("sent 10 records")
        queried = shell("query", url, "--format", "ndjson", "--limit", "3")
        assert [json.loads(line)["record_id"] for line in queried.stdout.splitlines()] == [
            "job-0",
            "job-1",
            "job-2",
        ]
        missing = shell("get", url, "job-99")
        assert (missing.returncode, missing.stdout) == (1, "")
        assert missing.stderr.count("\n") == 1
        assert "Traceback" not in missing.stderr
        assert shell("query", url, "--limit", "x").returncode == 2
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.strip().endswith("AUDITOR test server stopped")
    assert database.exists()  # --db keeps the records


def test_python_dash_m_pyauditor() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyauditor", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "usage: pyauditor" in result.stdout


def test_serve_reports_a_busy_port() -> None:
    with serving() as (_, url):
        port = url.rsplit(":", 1)[1]
        result = subprocess.run(
            [_executable(), "serve", "--port", port], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1
    assert result.stderr.startswith("pyauditor serve: error: cannot start: ")
    assert result.stderr.count("\n") == 1


def test_serve_with_incomplete_tls_is_a_usage_error(pki: PKI) -> None:
    assert run("serve", "--port", "0", "--tls-cert", str(pki.server_cert)).code == 2


# -- help and --json -----------------------------------------------------------------------------


def test_send_and_get_help_show_their_positional_arguments() -> None:
    send = run("send", "--help").out
    assert "positional arguments:\n  [URL] FILE" in send
    assert "FILE - or no FILE reads stdin" in " ".join(send.split())
    get = run("get", "--help").out
    assert "positional arguments:\n  [URL] RECORD_ID" in get


def test_timeout_help_says_what_it_bounds_for_each_command() -> None:
    for command in ("health", "send", "get", "demo"):
        text = " ".join(run(command, "--help").out.split())
        assert "--timeout SECONDS timeout of each HTTP request in seconds (default 30)" in text
        assert "query" not in text.split("--timeout", 1)[1].split("--retries", 1)[0]
    query = " ".join(run("query", "--help").out.split())
    assert "for its start and for each chunk of records" in query


def test_health_json(server: AuditorTestServer) -> None:
    healthy = run("health", "--json", server.url)
    assert healthy.code == 0
    assert json.loads(healthy.out) == {"url": server.url, "healthy": True, "reason": None}
    with server.down():
        down = run("health", "--json", "--retries", "0", server.url)
    assert down.code == 1
    answer = json.loads(down.out)
    assert answer["healthy"] is False
    assert "cannot connect" in answer["reason"]
    assert down.err.startswith("pyauditor health: error: ")


# -- size bounds ---------------------------------------------------------------------------------


def test_the_size_bounds_are_options_and_errors_name_them(server: AuditorTestServer) -> None:
    """``max_answer_size``/``max_record_size`` are the operator's too: a record larger than a
    bound is an error that names the option to raise it, not the library's builder method."""
    big = job(1, meta={"site_id": [f"{n:03}" + "x" * 200 for n in range(100)]})
    assert run("send", server.url, "-", stdin=ndjson([big])).code == 0
    assert run("get", server.url, "job-1").code == 0

    for command in (["get", server.url, "job-1"], ["query", server.url]):
        result = run(*command, "--max-record-size", "4KiB")
        assert result.code == 1, result
        assert "--max-record-size" in result.err
        assert "AuditorClientBuilder" not in result.err
        assert run(*command, "--max-record-size", "1MiB").code == 0

    server.inject(Respond(200, "ok " * 3000), path="/health_check", times=None)
    assert run("health", server.url).code == 0
    result = run("health", "--max-answer-size", "4096", server.url)
    assert result.code == 1, result
    assert "--max-answer-size" in result.err
    assert "AuditorClientBuilder" not in result.err


@pytest.mark.parametrize("value", ["10", "1000b", "abc", "-5MiB", "2TiB", ""])
def test_size_bounds_must_be_sizes_of_at_least_1kib(value: str) -> None:
    result = run("health", "--max-answer-size", value, "http://127.0.0.1:9")
    assert result.code == 2, result
    assert "--max-answer-size" in result.err


def test_the_size_options_name_the_librarys_defaults() -> None:
    from pyauditor._protocol import DEFAULT_MAX_ANSWER_BYTES
    from pyauditor._record_codec import MAX_RECORD_BYTES

    text = " ".join(run("get", "--help").out.split())
    assert f"(default {DEFAULT_MAX_ANSWER_BYTES >> 20}MiB;" in text
    assert f"(default {MAX_RECORD_BYTES >> 20}MiB)" in text
