"""A bounded pool of threads that serve connections, which never takes the server down with it.

The embedded server serves each connection in a thread of its own (a connection is a sequence
of blocking reads and writes; threads keep that code plain).  Threads are a finite resource:
a pids limit, a memory limit or a flood of clients ends the supply.  This pool bounds how many
there are, keeps a bounded queue of accepted connections waiting for one, and tells the caller
when both are full (the listener then answers ``503``).  A thread that cannot be started is
not an error: the connection waits for a running worker, or is refused if there is none.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Protocol

__all__ = ["Job", "WorkerPool"]

_log = logging.getLogger("pyauditor.testing")


class Job(Protocol):
    """A unit of work: one accepted connection."""

    def run(self) -> None:
        """Serve it (must not raise; exceptions are logged and dropped)."""

    def discard(self) -> None:
        """Give it up without serving it (the pool is stopping)."""


class WorkerPool:
    """At most ``size`` worker threads, and at most ``queue_size`` jobs waiting for one.

    Workers are started on demand and end after ``idle_seconds`` without work, so an idle
    server holds no threads beyond its accept loops.
    """

    def __init__(self, size: int, queue_size: int, idle_seconds: float = 10.0) -> None:
        self.size = size
        self.queue_size = queue_size
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._jobs: collections.deque[Job] = collections.deque()
        self._live = 0  # workers started and not yet ended
        self._idle = 0  # workers waiting for a job
        self._stopping = False
        self._threads: set[threading.Thread] = set()

    @property
    def waiting(self) -> int:
        """How many jobs wait for a worker (``> 0``: the pool is saturated)."""
        return len(self._jobs)

    @property
    def workers(self) -> int:
        """How many worker threads are running."""
        return self._live

    def submit(self, job: Job) -> bool:
        """Hand ``job`` to a worker; ``False`` (the job untouched) when the pool is full.

        Never raises: a thread that cannot be started counts as a full pool.
        """
        with self._lock:
            if self._stopping:
                return False
            if self._idle > len(self._jobs):
                self._jobs.append(job)
                self._wake.notify()
                return True
            if self._live >= self.size:
                if len(self._jobs) >= self.queue_size:
                    return False
                self._jobs.append(job)
                return True
            self._live += 1
        try:
            thread = threading.Thread(
                target=self._work, args=(job,), name="pyauditor-worker", daemon=True
            )
            thread.start()
        except (RuntimeError, MemoryError):  # "can't start new thread": pids or memory limit
            with self._lock:
                self._live -= 1
                # A running worker will come to it; with none there is nobody to wait for.
                if self._live > 0 and len(self._jobs) < self.queue_size:
                    self._jobs.append(job)
                    return True
            return False
        return True

    def _work(self, job: Job | None) -> None:
        current = threading.current_thread()
        with self._lock:
            self._threads.add(current)
        try:
            while job is not None:
                try:
                    job.run()
                except BaseException:  # a worker must outlive any one connection
                    _log.exception("pyauditor.testing: serving a connection failed")
                job = self._next_job()
        finally:
            with self._lock:
                self._live -= 1
                self._threads.discard(current)

    def _next_job(self) -> Job | None:
        with self._lock:
            self._idle += 1
            try:
                deadline = time.monotonic() + self._idle_seconds
                while not self._jobs and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._wake.wait(remaining)
                return self._jobs.popleft() if self._jobs else None
            finally:
                self._idle -= 1

    def stop(self, timeout: float = 5.0) -> None:
        """Refuse new jobs, discard the waiting ones and wait (up to ``timeout``) for workers."""
        with self._lock:
            self._stopping = True
            waiting = list(self._jobs)
            self._jobs.clear()
            self._wake.notify_all()
            threads = list(self._threads)
        for job in waiting:
            try:
                job.discard()
            except Exception:
                _log.exception("pyauditor.testing: discarding a connection failed")
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
