"""What a built client is configured with: the builder checks it, the clients and the queue read it.

A module of its own so that the builder, the clients and the queued clients all depend on it and
not on each other (``_builder`` imports the clients; the clients never import the builder).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import attrs
import httpx

from ._protocol import RetryPolicy

if TYPE_CHECKING:
    from ._queue import GiveUp

__all__ = ["ClientSettings", "QueueSettings"]


@attrs.frozen
class QueueSettings:
    """What the queued clients need beyond the direct client's settings.

    Attributes:
        database_path: The queue file as given to ``database_path()`` (``None``: in memory).
        send_interval: Seconds between delivery passes (checked > 0 and finite by the builder).
        retry: The backoff between failed delivery passes, when the builder's ``retries()`` was
            called; ``None`` leaves the queue's own default (it retries patiently, for hours).
        give_up: When a queued record stops being retried and becomes a dead letter
            (``queue_give_up()``); ``None``: only records the server can never store.
    """

    database_path: str | None
    send_interval: float
    retry: RetryPolicy | None = None
    give_up: GiveUp | None = None


@attrs.frozen
class ClientSettings:
    """Everything a built client needs, checked and normalised by the builder.

    Attributes:
        base_url: Scheme, host, port and path prefix; request paths are appended to it.
        timeout: Seconds a non-streaming request may take as a whole; in ``iter_records``, the
            longest wait for the next chunk (see :class:`pyauditor._protocol.Deadline`).
        ssl_context: The TLS context of ``with_tls`` (``None``: httpx's default for https).
        retry: How reads are retried.
        max_answer_bytes: Bound of an answer read whole, after decompression.
        max_record_bytes: Bound of one record of a streamed result, after decompression.
        transport: An httpx transport for the blocking client (``None``: httpx's default).
        async_transport: An httpx transport for the async client (``None``: httpx's default).
        queue: The queued clients' settings.
    """

    base_url: str
    timeout: float
    ssl_context: ssl.SSLContext | None
    retry: RetryPolicy
    max_answer_bytes: int
    max_record_bytes: int
    queue: QueueSettings
    transport: httpx.BaseTransport | None = None
    async_transport: httpx.AsyncBaseTransport | None = None
