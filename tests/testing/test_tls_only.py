"""TLS-only serving (issue 14 item 7b) and the server's TLS/RBAC command-line options."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme

from pyauditor.testing import AuditorTestServer

from .conftest import ServerFactory


class Files:
    def __init__(self, root: Path) -> None:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1")
        client = ca.issue_cert("collector.example", common_name="collector.example")
        self.cert, self.key, self.ca = root / "server.pem", root / "server.key", root / "ca.pem"
        server.cert_chain_pems[0].write_to_path(str(self.cert))
        server.private_key_pem.write_to_path(str(self.key))
        ca.cert_pem.write_to_path(str(self.ca))
        self.context = ssl.create_default_context(cafile=str(self.ca))
        client.configure_cert(self.context)

    def options(self) -> list[str]:
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key), "--tls-ca", str(self.ca)]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return Files(tmp_path_factory.mktemp("tls-only"))


def test_tls_only_has_no_plain_listener(server_factory: ServerFactory, files: Files) -> None:
    server = server_factory(tls_cert=files.cert, tls_key=files.key, tls_ca=files.ca, tls_only=True)
    assert server.tls_only
    assert server.tls_url is not None
    assert repr(server) == f"<AuditorTestServer {server.tls_url}>"
    with pytest.raises(RuntimeError, match="tls_only"):
        _ = server.url
    with pytest.raises(RuntimeError, match="tls_only"):
        _ = server.port
    response = httpx.post(
        server.tls_url + "/record",
        json={"record_id": "r", "components": [], "start_time": "2022-01-01T00:00:00Z"},
        verify=files.context,
    )
    assert response.status_code == 200
    assert server.count() == 1
    # down()/up() work on the one listener.
    with server.down(), pytest.raises(httpx.ConnectError):
        httpx.get(server.tls_url + "/health_check", verify=files.context)
    assert httpx.get(server.tls_url + "/health_check", verify=files.context).is_success


def test_tls_only_needs_tls() -> None:
    with pytest.raises(ValueError, match="tls_only needs TLS"):
        AuditorTestServer(tls_only=True)
    with pytest.raises(TypeError, match="tls_only must be a bool"):
        AuditorTestServer(tls_only="yes")  # type: ignore[arg-type]


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out, err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("command", [["-m", "pyauditor.testing"], ["-m", "pyauditor", "serve"]])
def test_serve_tls_only_from_the_command_line(files: Files, command: list[str]) -> None:
    plain = free_port()
    proc = run_cli(
        *command, "--port", str(plain), "--tls-port", "0", "--tls-only", *files.options()
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("AUDITOR test server listening on https://127.0.0.1:"), line
        url = line.split()[-3]
        assert httpx.get(url + "/health_check", verify=files.context).status_code == 200
        # Nothing listens on the plain port.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{plain}/health_check")
    finally:
        out, _ = stop(proc)
    assert "http://" not in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tls-only"], "--tls-only needs HTTPS: give --tls-cert, --tls-key and --tls-ca"),
        (["--rbac", "r.json"], "--rbac needs HTTPS: give --tls-cert, --tls-key and --tls-ca"),
        (["--tls-cert", "c.pem"], "HTTPS needs all three of --tls-cert, --tls-key and --tls-ca"),
    ],
)
def test_tls_options_without_tls_are_usage_errors_in_the_commands_words(
    options: list[str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "r.json").write_text("{}")
    (tmp_path / "c.pem").write_text("")
    for command in (["pyauditor", "serve"], ["pyauditor.testing"]):
        proc = subprocess.run(
            [sys.executable, "-m", *command, "--port", "0", *options],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert proc.returncode == 2, proc
        assert message in proc.stderr
        assert "tls_" not in proc.stderr  # the library's argument names mean nothing here


def serve_tls(files: Files, *options: str) -> tuple[subprocess.Popen[str], str, str]:
    """A server on both listeners; returns it with its plain and HTTPS URLs."""
    command = ["-m", "pyauditor.testing", "--port", "0", "--tls-port", "0", *files.options()]
    proc = run_cli(*command, *options)
    assert proc.stdout is not None
    plain = proc.stdout.readline().split()[-1]
    tls = proc.stdout.readline().split()[-3]
    return proc, plain, tls


def test_serve_with_rbac_from_a_json_file(files: Files, tmp_path: Path) -> None:
    config = tmp_path / "rbac.json"
    config.write_text(json.dumps({"enforce_rbac": True, "read_access_cn": ["collector.example"]}))
    options = ("--rbac", str(config), "--rbac-enforced-by", "enforce_rbac")
    proc, plain, tls = serve_tls(files, *options)
    try:
        assert httpx.get(tls + "/records", verify=files.context).status_code == 200
        response = httpx.post(tls + "/record", json={}, verify=files.context)
        assert (response.status_code, response.text) == (403, "Insufficient permissions")
        assert httpx.get(plain + "/records").status_code == 200
    finally:
        stop(proc)


def test_the_ignore_flag_with_tls_and_no_rbac_is_pointed_out(files: Files) -> None:
    proc, _, tls = serve_tls(files, "--ignore-record-exists")
    try:
        response = httpx.get(tls + "/records", verify=files.context)
        assert (response.status_code, response.text) == (500, "Enforcer not initialized")
    finally:
        _, err = stop(proc)
    assert "Enforcer not initialized" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "Expecting"),
        ('{"read_access": ["x"]}', "unknown rbac_config key 'read_access'"),
        ('{"data_access_rules": [{"reader_cn": "x"}]}', "reader_cn and meta_info"),
        ('{"read_access_cn": "x"}', "sequence of str"),
    ],
)
def test_a_bad_rbac_file_is_a_usage_error(
    files: Files, tmp_path: Path, content: str, message: str
) -> None:
    config = tmp_path / "rbac.json"
    config.write_text(content)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyauditor",
            "serve",
            "--port",
            "0",
            *files.options(),
            "--rbac",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
