"""Hostile answers: decoding raises pyauditor's typed errors and nothing else (issue 14, item 5).

A server (or whatever answers in its place) sends bytes built to break decoders: nesting
100,000 levels deep, integers of 5000 digits, strings of many megabytes, broken UTF-8.  Every
path that decodes an answer is tried, on both clients, over real sockets: the streamed result
of ``get``/``advanced_query``/``iter_records``, the single record of ``get_single_record`` and
the body of a write answer.  The outcome is always a :class:`~pyauditor.ResponseDecodeError`
(:class:`~pyauditor.StreamDecodeError` for streams), never ``RecursionError``, ``ValueError``
or another raw exception, and never an interpreter crash.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest

from pyauditor import (
    AuditorClientBuilder,
    Record,
    ResponseDecodeError,
    StreamDecodeError,
)
from pyauditor.cli import main
from pyauditor.testing import AuditorTestServer, Respond

pytestmark = pytest.mark.without_exchange_hook  # the answers break the contract on purpose

T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.UTC)
GOOD = (
    '{"record_id":"ok","meta":null,"components":[],"start_time":"2022-08-08T11:30:00Z",'
    '"stop_time":null,"runtime":null}'
)
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


def _record(**fields: str) -> str:
    base = {
        "record_id": '"x"',
        "meta": "null",
        "components": "[]",
        "start_time": '"2022-08-08T11:30:00Z"',
        "stop_time": "null",
        "runtime": "null",
    } | fields
    return "{" + ",".join(f'"{k}":{v}' for k, v in base.items()) + "}"


HOSTILE_RECORDS = {
    "deep meta": _record(meta=DEEP),
    "deep unknown field": _record(extra=DEEP_OBJECT),
    "deep components": _record(components=DEEP),
    "5000-digit runtime": _record(runtime="9" * 5000),
    "5000-digit amount": _record(
        components='[{"name":"c","amount":' + "9" * 5000 + ',"scores":[]}]'
    ),
    "5000-digit score": _record(
        components='[{"name":"c","amount":1,"scores":[{"name":"s","value":' + "9" * 5000 + "}]}]"
    ),
    "huge exponent": _record(
        components='[{"name":"c","amount":1,"scores":[{"name":"s","value":1e99999}]}]'
    ),
    "deep top level": DEEP,
    "5000-digit top level": "9" * 5000,
    "broken UTF-8": _record(record_id='"\xff"').replace("\xff", "\udcff"),
}


def _body(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@pytest.fixture
def server(auditor_server_factory: Callable[..., AuditorTestServer]) -> AuditorTestServer:
    return auditor_server_factory()


def _builder(server: AuditorTestServer) -> AuditorClientBuilder:
    return AuditorClientBuilder().connection_string(server.url).timeout(30).retries(0)


def _run_both(server: AuditorTestServer, call: Callable[[Any], Any]) -> list[BaseException]:
    """``call(client)`` on a blocking and an async client; the exceptions they raised."""
    raised: list[BaseException] = []
    blocking = _builder(server).build_blocking()
    try:
        call(blocking)
    except BaseException as error:
        raised.append(error)
    finally:
        blocking.close()

    async def run() -> None:
        client = _builder(server).build()
        try:
            result = call(client)
            if asyncio.iscoroutine(result):
                await result
            elif hasattr(result, "__anext__"):
                async for _ in result:
                    pass
        except BaseException as error:
            raised.append(error)
        finally:
            await client.aclose()

    asyncio.run(run())
    return raised


def _only_typed(raised: list[BaseException], kind: type[BaseException]) -> None:
    assert len(raised) == 2, raised
    for error in raised:
        assert type(error).__mro__[0] is not RecursionError
        assert isinstance(error, kind), repr(error)[:300]
        assert isinstance(error, RuntimeError)
        assert "\n" not in str(error)
        assert len(str(error)) < 2000  # the message quotes an excerpt, not the body


def _drain(result: Any) -> Any:
    if hasattr(result, "__next__"):
        return list(result)
    return result


@pytest.mark.parametrize("name", sorted(HOSTILE_RECORDS))
@pytest.mark.parametrize("layout", ["alone", "after a good record", "in an array"])
def test_streamed_results(server: AuditorTestServer, name: str, layout: str) -> None:
    text = HOSTILE_RECORDS[name]
    body = {
        "alone": text,
        "after a good record": GOOD + text,
        "in an array": f"[{GOOD},{text}]",
    }[layout]
    server.inject(Respond(200, _body(body), "application/json"), path="/records", times=None)
    for call in (
        lambda c: c.get(),
        lambda c: c.advanced_query("limit=5"),
        lambda c: _drain(c.iter_records("")),
    ):
        raised = _run_both(server, call)
        _only_typed(raised, StreamDecodeError)
        index = 0 if layout == "alone" else 1
        assert all(getattr(e, "index", None) == index for e in raised), raised


@pytest.mark.parametrize("name", sorted(HOSTILE_RECORDS))
def test_single_records(server: AuditorTestServer, name: str) -> None:
    body = _body(HOSTILE_RECORDS[name])
    server.inject(Respond(200, body, "application/json"), path="/record/x", times=None)
    raised = _run_both(server, lambda c: c.get_single_record("x"))
    _only_typed(raised, ResponseDecodeError)


@pytest.mark.parametrize(
    "body",
    [DEEP, '{"warning":' + DEEP + "}", "9" * 5000, '{"warning":' + "9" * 5000 + "}", "\xff"],
    ids=["deep", "deep warning", "5000 digits", "5000-digit warning", "broken UTF-8"],
)
def test_write_answers(server: AuditorTestServer, body: str) -> None:
    """Judging a 2xx write answer raises typed errors only, whatever its body holds.

    No such body is AUDITOR's, so it says nothing about the record: ``add``, ``update`` and
    ``bulk_insert`` read the record back.  The fault answered in the server's place, so
    nothing was stored (or updated): a ResponseDecodeError each, never success.
    """
    for method in ("POST", "PUT"):
        server.inject(Respond(200, _body(body), "application/json"), method=method, times=None)
    record = Record("r1", T0).with_stop_time(T0)
    _only_typed(_run_both(server, lambda c: c.add(record)), ResponseDecodeError)
    _only_typed(_run_both(server, lambda c: c.bulk_insert([record])), ResponseDecodeError)
    server.clear_faults()
    server.inject(Respond(200, _body(body), "application/json"), method="PUT", times=None)
    _run_both(server, lambda c: c.add(Record("r2", T0)))
    _only_typed(
        _run_both(server, lambda c: c.update(Record("r2", T0).with_stop_time(T0))),
        ResponseDecodeError,
    )


def test_huge_strings_are_decoded_within_the_record_bound(server: AuditorTestServer) -> None:
    big = _record(record_id='"' + "x" * 5_000_000 + '"')
    server.inject(Respond(200, _body(GOOD + big), "application/json"), path="/records")
    blocking = _builder(server).build_blocking()
    records = blocking.get()
    assert [len(r.record_id) for r in records] == [2, 5_000_000]
    blocking.close()


@pytest.mark.parametrize("name", sorted(HOSTILE_RECORDS))
@pytest.mark.parametrize("command", ["get", "query"])
def test_the_command_reports_an_undecodable_answer_in_one_line(
    server: AuditorTestServer, name: str, command: str
) -> None:
    """``pyauditor get`` and ``query`` print one error line (exit 1), never a traceback.

    Both read ``GET /records`` (``get`` asks for the record id, as a query).
    """
    body = _body(HOSTILE_RECORDS[name])
    server.inject(Respond(200, body, "application/json"), path="/records", times=None)
    argv = {
        "get": ["get", server.url, "x"],
        "query": ["query", server.url, "--format", "ndjson"],
    }[command]
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--retries", "0"], stdout=out, stderr=err)
    lines = err.getvalue().splitlines()
    assert code == 1, (out.getvalue()[:300], lines)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"pyauditor {command}: error: "), lines[0][:300]
    assert "internal error" not in lines[0]
    assert len(lines[0]) < 2000
