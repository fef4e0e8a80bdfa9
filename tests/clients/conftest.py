"""Fixtures for the client tests: real sockets, an embedded server, contract checks both ways.

Every exchange the servers of these fixtures see is checked against ``openapi.yaml``: the
request our client sent and the response the server gave (faults injected on purpose excepted),
so the contract binds the clients as it binds the server.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from pyauditor import AuditorClient, AuditorClientBlocking, AuditorClientBuilder
from pyauditor.testing import AuditorTestServer
from tests.contract.exchange_check import TrafficCheck

UTC = dt.UTC
T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=UTC)
T1 = dt.datetime(2022, 8, 9, 11, 30, tzinfo=UTC)

ServerFactory = Callable[..., AuditorTestServer]


@pytest.fixture
def traffic(contract_for_every_server: TrafficCheck) -> TrafficCheck:
    """The contract check tests/conftest.py gives every server of the test."""
    return contract_for_every_server


@pytest.fixture
def server_factory(auditor_server_factory: ServerFactory) -> ServerFactory:
    """The plugin's factory: its servers get the suite's contract check."""
    return auditor_server_factory


@pytest.fixture
def server(server_factory: ServerFactory) -> AuditorTestServer:
    return server_factory()


def logged(server: AuditorTestServer, count: int = 1, timeout: float = 5.0) -> list[Any]:
    """The server's request log once it holds ``count`` entries.

    The server logs an exchange before the answer's last bytes go out, so after a call the
    log has it; requests a client makes in the background (the queue's) may still be on
    their way.
    """
    deadline = time.monotonic() + timeout
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return server.requests


def builder_for(server: AuditorTestServer, timeout: float = 5) -> AuditorClientBuilder:
    return AuditorClientBuilder().connection_string(server.url).timeout(timeout)


@pytest.fixture
def client(server: AuditorTestServer) -> AuditorClient:
    return builder_for(server).build()


@pytest.fixture
def blocking(server: AuditorTestServer) -> Iterator[AuditorClientBlocking]:
    with builder_for(server).build_blocking() as client:
        yield client


class PKI:
    """Certificates for a server and a client, made by a throw-away CA."""

    def __init__(self, root: Path) -> None:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("htcondor.collector")
        self.ca = root / "ca.pem"
        self.server_cert = root / "server.pem"
        self.server_key = root / "server.key"
        self.client_cert = root / "client.pem"
        self.client_key = root / "client.key"
        ca.cert_pem.write_to_path(str(self.ca))
        server.cert_chain_pems[0].write_to_path(str(self.server_cert))
        server.private_key_pem.write_to_path(str(self.server_key))
        client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        client.private_key_pem.write_to_path(str(self.client_key))
        other = trustme.CA()
        self.other_ca = root / "other-ca.pem"
        other.cert_pem.write_to_path(str(self.other_ca))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_server(server_factory: ServerFactory, pki: PKI) -> AuditorTestServer:
    return server_factory(
        tls_cert=str(pki.server_cert), tls_key=str(pki.server_key), tls_ca=str(pki.ca)
    )
