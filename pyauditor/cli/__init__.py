"""The ``pyauditor`` command: AUDITOR from the shell, for site operators.

::

    pyauditor serve [--port 8000] [--db FILE] [--tls-cert F --tls-key F --tls-ca F]
    pyauditor health [URL]
    pyauditor send [URL] [FILE ...]                 JSON, JSON array or NDJSON; - or none: stdin
    pyauditor query [URL] [filters] [--sort FIELD[:desc]] [--limit N]
                    [--format table|json|ndjson|csv]
    pyauditor get [URL] RECORD_ID
    pyauditor queue status PATH [--all] [--json]      a collector's queue file, read-only
    pyauditor queue flush PATH [URL] [--retry-dead-letters]
    pyauditor demo [URL]

Also ``python -m pyauditor``.  Every command that talks to a server takes ``--timeout``,
``--retries`` and, for mutual TLS, ``--cert``, ``--key`` and ``--ca``; without a URL argument it
uses the environment variable ``AUDITOR_URL``.  ``pyauditor COMMAND --help`` describes each
command.

Exit status: 0 success, 1 failure (the server, the network, rejected records, ...), 2 wrong
usage.  Failures are reported as one line on stderr; ``-v`` adds the library's log.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import BinaryIO, TextIO

from .._errors import AuditorError
from .._version import __version__
from ..testing.__main__ import add_server_arguments, serve
from ._common import (
    ENV_URL,
    CommandError,
    UsageError,
    add_server_options,
    blocking_client,
    builder,
    has_scheme,
    parse_time,
    positive_int,
    resolve_url,
    stderr_is_terminal,
)
from ._query import FORMATS, add_filter_options, build_query, write_record, write_records
from ._queue import add_queue_parser, run_flush, run_status
from ._send import run_send

__all__ = ["main"]

_PROG = "pyauditor"
_URL_HELP = f"server URL, e.g. http://localhost:8000 (default: ${ENV_URL})"


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors raised instead of exiting, so main() returns the status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)", self.prog)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_PROG,
        description=(
            "Talk to an AUDITOR accounting server: check it, send records, query them, drain "
            "a collector's queue, or run an embedded server."
        ),
        epilog=(
            f"Commands that take a URL fall back to ${ENV_URL}. Exit status: 0 success, "
            "1 failure, 2 wrong usage."
        ),
    )
    parser.add_argument("--version", action="version", version=f"pyauditor {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log what the library does to stderr (-vv: every request)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    serve_parser = commands.add_parser(
        "serve",
        help="run the embedded AUDITOR-compatible server (pyauditor.testing)",
        description=(
            "Serve AUDITOR 0.11's REST API from an embedded SQLite database, for trying "
            "things out and for testing collectors. Runs until Ctrl-C or SIGTERM."
        ),
    )
    add_server_arguments(serve_parser)

    health = commands.add_parser(
        "health",
        help="check that a server is up (exit 0) or not (exit 1)",
        description="Ask the server's /health_check; exit 0 when it answers 2xx, else 1.",
    )
    health.add_argument("url", nargs="?", metavar="URL", help=_URL_HELP)
    add_server_options(health)

    send = commands.add_parser(
        "send",
        help="validate records from JSON files (or stdin) and bulk insert them",
        usage="pyauditor send [options] [URL] [FILE ...]",
        description=(
            "Read records from JSON files: an array of records, one record per line (NDJSON), "
            "or records one after another. FILE - or no FILE reads stdin. Each record has the "
            "keys of Record.to_json(): record_id, start_time (RFC 3339 with offset), "
            "stop_time, meta, components (runtime is ignored). Valid records are sent in "
            "batches; when a batch is refused because a record already exists, the server is "
            "asked which ids it has (then the batch is split if needed), every other record "
            "is stored, and those are counted as duplicates, so sending the same files again "
            "is safe and cheap. Invalid records are reported and skipped."
        ),
        epilog=(
            f"When ${ENV_URL} is set, URL may be left out; the first argument is then taken as "
            "the URL only if it starts with http:// or https://. Exit status 0 when every "
            "record is stored (or already was), 1 when a record was invalid or refused, or "
            "the server failed."
        ),
    )
    send.add_argument("targets", nargs="*", metavar="URL FILE", help=argparse.SUPPRESS)
    send.add_argument(
        "--batch-size",
        type=positive_int,
        default=1000,
        metavar="N",
        help="records per request (default 1000; never more than 2 MiB)",
    )
    send.add_argument(
        "--no-progress", action="store_true", help="no progress bar, even on a terminal"
    )
    send.add_argument(
        "--allow-forbidden-characters",
        action="store_true",
        help='accept / ( ) " < > \\ { } in names (AUDITOR 0.7 and newer store them)',
    )
    add_server_options(send)

    query = commands.add_parser(
        "query",
        help="stream the records matching filters as a table, JSON, NDJSON or CSV",
        description=(
            "Query records with the query DSL and write them as they arrive (memory stays "
            "bounded). After means at or after, before means strictly before; times without "
            "an offset are UTC."
        ),
    )
    query.add_argument("url", nargs="?", metavar="URL", help=_URL_HELP)
    add_filter_options(query, parse_time)
    query.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default), json (an array), ndjson (one record per line; send reads it "
        "back) or csv",
    )
    add_server_options(query)

    get = commands.add_parser(
        "get",
        help="print one record as JSON",
        usage="pyauditor get [options] [URL] RECORD_ID",
        description="Print the record with this id as indented JSON; exit 1 if there is none.",
    )
    get.add_argument("targets", nargs="+", metavar="URL RECORD_ID", help=argparse.SUPPRESS)
    add_server_options(get)

    add_queue_parser(commands, _Parser, _URL_HELP, add_server_options)

    demo = commands.add_parser(
        "demo",
        help="send a day of job records through the queued client and print an accounting summary",
        description=(
            "The main job of `make demo`: starts the embedded server (or uses URL / "
            f"${ENV_URL}), sends a realistic batch of job records through the queued client, "
            "queries them back with the query DSL and prints core-hours and HEPSPEC06-hours "
            "per site and group."
        ),
    )
    demo.add_argument(
        "url", nargs="?", metavar="URL", help=f"server to use (default: ${ENV_URL}, else embedded)"
    )
    demo.add_argument(
        "--jobs", type=positive_int, default=600, metavar="N", help="jobs to send (default 600)"
    )
    add_server_options(demo)
    return parser


# -- the commands ------------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        serve(args)
    except ValueError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise CommandError(f"cannot start: {error}") from None
    return 0


class _HealthFailure(logging.Handler):
    """Catches why ``health_check`` said False (it logs the reason instead of raising)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reason = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "health check failed: %s" and isinstance(record.args, tuple):
            self.reason = str(record.args[0])


