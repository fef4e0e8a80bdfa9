"""Every subcommand through bad paths, bad files, bad URLs and signals: no traceback, ever.

A user can reach each of these from the shell.  Each must end with the documented exit status
(2 wrong usage, 1 failure, 130 interrupted; 0 for ``serve`` stopped by Ctrl-C) and at most a
few lines on stderr that say what went wrong, never a Python traceback or an "internal error".

Most cases run in-process (:func:`pyauditor.cli.main`), which is fast; the signal cases run
the installed console script in a subprocess, as a shell does, and interrupt it once during
start-up (while Python imports pyauditor) and once in the middle of its work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyauditor import AuditorClientBuilder, Record
from pyauditor.testing import AuditorTestServer, Delay

from .conftest import PKI, T0, Result, job, ndjson, run

ServerFactory = Callable[..., AuditorTestServer]


def no_traceback(result: Result | subprocess.CompletedProcess[str], code: int) -> None:
    out, err = (
        (result.out, result.err) if isinstance(result, Result) else (result.stdout, result.stderr)
    )
    status = result.code if isinstance(result, Result) else result.returncode
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    assert "Exception ignored" not in err, err
    assert status == code, (status, out, err)
    if code:
        assert err.strip(), "a failure must say why"
        assert len(err.strip().splitlines()) <= 3, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Files of the wrong kind, for every option that takes a path."""
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    json_file = tmp_path / "some.json"
    json_file.write_text('{"not": "a database"}\n')
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    return {
        "missing": str(tmp_path / "missing.json"),
        "missing_dir": str(tmp_path / "no" / "such" / "dir" / "x.db"),
        "dir": str(tmp_path),
        "garbage": str(garbage),
        "json": str(json_file),
        "empty": str(empty),
    }


# -- bad URLs ----------------------------------------------------------------------------------

NETWORK_COMMANDS: dict[str, Callable[[str], list[str]]] = {
    "health": lambda url: ["health", url],
    "send": lambda url: ["send", url, "-"],
    "query": lambda url: ["query", url],
    "get": lambda url: ["get", url, "job-1"],
    "queue flush": lambda url: ["queue", "flush", "QUEUE", url],
    "demo": lambda url: ["demo", "--write-test-data", "--jobs", "5", url],
}


def _argv(command: str, url: str, queue_file: Path) -> list[str]:
    argv = NETWORK_COMMANDS[command](url)
    return [str(queue_file) if arg == "QUEUE" else arg for arg in argv] + ["--retries", "0"]


@pytest.fixture
def queue_file(tmp_path: Path) -> Path:
    """A collector's queue file holding one record it could not deliver."""
    path = tmp_path / "queue.db"
    client = (
        AuditorClientBuilder()
        .connection_string("http://127.0.0.1:1")
        .timeout(1)
        .database_path(path)
        .send_interval(3600)
        .build_queued_blocking()
    )
    client.add(Record("job-1", T0))
    client.stop()
    return path


@pytest.mark.parametrize("command", sorted(NETWORK_COMMANDS))
@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("ftp://example.org", 2, "not a usable server address"),
        ("http://", 2, "not a usable server address"),
        ("http://exa mple:8000", 2, "not a usable server address"),
        ("http://127.0.0.1:1", 1, "127.0.0.1:1"),
    ],
)
def test_unusable_and_unreachable_urls(
    command: str, url: str, code: int, message: str, queue_file: Path
) -> None:
    result = run(*_argv(command, url, queue_file), stdin=ndjson([job(1)]))
    no_traceback(result, code)
    assert message in result.err


@pytest.fixture
def tls_server(server_factory: ServerFactory, pki: PKI) -> AuditorTestServer:
    return server_factory(
        tls_cert=str(pki.server_cert), tls_key=str(pki.server_key), tls_ca=str(pki.ca)
    )


