"""``pyauditor queue status`` and ``pyauditor queue flush``: a collector's send queue from the shell.

``status`` reads the queue file **read-only**: it never creates, migrates or changes it, so it
is safe on the file of a collector that is running, and on a file python-auditor is still
using (opening one with a pyauditor client would import python-auditor's rows into pyauditor's
queue, where python-auditor no longer sees them).  It reports the inserts and updates waiting,
why the last attempts failed, and the dead letters with the server's reasons, and counts the
rows in python-auditor's own tables.

``flush`` opens the file with :class:`~pyauditor.QueuedAuditorClient` (importing
python-auditor's rows, as every pyauditor client does) and delivers until the queue is empty
or the server stops making progress, then reports what happened.  It can run while the
collector runs: both deliver from the same file, and the queue's design makes a record that
both send count once.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import attrs

from .. import AuditorClientBuilder, ConfigurationError
from .._queue import DEAD_TABLE, QUEUE_TABLE, SCHEMA_VERSION, parse_database_path
from ._common import CommandError, UsageError, run_async, seconds

__all__ = ["QueueReport", "read_queue", "run_flush", "run_status"]

_REFERENCE_TABLES = ("inserts", "updates")


@attrs.frozen
class DeadLetterLine:
    """One dead letter, as ``status`` shows it."""

    id: int
    kind: str
    record_id: str
    status_code: int | None
    reason: str
    failed_at: _dt.datetime
    attempts: int


@attrs.frozen
class QueueReport:
    """What a queue file holds, read without changing it."""

    path: Path
    schema: int
    inserts: int = 0
    updates: int = 0
    oldest: _dt.datetime | None = None
    failing: int = 0
    last_error: str | None = None
    dead_letters: tuple[DeadLetterLine, ...] = ()
    dead_letter_count: int = 0
    reference_inserts: int = 0
    reference_updates: int = 0

    @property
    def queued(self) -> int:
        """Inserts plus updates waiting in pyauditor's queue."""
        return self.inserts + self.updates


def queue_path(text: str) -> Path:
    """The file a queue argument names (a path, or a ``sqlite://`` URL as ``database_path``).

    Raises:
        UsageError: an in-memory queue or an unusable path.
        CommandError: there is no file.
    """
    try:
        location = parse_database_path(text)
    except ConfigurationError as error:
        raise UsageError(str(error)) from None
    if location.path is None:
        raise UsageError(f"{text!r} is an in-memory queue; give the queue file's path")
    if not location.path.is_file():
        raise CommandError(f"no queue file at {location.path}")
    return location.path


def _utc(timestamp: float | None) -> _dt.datetime | None:
    return None if timestamp is None else _dt.datetime.fromtimestamp(timestamp, _dt.UTC)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    # mode=ro: SQLite itself refuses every write, so inspecting can never change the file.
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=10)
    except sqlite3.Error as error:
        raise CommandError(f"cannot open {path}: {error}") from None
    try:
        yield connection
    finally:
        connection.close()


def read_queue(path: Path, *, dead_letter_limit: int | None = 20) -> QueueReport:
    """Read what the queue file at ``path`` holds, without changing it.

    Args:
        path: The queue file.
        dead_letter_limit: How many dead letters to return (oldest first); ``None``: all.

    Raises:
        CommandError: the file is not a queue, or is from a newer pyauditor.
    """
    with _read_only(path) as db:
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            schema = int(db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise CommandError(f"{path} is not a queue file: {error}") from None
        if schema > SCHEMA_VERSION:
            raise CommandError(
                f"{path} was written by a newer pyauditor (queue schema {schema}; this version "
                f"reads schema {SCHEMA_VERSION})"
            )
        ours = QUEUE_TABLE in tables
        reference = [t for t in _REFERENCE_TABLES if t in tables]
        if not ours and not reference:
            raise CommandError(
                f"{path} holds no send queue (neither pyauditor's nor python-auditor's tables)"
            )
        values: dict[str, Any] = {"path": path, "schema": schema}
        try:
            if ours:
                values.update(_read_ours(db, dead_letter_limit))
            for table in reference:
                count = db.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]
                values[f"reference_{table}"] = int(count)
        except sqlite3.Error as error:
            raise CommandError(f"cannot read {path}: {error}") from None
    return QueueReport(**values)


