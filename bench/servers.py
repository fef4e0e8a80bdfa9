"""Minimal local HTTP servers for the benchmark, stdlib only.

They do as little as possible per request so that what a run measures is the client's cost, not
an AUDITOR server's:

* :class:`DiscardServer` reads and throws away request bodies and answers ``200`` with an empty
  body.  It counts requests, body bytes and records (occurrences of ``"record_id"`` in the body,
  which is exact for the benchmark's records), so the harness can check that a ``bulk_insert`` or
  a queue delivery really sent every record, and how many requests it took.  Control routes under
  ``/_bench/`` are not counted: ``GET /_bench/stats`` returns the counters as JSON and
  ``GET /_bench/wait?records=N&timeout=S`` blocks until ``N`` records have arrived (a long poll,
  so a waiting client spends no CPU polling).
* :class:`RecordsServer` answers every ``GET /records`` (any query string) with ``N`` records in
  AUDITOR's own format: JSON objects concatenated with no separator, keys in the server's field
  order, about 250 bytes per record, sent with chunked transfer encoding (64 KiB chunks, or one
  chunk per record as AUDITOR itself sends them).  The whole framed body is built once at
  start-up and kept in memory.

Run one as its own process with ``python bench/servers.py discard`` or
``python bench/servers.py records --count N``; it prints ``READY <port>`` once it listens on
127.0.0.1 and serves until it gets SIGTERM/SIGINT or its stdin is closed (so an orphaned server
dies with the harness).  Tests use :func:`serve_in_thread` instead.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

try:
    from . import production
except ImportError:  # run as a script: bench/ is sys.path[0]
    import production  # type: ignore[no-redef]

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DiscardServer",
    "RecordsServer",
    "record_json",
    "records_body",
    "serve_in_thread",
]

DEFAULT_CHUNK_SIZE = 64 * 1024
"""Size of the HTTP chunks of a ``GET /records`` answer.

Large chunks keep the chunk framing out of the measurement.  A real AUDITOR server yields every
record as its own body item, which actix-web frames as its own chunk; chunk size 0 does the same.
"""

# The record of perf_baseline.workload_record as the AUDITOR server returns it: struct order
# record_id, meta, components, start_time, stop_time, runtime, compact serde_json.  With ids
# record-0 ... record-99999 this averages 249.9 bytes, the size the reference's baseline used.
_RECORD_TEMPLATE = (
    '{"record_id":"record-%d","meta":{"site_id":["site1"],"group_id":["group1"]},'
    '"components":[{"name":"cpu","amount":4,"scores":[{"name":"HEPSPEC06","value":9.2}]}],'
    '"start_time":"2022-08-08T11:30:00Z","stop_time":"2022-08-08T12:30:00Z","runtime":3600}'
)


def record_json(i: int) -> str:
    """The server-format JSON text of benchmark record number ``i`` (id ``record-<i>``)."""
    return _RECORD_TEMPLATE % i


def records_body(count: int) -> bytes:
    """``count`` records concatenated with no separator, as ``GET /records`` returns them."""
    return "".join([_RECORD_TEMPLATE % i for i in range(count)]).encode()


_WRITE_SIZE = 256 * 1024


SHAPES = ("baseline", "production")
"""``baseline``: the reference's perf_baseline record (:func:`record_json`); ``production``:
:mod:`bench.production` (issue 11: every record its own id, times and values)."""


def _chunked(count: int, chunk_size: int, shape: str = "baseline") -> list[bytes]:
    """``count`` records framed for ``Transfer-Encoding: chunked``, ready to write.

    ``chunk_size`` 0 frames each record as its own chunk, as AUDITOR's server does.  Framing once
    at start-up means serving a request is a few ``sendall`` calls of ready-made bytes: the server
    process stays idle while the client works.  The result is split into blocks of about 256 KiB
    for writing; how the bytes are split between writes does not change what the client parses.
    """
    if shape == "production":
        texts = [production.record_json(spec).encode() for spec in production.specs(count)]
    else:
        texts = [record_json(i).encode() for i in range(count)]
    if chunk_size == 0:
        framed = b"".join([b"%x\r\n%s\r\n" % (len(r), r) for r in texts])
    else:
        body = b"".join(texts)
        framed = b"".join(
            [
                b"%x\r\n%s\r\n" % (len(body[i : i + chunk_size]), body[i : i + chunk_size])
                for i in range(0, len(body), chunk_size)
            ]
        )
    framed += b"0\r\n\r\n"
    return [framed[i : i + _WRITE_SIZE] for i in range(0, len(framed), _WRITE_SIZE)]


class _Counters:
    """Thread-safe request counters with a condition to wait for a number of records."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.requests = 0
        self.bytes = 0
        self.records = 0
        self.by_route: dict[str, int] = {}
        self.first_at: float | None = None
        self.last_at: float | None = None

    def add(self, route: str, body: bytes) -> None:
        now = time.time()
        with self._cond:
            self.requests += 1
            self.bytes += len(body)
            self.records += body.count(b'"record_id"')
            self.by_route[route] = self.by_route.get(route, 0) + 1
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
            self._cond.notify_all()

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {
                "requests": self.requests,
                "bytes": self.bytes,
                "records": self.records,
                "by_route": dict(self.by_route),
                "first_at": self.first_at,
                "last_at": self.last_at,
            }

    def wait_records(self, target: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.records >= target, timeout)