@pytest.mark.parametrize("command", sorted(NETWORK_COMMANDS))
def test_scheme_mismatches_name_the_fix(
    command: str, tls_server: AuditorTestServer, queue_file: Path
) -> None:
    assert tls_server.tls_url is not None
    https_to_plain = tls_server.url.replace("http://", "https://")
    result = run(*_argv(command, https_to_plain, queue_file), stdin=ndjson([job(1)]))
    no_traceback(result, 1)
    assert "does not speak TLS: use an http:// URL" in result.err
    http_to_tls = tls_server.tls_url.replace("https://", "http://")
    result = run(*_argv(command, http_to_tls, queue_file), stdin=ndjson([job(1)]))
    no_traceback(result, 1)
    assert "use an https:// URL and --cert, --key and --ca" in result.err


def test_certificate_problems_name_the_fix_in_cli_options(
    tls_server: AuditorTestServer, pki: PKI, tmp_path: Path
) -> None:
    url = tls_server.tls_url
    assert url is not None
    client = ["--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    wrong_ca = run("query", "--retries", "0", *client, "--ca", str(pki.other_ca), url)
    no_traceback(wrong_ca, 1)
    assert "not signed by a CA this client trusts: give the CA that signed it as --ca" in (
        wrong_ca.err
    )
    no_client_cert = run("query", "--retries", "0", url)
    no_traceback(no_client_cert, 1)
    assert "as --ca" in no_client_cert.err  # the system's CAs do not know this server's
    swapped = ["--cert", str(pki.client_key), "--key", str(pki.client_cert), "--ca", str(pki.ca)]
    result = run("health", *swapped, url)
    no_traceback(result, 2)
    assert "--cert " in result.err
    assert "--cert takes the client certificate, --key its private key" in result.err
    assert "client_cert_path" not in result.err
    missing = run("health", *client, "--ca", str(tmp_path / "nope.pem"), url)
    no_traceback(missing, 2)
    assert "CA certificate (--ca)" in missing.err


def test_cli_errors_speak_in_cli_options(server: AuditorTestServer) -> None:
    value = {"record_id": "job(1)", "start_time": "2024-05-01T00:00:00Z"}
    result = run("send", server.url, stdin=ndjson([value]))
    assert result.code == 1
    assert "use --allow-forbidden-characters or set PYAUDITOR_ALLOW_FORBIDDEN_CHARACTERS=1" in (
        result.out
    )
    assert "pyauditor.allow_forbidden_characters()" not in result.out + result.err


# -- bad files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["send", "URL", "{missing}"], 2, "no such file"),
        (["send", "URL", "{dir}"], 2, "a directory, not a file"),
        (["send", "URL", "{garbage}"], 1, "not valid JSON"),
        (["send", "URL", "{empty}"], 0, ""),
        (["send", "URL", "--errors", "{missing_dir}", "{empty}"], 2, "--errors"),
        (["send", "URL", "--errors", "{dir}", "{empty}"], 2, "--errors"),
        (["queue", "status", "{missing}"], 1, "no queue file"),
        (["queue", "status", "{dir}"], 2, "is a directory"),
        (["queue", "status", "{garbage}"], 1, "is not a usable SQLite database"),
        (["queue", "status", "{json}"], 1, "is not a usable SQLite database"),
        (["queue", "status", "{empty}"], 1, "holds no send queue"),
        (["queue", "flush", "{missing}", "URL"], 1, "no queue file"),
        (["queue", "flush", "{json}", "URL"], 1, "is not a usable SQLite database"),
        (["serve", "--port", "0", "--db", "{missing_dir}"], 2, "does not exist; create it"),
        (["serve", "--port", "0", "--db", "{json}"], 2, "is not an SQLite database"),
        (["serve", "--port", "0", "--db", "{garbage}"], 2, "is not an SQLite database"),
        (["serve", "--port", "0", "--db", "{dir}"], 2, "is a directory"),
        (
            [
                "serve",
                "--port",
                "0",
                "--tls-cert",
                "{missing}",
                "--tls-key",
                "{json}",
                "--tls-ca",
                "{json}",
            ],
            2,
            "--tls-cert",
        ),
        (
            [
                "serve",
                "--port",
                "0",
                "--tls-cert",
                "{json}",
                "--tls-key",
                "{json}",
                "--tls-ca",
                "{json}",
            ],
            1,
            "cannot use the TLS files",
        ),
        (["serve", "--port", "99999"], 2, "port"),
        (
            [
                "health",
                "--cert",
                "{missing}",
                "--key",
                "{json}",
                "--ca",
                "{json}",
                "https://localhost:1",
            ],
            2,
            "client certificate (--cert)",
        ),
        (
            [
                "health",
                "--cert",
                "{dir}",
                "--key",
                "{json}",
                "--ca",
                "{json}",
                "https://localhost:1",
            ],
            2,
            "is a directory",
        ),
        (
            [
                "health",
                "--cert",
                "{garbage}",
                "--key",
                "{garbage}",
                "--ca",
                "{garbage}",
                "https://localhost:1",
            ],
            2,
            "--",
        ),
        (["demo", "--jobs", "0"], 2, "--jobs"),
        (["query", "URL", "--timeout", "0"], 2, "--timeout"),
        (["health", "URL", "--timeout", "-3"], 2, "--timeout"),
        (["queue", "flush", "{missing}", "URL", "--max-time", "0"], 2, "--max-time"),
        (["get", "URL", " "], 2, "the record id is empty"),
        (["get", "URL", "a", "b"], 2, "expected [URL] RECORD_ID"),
    ],
)
def test_bad_files_and_values(
    argv: list[str],
    code: int,
    message: str,
    files: dict[str, str],
    server: AuditorTestServer,
) -> None:
    args = [arg.replace("URL", server.url).format(**files) for arg in argv]
    result = run(*args)
    no_traceback(result, code)
    assert message in result.err + result.out