def _read_ours(db: sqlite3.Connection, dead_letter_limit: int | None) -> dict[str, Any]:
    counts = dict(db.execute(f"SELECT kind, count(*) FROM {QUEUE_TABLE} GROUP BY kind"))
    oldest = db.execute(f"SELECT min(enqueued_at) FROM {QUEUE_TABLE}").fetchone()[0]
    failing = db.execute(f"SELECT count(*) FROM {QUEUE_TABLE} WHERE attempts > 0").fetchone()[0]
    last = db.execute(
        f"SELECT last_error FROM {QUEUE_TABLE} WHERE last_error IS NOT NULL "
        "ORDER BY attempts DESC, seq LIMIT 1"
    ).fetchone()
    dead_count = db.execute(f"SELECT count(*) FROM {DEAD_TABLE}").fetchone()[0]
    limit = -1 if dead_letter_limit is None else dead_letter_limit
    dead = tuple(
        DeadLetterLine(
            id=row[0],
            kind=row[1],
            record_id=row[2],
            status_code=row[3],
            reason=row[4],
            failed_at=_utc(row[5]) or _dt.datetime.min.replace(tzinfo=_dt.UTC),
            attempts=row[6],
        )
        for row in db.execute(
            f"SELECT id, kind, record_id, status_code, reason, failed_at, attempts "
            f"FROM {DEAD_TABLE} ORDER BY id LIMIT ?",
            (limit,),
        )
    )
    return {
        "inserts": int(counts.get("insert", 0)),
        "updates": int(counts.get("update", 0)),
        "oldest": _utc(oldest),
        "failing": int(failing),
        "last_error": None if last is None else last[0],
        "dead_letters": dead,
        "dead_letter_count": int(dead_count),
    }


