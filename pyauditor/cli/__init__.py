"""The ``pyauditor`` command: AUDITOR from the shell, for site operators.

::

    pyauditor serve [--port 8000] [--db FILE] [--tls-cert F --tls-key F --tls-ca F]
    pyauditor health [URL] [--json]
    pyauditor send [URL] [FILE ...] [--json] [--errors FILE]    JSON, JSON array or NDJSON
    pyauditor query [URL] [filters] [--sort FIELD[:desc]] [--limit N]
                    [--format table|json|ndjson|csv]
    pyauditor get [URL] RECORD_ID
    pyauditor queue status PATH [--all] [--json]      a collector's queue file, read-only
    pyauditor queue flush PATH [URL] [--retry-dead-letters] [--json]
    pyauditor demo [--json]                          on an embedded server
    pyauditor demo --write-test-data URL             on a real one: writes demo records there

Also ``python -m pyauditor``.  Every command that talks to a server takes ``--timeout``,
``--retries`` and, for mutual TLS, ``--cert``, ``--key`` and ``--ca``; without a URL argument it
uses the environment variable ``AUDITOR_URL``.  ``-v`` (the library's log on stderr) goes
before or after the command.  ``pyauditor COMMAND --help`` describes each command.

Exit status: 0 success, 1 failure (the server, the network, rejected records, ...), 2 wrong
usage, 130 interrupted (Ctrl-C).  Failures are reported as one line on stderr, never as a
traceback; a reader that goes away (``pyauditor query ... | head``) ends the command quietly
with status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import BinaryIO, TextIO

from .. import AuditorError, QueryBuilder, __version__
from ._common import (
    ENV_URL,
    CommandError,
    UsageError,
    add_server_options,
    blocking_client,
    builder,
    cli_words,
    has_scheme,
    health_failure,
    parse_time,
    positive_int,
    resolve_url,
    stderr_is_terminal,
)
from ._query import FORMATS, add_filter_options, build_query, write_record, write_records
from ._queue import add_queue_parser, run_flush, run_status

__all__ = ["main"]

_PROG = "pyauditor"
_URL_HELP = f"server URL, e.g. http://localhost:8000 (default: ${ENV_URL})"
_JSON_HELP = "print a machine-readable summary (one JSON object) instead of text"
_FORBIDDEN_HELP = (
    'allow / ( ) " < > \\ { } in names (AUDITOR 0.7 and newer store them; also '
    "PYAUDITOR_ALLOW_FORBIDDEN_CHARACTERS=1)"
)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors raised instead of exiting, so main() returns the status.

    Every subcommand's parser also takes ``-v``, so global options work after the command
    (``pyauditor query -v ...``) as well as before it.
    """

    def __init__(self, *args: object, subcommand: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if subcommand:
            self.add_argument(
                "-v",
                "--verbose",
                action="count",
                dest="verbose_after",
                default=argparse.SUPPRESS,
                help="log what the library does to stderr (-vv: every request)",
            )

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)", self.prog)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_PROG,
        subcommand=False,
        description=(
            "Talk to an AUDITOR accounting server: check it, send records, query them, drain "
            "a collector's queue, or run an embedded server."
        ),
        epilog=(
            f"Commands that take a URL fall back to ${ENV_URL}. Exit status: 0 success, "
            "1 failure, 2 wrong usage, 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"pyauditor {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log what the library does to stderr (-vv: every request); also after COMMAND",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    # The server's options belong to pyauditor.testing, which only `serve` may import: they
    # are parsed by its own parser once the command is known to be `serve` (see _cmd_serve).
    commands.add_parser(
        "serve",
        help="run the embedded AUDITOR-compatible server (pyauditor.testing)",
        add_help=False,
    )

    health = commands.add_parser(
        "health",
        help="check that a server is up (exit 0) or not (exit 1)",
        description="Ask the server's /health_check; exit 0 when it answers 2xx, else 1.",
    )
    health.add_argument("url", nargs="?", metavar="URL", help=_URL_HELP)
    health.add_argument("--json", action="store_true", help=_JSON_HELP)
    add_server_options(health)

    send = commands.add_parser(
        "send",
        help="validate records from JSON files (or stdin) and bulk insert them",
        usage="pyauditor send [options] [URL] [FILE ...]",
        description=(
            "Read records from JSON files: an array of records, one record per line (NDJSON), "
            "or records one after another. Each record has the keys of Record.to_json(): "
            "record_id, start_time (RFC 3339 with offset), stop_time, meta, components "
            "(runtime is ignored). Valid records are sent in batches; records the server "
            "already has are counted as duplicates and every other record is stored, so "
            "sending the same files again is safe and cheap. A record whose id the server "
            "holds with other content is reported as a conflict, never overwritten. Invalid "
            "records are reported and skipped."
        ),
        epilog=(
            f"When ${ENV_URL} is set, URL may be left out; the first argument is then taken as "
            "the URL only if it starts with http:// or https://. Exit status 0 when every "
            "record is stored (or already was), 1 when a record was invalid, refused, in "
            "conflict or failed, or the server failed, 130 when interrupted (the summary then "
            "says what was sent)."
        ),
    )
    send.add_argument(
        "targets",
        nargs="*",
        metavar="[URL] FILE",
        help=f"the server URL (may be left out when ${ENV_URL} is set), then the files to send; "
        "FILE - or no FILE reads stdin",
    )
    send.add_argument(
        "--batch-size",
        type=positive_int,
        default=1000,
        metavar="N",
        help="records per request (default 1000; never more than 2 MiB)",
    )
    send.add_argument("--json", action="store_true", help=_JSON_HELP)
    send.add_argument(
        "--errors",
        metavar="FILE",
        help="write every record not stored (invalid, rejected, conflict, failed) to FILE, one "
        "JSON object per line: kind, where, record_id, reason, the record as read and, for a "
        "conflict, the server's version (stored)",
    )
    send.add_argument(
        "--refuse-stop-before-start",
        action="store_true",
        help="treat records that stop before they start as invalid (default: send them, "
        "with a warning)",
    )
    send.add_argument(
        "--no-progress", action="store_true", help="no progress line, even on a terminal"
    )
    send.add_argument("--allow-forbidden-characters", action="store_true", help=_FORBIDDEN_HELP)
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
    query.add_argument(
        "--wide",
        action="store_true",
        help="table: every column at full width, even wider than the terminal",
    )
    query.add_argument("--allow-forbidden-characters", action="store_true", help=_FORBIDDEN_HELP)
    add_server_options(
        query,
        timeout_help="timeout in seconds of each wait for the answer: for its start and for "
        "each chunk of records (default 30)",
    )

    get = commands.add_parser(
        "get",
        help="print one record as JSON",
        usage="pyauditor get [options] [URL] RECORD_ID",
        description="Print the record with this id as indented JSON; exit 1 if there is none.",
    )
    get.add_argument(
        "targets",
        nargs="+",
        metavar="[URL] RECORD_ID",
        help=f"the server URL (may be left out when ${ENV_URL} is set), then the record's id",
    )
    get.add_argument("--allow-forbidden-characters", action="store_true", help=_FORBIDDEN_HELP)
    add_server_options(get)

    add_queue_parser(commands, _Parser, _URL_HELP, add_server_options, _JSON_HELP)

    demo = commands.add_parser(
        "demo",
        help="send a day of job records through the queued client and print an accounting summary",
        description=(
            "The main job of `make demo`: starts an embedded server, sends a realistic batch "
            "of made-up job records through the queued client, queries them back with the "
            "query DSL and prints core-hours and HEPSPEC06-hours per site and group. Against "
            "a real server (URL or $AUDITOR_URL) it runs only with --write-test-data, because "
            "AUDITOR cannot delete records: they would stay there for good."
        ),
    )
    demo.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help=f"a real server to use instead (default: ${ENV_URL}, else embedded); needs "
        "--write-test-data",
    )
    demo.add_argument(
        "--write-test-data",
        action="store_true",
        help="confirm that the demo may write its made-up records to the server at URL (ids "
        "pyauditor-demo-..., meta key demo, sites DEMO-*.invalid); AUDITOR cannot delete them",
    )
    demo.add_argument(
        "--jobs", type=positive_int, default=600, metavar="N", help="jobs to send (default 600)"
    )
    demo.add_argument("--json", action="store_true", help=_JSON_HELP)
    add_server_options(demo)
    return parser


# -- the commands ------------------------------------------------------------------------------


def _cmd_serve(extra: list[str], out: TextIO, err: TextIO) -> int:
    from ._serve import run_serve

    return run_serve(extra, _Parser, out, err)


def _cmd_health(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    url = resolve_url(args.url)
    with blocking_client(args, url) as client, health_failure() as failure:
        healthy = client.health_check()
    reason = "" if healthy else failure.reason
    if args.json:
        answer = {"url": url, "healthy": healthy, "reason": reason or None}
        print(json.dumps(answer), file=out)
    if not healthy:
        raise CommandError(f"{url} is not healthy: {reason}")
    if not args.json:
        print(f"{url} is healthy", file=out)
    return 0


def _looks_like_a_file(text: str) -> bool:
    return text == "-" or (not has_scheme(text) and os.path.exists(text))


def _allow_forbidden_characters(args: argparse.Namespace) -> None:
    if args.allow_forbidden_characters:
        from .. import allow_forbidden_characters

        allow_forbidden_characters()


def _cmd_send(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: BinaryIO | None) -> int:
    from ._send import SendOptions, run_send

    targets: list[str] = list(args.targets)
    if targets and (has_scheme(targets[0]) or not os.environ.get(ENV_URL, "").strip()):
        url = targets.pop(0)
        if _looks_like_a_file(url):
            raise UsageError(
                f"{url!r} is a file, not a server URL: give the URL first or set ${ENV_URL}"
            )
    else:
        url = resolve_url(None)
    _allow_forbidden_characters(args)
    for path in targets:
        if path != "-" and not os.path.isfile(path):
            what = "a directory, not a file" if os.path.isdir(path) else "no such file"
            raise UsageError(f"{path}: {what}")
    if (not targets or "-" in targets) and stdin is None and sys.stdin.isatty():
        # Otherwise the command would seem to hang, waiting for input nobody is typing.
        print("reading records from the terminal; end with Ctrl-D", file=err)
    options = SendOptions(
        batch_size=args.batch_size,
        as_json=args.json,
        errors_path=args.errors,
        refuse_stop_before_start=args.refuse_stop_before_start,
        show_progress=not args.no_progress and not args.json and stderr_is_terminal(err),
    )
    with blocking_client(args, url) as client:
        return run_send(
            client,
            targets,
            options,
            out=out,
            err=err,
            stdin=stdin if stdin is not None else sys.stdin.buffer,
        )


def _cmd_query(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    url = resolve_url(args.url)
    _allow_forbidden_characters(args)
    query = build_query(args)
    with blocking_client(args, url) as client:
        write_records(client.iter_records(query), args.format, out, wide=args.wide)
    return 0


def _cmd_get(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    targets: list[str] = args.targets
    if len(targets) > 2:
        raise UsageError("expected [URL] RECORD_ID")
    url = resolve_url(targets[0] if len(targets) == 2 else None)
    record_id = targets[-1]
    if not record_id.strip():
        raise UsageError("the record id is empty")
    _allow_forbidden_characters(args)
    # The records query rather than GET /record/{id}: AUDITOR answers an unknown id there with
    # 500, which looks like (and is retried like) a server failure; the query answers nothing.
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
        as_json=args.json,
        out=out,
    )


def _cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._demo import refuse_real_server, run_demo

    url = args.url or os.environ.get(ENV_URL, "").strip() or None
    if url is not None and not args.write_test_data:
        raise UsageError(refuse_real_server(url, args.jobs, from_env=not args.url))
    # Checked up front, so a bad TLS option fails before the embedded server starts.
    blocking_client(args, url or "http://localhost").close()
    return run_demo(
        url, jobs=args.jobs, out=out, as_json=args.json, make_builder=lambda u: builder(args, u)
    )


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


def _parse(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, out: TextIO, err: TextIO
) -> tuple[argparse.Namespace, list[str]]:
    # argparse prints --help and --version to sys.stdout itself.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        args, extra = parser.parse_known_args(argv)
    if args.command in ("send", "get"):
        # argparse stops filling a positional list at the first option: `send URL --json
        # FILE` leaves FILE over.  What is left and is not an option belongs to the list.
        args.targets.extend(arg for arg in extra if arg == "-" or not arg.startswith("-"))
        extra = [arg for arg in extra if arg != "-" and arg.startswith("-")]
    if extra and args.command != "serve":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.verbose += getattr(args, "verbose_after", 0)
    return args, extra


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: BinaryIO | None = None,
) -> int:
    """Run the ``pyauditor`` command and return its exit status (0, 1, 2 or 130).

    Args:
        argv: The arguments (default ``sys.argv[1:]``).
        stdout: Where output goes (default ``sys.stdout``).
        stderr: Where errors and progress go (default ``sys.stderr``).
        stdin: What ``send`` reads for ``-`` (default ``sys.stdin.buffer``).
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    command = _PROG
    verbose = 0
    try:
        try:
            args, extra = _parse(_parser(), argv, out, err)
        except SystemExit as exit_:  # --help and --version
            return exit_.code if isinstance(exit_.code, int) else 0
        command = f"{_PROG} {args.command}"
        verbose = args.verbose
        with _logging(verbose, err):
            if args.command == "serve":
                return _cmd_serve(extra, out, err)
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
        _report(err, f"{error.prog or command}: error: {cli_words(str(error))}")
        return 2
    except BrokenPipeError:
        return _broken_pipe()
    except (CommandError, AuditorError) as error:
        _report(err, f"{command}: error: {cli_words(str(error))}")
        return 1
    except OSError as error:
        _report(err, f"{command}: error: {_os_error(error)}")
        return 1
    except KeyboardInterrupt:
        _report(err, f"{command}: interrupted")
        return 130
    except Exception as error:
        # A bug: still one line, and the traceback only for whoever asks for it.
        if verbose:
            _report(err, "".join(traceback.format_exception(error)).rstrip())
        _report(
            err,
            f"{command}: internal error: {type(error).__name__}: {error} (please report this "
            "bug; -v shows where it happened)",
        )
        return 1


def _os_error(error: OSError) -> str:
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error) or type(error).__name__


def _report(err: TextIO, line: str) -> None:
    # stderr itself may be gone (a closed pipe); there is nobody left to tell then.
    with contextlib.suppress(OSError, ValueError):
        print(line, file=err)
        err.flush()


def _broken_pipe() -> int:
    # The reader of our output went away (`pyauditor query ... | head`): that is how a pipeline
    # says "enough", not a failure.  Stop quietly with status 0, and point stdout at /dev/null
    # so the interpreter's final flush does not complain.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0
