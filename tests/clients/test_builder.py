"""AuditorClientBuilder: defaults, URL rules, checks at build time, and the reference's vectors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyauditor import (
    AuditorClient,
    AuditorClientBlocking,
    AuditorClientBuilder,
    ConfigurationError,
)
from tests.clients.conftest import PKI

VECTORS = json.loads(
    (
        Path(__file__).resolve().parents[1] / "data" / "python-auditor-0.11.2-vectors.json"
    ).read_text()
)
BUILDER_VECTORS = [
    v
    for v in VECTORS["constructor_and_validation_vectors"]
    if v["python"].startswith(("AuditorClient", "QueuedAuditorClient"))
]
# Deliberate differences, with the reason.
IMPROVEMENTS = {
    # A float timeout is a perfectly good number of seconds.
    "AuditorClientBuilder().timeout(1.5)": None,
}


@pytest.mark.parametrize("vector", BUILDER_VECTORS, ids=[v["python"] for v in BUILDER_VECTORS])
def test_builder_vector(vector: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {}
    exec(VECTORS["generated_with"]["prelude"].replace("from pyauditor import *", ""), namespace)
    namespace.update(
        AuditorClient=AuditorClient,
        AuditorClientBlocking=AuditorClientBlocking,
        AuditorClientBuilder=AuditorClientBuilder,
    )
    import pyauditor

    namespace["QueuedAuditorClient"] = getattr(pyauditor, "QueuedAuditorClient", AuditorClient)
    if vector["python"] in IMPROVEMENTS:
        eval(vector["python"], namespace)
        return
    expected = {
        "RuntimeError": RuntimeError,
        "TypeError": TypeError,
        "OverflowError": OverflowError,
    }[vector["exception"]]
    with pytest.raises(expected) as caught:
        eval(vector["python"], namespace)
    if vector["message"] == "INVALID_TIME_INTERVAL":
        assert isinstance(caught.value, ConfigurationError)
        assert "INVALID_TIME_INTERVAL" in str(caught.value)
        assert "timeout must be a finite number of seconds > 0, got -1" in str(caught.value)
    elif "cannot create" not in vector["message"]:
        assert str(caught.value) == vector["message"]


def test_defaults() -> None:
    builder = AuditorClientBuilder()
    settings = builder._settings()
    assert settings.base_url == "http://127.0.0.1:8080"
    assert settings.timeout == 30
    assert settings.queue.send_interval == 60
    assert settings.queue.database_path is None
    assert settings.queue.retry is None, "the queue keeps its own backoff unless retries() is set"
    assert settings.ssl_context is None
    assert settings.retry.max_retries == 2
    assert settings.max_answer_bytes == 8 * 1024 * 1024
    assert settings.max_record_bytes == 16 * 1024 * 1024, "the record codec's MAX_RECORD_BYTES"
    assert settings.transport is None
    assert settings.async_transport is None


def test_setters_return_the_builder_and_it_builds_many_clients() -> None:
    builder = AuditorClientBuilder()
    assert builder.address("h", 1) is builder
    assert builder.connection_string("http://h:2") is builder
    assert builder.timeout(5) is builder
    assert builder.send_interval(5) is builder
    assert builder.database_path("/tmp/q.db") is builder
    assert builder.retries(0) is builder
    assert builder.build() is not builder.build()
    assert isinstance(builder.build_blocking(), AuditorClientBlocking)


@pytest.mark.parametrize(
    ("calls", "url"),
    [
        ([("address", "localhost", 8000)], "http://localhost:8000"),
        ([("connection_string", "localhost:8000")], "http://localhost:8000"),
        ([("connection_string", "https://h:1/")], "https://h:1"),
        ([("address", "h", 1), ("connection_string", "http://c:2")], "http://c:2"),
        ([("connection_string", "http://c:2"), ("address", "h", 1)], "http://h:1"),
        ([("address", "::1", 8000)], "http://[::1]:8000"),
        ([("address", "[::1]", 8000)], "http://[::1]:8000"),
        ([("address", "http://127.0.0.1", 8000)], "http://127.0.0.1:8000"),
        ([("connection_string", "http://h:1/prefix/")], "http://h:1/prefix"),
    ],
)
def test_url_rules(calls: list[tuple[Any, ...]], url: str) -> None:
    builder = AuditorClientBuilder()
    for name, *args in calls:
        getattr(builder, name)(*args)
    assert builder._settings().base_url == url


@pytest.mark.parametrize("address", ["", "not a url", "ftp://h:1", "http://"])
def test_unusable_addresses_fail_at_build_time(address: str) -> None:
    with pytest.raises(ConfigurationError, match="not a usable server address"):
        AuditorClientBuilder().connection_string(address).build()


def test_negative_timeout_fails_at_build_time_naming_python_auditors_error() -> None:
    builder = AuditorClientBuilder().timeout(-1)
    for build in (builder.build, builder.build_blocking):
        with pytest.raises(ConfigurationError, match="INVALID_TIME_INTERVAL"):
            build()


def test_tls_switches_the_default_scheme(pki: PKI) -> None:
    builder = (
        AuditorClientBuilder()
        .address("localhost", 8443)
        .with_tls(pki.client_cert, pki.client_key, pki.ca)
    )
    assert builder._settings().base_url == "https://localhost:8443"
    assert builder._settings().ssl_context is not None


def test_tls_files_are_checked_at_build_time_not_before(pki: PKI, tmp_path: Path) -> None:
    builder = AuditorClientBuilder().with_tls(tmp_path / "missing.pem", pki.client_key, pki.ca)
    with pytest.raises(ConfigurationError, match="does not exist"):
        builder.build_blocking()
    swapped = AuditorClientBuilder().with_tls(pki.ca, pki.client_cert, pki.client_key)
    with pytest.raises(ConfigurationError, match="swapped"):
        swapped.build()


def test_repr_names_the_address_and_never_key_material(pki: PKI) -> None:
    builder = (
        AuditorClientBuilder().address("h", 1).with_tls(pki.client_cert, pki.client_key, pki.ca)
    )
    assert "h:1" in repr(builder)
    assert "BEGIN" not in repr(builder)
    assert repr(builder.build_blocking()) == "<AuditorClientBlocking https://h:1>"


def test_clients_cannot_be_made_without_the_builder() -> None:
    with pytest.raises(TypeError):
        AuditorClient()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        AuditorClientBlocking()  # type: ignore[call-arg]


_FIRST_REQUEST = """
import asyncio, sys
from pyauditor import AuditorClientBuilder
from pyauditor.testing import AuditorTestServer

with AuditorTestServer() as server:
    client = AuditorClientBuilder().connection_string(server.url).build()

    async def first_get() -> None:
        before = set(sys.modules)
        await client.get()
        print(sorted(set(sys.modules) - before))

    asyncio.run(first_get())
"""


def test_the_async_client_imports_its_http_stack_at_build_time() -> None:
    """The first request must not pay for imports (python-auditor sets up in build() too)."""
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUEST], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
