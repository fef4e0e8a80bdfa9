"""The embedded server on an exhausted machine (issue 14 item 2): no threads, no descriptors.

Each test runs a server in a subprocess and takes resources away from it with ``setrlimit``
while it runs.  The server must answer ``503`` while it cannot serve, never stop listening, and
serve again as soon as the resources are back.  (Before, a failed ``thread.start()`` killed the
accept loop: under a pids limit the process lived on with its port refusing connections.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

PATIENCE = 30.0

# The server process.  It reads commands on stdin and answers "ok" once they are applied:
#   nproc N   no more than N new threads (RLIMIT_NPROC, counted from the threads it has)
#   nofile    no free file descriptor (RLIMIT_NOFILE at the number it has open)
#   restore   the original limits
SERVER = r"""
import os, resource, socket, sys

from pyauditor.testing import AuditorTestServer

if os.geteuid() == 0:
    # root is exempt from RLIMIT_NPROC; a user owning no other process is not, and its
    # process count is exactly this process's threads.  That user may not read root's
    # Python installation: a first server, run as root, imports every module serving needs.
    with AuditorTestServer() as warm_up:
        for request in (
            b"GET /health_check HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /records?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ):
            with socket.create_connection((warm_up.host, warm_up.port)) as sock:
                sock.sendall(request)
                sock.recv(65536)
    os.setgroups([])
    os.setgid(54321)
    os.setuid(54321)
server = AuditorTestServer(max_workers=4, request_timeout=2.0, keep_alive=1.0).start()
original = {
    name: resource.getrlimit(name) for name in (resource.RLIMIT_NPROC, resource.RLIMIT_NOFILE)
}


def count(what):
    if what == "fds":
        return len(os.listdir("/proc/self/fd")) - 1  # minus listdir's own descriptor
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


print(server.url, flush=True)
for line in sys.stdin:
    command, *args = line.split()
    if command == "nproc":
        hard = original[resource.RLIMIT_NPROC][1]
        if os.getuid() == 54321:
            limit = count("threads") + int(args[0])
        else:
            limit = 0  # the count includes the user's other processes: allow nothing new
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, hard))
    elif command == "nofile":
        fds = count("fds")
        resource.setrlimit(resource.RLIMIT_NOFILE, (fds, original[resource.RLIMIT_NOFILE][1]))
    elif command == "restore":
        for name, limits in original.items():
            resource.setrlimit(name, limits)
    print("ok", server.refused_connections, flush=True)
server.stop()
"""


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.address = (host, int(port))

    def command(self, text: str) -> int:
        """Apply a command; returns how many connections the server has refused so far."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        assert reply[0] == "ok", reply
        return int(reply[1])

    def get(self, path: str = "/health_check") -> int:
        return httpx.get(self.url + path, timeout=PATIENCE).status_code


@contextmanager
def server_process() -> Iterator[Server]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read() if proc.stderr else url
        yield Server(proc, url)
        assert proc.poll() is None, "the server process died"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_without_threads_every_connection_gets_503_and_the_listener_survives() -> None:
    with server_process() as server:
        server.command("nproc 0")
        # No worker can be started: the accept loop itself answers, every time.
        for _ in range(20):
            assert server.get() == 503
        # Far more slow clients than a pids limit allows threads (the reproduction:
        # 130 under a limit of 120) are all accepted and refused.
        socks = [socket.create_connection(server.address, timeout=PATIENCE) for _ in range(130)]
        try:
            for sock in socks:
                sock.settimeout(PATIENCE)
                assert sock.recv(64).startswith(b"HTTP/1.1 503 ")
        finally:
            for sock in socks:
                sock.close()
        refused = server.command("restore")
        assert refused >= 150
        assert server.get() == 200
        assert server.get("/records") == 200


def test_few_threads_queue_connections_and_serve_them_in_turn() -> None:
    if os.geteuid() != 0:
        pytest.skip("an exact thread budget needs a user of its own (the test runs as root)")
    with server_process() as server:
        server.command("nproc 1")  # one worker thread, no more
        # A client that never finishes its request holds the only worker for request_timeout;
        # the others wait in the queue and are served after it, none refused.
        slow = socket.create_connection(server.address, timeout=PATIENCE)
        try:
            slow.sendall(b"GET /records HTTP/1.1\r\n")
            statuses = [server.get() for _ in range(3)]
        finally:
            slow.close()
        assert statuses == [200, 200, 200]
        assert server.command("restore") == 0
        assert server.get() == 200


def test_without_file_descriptors_connections_get_503_and_the_listener_survives() -> None:
    with server_process() as server:
        assert server.get() == 200  # a pooled database connection exists now
        server.command("nofile")
        # accept() fails with EMFILE: a reserved descriptor answers and is reserved again,
        # instead of the loop spinning on a connection it cannot take.
        for _ in range(10):
            assert server.get() == 503
        refused = server.command("restore")
        assert refused >= 10
        assert server.get() == 200
