"""Fixtures for the embedded server's tests.

Every server these fixtures start validates **every response it sends** against
``openapi.yaml`` (through ``on_exchange``), whoever the client is (httpx here, or the reference
client in a subprocess).  Violations are collected in the server thread and fail the test at
teardown, so the contract binds the server in the whole suite.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pyauditor.testing import AuditorTestServer, Exchange
from tests.contract.openapi_traffic import OpenAPITraffic

ServerFactory = Callable[..., AuditorTestServer]


class ContractCheck:
    """Collects the contract violations of the responses of the servers of one test."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()
        self._validator = OpenAPITraffic.shared()

    def __call__(self, exchange: Exchange) -> None:
        if exchange.fault is not None:
            return  # an injected fault breaks the contract on purpose
        problems = self._validator.response_problems(
            exchange.method,
            exchange.target,
            exchange.status,
            list(exchange.response_headers),
            exchange.response_body,
        )
        with self._lock:
            self.checked += 1
            self.problems += [
                f"{exchange.method} {exchange.target} -> {exchange.status}: {p}" for p in problems
            ]


@pytest.fixture
def contract() -> ContractCheck:
    return ContractCheck()


@pytest.fixture
def server_factory(contract: ContractCheck) -> Iterator[ServerFactory]:
    """Start servers whose responses are checked against openapi.yaml; stopped after the test."""
    servers: list[AuditorTestServer] = []

    def make(**options: Any) -> AuditorTestServer:
        options.setdefault("on_exchange", contract)
        server = AuditorTestServer(**options)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
    assert not contract.problems, "\n".join(contract.problems)


@pytest.fixture
def server(server_factory: ServerFactory) -> AuditorTestServer:
    return server_factory()


@pytest.fixture
def http(server: AuditorTestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


# ------------------------------------------------------------------------------------------
# Random records shaped like upstream's `RecordTest` fakes (auditor/src/domain/record.rs)

NAME_CHARS = string.ascii_uppercase + string.digits + "*&^%$#@!~"
COMPONENT_CHARS = string.ascii_letters + string.digits + "*&^%$#@!~"


def fake_name(rng: random.Random, chars: str = NAME_CHARS) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randrange(1, 256)))


def fake_time(rng: random.Random) -> datetime:
    """A random instant with a random sub-microsecond part cut off (Python keeps µs)."""
    start = datetime(1970, 1, 1, tzinfo=UTC)
    return start + timedelta(microseconds=rng.randrange(0, 130 * 365 * 86400 * 10**6))


def rfc3339(value: datetime, nanos: int = 0) -> str:
    """chrono's to_rfc3339 (``+00:00``), optionally with extra nanosecond digits."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos or value.microsecond:
        text += f".{value.microsecond:06d}{nanos:03d}"
    return text + "+00:00"


def fake_record(rng: random.Random, record_id: str | None = None) -> dict[str, Any]:
    """A random RecordAdd body: 1-9 components, 0-2 meta keys, independent start and stop."""
    meta = {
        fake_name(rng): [fake_name(rng) for _ in range(rng.randrange(1, 3))]
        for _ in range(rng.randrange(0, 3))
    }
    components = [
        {
            "name": fake_name(rng, COMPONENT_CHARS),
            "amount": rng.randrange(0, 2**63 - 1),
            "scores": [
                {"name": fake_name(rng, COMPONENT_CHARS), "value": rng.uniform(0, 1e6)}
                for _ in range(rng.randrange(0, 3))
            ],
        }
        for _ in range(rng.randrange(1, 10))
    ]
    return {
        "record_id": record_id or fake_name(rng),
        "meta": meta or None,
        "components": components,
        "start_time": rfc3339(fake_time(rng), rng.randrange(1000)),
        "stop_time": rfc3339(fake_time(rng), rng.randrange(1000)),
    }


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    return random.Random(request.node.nodeid)