def _when(value: _dt.datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _status_code(code: int | None) -> str:
    return "no answer" if code is None else f"HTTP {code}"


def write_report(report: QueueReport, out: TextIO) -> None:
    """Print ``report`` for people."""
    print(f"queue {report.path}", file=out)
    print(f"  inserts waiting:  {report.inserts:,}", file=out)
    print(f"  updates waiting:  {report.updates:,}", file=out)
    if report.queued:
        print(f"  oldest queued:    {_when(report.oldest)}", file=out)
    if report.failing:
        print(f"  failed before:    {report.failing:,} (last error: {report.last_error})", file=out)
    print(f"  dead letters:     {report.dead_letter_count:,}", file=out)
    for dead in report.dead_letters:
        print(
            f"    #{dead.id} {dead.kind} {dead.record_id!r} ({_status_code(dead.status_code)}, "
            f"{_when(dead.failed_at)}): {dead.reason}",
            file=out,
        )
    hidden = report.dead_letter_count - len(report.dead_letters)
    if hidden > 0:
        print(f"    ... and {hidden:,} more (--all lists every one)", file=out)
    if report.reference_inserts or report.reference_updates:
        print(
            f"  python-auditor's tables: {report.reference_inserts:,} inserts, "
            f"{report.reference_updates:,} updates (a pyauditor client imports them when it "
            "opens the file; pyauditor queue flush does)",
            file=out,
        )


def _when_json(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _dead_letter_json(dead: DeadLetterLine) -> dict[str, Any]:
    return {
        "id": dead.id,
        "kind": dead.kind,
        "record_id": dead.record_id,
        "status_code": dead.status_code,
        "reason": dead.reason,
        "failed_at": _when_json(dead.failed_at),
        "attempts": dead.attempts,
    }


def _report_json(report: QueueReport) -> dict[str, Any]:
    return {
        "path": str(report.path),
        "inserts": report.inserts,
        "updates": report.updates,
        "oldest_queued": _when_json(report.oldest),
        "failed_before": report.failing,
        "last_error": report.last_error,
        "dead_letter_count": report.dead_letter_count,
        "dead_letters": [_dead_letter_json(dead) for dead in report.dead_letters],
        "python_auditor": {
            "inserts": report.reference_inserts,
            "updates": report.reference_updates,
        },
    }


def run_status(path_text: str, *, show_all: bool, as_json: bool, out: TextIO) -> int:
    """The ``queue status`` command; returns the exit status."""
    report = read_queue(queue_path(path_text), dead_letter_limit=None if show_all else 20)
    if as_json:
        out.write(json.dumps(_report_json(report), indent=2) + "\n")
    else:
        write_report(report, out)
    return 0


# -- flush -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_library(verbose: bool) -> Iterator[None]:
    # The sender logs every dead letter and failed pass; flush reports them itself, once.
    logger = logging.getLogger("pyauditor")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _flush(
    make_builder: Callable[[], AuditorClientBuilder],
    path: Path,
    *,
    retry_dead_letters: bool,
    deadline: float,
) -> tuple[int, bool]:
    """Deliver the queue; return (dead letters requeued, whether the server kept failing)."""
    client = await make_builder().database_path(path).send_interval(3600).build_queued()
    async with client:
        requeued = await client.retry_dead_letters() if retry_dead_letters else 0
        status = await client.pending()
        while status.queued:
            before = status.queued
            status = await client.flush()
            if status.queued >= before or time.monotonic() > deadline:
                return requeued, True
    return requeued, False


def run_flush(
    path_text: str,
    make_builder: Callable[[], AuditorClientBuilder],
    *,
    retry_dead_letters: bool,
    max_time: float,
    verbose: bool,
    out: TextIO,
    as_json: bool = False,
) -> int:
    """The ``queue flush`` command; returns the exit status."""
    path = queue_path(path_text)
    before = read_queue(path, dead_letter_limit=0)
    with _quiet_library(verbose):
        requeued, stuck = run_async(
            lambda: _flush(
                make_builder,
                path,
                retry_dead_letters=retry_dead_letters,
                deadline=time.monotonic() + max_time,
            )
        )
    after = read_queue(path, dead_letter_limit=None)
    imported = (before.reference_inserts + before.reference_updates) - (
        after.reference_inserts + after.reference_updates
    )
    waiting = before.queued + imported + requeued
    buried = after.dead_letter_count - (before.dead_letter_count - requeued)
    delivered = waiting - after.queued - buried
    new_dead = after.dead_letters[len(after.dead_letters) - buried :] if buried > 0 else ()
    failure = None
    if after.queued:
        reason = after.last_error or "the server did not accept them in time"
        why = "the server kept failing" if stuck else "the time limit was reached"
        failure = f"{after.queued:,} records are still queued ({why}): {reason}"
    if as_json:
        summary = {
            "queue": str(path),
            "imported": imported,
            "requeued": requeued,
            "delivered": delivered,
            "dead_letters_added": buried,
            "still_queued": after.queued,
            "new_dead_letters": [_dead_letter_json(dead) for dead in new_dead],
            "error": failure,
        }
        out.write(json.dumps(summary, indent=2) + "\n")
    else:
        if imported:
            print(f"imported {imported:,} records from python-auditor's tables", file=out)
        if requeued:
            print(f"requeued {requeued:,} dead letters", file=out)
        print(
            f"delivered {delivered:,}, dead letters added {buried:,}, "
            f"still queued {after.queued:,}",
            file=out,
        )
        for dead in new_dead:
            print(
                f"  dead letter #{dead.id} {dead.kind} {dead.record_id!r} "
                f"({_status_code(dead.status_code)}): {dead.reason}",
                file=out,
            )
    if failure is not None:
        raise CommandError(failure)
    return 1 if buried > 0 else 0


def add_queue_parser(
    commands: Any,
    parser_class: type[argparse.ArgumentParser],
    url_help: str,
    add_server_options: Callable[[argparse.ArgumentParser], None],
    json_help: str,
) -> None:
    """Add ``queue status`` and ``queue flush`` to the subcommands ``commands``."""
    queue = commands.add_parser(
        "queue",
        help="inspect (status) or deliver (flush) a collector's send queue file",
        description="Inspect or deliver the SQLite send queue of a QueuedAuditorClient "
        "(pyauditor's or python-auditor's).",
    )
    actions = queue.add_subparsers(
        dest="queue_command", metavar="ACTION", parser_class=parser_class
    )
    actions.required = True
    status = actions.add_parser(
        "status",
        help="what the queue holds, dead letters included (read-only)",
        description="Show the inserts and updates waiting, why delivery last failed, and the "
        "dead letters with the server's reasons. Opens the file read-only: safe while a "
        "collector (pyauditor or python-auditor) is using it.",
    )
    status.add_argument("path", metavar="PATH", help="the queue file (database_path)")
    status.add_argument("--all", action="store_true", help="list every dead letter, not 20")
    status.add_argument("--json", action="store_true", help=json_help)
    flush = actions.add_parser(
        "flush",
        help="deliver the queue to a server now",
        usage="pyauditor queue flush [options] PATH [URL]",
        description="Deliver everything the queue holds, then report. python-auditor's "
        "pending rows are imported first. Exit 0 when the queue is empty and nothing was "
        "refused, 1 otherwise.",
    )
    flush.add_argument("path", metavar="PATH", help="the queue file (database_path)")
    flush.add_argument("url", nargs="?", metavar="URL", help=url_help)
    flush.add_argument(
        "--retry-dead-letters",
        action="store_true",
        help="queue the dead letters again first (after fixing what the server objected to)",
    )
    flush.add_argument("--json", action="store_true", help=json_help)
    flush.add_argument(
        "--max-time",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="give up after this long if the server is slow (default 600)",
    )
    add_server_options(flush)