class _Handler(BaseHTTPRequestHandler):
    """Shared plumbing: HTTP/1.1 keep-alive, no logging, body reading, empty answers."""

    # Keep-alive as AUDITOR's server does; clients reuse connections and a new TCP connection per
    # request would be measured as client cost.
    protocol_version = "HTTP/1.1"
    server: _BenchServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: writing a log line per request would slow the server down."""

    def read_body(self) -> bytes:
        """The request body, by Content-Length or chunked, whichever the client used."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    # Trailer section: read up to and including the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, body: bytes = b"", content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def control(self) -> bool:
        """Answer a ``/_bench/`` control route; False if the path is not one."""
        url = urlsplit(self.path)
        if not url.path.startswith("/_bench/"):
            return False
        counters = self.server.counters
        if url.path == "/_bench/stats":
            self.reply(200, json.dumps(counters.snapshot()).encode(), "application/json")
        elif url.path == "/_bench/wait":
            query = parse_qs(url.query)
            target = int(query["records"][0])
            timeout = float(query.get("timeout", ["60"])[0])
            reached = counters.wait_records(target, timeout)
            stats = counters.snapshot() | {"reached": reached}
            self.reply(200, json.dumps(stats).encode(), "application/json")
        else:
            self.reply(404)
        return True

    def do_GET(self) -> None:
        if self.control():
            return
        if urlsplit(self.path).path == "/health_check":
            self.reply(200)
            return
        self.get()

    def get(self) -> None:
        self.reply(404)

    def do_POST(self) -> None:
        body = self.read_body()
        self.server.counters.add(f"{self.command} {urlsplit(self.path).path}", body)
        self.reply(200)

    do_PUT = do_POST


class _BenchServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with counters; one thread per connection, as stdlib does."""

    daemon_threads = True
    request_queue_size = 128
    counters: _Counters

    def __init__(self, handler: type[_Handler], port: int = 0) -> None:
        self.counters = _Counters()
        super().__init__(("127.0.0.1", port), handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _DiscardHandler(_Handler):
    pass


class DiscardServer(_BenchServer):
    """Reads and discards every POST/PUT body, answers 200 empty, and counts what arrived."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(_DiscardHandler, port)


class _RecordsHandler(_Handler):
    server: RecordsServer

    def get(self) -> None:
        if urlsplit(self.path).path != "/records":
            self.reply(404)
            return
        self.server.counters.add("GET /records", b"")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in self.server.framed:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            # A client that stops reading early (a failed run) is not the server's problem.
            self.close_connection = True


class RecordsServer(_BenchServer):
    """Serves ``count`` pre-built records for every ``GET /records``, from memory, chunked."""

    def __init__(
        self,
        count: int,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        port: int = 0,
        shape: str = "baseline",
    ) -> None:
        self.count = count
        self.framed = _chunked(count, chunk_size, shape)
        super().__init__(_RecordsHandler, port)


@contextmanager
def serve_in_thread(server: _BenchServer) -> Iterator[_BenchServer]:
    """Run ``server`` in a background thread for the duration of the block (used by tests)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    sub.add_parser("discard", help="count and discard request bodies")
    records = sub.add_parser("records", help="serve N pre-built records for GET /records")
    records.add_argument("--count", type=int, required=True)
    records.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="0: one chunk per record"
    )
    records.add_argument("--shape", choices=SHAPES, default="baseline")
    args = parser.parse_args(argv)

    server: _BenchServer
    if args.kind == "discard":
        server = DiscardServer()
    else:
        server = RecordsServer(args.count, args.chunk_size, shape=args.shape)

    def stop(*_: object) -> None:
        # shutdown() blocks until serve_forever returns, so it must run off the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # The parent holds our stdin open; EOF means it died, and the server must not outlive it.
    def watch_stdin() -> None:
        sys.stdin.read()
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()

    print(f"READY {server.port}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    _main()
