"""AuditorClientBuilder: the one way to configure and create clients, as in python-auditor."""

from __future__ import annotations

import math
import os
import re
import ssl
from typing import TYPE_CHECKING

import attrs
import httpx

from ._errors import ConfigurationError
from ._protocol import RetryPolicy, base_url
from ._tls import TLSFiles, create_ssl_context

if TYPE_CHECKING:
    from ._client import AuditorClient, AuditorClientBlocking
    from ._queue import GiveUp
    from ._queued import QueuedAuditorClient, QueuedAuditorClientBlocking

__all__ = ["AuditorClientBuilder", "ClientSettings"]

_I64_MAX = 2**63 - 1
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://").match
# A DNS name, an IPv4 address or an (unbracketed, as httpx reports it) IPv6 address.
_HOST = re.compile(r"[A-Za-z0-9._~-]+|[0-9A-Fa-f:.]+").fullmatch
_INVALID_TIME_INTERVAL = "INVALID_TIME_INTERVAL"


@attrs.frozen
class ClientSettings:
    """Everything a built client needs, checked and normalised by the builder."""

    base_url: str
    timeout: float
    send_interval: float
    database_path: str | None
    ssl_context: ssl.SSLContext | None
    retry: RetryPolicy


def _seconds(value: object, what: str) -> float:
    """Accept python-auditor's int seconds and, beyond it, floats; keep its overflow errors."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")
    if isinstance(value, int) and not -(2**63) <= value <= _I64_MAX:
        raise OverflowError("Python int too large to convert to C long")
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"{what} must be a number of seconds, got nan")
    return float(value)


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
        "_database_path",
        "_give_up",
        "_queue_retry",
        "_retry",
        "_send_interval",
        "_timeout",
        "_tls",
    )

    def __init__(self) -> None:
        self._address = "127.0.0.1:8080"
        self._timeout: float = 30.0
        self._send_interval: float = 60.0
        self._database_path: str | None = None
        self._tls: TLSFiles | None = None
        self._retry = RetryPolicy()
        # The queued clients' backoff: their own default until retries() is called.
        self._queue_retry: RetryPolicy | None = None
        self._give_up: GiveUp | None = None

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

        It bounds a whole request, connection and body included.  In the streaming API
        (``iter_records``) it bounds the wait for each chunk instead, so that a long result is
        not cut off.  Fractions of a second are accepted.
        """
        self._timeout = _seconds(timeout, "timeout")
        return self

    def send_interval(self, interval: float) -> AuditorClientBuilder:
        """Set how often, in seconds, the queued client sends what it holds (default 60).

        Only relevant to :class:`QueuedAuditorClient`.
        """
        self._send_interval = _seconds(interval, "send_interval")
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
        up to ``max_delay`` seconds, with jitter.  Writes are never retried by the direct
        clients.  The queued clients retry writes safely and for as long as it takes (see
        :meth:`queue_give_up`): there ``initial_delay`` and ``max_delay`` set the backoff
        between failed delivery passes (default: 1 s doubling up to the send interval), never
        longer than the send interval.
        """
        try:
            self._retry = RetryPolicy(max_retries, initial_delay, max_delay)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        self._queue_retry = self._retry
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
        if self._timeout < 0:
            raise ConfigurationError(
                f"{_INVALID_TIME_INTERVAL}: timeout must be >= 0 seconds, got {self._timeout:g}"
            )
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
        context = create_ssl_context(self._tls) if self._tls is not None else None
        return ClientSettings(
            base_url=url,
            timeout=self._timeout,
            send_interval=self._send_interval,
            database_path=self._database_path,
            ssl_context=context,
            retry=self._retry,
        )

    def build(self) -> AuditorClient:
        """Build an :class:`AuditorClient` (async).

        Raises:
            ConfigurationError: negative timeout, unusable address or TLS files.
        """
        from ._client import AuditorClient

        return AuditorClient(_settings=self._settings())

    def build_blocking(self) -> AuditorClientBlocking:
        """Build an :class:`AuditorClientBlocking` (no event loop needed).

        Raises:
            ConfigurationError: negative timeout, unusable address or TLS files.
        """
        from ._client import AuditorClientBlocking

        return AuditorClientBlocking(_settings=self._settings())

    async def build_queued(self) -> QueuedAuditorClient:
        """Build a :class:`QueuedAuditorClient` and start its background sender.

        Await it inside a running event loop, as with python-auditor.  The queue file given to
        :meth:`database_path` is opened (created owner-only if missing, imported if
        python-auditor wrote it); the first delivery starts right away.

        Raises:
            ConfigurationError: negative timeout, a send interval that is not > 0, unusable
                address, TLS files or database path.
            QueueError: the queue file cannot be created, opened or migrated.
        """
        from ._client import AuditorClient
        from ._queued import QueuedAuditorClient

        settings = self._settings()
        return await QueuedAuditorClient._start(
            AuditorClient(_settings=settings),
            database_path=settings.database_path,
            send_interval=settings.send_interval,
            stop_timeout=settings.timeout,
            retry=self._queue_retry,
            give_up=self._give_up,
        )

    def build_queued_blocking(self) -> QueuedAuditorClientBlocking:
        """Build a :class:`QueuedAuditorClientBlocking`: the queued client without ``await``.

        Beyond python-auditor, for synchronous collectors; it delivers from a thread of its own.

        Raises:
            ConfigurationError, QueueError: as :meth:`build_queued`.
        """
        from ._client import AuditorClient, AuditorClientBlocking
        from ._queued import QueuedAuditorClientBlocking

        settings = self._settings()
        return QueuedAuditorClientBlocking._start(
            AuditorClient(_settings=settings),
            AuditorClientBlocking(_settings=settings),
            database_path=settings.database_path,
            send_interval=settings.send_interval,
            stop_timeout=settings.timeout,
            retry=self._queue_retry,
            give_up=self._give_up,
        )
