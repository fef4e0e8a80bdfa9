"""The public embedded server: :class:`AuditorTestServer`."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from ._app import App
from ._faults import Action, Fault, FaultRules
from ._http import Exchange, Listener, Timeouts
from ._rbac import Enforcer, RbacConfig
from ._store import Store
from ._workers import WorkerPool

__all__ = ["AuditorTestServer", "LoggedRequest", "Outage"]

_log = logging.getLogger("pyauditor.testing")
_BODY_EXCERPT = 65_536

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class LoggedRequest:
    """One request the server answered (or dropped), as kept in :attr:`AuditorTestServer.requests`.

    Attributes:
        method: The HTTP method.
        path: The raw request path, without the query string.
        query: The raw query string (``""`` if there was none).
        status: The status sent, or ``None`` when no answer was sent (a fault dropped it, or
            the request made AUDITOR panic, which drops the connection).
        tls: Whether it came in on the HTTPS listener.
        duration: Seconds from reading the request to the end of the answer.
        request_body: The request body (at most the first 64 KiB).
        request_size: The full size of the request body in bytes.
        response_size: Bytes of response body sent.
        fault: The injected fault that shaped the answer (``"Respond"``, ``"Reset"``, ...), or
            ``None`` for a normal answer.
    """

    method: str
    path: str
    query: str
    status: int | None
    tls: bool
    duration: float
    request_body: bytes
    request_size: int
    response_size: int
    fault: str | None = None


class Outage:
    """A period in which the server does not answer; returned by :meth:`AuditorTestServer.down`.

    Use it as a context manager (the server comes back when the block ends) or call
    :meth:`end`.  With ``seconds`` the server also comes back by itself.
    """

    def __init__(self, server: AuditorTestServer, seconds: float | None) -> None:
        self._server = server
        self._timer: threading.Timer | None = None
        if seconds is not None:
            self._timer = threading.Timer(seconds, server.up)
            self._timer.daemon = True
            self._timer.start()

    def end(self) -> None:
        """Bring the server back now."""
        if self._timer is not None:
            self._timer.cancel()
        self._server.up()

    def __enter__(self) -> Outage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()


def _check_port(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ValueError(f"{name} must be an int from 0 to 65535, got {value!r}")
    return value


def _check_seconds(name: str, value: object) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0 < value < float("inf")
    ):
        raise ValueError(f"{name} must be a positive finite number of seconds, got {value!r}")
    return float(value)


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class AuditorTestServer:
    """An AUDITOR 0.11 compatible server in background threads, for tests and demos.

    It speaks the real HTTP API on real sockets, so any client (pyauditor, python-auditor,
    curl, a collector in a subprocess) can talk to it::

        with AuditorTestServer() as server:
            client = AuditorClientBuilder().connection_string(server.url).build_blocking()
            client.add(record)
            assert server.records()[0]["record_id"] == record.record_id

    Args:
        host: Interface to listen on.
        port: Plain HTTP port; ``0`` picks a free one (see :attr:`port`).
        db: SQLite database file to use (created if missing; several servers and processes
            may share one).  ``None`` (the default) uses a private temporary database that is
            deleted when the server stops.
        tls_cert: Server certificate (PEM).  Giving it turns on the HTTPS listener, which
            requires a client certificate signed by ``tls_ca``, as AUDITOR's does.
        tls_key: Private key of ``tls_cert`` (PEM).
        tls_ca: CA certificate(s) (PEM) that client certificates must chain to.
        tls_port: HTTPS port; ``0`` picks a free one.
        tls_only: Serve HTTPS only, without the plain HTTP listener (AUDITOR itself always keeps
            it open beside the HTTPS one, unauthenticated).  Needs the TLS files.
        ignore_record_exists_error: AUDITOR's ``ignore_record_exists_error`` setting: a
            duplicate is answered ``200`` with a warning instead of ``500 RECORD_EXISTS``.
            In AUDITOR 0.11 it is also what switches RBAC on (see ``rbac_enforced_by``).
        rbac: AUDITOR's ``rbac_config``: policies keyed by the client certificate's CN,
            applied to requests whose scheme is ``https`` (the HTTPS listener, or a
            ``Forwarded``/``X-Forwarded-Proto`` header saying so).  Refused requests get
            ``403`` ``Insufficient permissions`` or ``Access denied by RBAC policy``.  Needs
            the TLS files.
        rbac_enforced_by: Which flag decides whether RBAC runs.  AUDITOR 0.11 reads it from
            ``ignore_record_exists_error`` (a bug: both settings are a ``web::Data<bool>`` and
            the second replaces the first), so by default RBAC is enforced only when that is
            ``True`` -- and with it ``True`` but no enforced ``rbac``, every HTTPS request is
            ``500 Enforcer not initialized``.  ``"enforce_rbac"`` gives the intended behaviour
            (``rbac.enforce_rbac`` decides).
        max_workers: Threads serving connections at once.  Up to four times as many accepted
            connections wait for one; beyond that a connection is answered ``503`` (plain
            HTTP) or closed (HTTPS) at once.
        request_timeout: Seconds a client has to send a whole request (head and body, from its
            first byte) and to finish a TLS handshake, and the longest an answer may stall
            while being sent.  A late request is answered ``408`` and its connection closed.
        keep_alive: Seconds an idle connection is kept open for its next request (actix-web's
            default, 5).
        request_log_size: How many requests :attr:`requests` keeps (oldest dropped first).
        on_exchange: Called (in a server thread) with every finished exchange, the response
            body included; meant for contract checks in tests.  It must not raise.

    Raises:
        ValueError: an argument is out of range or the TLS files are incomplete.
        TypeError: an argument has the wrong type.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: PathLike | None = None,
        tls_cert: PathLike | None = None,
        tls_key: PathLike | None = None,
        tls_ca: PathLike | None = None,
        tls_port: int = 0,
        tls_only: bool = False,
        ignore_record_exists_error: bool = False,
        rbac: RbacConfig | None = None,
        rbac_enforced_by: Literal[
            "ignore_record_exists_error", "enforce_rbac"
        ] = "ignore_record_exists_error",
        max_workers: int = 64,
        request_timeout: float = 30.0,
        keep_alive: float = 5.0,
        request_log_size: int = 1000,
        on_exchange: Callable[[Exchange], None] | None = None,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise TypeError(f"host must be a non-empty str, got {host!r}")
        self._host = host
        self._wanted_port = _check_port("port", port)
        self._wanted_tls_port = _check_port("tls_port", tls_port)
        if db is not None and not isinstance(db, str | os.PathLike):
            raise TypeError(f"db must be a path or None, got {db!r}")
        self._db = db
        tls_files = (tls_cert, tls_key, tls_ca)
        if any(f is not None for f in tls_files) and not all(f is not None for f in tls_files):
            raise ValueError("TLS needs all of tls_cert, tls_key and tls_ca")
        self._tls_files = tls_files if tls_cert is not None else None
        if not isinstance(tls_only, bool):
            raise TypeError("tls_only must be a bool")
        if tls_only and self._tls_files is None:
            raise ValueError("tls_only needs TLS: give tls_cert, tls_key and tls_ca")
        self._tls_only = tls_only
        if rbac is not None and not isinstance(rbac, RbacConfig):
            raise TypeError(f"rbac must be an RbacConfig or None, got {rbac!r}")
        if rbac is not None and self._tls_files is None:
            # AUDITOR loads its policies only with TLS on: RBAC needs client certificates.
            raise ValueError("rbac needs TLS: give tls_cert, tls_key and tls_ca")
        self._rbac = rbac
        if rbac_enforced_by not in ("ignore_record_exists_error", "enforce_rbac"):
            raise ValueError(
                "rbac_enforced_by must be 'ignore_record_exists_error' or 'enforce_rbac',"
                f" got {rbac_enforced_by!r}"
            )
        self._rbac_enforced_by = rbac_enforced_by
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be an int >= 1, got {max_workers!r}")
        self._max_workers = max_workers
        self._timeouts = Timeouts(
            keep_alive=_check_seconds("keep_alive", keep_alive),
            request=_check_seconds("request_timeout", request_timeout),
            write=_check_seconds("request_timeout", request_timeout),
        )
        if not isinstance(ignore_record_exists_error, bool):
            raise TypeError("ignore_record_exists_error must be a bool")
        if not isinstance(request_log_size, int) or request_log_size < 0:
            raise ValueError(f"request_log_size must be an int >= 0, got {request_log_size!r}")
        if on_exchange is not None and not callable(on_exchange):
            raise TypeError("on_exchange must be callable")
        self._ignore_record_exists_error = ignore_record_exists_error
        self._on_exchange = on_exchange
        self._requests: collections.deque[LoggedRequest] = collections.deque(
            maxlen=request_log_size
        )
        self._requests_lock = threading.Lock()
        self._faults = FaultRules()
        self._store: Store | None = None
        self._app: App | None = None
        self._listeners: list[Listener] = []
        self._pool: WorkerPool | None = None
        self._lifecycle = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self._tls_files is None:
            return None
        cert, key, ca = (os.fspath(f) for f in self._tls_files if f is not None)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        context.load_verify_locations(cafile=ca)
        # Mutual TLS is mandatory on AUDITOR's HTTPS listener.
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def start(self) -> AuditorTestServer:
        """Start listening; returns ``self``.  Starting a running server does nothing.

        Raises:
            OSError: the port is in use or the host cannot be bound.
            ssl.SSLError: the TLS files cannot be loaded.
        """
        with self._lifecycle:
            if self._listeners:
                return self
            context = self._ssl_context()
            rbac = self._rbac
            store = Store(self._db)
            app = App(
                store,
                self._faults,
                ignore_record_exists_error=self._ignore_record_exists_error,
                # AUDITOR builds its enforcer only with TLS and enforce_rbac.
                rbac_enforcer=Enforcer(rbac) if rbac is not None and rbac.enforce_rbac else None,
                enforce_rbac=rbac is not None and rbac.enforce_rbac,
                rbac_flag_is_ignore_flag=self._rbac_enforced_by == "ignore_record_exists_error",
            )
            pool = WorkerPool(self._max_workers, 4 * self._max_workers)
            capture = self._on_exchange is not None
            listeners: list[Listener] = []

            def listen(port: int, tls: ssl.SSLContext | None) -> Listener:
                return Listener(
                    self._host,
                    port,
                    app,
                    self._record,
                    tls,
                    capture,
                    pool=pool,
                    timeouts=self._timeouts,
                )

            try:
                if not self._tls_only:
                    listeners.append(listen(self._wanted_port, None))
                if context is not None:
                    listeners.append(listen(self._wanted_tls_port, context))
            except BaseException:
                for listener in listeners:
                    listener.stop()
                pool.stop()
                store.close()
                raise
            self._store, self._app, self._listeners = store, app, listeners
            self._pool = pool
        return self

    def stop(self) -> None:
        """Stop listening, close open connections and release the database.

        A temporary database is deleted; a ``db`` file is kept.  Stopping twice is harmless.
        """
        with self._lifecycle:
            listeners, self._listeners = self._listeners, []
            store, self._store = self._store, None
            app, self._app = self._app, None
            pool, self._pool = self._pool, None
        if app is not None:
            app.stopping.set()
        for listener in listeners:
            listener.stop()
        if pool is not None:
            pool.stop()
        if store is not None:
            store.close()

    @property
    def running(self) -> bool:
        """Whether the server has been started and not stopped."""
        return bool(self._listeners)

    def __enter__(self) -> AuditorTestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> AuditorTestServer:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        if not self.running:
            return "<AuditorTestServer stopped>"
        return f"<AuditorTestServer {self.tls_url if self._tls_only else self.url}>"

    # -- addresses ---------------------------------------------------------------------------

    def _listener(self, tls: bool) -> Listener | None:
        if not self._listeners:
            raise RuntimeError("the server is not running; call start() or use `with`")
        wanted = [
            listener for listener in self._listeners if (listener.ssl_context is not None) == tls
        ]
        return wanted[0] if wanted else None

    @property
    def host(self) -> str:
        """The host the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The plain HTTP port (the real one when ``port=0`` was given).

        Raises:
            RuntimeError: not running, or running with ``tls_only`` (use :attr:`tls_port`).
        """
        listener = self._listener(False)
        if listener is None:
            raise RuntimeError("the server runs with tls_only: use tls_port and tls_url")
        return listener.port

    @property
    def url(self) -> str:
        """``http://host:port``, for ``AuditorClientBuilder().connection_string(...)``.

        Raises:
            RuntimeError: not running, or running with ``tls_only`` (use :attr:`tls_url`).
        """
        return f"http://{_host_for_url(self._host)}:{self.port}"

    @property
    def tls_port(self) -> int | None:
        """The HTTPS port, or ``None`` without TLS."""
        listener = self._listener(True)
        return None if listener is None else listener.port

    @property
    def tls_url(self) -> str | None:
        """``https://host:tls_port``, or ``None`` without TLS."""
        port = self.tls_port
        return None if port is None else f"https://{_host_for_url(self._host)}:{port}"

    @property
    def db_path(self) -> str:
        """The SQLite file holding the records (temporary unless ``db`` was given)."""
        return self._running_store().path

    # -- settings ----------------------------------------------------------------------------

    @property
    def ignore_record_exists_error(self) -> bool:
        """AUDITOR's ``ignore_record_exists_error``; may be changed while running."""
        return self._ignore_record_exists_error

    @ignore_record_exists_error.setter
    def ignore_record_exists_error(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError("ignore_record_exists_error must be a bool")
        self._ignore_record_exists_error = value
        if self._app is not None:
            self._app.ignore_record_exists_error = value

    @property
    def tls_only(self) -> bool:
        """Whether the plain HTTP listener is off (``tls_only=True``)."""
        return self._tls_only

    @property
    def rbac(self) -> RbacConfig | None:
        """The RBAC configuration given, or ``None``."""
        return self._rbac

    @property
    def refused_connections(self) -> int:
        """How many connections were refused (``503`` or closed) because every worker was busy
        and the queue was full, or no thread or file descriptor was left."""
        return sum(listener.refused for listener in self._listeners)

    # -- what is stored ----------------------------------------------------------------------

    def _running_store(self) -> Store:
        store = self._store
        if store is None:
            raise RuntimeError("the server is not running; call start() or use `with`")
        return store

    def records(self) -> list[dict[str, Any]]:
        """Every stored record as the server would send it (parsed JSON), oldest first."""
        return self._running_store().records()

    def record(self, record_id: str) -> dict[str, Any] | None:
        """The stored record with this id, or ``None``."""
        if not isinstance(record_id, str):
            raise TypeError(f"record_id must be a str, got {type(record_id).__name__}")
        text = self._running_store().get(record_id)
        return None if text is None else dict(json.loads(text))

    def count(self) -> int:
        """How many records are stored."""
        return self._running_store().count()

    def clear(self) -> None:
        """Delete every stored record (faults and the request log are kept)."""
        self._running_store().clear()

    # -- request log -------------------------------------------------------------------------

    def _record(self, exchange: Exchange) -> None:
        path, _, query = exchange.target.partition("?")
        entry = LoggedRequest(
            method=exchange.method,
            path=path,
            query=query.split("#", 1)[0],
            status=exchange.status,
            tls=exchange.tls,
            duration=exchange.duration,
            request_body=exchange.request_body[:_BODY_EXCERPT],
            request_size=len(exchange.request_body),
            response_size=exchange.response_size,
            fault=exchange.fault,
        )
        with self._requests_lock:
            self._requests.append(entry)
        if self._on_exchange is not None:
            try:
                self._on_exchange(exchange)
            except Exception:
                _log.exception("on_exchange hook failed")

    @property
    def requests(self) -> list[LoggedRequest]:
        """The most recent requests, oldest first (a snapshot)."""
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the logged requests."""
        with self._requests_lock:
            self._requests.clear()

    # -- faults ------------------------------------------------------------------------------

    def inject(
        self,
        action: Action,
        *,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Make matching requests fail in the way ``action`` describes.

        Args:
            action: A :class:`Respond`, :class:`Reset`, :class:`Close`, :class:`Truncate`,
                :class:`Delay` or :class:`RecordsFormat`.
            method: Only requests with this method (``None``: any).
            path: Only requests with this path: a ``str`` must equal the path (query string
                excluded), a compiled pattern must match all of it (``None``: any).
            times: How many requests to hit; ``None`` until the fault is removed.

        Returns:
            A :class:`Fault` handle (``hits``, ``remaining``, ``remove()``).
        """
        return self._faults.add(action, method, path, times)

    @property
    def faults(self) -> list[Fault]:
        """The injected faults, in the order they are tried."""
        with self._faults.lock:
            return list(self._faults.faults)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    def down(
        self,
        mode: Literal["refuse", "reset", "close"] = "refuse",
        *,
        seconds: float | None = None,
    ) -> Outage:
        """Stop answering until :meth:`up` (or the returned :class:`Outage` ends).

        Args:
            mode: ``"refuse"``: nothing listens, connections are refused.  ``"reset"``:
                connections are accepted and reset at once.  ``"close"``: accepted and closed
                without an answer.  Open connections are dropped in every mode.
            seconds: Come back by itself after this long.
        """
        if mode not in ("refuse", "reset", "close"):
            raise ValueError(f"mode must be 'refuse', 'reset' or 'close', got {mode!r}")
        if seconds is not None and (not isinstance(seconds, int | float) or seconds < 0):
            raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
        if not self._listeners:
            raise RuntimeError("the server is not running; call start() or use `with`")
        for listener in self._listeners:
            listener.go_down(mode)
        return Outage(self, seconds)

    def up(self) -> None:
        """Answer again after :meth:`down`.

        Raises:
            OSError: the port was taken by someone else while the server was down.
        """
        for listener in list(self._listeners):
            with contextlib.suppress(RuntimeError):
                listener.come_up()
