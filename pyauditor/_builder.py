"""AuditorClientBuilder: the one way to configure and create clients, as in python-auditor."""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING

import attrs
import httpx

from ._client import AuditorClient, AuditorClientBlocking
from ._errors import ConfigurationError
from ._protocol import DEFAULT_MAX_ANSWER_BYTES, RetryPolicy, base_url
from ._queued import QueuedAuditorClient, QueuedAuditorClientBlocking
from ._record_codec import MAX_RECORD_BYTES
from ._settings import ClientSettings, QueueSettings
from ._tls import TLSFiles, create_ssl_context

if TYPE_CHECKING:
    from ._queue import GiveUp

__all__ = ["AuditorClientBuilder", "ClientSettings", "QueueSettings"]

_I64_MAX = 2**63 - 1
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://").match
# A DNS name, an IPv4 address or an (unbracketed, as httpx reports it) IPv6 address.
_HOST = re.compile(r"[A-Za-z0-9._~-]+|[0-9A-Fa-f:.]+").fullmatch
_INVALID_TIME_INTERVAL = "INVALID_TIME_INTERVAL"
_MIN_SIZE_BOUND = 1024


def _seconds(value: object) -> int | float:
    """Accept python-auditor's int seconds and, beyond it, floats; keep its overflow errors.

    Only the type is checked here; the value (finite, > 0) when the client is built, where
    python-auditor checks it too.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")
    if isinstance(value, int) and not -(2**63) <= value <= _I64_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return value


def _interval(value: int | float, name: str) -> float:
    """A number of seconds a client waits: finite and > 0 (python-auditor's error code)."""
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(
            f"{_INVALID_TIME_INTERVAL}: {name} must be a finite number of seconds > 0, "
            f"got {value!r}"
        )
    return float(value)


def _size(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (bytes), got {type(value).__name__}")
    if value < _MIN_SIZE_BOUND:
        raise ConfigurationError(f"{name} must be at least {_MIN_SIZE_BOUND} bytes, got {value!r}")
    return value


class AuditorClientBuilder:
    """Configure and build AUDITOR clients.

    Every setter changes the builder and returns it, so calls chain; one builder can build
    several clients.  Defaults: ``127.0.0.1:8080``, a 30 s timeout, a 60 s send interval and an
    in-memory queue, as in python-auditor.

    Example::

        client = AuditorClientBuilder().address("localhost", 8000).timeout(20).build()
        blocking = AuditorClientBuilder().connection_string("http://localhost:8000").build_blocking()
        queued = await AuditorClientBuilder().database_path("/var/lib/collector/queue.db").build_queued()
    """

    __slots__ = (
        "_address",
        "_async_transport",
        "_database_path",
        "_give_up",
        "_max_answer",
        "_max_record",
        "_retry",
        "_send_interval",
        "_timeout",
        "_tls",
        "_transport",
    )

    def __init__(self) -> None:
        self._address = "127.0.0.1:8080"
        self._timeout: int | float = 30.0
        self._send_interval: int | float = 60.0
        self._database_path: str | None = None
        self._tls: TLSFiles | None = None
        self._retry: RetryPolicy | None = None  # None: the defaults (the queue has its own)
        self._give_up: GiveUp | None = None
        self._max_answer = DEFAULT_MAX_ANSWER_BYTES
        self._max_record = MAX_RECORD_BYTES
        self._transport: httpx.BaseTransport | None = None
        self._async_transport: httpx.AsyncBaseTransport | None = None

    def __repr__(self) -> str:
        tls = ", tls" if self._tls is not None else ""
        return f"<AuditorClientBuilder {self._address!r} timeout={self._timeout:g}s{tls}>"

    def address(self, address: str, port: int) -> AuditorClientBuilder:
        """Set the host name or IP address and the port of the AUDITOR server.

        An IPv6 address may be given with or without brackets (``"::1"`` or ``"[::1]"``).  This
        and :meth:`connection_string` replace each other: the last call wins.

        Args:
            address: Host name or IP address of the AUDITOR instance.
            port: Port of the AUDITOR instance (0 to 65535).
        """
        if not isinstance(address, str):
            raise TypeError(f"'{type(address).__name__}' object is not an instance of 'str'")
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
        if port > 65535:
            raise OverflowError("number too large to fit in target type")
        if port < 0:
            raise OverflowError("number too small to fit in target type")
        if address.count(":") >= 2 and not address.startswith("[") and "://" not in address:
            address = f"[{address}]"
        self._address = f"{address}:{port}"
        return self

    def connection_string(self, connection_string: str) -> AuditorClientBuilder:
        """Set the server's URL, for example ``"http://localhost:8000"``.

        Without a scheme, ``http://`` is assumed (``https://`` after :meth:`with_tls`).  A path
        prefix (``http://host/auditor``) is kept; trailing slashes are ignored.  This and
        :meth:`address` replace each other: the last call wins.
        """
        if not isinstance(connection_string, str):
            raise TypeError(
                f"'{type(connection_string).__name__}' object is not an instance of 'str'"
            )
        self._address = connection_string
        return self

    def timeout(self, timeout: float) -> AuditorClientBuilder:
        """Set the timeout of an HTTP request in seconds (default 30).

        It bounds a whole request in every phase: connecting, sending, waiting for the answer
        and reading it, so a server that answers byte by byte cannot hold the caller longer.
        In the streaming API (``iter_records``) it bounds the opening of the stream and then
        the wait for each chunk, so that a long result is not cut off (``iter_records`` takes
        a ``total_timeout`` for the whole stream).  Fractions of a second are accepted; the
        value must be finite and > 0 (checked when the client is built).  In the blocking
        clients, resolving the host name is not covered (the system resolver cannot be
        interrupted).
        """
        self._timeout = _seconds(timeout)
        return self

    def send_interval(self, interval: float) -> AuditorClientBuilder:
        """Set how often, in seconds, the queued client sends what it holds (default 60).

        Only relevant to :class:`QueuedAuditorClient`; finite and > 0.
        """
        self._send_interval = _seconds(interval)
        return self

    def max_answer_size(self, max_bytes: int) -> AuditorClientBuilder:
        """Bound the size of an answer the client reads whole (default 8 MiB).

        Write answers, single records, health checks and error answers are read whole; one
        that grows past ``max_bytes`` (after decompression) raises
        :class:`ResponseTooLargeError` (an error answer is cut there and raised as its status
        error), so a broken or hostile server cannot fill the client's memory.  AUDITOR
        refuses request bodies over 2 MiB, so no stored record comes near the default.
        """
        self._max_answer = _size(max_bytes, "max_answer_size")
        return self

    def max_record_size(self, max_bytes: int) -> AuditorClientBuilder:
        """Bound the size of one record of a streamed result (default 16 MiB).

        ``get``, ``advanced_query`` and ``iter_records`` decode results of any length record
        by record as they arrive; a single record larger than ``max_bytes`` (after
        decompression) raises :class:`ResponseTooLargeError` once that much of it arrived, so a
        broken or hostile stream cannot fill the client's memory.  AUDITOR refuses request
        bodies over 2 MiB, so no record it stores comes near the default.
        """
        self._max_record = _size(max_bytes, "max_record_size")
        return self

    def transport(
        self, transport: httpx.BaseTransport | httpx.AsyncBaseTransport
    ) -> AuditorClientBuilder:
        """Send every request through this httpx transport (tests, proxies, custom networks).

        An :class:`httpx.BaseTransport` serves the blocking clients, an
        :class:`httpx.AsyncBaseTransport` the async ones; call this once for each kind you
        need (:class:`httpx.MockTransport` is both).  The transport stays yours: closing a
        client does not close it.  The async client uses it from every event loop it runs in.

        Example::

            def handler(request: httpx.Request) -> httpx.Response:
                return httpx.Response(200)

            client = AuditorClientBuilder().transport(httpx.MockTransport(handler)).build_blocking()
            proxied = (
                AuditorClientBuilder()
                .address("auditor.example.org", 8000)
                .transport(httpx.HTTPTransport(proxy="http://proxy.example.org:3128"))
                .build_blocking()
            )

        Raises:
            TypeError: ``transport`` is neither kind of httpx transport.
        """
        known = False
        if isinstance(transport, httpx.BaseTransport):
            self._transport = transport
            known = True
        if isinstance(transport, httpx.AsyncBaseTransport):
            self._async_transport = transport
            known = True
        if not known:
            raise TypeError(
                "transport must be an httpx.BaseTransport or httpx.AsyncBaseTransport, "
                f"got {type(transport).__name__}"
            )
        return self

    def database_path(self, path: str | os.PathLike[str]) -> AuditorClientBuilder:
        """Set the SQLite file that holds the queued client's records until they are sent.

        Only relevant to :class:`QueuedAuditorClient`.  Without it the queue lives in memory and
        records still queued are lost when the process ends; always set it in production.
        ``sqlite://`` URLs and ``:memory:`` are understood as in python-auditor.
        """
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"'{type(path).__name__}' object is not an instance of 'str'")
        self._database_path = os.fspath(path)
        return self

    def with_tls(
        self,
        client_cert_path: str | os.PathLike[str],
        client_key_path: str | os.PathLike[str],
        ca_cert_path: str | os.PathLike[str],
    ) -> AuditorClientBuilder:
        """Use HTTPS with a client certificate (AUDITOR's TLS listener requires one).

        The argument order is python-auditor's: client certificate, client key, CA certificate
        (older documentation lists the CA first; passing keywords avoids the confusion).  The
        files are checked when the client is built: missing, unreadable or swapped files raise
        :class:`ConfigurationError` then.  The server's certificate is always verified against
        ``ca_cert_path`` and its host name.

        Args:
            client_cert_path: PEM file with the client certificate (and optionally its chain).
            client_key_path: PEM file with the client's unencrypted private key.
            ca_cert_path: PEM file with the CA certificate(s) that signed the server.
        """
        self._tls = TLSFiles(client_cert_path, client_key_path, ca_cert_path)
        return self

    def retries(
        self,
        max_retries: int = 2,
        *,
        initial_delay: float = 0.5,
        max_delay: float = 8.0,
    ) -> AuditorClientBuilder:
        """Configure how reads are retried after connection errors, timeouts and 5xx answers.

        ``max_retries=0`` turns retrying off.  Waits grow exponentially from ``initial_delay``
        up to ``max_delay`` seconds, with jitter; a ``Retry-After`` header on a 429 or 503
        answer is honoured when it asks for at most 60 s and no more than the timeout.  Writes
        are never retried by the direct clients.  The queued clients retry writes safely and
        for as long as it takes (see :meth:`queue_give_up`): there ``initial_delay`` and
        ``max_delay`` set the backoff between failed delivery passes (default: 1 s doubling up
        to the send interval), never longer than the send interval.

        Raises:
            ConfigurationError: a negative count, or a delay that is not a finite number >= 0.
        """
        try:
            self._retry = RetryPolicy(max_retries, initial_delay, max_delay)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        return self

    def queue_give_up(
        self, *, max_attempts: int | None = None, max_age: float | None = None
    ) -> AuditorClientBuilder:
        """Let the queued clients stop retrying a record and keep it as a dead letter.

        Off by default: a queued record is retried until the server takes it, however long
        that takes (a record the server can never store, such as one it answers with a 5xx
        alone while it stores others, becomes a dead letter anyway).  With this, a record
        that failed ``max_attempts`` delivery attempts, or that is still queued ``max_age``
        seconds after it was queued, moves to the dead letters with the last error
        (``dead_letters()``, ``retry_dead_letters()``).  Only relevant to the queued clients.

        Raises:
            ConfigurationError: ``max_attempts`` is not an int >= 1, ``max_age`` not > 0.
        """
        from ._queue import GiveUp

        self._give_up = GiveUp(max_attempts, max_age)
        return self

    def _settings(self) -> ClientSettings:
        timeout = _interval(self._timeout, "timeout")
        url = base_url(self._address, tls=self._tls is not None)
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise ConfigurationError(
                f"{self._address!r} is not a usable server address: {error}"
            ) from None
        scheme = _SCHEME(self._address)
        if (
            parsed.scheme not in ("http", "https")
            or (scheme is not None and scheme[1].lower() not in ("http", "https"))
            or not _HOST(parsed.host)
        ):
            raise ConfigurationError(
                f"{self._address!r} is not a usable server address "
                "(expected http://host:port, https://host:port or host:port)"
            )
        if self._tls is not None and parsed.scheme != "https":
            raise ConfigurationError(
                f"with_tls() needs an https:// address, but the address is {self._address!r}: "
                "records would go in clear text without the client certificate "
                "(drop the scheme or write https://)"
            )
        context = create_ssl_context(self._tls) if self._tls is not None else None
        return ClientSettings(
            base_url=url,
            timeout=timeout,
            ssl_context=context,
            retry=self._retry or RetryPolicy(),
            max_answer_bytes=self._max_answer,
            max_record_bytes=self._max_record,
            queue=QueueSettings(
                database_path=self._database_path,
                send_interval=self._send_interval,
                retry=self._retry,
                give_up=self._give_up,
            ),
            transport=self._transport,
            async_transport=self._async_transport,
        )

    def _direct(self, settings: ClientSettings) -> AuditorClient:
        if settings.async_transport is None and settings.transport is not None:
            raise ConfigurationError(
                f"the transport {settings.transport!r} is blocking (httpx.BaseTransport); "
                "the async client needs an httpx.AsyncBaseTransport: pass one to transport() too"
            )
        return AuditorClient(_settings=settings)

    def _blocking(self, settings: ClientSettings) -> AuditorClientBlocking:
        if settings.transport is None and settings.async_transport is not None:
            raise ConfigurationError(
                f"the transport {settings.async_transport!r} is async "
                "(httpx.AsyncBaseTransport); the blocking client needs an httpx.BaseTransport: "
                "pass one to transport() too"
            )
        return AuditorClientBlocking(_settings=settings)

    def _queue(self, settings: ClientSettings) -> QueueSettings:
        queue = settings.queue
        return attrs.evolve(queue, send_interval=_interval(queue.send_interval, "send_interval"))

    def build(self) -> AuditorClient:
        """Build an :class:`AuditorClient` (async).

        Raises:
            ConfigurationError: a timeout that is not finite and > 0, an unusable address or
                TLS files, ``with_tls`` with an ``http://`` address, only a blocking transport.
        """
        return self._direct(self._settings())

    def build_blocking(self) -> AuditorClientBlocking:
        """Build an :class:`AuditorClientBlocking` (no event loop needed).

        Raises:
            ConfigurationError: as :meth:`build` (only an async transport, here).
        """
        return self._blocking(self._settings())

    async def build_queued(self) -> QueuedAuditorClient:
        """Build a :class:`QueuedAuditorClient` and start its background sender.

        Await it inside a running event loop, as with python-auditor.  The queue file given to
        :meth:`database_path` is opened (created owner-only if missing, imported if
        python-auditor wrote it); the first delivery starts right away.

        Raises:
            ConfigurationError: as :meth:`build`; a send interval that is not finite and > 0,
                an unusable database path.
            QueueError: the queue file cannot be created, opened or migrated.
        """
        settings = self._settings()
        queue = self._queue(settings)
        return await QueuedAuditorClient._start(
            self._direct(settings),
            database_path=queue.database_path,
            send_interval=queue.send_interval,
            stop_timeout=settings.timeout,
            retry=queue.retry,
            give_up=queue.give_up,
        )

    def build_queued_blocking(self) -> QueuedAuditorClientBlocking:
        """Build a :class:`QueuedAuditorClientBlocking`: the queued client without ``await``.

        Beyond python-auditor, for synchronous collectors; it delivers from a thread of its own.

        Raises:
            ConfigurationError, QueueError: as :meth:`build_queued`; it needs both kinds of
                transport when one is given (it delivers with the async client).
        """
        settings = self._settings()
        queue = self._queue(settings)
        return QueuedAuditorClientBlocking._start(
            self._direct(settings),
            self._blocking(settings),
            database_path=queue.database_path,
            send_interval=queue.send_interval,
            stop_timeout=settings.timeout,
            retry=queue.retry,
            give_up=queue.give_up,
        )