def test_global_options_after_the_command(server: AuditorTestServer) -> None:
    with server.down():
        before = run("-v", "health", "--retries", "1", server.url)
        after = run("health", "-v", "--retries", "1", server.url)
        queue = run("queue", "status", "-v", "/nonexistent")
    assert "pyauditor: INFO: retrying in" in before.err
    assert "pyauditor: INFO: retrying in" in after.err
    assert queue.code == 1  # accepted, then the file is missing
    assert run("query", "-v", server.url, "--format", "ndjson").code == 0
    assert run("query", server.url, "-vv", "--format", "ndjson").err.count("DEBUG") >= 1


# -- broken pipes ------------------------------------------------------------------------------


def _executable() -> str:
    script = Path(sys.executable).with_name("pyauditor")
    assert script.exists(), "the pyauditor console script is not installed"
    return str(script)


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AUDITOR_URL"}
    env.update(extra)
    return env


def test_a_reader_that_goes_away_ends_the_command_quietly(server: AuditorTestServer) -> None:
    assert run("send", server.url, stdin=ndjson([job(i) for i in range(3000)])).code == 0
    for fmt in ("table", "ndjson", "json", "csv"):
        # `set -o pipefail` makes the pipeline fail if pyauditor does.
        pipeline = f"set -o pipefail; {_executable()} query {server.url} --format {fmt} | head -n 2"
        result = subprocess.run(
            ["bash", "-c", pipeline],
            capture_output=True,
            text=True,
            timeout=60,
            env=_environment(),
        )
        no_traceback(result, 0)
        assert result.stderr == ""
        assert len(result.stdout.splitlines()) == 2


# -- signals -------------------------------------------------------------------------------------


