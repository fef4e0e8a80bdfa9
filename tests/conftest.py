"""Shared test configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pyauditor.testing import AuditorTestServer

if TYPE_CHECKING:
    from tests.contract.exchange_check import TrafficCheck

# Fixture/hook modules shared by the whole suite (see their docstrings).
pytest_plugins = ("tests.reference_harness", "tests.contract.openapi_traffic")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def contract_for_every_server(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TrafficCheck]:
    """Check every exchange of every in-process test server against openapi.yaml.

    A server a test makes without an ``on_exchange`` hook of its own gets this test's
    :class:`TrafficCheck`; its violations fail the test at teardown.  Tests that send invalid
    requests on purpose pass their own hook (or set ``allow_invalid_requests``); tests of a
    server without any hook are marked ``without_exchange_hook``.
    """
    # Imported here, after pytest_plugins registered the validator module for assertion
    # rewriting.
    from tests.contract.exchange_check import TrafficCheck

    check = TrafficCheck()
    if request.node.get_closest_marker("without_exchange_hook") is not None:
        yield check  # the test is about a server that has no hook at all
        return
    original = AuditorTestServer.__init__

    def init(self: AuditorTestServer, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("on_exchange") is None:
            kwargs["on_exchange"] = check
        original(self, *args, **kwargs)

    monkeypatch.setattr(AuditorTestServer, "__init__", init)
    yield check
    assert not check.problems, "contract violations:\n" + "\n".join(check.problems)
