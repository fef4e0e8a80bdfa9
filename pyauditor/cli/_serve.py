"""``pyauditor serve``: the embedded AUDITOR-compatible server (:mod:`pyauditor.testing`).

The server's options and its run loop belong to :mod:`pyauditor.testing` (``python -m
pyauditor.testing`` is the same command); this module is the only part of the command besides
``demo`` that imports it, so every other command starts without loading a server.  It checks
what the server would otherwise fail on with a traceback: a ``--db`` that cannot be an SQLite
file.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import ssl
from pathlib import Path
from typing import TextIO

from ._common import CommandError, UsageError

__all__ = ["check_database", "run_serve"]

_SQLITE_HEADER = b"SQLite format 3\x00"


def check_database(text: str) -> None:
    """Raise :class:`UsageError` if ``--db text`` cannot be an SQLite database file.

    A missing file is fine (the server creates it) if its directory exists; an existing one
    must be empty or an SQLite database.
    """
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"--db {text}: is a directory; give a database file in it")
    if not path.exists():
        if not path.parent.is_dir():
            raise UsageError(
                f"--db {text}: the directory {str(path.parent)!r} does not exist; create it first"
            )
        return
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise UsageError(f"--db {text}: cannot be read: {error.strerror or error}") from None
    if header and header != _SQLITE_HEADER:
        raise UsageError(
            f"--db {text}: is not an SQLite database; give a new file name or the database "
            "file of an earlier `pyauditor serve --db`"
        )


def run_serve(
    argv: list[str], parser_class: type[argparse.ArgumentParser], out: TextIO, err: TextIO
) -> int:
    """Parse the server's options from ``argv`` and serve until SIGTERM or SIGINT."""
    from ..testing.__main__ import add_server_arguments, serve

    parser = parser_class(
        prog="pyauditor serve",
        description=(
            "Serve AUDITOR 0.11's REST API from an embedded SQLite database, for trying "
            "things out and for testing collectors. Runs until Ctrl-C or SIGTERM."
        ),
    )
    add_server_arguments(parser)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help
            return exit_.code if isinstance(exit_.code, int) else 0
    if args.db is not None:
        check_database(args.db)
    for option in ("tls_cert", "tls_key", "tls_ca"):
        value = getattr(args, option)
        if value is not None and not Path(value).is_file():
            name = "--" + option.replace("_", "-")
            raise UsageError(f"{name} {value}: no such file")
    try:
        with contextlib.redirect_stdout(out):
            serve(args)
    except ValueError as error:
        raise UsageError(str(error)) from None
    except sqlite3.Error as error:
        raise CommandError(f"cannot use --db {args.db}: {error}") from None
    except ssl.SSLError as error:
        raise CommandError(
            f"cannot use the TLS files (--tls-cert, --tls-key, --tls-ca): {error}"
        ) from None
    except OSError as error:
        raise CommandError(f"cannot start: {error}") from None
    return 0
