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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from .. import AuditorClientBuilder, ConfigurationError, DeadLetter, QueueError
from ..queuefile import QueueSnapshot, parse_database_path, read_queue_file
from ._common import CommandError, UsageError, run_async, seconds

__all__ = ["read_queue", "run_flush", "run_status"]


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


def read_queue(path: Path, *, dead_letter_limit: int | None = 20) -> QueueSnapshot:
    """What the queue file at ``path`` holds, read without changing it.

    Raises:
        CommandError: the file is not a queue (damaged, another program's), or is from a
            newer pyauditor.
    """
    try:
        return read_queue_file(path, dead_letter_limit=dead_letter_limit)
    except QueueError as error:
        raise CommandError(str(error)) from None


def _when(value: _dt.datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(value: _dt.datetime, now: _dt.datetime) -> str:
    seconds = max(int((now - value).total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def _status_code(code: int | None) -> str:
    return "no answer" if code is None else f"HTTP {code}"


def write_report(report: QueueSnapshot, out: TextIO, now: _dt.datetime | None = None) -> None:
    """Print ``report`` for people."""
    now = now or _dt.datetime.now(_dt.UTC)
    status = report.status
    print(f"queue {report.path}", file=out)
    print(f"  inserts waiting:  {status.inserts:,}", file=out)
    print(f"  updates waiting:  {status.updates:,}", file=out)
    if status.queued and status.oldest is not None:
        print(
            f"  oldest queued:    {_when(status.oldest)} ({_age(status.oldest, now)} ago)",
            file=out,
        )
    if report.failing:
        print(f"  failed before:    {report.failing:,}", file=out)
    if status.last_error is not None:
        at = "" if status.last_error_at is None else f" ({_when(status.last_error_at)})"
        print(f"  last error{at}: {status.last_error}", file=out)
    print(f"  dead letters:     {status.dead_letters:,}", file=out)
    for dead in report.dead_letters:
        print(
            f"    #{dead.id} {dead.kind} {dead.record_id!r} ({_status_code(dead.status_code)}, "
            f"{_when(dead.failed_at)}): {dead.reason}",
            file=out,
        )
    hidden = status.dead_letters - len(report.dead_letters)
    if hidden > 0:
        print(f"    ... and {hidden:,} more (--all lists every one)", file=out)
    if report.reference_inserts or report.reference_updates:
        print(
            f"  python-auditor's tables: {report.reference_inserts:,} inserts, "
            f"{report.reference_updates:,} updates (a pyauditor client imports them when it "
            "opens the file; pyauditor queue flush does)",
            file=out,
        )


def _iso(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _dead_json(dead: DeadLetter) -> dict[str, Any]:
    return {
        "id": dead.id,
        "kind": dead.kind,
        "record_id": dead.record_id,
        "status_code": dead.status_code,
        "reason": dead.reason,
        "failed_at": _iso(dead.failed_at),
        "attempts": dead.attempts,
        "stored": dead.stored,
    }


def _report_json(report: QueueSnapshot, now: _dt.datetime | None = None) -> dict[str, Any]:
    now = now or _dt.datetime.now(_dt.UTC)
    status = report.status
    oldest = status.oldest
    return {
        "path": str(report.path),
        "schema": report.schema,
        "inserts": status.inserts,
        "updates": status.updates,
        "oldest_queued": _iso(oldest),
        "oldest_age_seconds": None if oldest is None else (now - oldest).total_seconds(),
        "failed_before": report.failing,
        "last_error": status.last_error,
        "last_error_at": _iso(status.last_error_at),
        "dead_letter_count": status.dead_letters,
        "dead_letters": [_dead_json(d) for d in report.dead_letters],
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
    queued_before, queued_after = before.status.queued, after.status.queued
    dead_before, dead_after = before.status.dead_letters, after.status.dead_letters
    waiting = queued_before + imported + requeued
    buried = dead_after - (dead_before - requeued)
    delivered = waiting - queued_after - buried
    new_dead = after.dead_letters[len(after.dead_letters) - buried :] if buried > 0 else ()
    failure = None
    if queued_after:
        reason = after.status.last_error or "the server did not accept them in time"
        why = "the server kept failing" if stuck else "the time limit was reached"
        failure = f"{queued_after:,} records are still queued ({why}): {reason}"
    if as_json:
        summary = {
            "queue": str(path),
            "imported": imported,
            "requeued": requeued,
            "delivered": delivered,
            "dead_letters_added": buried,
            "still_queued": queued_after,
            "new_dead_letters": [_dead_json(dead) for dead in new_dead],
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
            f"still queued {queued_after:,}",
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
