"""Fixtures of the queue tests: the store's worker thread and the senders a test starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from pyauditor._sender import AsyncSender


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """The thread store calls run on."""
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


@pytest.fixture
async def senders() -> AsyncIterator[list[AsyncSender]]:
    """Senders the test starts; each still running is stopped afterwards."""
    started: list[AsyncSender] = []
    yield started
    for sender in started:
        if sender.running:
            await sender.stop(1)
