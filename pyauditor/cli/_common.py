"""What every subcommand shares: server options, clients, timestamps, errors, output.

Errors a user can fix are reported as one line on stderr, never as a traceback: a subcommand
raises :class:`CommandError` (exit status 1) or :class:`UsageError` (exit status 2), and
:func:`pyauditor.cli.main` prints it, in the command's words (:func:`cli_words`: ``--cert``
where the library says ``client_cert_path``).

The command uses only pyauditor's public API, and imports :mod:`pyauditor.testing` only for
``serve`` and ``demo``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TextIO, TypeVar

from .. import AuditorClient, AuditorClientBlocking, AuditorClientBuilder, ConfigurationError

__all__ = [
    "ENV_URL",
    "CommandError",
    "UsageError",
    "add_server_options",
    "async_client",
    "blocking_client",
    "builder",
    "cli_words",
    "has_scheme",
    "health_failure",
    "int_at_least",
    "parse_time",
    "positive_int",
    "resolve_url",
    "run_async",
    "seconds",
    "sigint_deferred",
]

_T = TypeVar("_T")

ENV_URL = "AUDITOR_URL"
"""The environment variable that supplies the server URL when a command is given none."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


class CommandError(Exception):
    """The command failed (exit status 1); the message is one line for stderr."""


class UsageError(Exception):
    """The command line cannot work (exit status 2); the message is one line for stderr.

    Attributes:
        prog: The (sub)command whose usage is wrong, when argparse found the problem.
    """

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


def has_scheme(text: str) -> bool:
    """Whether ``text`` starts with a URL scheme (``http://``, ``https://``, ...)."""
    return _SCHEME.match(text) is not None


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (a timeout or a time limit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def int_at_least(minimum: int, what: str = "an integer") -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``; ``what`` names the expected value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}: {text!r}")
        return value

    return parse


positive_int = int_at_least(1)
"""argparse type: an integer >= 1."""


def parse_time(text: str) -> _dt.datetime:
    """argparse type: a date or date-time for a query, as an aware UTC datetime.

    Accepted: RFC 3339 / ISO 8601 date-times (``2024-05-01T10:00:00Z``,
    ``2024-05-01 12:00+02:00``) and dates (``2024-05-01``, meaning midnight).  A date-time
    without an offset, and a date, are taken as UTC: AUDITOR stores UTC, and a command line
    that meant something else than the server's clock has to say so.
    """
    try:
        value = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or date-time: {text!r} (expected for example 2024-05-01 or "
            "2024-05-01T10:00:00Z)"
        ) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.UTC)
    return value.astimezone(_dt.UTC)


_TIMEOUT_HELP = "timeout of each HTTP request in seconds (default 30)"


def add_server_options(
    parser: argparse.ArgumentParser, *, timeout_help: str = _TIMEOUT_HELP
) -> None:
    """Add ``--timeout``, ``--retries`` and the TLS options of a command that takes a URL.

    ``timeout_help`` says what the timeout bounds for this command.
    """
    group = parser.add_argument_group("server connection")
    group.add_argument(
        "--timeout", type=seconds, default=30.0, metavar="SECONDS", help=timeout_help
    )
    group.add_argument(
        "--retries",
        type=int_at_least(0, "a whole number of retries"),
        default=2,
        metavar="N",
        help="retries of reads after connection errors, timeouts and 5xx answers (default 2)",
    )
    group.add_argument(
        "--cert", metavar="PEM", help="client certificate for mutual TLS (with --key and --ca)"
    )
    group.add_argument("--key", metavar="PEM", help="the client certificate's private key")
    group.add_argument("--ca", metavar="PEM", help="CA certificate that signed the server's")


def resolve_url(url: str | None) -> str:
    """The URL given on the command line, else ``$AUDITOR_URL``.

    Raises:
        UsageError: neither is set.
    """
    if url:
        return url
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return env
    raise UsageError(f"no server URL: give one (e.g. http://localhost:8000) or set {ENV_URL}")