def _cmd_health(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    url = resolve_url(args.url)
    catcher = _HealthFailure()
    logger = logging.getLogger("pyauditor")
    level = logger.level
    logger.addHandler(catcher)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        with blocking_client(args, url) as client:
            healthy = client.health_check()
    finally:
        logger.removeHandler(catcher)
        logger.setLevel(level)
    if not healthy:
        raise CommandError(f"{url} is not healthy: {catcher.reason or 'no 2xx answer'}")
    print(f"{url} is healthy", file=out)
    return 0


def _looks_like_a_file(text: str) -> bool:
    return text == "-" or (not has_scheme(text) and os.path.exists(text))


def _cmd_send(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: BinaryIO | None) -> int:
    targets: list[str] = list(args.targets)
    if targets and (has_scheme(targets[0]) or not os.environ.get(ENV_URL, "").strip()):
        url = targets.pop(0)
        if _looks_like_a_file(url):
            raise UsageError(
                f"{url!r} is a file, not a server URL: give the URL first or set ${ENV_URL}"
            )
    else:
        url = resolve_url(None)
    if args.allow_forbidden_characters:
        from .._validation import allow_forbidden_characters

        allow_forbidden_characters()
    for path in targets:
        if path != "-" and not os.path.isfile(path):
            raise UsageError(f"no such file: {path}")
    if (not targets or "-" in targets) and stdin is None and sys.stdin.isatty():
        # Otherwise the command would seem to hang, waiting for input nobody is typing.
        print("reading records from the terminal; end with Ctrl-D", file=err)
    with blocking_client(args, url) as client:
        return run_send(
            client,
            targets,
            batch_size=args.batch_size,
            out=out,
            err=err,
            stdin=stdin if stdin is not None else sys.stdin.buffer,
            show_progress=not args.no_progress and stderr_is_terminal(err),
        )


def _cmd_query(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    url = resolve_url(args.url)
    query = build_query(args)
    with blocking_client(args, url) as client:
        write_records(client.iter_records(query), args.format, out)
    return 0


def _cmd_get(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    targets: list[str] = args.targets
    if len(targets) > 2:
        raise UsageError("expected [URL] RECORD_ID")
    url = resolve_url(targets[0] if len(targets) == 2 else None)
    record_id = targets[-1]
    # The records query rather than GET /record/{id}: AUDITOR answers an unknown id there with
    # 500, which looks like (and is retried like) a server failure; the query answers nothing.
    from .._query import QueryBuilder

    query = QueryBuilder().with_record_id(record_id).build()
    with blocking_client(args, url) as client:
        for record in client.iter_records(query):
            write_record(record, out)
            return 0
    raise CommandError(f"no record {record_id!r} on {url}")


def _cmd_queue(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.queue_command == "status":
        return run_status(args.path, show_all=args.all, as_json=args.json, out=out)
    url = resolve_url(args.url)
    blocking_client(args, url).close()  # an unusable URL or TLS option is a usage error
    return run_flush(
        args.path,
        lambda: builder(args, url),
        retry_dead_letters=args.retry_dead_letters,
        max_time=args.max_time,
        verbose=args.verbose > 0,
        out=out,
    )


def _cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .._demo import run_demo

    url = args.url or os.environ.get(ENV_URL, "").strip() or None
    # Checked up front, so a bad TLS option fails before the embedded server starts.
    builder(args, url or "http://localhost")
    return run_demo(url, jobs=args.jobs, out=out, make_builder=lambda u: builder(args, u))


# -- main --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _logging(verbosity: int, err: TextIO) -> Iterator[None]:
    """Send the library's log to ``err`` for this run: warnings, more with ``-v``."""
    logger = logging.getLogger("pyauditor")
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("pyauditor: %(levelname)s: %(message)s"))
    saved = logger.level, logger.propagate
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity else logging.WARNING
    # The handler filters too: a command may lower the logger's level to catch a message
    # (health) without printing it.
    handler.setLevel(level)
    logger.setLevel(level)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: BinaryIO | None = None,
) -> int:
    """Run the ``pyauditor`` command and return its exit status (0, 1 or 2).

    Args:
        argv: The arguments (default ``sys.argv[1:]``).
        stdout: Where output goes (default ``sys.stdout``).
        stderr: Where errors and progress go (default ``sys.stderr``).
        stdin: What ``send`` reads for ``-`` (default ``sys.stdin.buffer``).
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    parser = _parser()
    command = _PROG
    try:
        try:
            # argparse prints --help and --version to sys.stdout itself.
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help and --version
            return exit_.code if isinstance(exit_.code, int) else 0
        command = f"{_PROG} {args.command}"
        with _logging(args.verbose, err):
            if args.command == "serve":
                return _cmd_serve(args, out, err)
            if args.command == "health":
                return _cmd_health(args, out, err)
            if args.command == "send":
                return _cmd_send(args, out, err, stdin)
            if args.command == "query":
                return _cmd_query(args, out, err)
            if args.command == "get":
                return _cmd_get(args, out, err)
            if args.command == "queue":
                return _cmd_queue(args, out, err)
            if args.command == "demo":
                return _cmd_demo(args, out, err)
            raise UsageError(f"unknown command {args.command!r}")
    except UsageError as error:
        print(f"{error.prog or command}: error: {error}", file=err)
        return 2
    except (CommandError, AuditorError, OSError) as error:
        if isinstance(error, BrokenPipeError):
            return _broken_pipe()
        print(f"{command}: error: {error}", file=err)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=err)
        return 130


def _broken_pipe() -> int:
    # The reader of our output went away (`pyauditor query ... | head`): stop quietly, and
    # point stdout at /dev/null so the interpreter's final flush does not complain.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 1