def _start(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [_executable(), *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )


def _interrupt(proc: subprocess.Popen[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(stdin, timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _importing(pid: int) -> Callable[[], bool]:
    """True once the process has loaded _ssl: it is importing pyauditor (httpx), or past it."""

    def loaded() -> bool:
        try:
            return "_ssl" in Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            return True  # gone already: communicate() tells how it ended

    return loaded


STARTUP_COMMANDS = [
    ["health", "URL"],
    ["send", "URL", "-"],
    ["query", "URL"],
    ["get", "URL", "job-1"],
    ["queue", "status", "QUEUE"],
    ["queue", "flush", "QUEUE", "URL"],
    ["demo", "--jobs", "5"],
    ["serve", "--port", "0"],
    ["--help"],
]


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("argv", STARTUP_COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_ctrl_c_during_start_up(
    argv: list[str], server: AuditorTestServer, queue_file: Path
) -> None:
    args = [server.url if a == "URL" else str(queue_file) if a == "QUEUE" else a for a in argv]
    proc = _start(*args)
    _wait_for(_importing(proc.pid), "the imports")
    result = _interrupt(proc)
    # Interrupted while importing (130), or so late that the command ran: it never shows a
    # traceback, and ends with one of its own statuses.
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 130), result
    if result.returncode == 130:
        assert result.stderr.strip().splitlines()[-1].endswith("interrupted"), result.stderr


def test_ctrl_c_while_waiting_for_the_server(server: AuditorTestServer) -> None:
    for argv, path in [
        (["health"], "/health_check"),
        (["query"], "/records"),
        (["get", "--retries", "0"], "/records"),
    ]:
        fault = server.inject(Delay(5), path=path, times=1)
        proc = _start(*argv[:1], server.url, *argv[1:], *(["job-1"] if argv[0] == "get" else []))
        _wait_for(lambda fault=fault: fault.hits >= 1, f"{argv[0]}'s request")
        result = _interrupt(proc)
        no_traceback(result, 130)
        assert result.stderr.strip() == f"pyauditor {argv[0]}: interrupted"


def test_ctrl_c_during_send_reports_what_was_and_was_not_sent(
    server: AuditorTestServer, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.ndjson"
    path.write_bytes(ndjson([job(i) for i in range(250)]))
    # The first two batches go through; the third hangs until Ctrl-C.
    server.inject(Delay(0), method="POST", path="/records", times=2)
    hang = server.inject(Delay(5), method="POST", path="/records", times=1)
    proc = _start("send", "--batch-size", "100", server.url, str(path))
    _wait_for(lambda: hang.hits >= 1, "the third batch")
    result = _interrupt(proc)
    no_traceback(result, 130)
    assert result.stdout.startswith("sent 200 records, 0 duplicates")
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("pyauditor send: interrupted; the batch of 50 records being sent ")
    assert f"(from {path} record 201 ('job-200')) may or may not be stored" in line
    assert "Run the same command again" in line


def test_ctrl_c_during_queue_flush(server: AuditorTestServer, queue_file: Path) -> None:
    hang = server.inject(Delay(5), method="POST", times=1)
    proc = _start("queue", "flush", str(queue_file), server.url)
    _wait_for(lambda: hang.hits >= 1, "the delivery")
    result = _interrupt(proc)
    no_traceback(result, 130)


def test_ctrl_c_during_the_demo() -> None:
    proc = _start("demo", "--jobs", "2000")
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("pyauditor demo: embedded AUDITOR server at")
    result = _interrupt(proc)
    no_traceback(result, 130)
    assert result.stderr.strip().splitlines()[-1] == "pyauditor demo: interrupted"


def test_ctrl_c_stops_serve_cleanly(tmp_path: Path) -> None:
    proc = _start("serve", "--port", "0", "--db", str(tmp_path / "x.db"))
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("AUDITOR test server listening on http://")
    result = _interrupt(proc)
    no_traceback(result, 0)
    assert result.stdout.strip().endswith("AUDITOR test server stopped")


_CTRL_C_AS_THE_TASK_IS_MADE = r"""
import asyncio, os, signal, sys
from pyauditor.cli._common import run_async

cleaned = []

async def work():
    try:
        await asyncio.sleep(10)
    finally:
        cleaned.append(True)

def make():
    # Ctrl-C lands after the coroutine exists but before asyncio has run its first step: the
    # moment the demo was once interrupted at ("Task was destroyed but it is pending!").
    coroutine = work()
    os.kill(os.getpid(), signal.SIGINT)
    return coroutine

try:
    run_async(make)
except KeyboardInterrupt:
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    print("interrupted", cleaned, "blocked" if blocked else "unblocked")
else:
    print("not interrupted")
"""


def test_ctrl_c_before_the_first_step_cancels_the_task_and_runs_its_clean_up() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-c", _CTRL_C_AS_THE_TASK_IS_MADE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "interrupted [True] unblocked", result
    assert result.stderr == "", result.stderr
