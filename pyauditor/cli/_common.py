"""What every subcommand shares: server options, clients, timestamps, errors, output.

Errors a user can fix are reported as one line on stderr, never as a traceback: a subcommand
raises :class:`CommandError` (exit status 1) or :class:`UsageError` (exit status 2), and
:func:`pyauditor.cli.main` prints it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import sys
from collections.abc import Callable
from typing import TextIO

from .._builder import AuditorClientBuilder
from .._client import AuditorClient, AuditorClientBlocking
from .._errors import ConfigurationError

__all__ = [
    "ENV_URL",
    "CommandError",
    "UsageError",
    "add_server_options",
    "async_client",
    "blocking_client",
    "builder",
    "has_scheme",
    "int_at_least",
    "parse_time",
    "positive_int",
    "resolve_url",
    "seconds",
]

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
    """argparse type: a non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0: {text!r}")
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


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--timeout``, ``--retries`` and the TLS options of a command that takes a URL."""
    group = parser.add_argument_group("server connection")
    group.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="timeout of each HTTP request (default 30; for query: of each chunk of the answer)",
    )
    group.add_argument(
        "--retries",
        type=int,
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
    if args.retries < 0:
        raise UsageError(f"--retries must be >= 0, got {args.retries}")
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
        raise UsageError(str(error)) from None


def async_client(args: argparse.Namespace, url: str) -> AuditorClient:
    """An async client for ``url`` configured from the server options.

    Raises:
        UsageError: the URL or the TLS files cannot be used.
    """
    try:
        return builder(args, url).build()
    except ConfigurationError as error:
        raise UsageError(str(error)) from None


def stderr_is_terminal(stream: TextIO | None = None) -> bool:
    """Whether progress output may be drawn (stderr is an interactive terminal)."""
    stream = stream if stream is not None else sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
