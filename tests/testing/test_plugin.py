"""The pytest plugin (entry point ``pyauditor``) and use from sync and async code."""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Callable

import httpx

from pyauditor.testing import AuditorTestServer

from .test_routes import RECORD


def test_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "pyauditor"
    ]
    assert entry.value == "pyauditor.testing.pytest_plugin"


def test_auditor_server_fixture_is_fresh_and_running(auditor_server: AuditorTestServer) -> None:
    assert auditor_server.running
    assert auditor_server.url == f"http://127.0.0.1:{auditor_server.port}"
    assert auditor_server.count() == 0
    assert httpx.post(auditor_server.url + "/record", json=RECORD).status_code == 200
    assert auditor_server.records()[0]["runtime"] == 60


def test_factory_makes_servers_with_options(
    auditor_server_factory: Callable[..., AuditorTestServer],
) -> None:
    lenient = auditor_server_factory(ignore_record_exists_error=True)
    strict = auditor_server_factory()
    for server in (lenient, strict):
        httpx.post(server.url + "/record", json=RECORD)
    assert httpx.post(lenient.url + "/record", json=RECORD).status_code == 200
    assert httpx.post(strict.url + "/record", json=RECORD).status_code == 500
    lenient.ignore_record_exists_error = False
    assert httpx.post(lenient.url + "/record", json=RECORD).status_code == 500


async def test_async_tests_can_use_the_fixture(auditor_server: AuditorTestServer) -> None:
    async with httpx.AsyncClient(base_url=auditor_server.url) as client:
        responses = await asyncio.gather(
            *(client.post("/record", json={**RECORD, "record_id": str(i)}) for i in range(20))
        )
    assert {r.status_code for r in responses} == {200}
    assert auditor_server.count() == 20


async def test_async_context_manager_and_restart() -> None:
    server = AuditorTestServer()
    async with server:
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.url + "/health_check")).status_code == 200
        assert repr(server).startswith("<AuditorTestServer http://127.0.0.1:")
    assert not server.running
    assert repr(server) == "<AuditorTestServer stopped>"
    with server:  # a stopped server starts again, with a new empty database
        assert server.count() == 0
