"""Contract checks of what an embedded server saw: every request and every answer.

:class:`TrafficCheck` is an ``on_exchange`` hook for :class:`~pyauditor.testing.AuditorTestServer`.
It validates the request as the client sent it and the answer the server gave (answers shaped by
an injected fault excepted, since they break the contract on purpose) against ``openapi.yaml``,
and collects the violations for the test to fail on.  ``tests/conftest.py`` installs one on every
in-process server a test creates without a hook of its own, so the contract binds every client
and every server in the suite.
"""

from __future__ import annotations

import threading

from pyauditor.testing import Exchange
from tests.contract.openapi_traffic import OpenAPITraffic

__all__ = ["TrafficCheck"]


class TrafficCheck:
    """Collects contract violations of requests and responses seen by the servers of a test."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.requests_checked = 0
        self.allow_invalid_requests = False
        self._lock = threading.Lock()
        self._validator = OpenAPITraffic.shared()

    def __call__(self, exchange: Exchange) -> None:
        problems = []
        if not self.allow_invalid_requests:
            problems += self._validator.request_problems(
                exchange.method,
                exchange.target,
                list(exchange.request_headers),
                exchange.request_body,
            )
        if exchange.fault is None and exchange.status is not None:
            problems += self._validator.response_problems(
                exchange.method,
                exchange.target,
                exchange.status,
                list(exchange.response_headers),
                exchange.response_body,
            )
        with self._lock:
            self.requests_checked += 1
            self.problems += [f"{exchange.method} {exchange.target}: {p}" for p in problems]
