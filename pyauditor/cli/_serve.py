"""``pyauditor serve``: the embedded AUDITOR-compatible server (:mod:`pyauditor.testing`).

The server's options and its run loop belong to :mod:`pyauditor.testing` (``python -m
pyauditor.testing`` is the same command); this module is the only part of the command besides
``demo`` that imports it, so every other command starts without loading a server.  What the
server would otherwise fail on with a traceback (a ``--db`` that cannot be an SQLite file, say)
is checked by :func:`pyauditor.testing.__main__.serve` itself, and reported here in the
command's words.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import ssl
from pathlib import Path
from typing import TextIO

from ._common import CommandError, UsageError

__all__ = ["run_serve"]


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
