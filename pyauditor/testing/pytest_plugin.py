"""pytest fixtures for testing code against the embedded AUDITOR server.

Installed as a pytest plugin (entry point ``pyauditor``), so the fixtures are available in any
project that has pyauditor installed:

* ``auditor_server``: a fresh, running :class:`~pyauditor.testing.AuditorTestServer` with an
  empty temporary database, for one test;
* ``auditor_server_factory``: a function taking the same keyword arguments as
  :class:`~pyauditor.testing.AuditorTestServer` (TLS, ``ignore_record_exists_error``, a shared
  ``db`` file, ...) that returns a running server; every server it made is stopped after the
  test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ._server import AuditorTestServer

__all__ = ["auditor_server", "auditor_server_factory"]


@pytest.fixture
def auditor_server_factory() -> Iterator[Callable[..., AuditorTestServer]]:
    """Make running servers with custom options; they are stopped after the test."""
    servers: list[AuditorTestServer] = []

    def make(**options: Any) -> AuditorTestServer:
        server = AuditorTestServer(**options)
        servers.append(server)
        return server.start()

    yield make
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def auditor_server(
    auditor_server_factory: Callable[..., AuditorTestServer],
) -> AuditorTestServer:
    """A running AUDITOR-compatible server with an empty database (``auditor_server.url``)."""
    return auditor_server_factory()
