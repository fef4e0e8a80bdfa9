"""Queued-client delivery, pyauditor vs python-auditor 0.11.2, side by side.

    .venv/bin/python bench/bench_queue.py [--runs 5] [--n 10000]

The workload of the reference's ``perf_baseline`` "queued delivery of 10k": ``--n`` records (2
meta keys, 1 component with 1 score) are queued in a file while no server listens; then a fresh
process builds a queued client on that file (its first delivery starts at once), and the time
from the start of the build until the server has received every record is measured: wall time
by this process, which watches the server, and the client process's CPU time.

The server is one separate process (stdlib ``ThreadingHTTPServer``, HTTP/1.1 keep-alive) that
reads each body, counts the records in it and answers ``200`` with an empty body, as the
reference's baseline server did.  Runs alternate between the clients; each run is a fresh
process (the reference from ``.reference``, ``make reference`` installs it).  Medians are printed
with the ratio pyauditor / reference.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = r"""
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
received = 0
lock = threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _answer(self, body=b""):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        global received
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            received += body.count(b'"record_id"')
        self._answer()
    do_PUT = do_POST
    def do_GET(self):
        global received
        if self.path == "/reset":
            with lock:
                received = 0
        self._answer(str(received).encode())
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

# argv: implementation-independent; the same script runs under either package.
FILL = r"""
import asyncio, datetime as dt, sys
from pyauditor import *
t0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.timezone.utc)
path, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
records = [
    Record(f"r{i}", t0)
    .with_meta(Meta().insert("site_id", ["site1"]).insert("group_id", ["group1"]))
    .with_component(Component("cpu", 4).with_score(Score("HEPSPEC06", 9.2)))
    for i in range(n)
]
async def main():
    client = await (AuditorClientBuilder().address("127.0.0.1", port).database_path(path)
                    .send_interval(3600).build_queued())
    await client.bulk_insert(records)
    await client.stop()
asyncio.run(main())
print("filled", flush=True)
"""

# Waits on stdin (in a thread: the loop stays free) until the parent, which watches the server,
# says that every record arrived; then reports its CPU time.  The parent measures the wall time
# from the start timestamp printed here, so the client is not slowed down by any polling.
DELIVER = r"""
import asyncio, sys, time
path, port = sys.argv[1], int(sys.argv[2])
import pyauditor
from pyauditor import *
async def main():
    print(f"start {time.time():.6f}", flush=True)
    cpu = time.process_time()
    client = await (AuditorClientBuilder().address("127.0.0.1", port).database_path(path)
                    .send_interval(3600).build_queued())
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(f"cpu {time.process_time() - cpu:.4f} {pyauditor.__file__}", flush=True)
    await client.stop()
asyncio.run(main())
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _env(reference: bool) -> tuple[dict[str, str], Path]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if reference:
        env["PYTHONPATH"] = str(ROOT / ".reference")
    # `python -c` puts the working directory first on sys.path: from the repository root that
    # would import this checkout's pyauditor instead of the reference.
    return env, Path("/") if reference else ROOT


def _fill(path: str, n: int, reference: bool) -> None:
    env, cwd = _env(reference)
    done = subprocess.run(
        [sys.executable, "-c", FILL, path, str(_closed_port()), str(n)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # python-auditor sometimes aborts at interpreter exit after its work (its §4.8 quirk).
    if "filled" not in done.stdout:
        raise RuntimeError(f"filling the queue failed ({done.returncode}): {done.stderr[-2000:]}")


def _received(port: int) -> int:
    return int(urllib.request.urlopen(f"http://127.0.0.1:{port}/count").read())


def measure(port: int, n: int, reference: bool) -> tuple[float, float]:
    """Deliver ``n`` queued records once; return (wall, client CPU) in seconds."""
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "queue.db")
        _fill(path, n, reference)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/reset").read()
        env, cwd = _env(reference)
        child = subprocess.Popen(
            [sys.executable, "-c", DELIVER, path, str(port)],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        started = float(child.stdout.readline().split()[1])
        deadline = time.monotonic() + 600
        while _received(port) < n:
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("the records did not all arrive")
            time.sleep(0.001)
        wall = time.time() - started
        child.stdin.write("done\n")
        child.stdin.flush()
        _, cpu, package = child.stdout.readline().split()
        child.wait(60)
    if (".reference" in package) != reference:
        raise RuntimeError(f"the wrong pyauditor was imported: {package}")
    return wall, float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    if not (ROOT / ".reference" / "pyauditor").is_dir():
        sys.exit("the reference is missing: run `make reference` first")
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        measure(port, min(args.n, 1000), reference=False)  # warm-up (disk cache, imports)
        for _ in range(args.runs):
            for reference in (False, True):
                results[reference].append(measure(port, args.n, reference))
    finally:
        server.terminate()
        server.wait()
    ours = [statistics.median(values) for values in zip(*results[False], strict=True)]
    theirs = [statistics.median(values) for values in zip(*results[True], strict=True)]
    print(f"deliver {args.n} queued records, median of {args.runs} runs")
    print(f"{'':14}{'wall s':>10}{'cpu s':>10}")
    print(f"{'pyauditor':14}{ours[0]:10.3f}{ours[1]:10.3f}")
    print(f"{'python-auditor':14}{theirs[0]:10.3f}{theirs[1]:10.3f}")
    print(f"{'ratio':14}{ours[0] / theirs[0]:10.4f}{ours[1] / theirs[1]:10.4f}")


if __name__ == "__main__":
    main()
