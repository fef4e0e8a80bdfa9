"""``python -m pyauditor.testing``: run the embedded AUDITOR-compatible server.

Prints the URL(s) once it is listening and runs until SIGTERM or SIGINT (Ctrl-C), then shuts
down cleanly (exit status 0).  ``pyauditor serve`` (:mod:`pyauditor.cli`) is the same command;
both share :func:`add_server_arguments` and :func:`serve`, which checks the options a
server would otherwise fail on with a traceback (:func:`check_database`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ._rbac import RbacConfig
from ._server import AuditorTestServer

__all__ = ["add_server_arguments", "check_database", "main", "serve"]

_SQLITE_HEADER = b"SQLite format 3\x00"


def check_database(text: str) -> None:
    """Raise ``ValueError`` if ``--db text`` cannot be an SQLite database file.

    A missing file is fine (the server creates it) if its directory exists; an existing one
    must be empty or an SQLite database.
    """
    path = Path(text)
    if path.is_dir():
        raise ValueError(f"--db {text}: is a directory; give a database file in it")
    if not path.exists():
        if not path.parent.is_dir():
            raise ValueError(
                f"--db {text}: the directory {str(path.parent)!r} does not exist; create it first"
            )
        return
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise ValueError(f"--db {text}: cannot be read: {error.strerror or error}") from None
    if header and header != _SQLITE_HEADER:
        raise ValueError(
            f"--db {text}: is not an SQLite database; give a new file name or the database "
            "file of an earlier server's --db"
        )


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server's options (``--host``, ``--port``, ``--db``, ``--tls-*``, ...)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="HTTP port (default 8000; 0: any free port)"
    )
    parser.add_argument("--db", help="SQLite file to use (default: temporary, deleted at exit)")
    parser.add_argument("--tls-port", type=int, default=8443, help="HTTPS port (with --tls-*)")
    parser.add_argument("--tls-cert", help="server certificate (PEM); enables HTTPS")
    parser.add_argument("--tls-key", help="server private key (PEM)")
    parser.add_argument("--tls-ca", help="CA that client certificates must chain to (PEM)")
    parser.add_argument(
        "--tls-only",
        action="store_true",
        help="serve HTTPS only: no plain HTTP listener (AUDITOR always keeps one open)",
    )
    parser.add_argument(
        "--ignore-record-exists",
        action="store_true",
        help="answer duplicates with 200 and a warning (ignore_record_exists_error)",
    )
    parser.add_argument(
        "--rbac",
        metavar="FILE",
        help="enforce RBAC on the HTTPS listener with AUDITOR's rbac_config, as JSON: "
        '{"write_access_cn": [...], "read_access_cn": [...], "data_access_rules": '
        '[{"reader_cn": ..., "meta_info": {...}}], ...}',
    )
    parser.add_argument(
        "--rbac-enforced-by",
        choices=("ignore_record_exists_error", "enforce_rbac"),
        default="ignore_record_exists_error",
        help="the flag that switches RBAC on; AUDITOR 0.11 reads ignore_record_exists_error"
        " (default, as AUDITOR does), enforce_rbac is the intended behaviour",
    )


def serve(args: argparse.Namespace) -> None:
    """Run a server configured by :func:`add_server_arguments`'s options until SIGTERM/SIGINT.

    Must run in the main thread (it installs signal handlers).

    Raises:
        OSError: the port is in use or the host cannot be bound (``ssl.SSLError`` included).
        ValueError: an option is out of range, the TLS files are incomplete, or ``--db`` cannot
            be a database (:func:`check_database`).
        sqlite3.Error: the ``--db`` file looked like a database but cannot be used.
    """
    _check_tls_options(args)
    if args.db is not None:
        check_database(args.db)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    rbac = None if args.rbac is None else _read_rbac(args.rbac)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = AuditorTestServer(
        host=args.host,
        port=args.port,
        db=args.db,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_ca=args.tls_ca,
        tls_port=args.tls_port,
        tls_only=args.tls_only,
        ignore_record_exists_error=args.ignore_record_exists,
        rbac=rbac,
        rbac_enforced_by=args.rbac_enforced_by,
    ).start()
    try:
        if (
            server.tls_url is not None
            and server.ignore_record_exists_error
            and args.rbac_enforced_by == "ignore_record_exists_error"
            and (rbac is None or not rbac.enforce_rbac)
        ):
            print(
                "note: as in AUDITOR 0.11, --ignore-record-exists switches RBAC on, and without"
                " --rbac every HTTPS request is answered 500 Enforcer not initialized",
                file=sys.stderr,
                flush=True,
            )
        if not server.tls_only:
            print(f"AUDITOR test server listening on {server.url}", flush=True)
        if server.tls_url is not None:
            print(f"AUDITOR test server listening on {server.tls_url} (mutual TLS)", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("AUDITOR test server stopped", flush=True)


def _check_tls_options(args: argparse.Namespace) -> None:
    """Raise ``ValueError``, in the command's words, for TLS options that cannot work."""
    files = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(files) and not all(files):
        raise ValueError("HTTPS needs all three of --tls-cert, --tls-key and --tls-ca")
    if not any(files):
        given = {"--tls-only": args.tls_only, "--rbac": args.rbac is not None}
        needing = [name for name, wanted in given.items() if wanted]
        if needing:
            raise ValueError(
                f"{' and '.join(needing)} need{'s' if len(needing) == 1 else ''} HTTPS: "
                "give --tls-cert, --tls-key and --tls-ca"
            )


def _read_rbac(path: str) -> RbacConfig:
    """An :class:`RbacConfig` from a JSON file with AUDITOR's ``rbac_config`` keys.

    Raises:
        ValueError: the file cannot be read or does not describe an ``rbac_config``.
    """
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"--rbac {path}: {err}") from None
    try:
        return RbacConfig.from_mapping(data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--rbac {path}: {err}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyauditor.testing",
        description="Serve the AUDITOR 0.11 REST API from an embedded SQLite database.",
    )
    add_server_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        serve(args)
    except (OSError, ValueError) as err:
        print(f"pyauditor.testing: cannot start: {err}", file=sys.stderr)
        return 2
    except sqlite3.Error as err:
        print(f"pyauditor.testing: cannot use --db {args.db}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