def builder(args: argparse.Namespace, url: str) -> AuditorClientBuilder:
    """A client builder configured from the server options and ``url``.

    Raises:
        UsageError: incomplete TLS options, TLS options with an ``http://`` URL, or a
            negative retry count.
    """
    tls = (args.cert, args.key, args.ca)
    result = AuditorClientBuilder().connection_string(url).timeout(args.timeout)
    result.retries(args.retries)
    if any(tls):
        if not all(tls):
            raise UsageError("mutual TLS needs all three of --cert, --key and --ca")
        if url.lower().startswith("http://"):
            raise UsageError(f"--cert/--key/--ca need an https:// URL, got {url}")
        result.with_tls(client_cert_path=args.cert, client_key_path=args.key, ca_cert_path=args.ca)
    return result


def blocking_client(args: argparse.Namespace, url: str) -> AuditorClientBlocking:
    """A blocking client for ``url`` configured from the server options.

    Raises:
        UsageError: the URL or the TLS files cannot be used.
    """
    try:
        return builder(args, url).build_blocking()
    except ConfigurationError as error:
        raise UsageError(cli_words(str(error))) from None


def async_client(args: argparse.Namespace, url: str) -> AuditorClient:
    """An async client for ``url`` configured from the server options.

    Raises:
        UsageError: the URL or the TLS files cannot be used.
    """
    try:
        return builder(args, url).build()
    except ConfigurationError as error:
        raise UsageError(cli_words(str(error))) from None


class HealthFailure(logging.Handler):
    """Catches why ``health_check`` said False (it logs the reason instead of raising)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._reason = ""

    @property
    def reason(self) -> str:
        """Why the last health check failed, in the command's words."""
        return cli_words(self._reason or "no 2xx answer")

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "health check failed: %s" and isinstance(record.args, tuple):
            self._reason = str(record.args[0])


@contextlib.contextmanager
def health_failure() -> Iterator[HealthFailure]:
    """Catch the reason of a failed ``health_check`` in the block (see :class:`HealthFailure`)."""
    catcher = HealthFailure()
    logger = logging.getLogger("pyauditor")
    level = logger.level
    logger.addHandler(catcher)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield catcher
    finally:
        logger.removeHandler(catcher)
        logger.setLevel(level)


def stderr_is_terminal(stream: TextIO | None = None) -> bool:
    """Whether progress output may be drawn (stderr is an interactive terminal)."""
    stream = stream if stream is not None else sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# The library's messages name its own arguments; the command's user knows its options.  Longer
# phrases first: they contain the shorter ones.
_CLI_WORDS = (
    (
        "python-auditor's order is with_tls(client_cert_path, client_key_path, ca_cert_path); "
        "older documentation lists the CA first",
        "--cert takes the client certificate, --key its private key, --ca the CA certificate",
    ),
    ("with_tls()", "--cert, --key and --ca"),
    ("client_cert_path", "--cert"),
    ("client_key_path", "--key"),
    ("ca_cert_path", "--ca"),
    ("call pyauditor.allow_forbidden_characters()", "use --allow-forbidden-characters"),
    ("pyauditor.allow_forbidden_characters()", "--allow-forbidden-characters"),
    ("database_path", "the queue file"),
)


def cli_words(message: str) -> str:
    """``message`` (a library error's) with the library's argument names as the CLI's options."""
    for library, command in _CLI_WORDS:
        message = message.replace(library, command)
    return message


def _hold_sigint() -> Callable[[], None]:
    """Block SIGINT now; the returned function restores the mask as it was (idempotent)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        return lambda: None
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    return release


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back during the block; it takes effect (KeyboardInterrupt) right after it.

    For steps that must not be cut in half: an event loop interrupted while it is being made or
    closed is left half-built, and Python then prints its failure to clean up as a traceback.
    """
    release = _hold_sigint()
    try:
        yield
    finally:
        release()


def run_async(main: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """``asyncio.run(main())``, with Ctrl-C at any moment ending in a plain KeyboardInterrupt.

    While the coroutine runs, asyncio turns Ctrl-C into its cancellation (its clean-up runs),
    then raises KeyboardInterrupt.  Ctrl-C stays held back from before the loop is made until
    the main task's first step, when asyncio's own handler is in place: a Ctrl-C in between
    would otherwise destroy a task that never ran ("Task was destroyed but it is pending").
    It is held back again while the loop is closed.
    """
    release = _hold_sigint()
    try:
        runner = asyncio.Runner()
        runner.get_loop()

        async def entered() -> _T:
            release()  # from here on asyncio's handler turns Ctrl-C into this task's cancellation
            return await main()

        try:
            return runner.run(entered())
        finally:
            with sigint_deferred():
                runner.close()
    finally:
        release()
