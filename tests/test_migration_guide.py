"""Claims of docs/migration.md that no other test pins down.

The guide names the test file behind each claim; these are the claims whose behaviour was only
implied elsewhere.  If one of them fails, the guide is wrong: fix the code or the guide.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import gc
import pickle
import re
import threading
import time
import warnings
from pathlib import Path

import pytest

from pyauditor import AuditorClientBuilder, Record
from pyauditor._protocol import USER_AGENT
from pyauditor.testing import AuditorTestServer, Exchange, Respond
from tests.clients.conftest import PKI

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parent.parent


def test_the_guide_exists_and_names_files_that_exist() -> None:
    guide = (ROOT / "docs" / "migration.md").read_text()
    for path in re.findall(r"\[`([^`\]]+)`", guide):
        assert (ROOT / path).exists(), f"docs/migration.md cites {path}, which does not exist"


def test_health_check_is_false_for_a_redirect(auditor_server: AuditorTestServer) -> None:
    auditor_server.inject(Respond(301, ""), path="/health_check", times=None)
    client = AuditorClientBuilder().connection_string(auditor_server.url).build_blocking()
    assert client.health_check() is False


def test_user_agent_on_plain_and_tls_connections(
    auditor_server_factory: object, tmp_path: Path
) -> None:
    pki = PKI(tmp_path)
    agents: list[str] = []
    lock = threading.Lock()

    def capture(exchange: Exchange) -> None:
        with lock:
            agents.extend(v for k, v in exchange.request_headers if k.lower() == "user-agent")

    server = auditor_server_factory(  # type: ignore[operator]
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_ca=str(pki.ca),
        on_exchange=capture,
    )
    plain = AuditorClientBuilder().connection_string(server.url).build_blocking()
    tls = (
        AuditorClientBuilder()
        .connection_string(server.tls_url)
        .with_tls(str(pki.client_cert), str(pki.client_key), str(pki.ca))
        .build_blocking()
    )
    with plain, tls:  # closed: an open TLS connection would hold up the server's shutdown
        assert plain.health_check()
        assert tls.health_check()
    deadline = time.monotonic() + 5
    while len(agents) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert agents == [USER_AGENT, USER_AGENT]
    assert USER_AGENT.endswith("(python-auditor compatible)")


def test_records_copy_and_pickle() -> None:
    record = Record("job-1", T0).with_stop_time(T0 + dt.timedelta(hours=1))
    assert copy.deepcopy(record) == record
    assert pickle.loads(pickle.dumps(record)) == record


async def test_async_writes_return_none_and_need_await(auditor_server: AuditorTestServer) -> None:
    client = AuditorClientBuilder().connection_string(auditor_server.url).build()
    assert await client.add(Record("job-1", T0)) is None
    assert await client.bulk_insert(Record(f"job-{i}", T0) for i in range(2, 4)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine ... was never awaited"
        client.add(Record("never-sent", T0))  # type: ignore[unused-coroutine]
        gc.collect()
    await asyncio.sleep(0.2)
    assert auditor_server.record("never-sent") is None
    assert auditor_server.count() == 3
    await client.aclose()


def test_naive_datetimes_say_how_to_fix_them() -> None:
    with pytest.raises(TypeError, match="timezone-aware"):
        Record("job-1", dt.datetime(2024, 5, 1))
