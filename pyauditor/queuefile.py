"""Look into a send-queue file without changing it: what is pending, what failed, what was refused.

The queued clients (:class:`~pyauditor.QueuedAuditorClient`,
:class:`~pyauditor.QueuedAuditorClientBlocking`) keep what they are given in an SQLite file
until the server has it.  A monitoring check, a site dashboard or ``pyauditor queue status``
reads such a file with :func:`read_queue_file`, **read-only**: the file is never created,
migrated or changed, so it is safe on the file of a running collector (and on a file
python-auditor is still using)::

    from pathlib import Path
    from pyauditor.queuefile import read_queue_file

    snapshot = read_queue_file(Path("/var/spool/collector/queue.db"))
    if snapshot.status.dead_letters:
        for letter in snapshot.dead_letters:
            print(letter.record_id, letter.status_code, letter.reason)

:func:`parse_database_path` interprets a ``database_path`` as the queued clients do (``sqlite:``
prefixes, ``:memory:``, ``?mode=`` and ``_busy_timeout`` options), e.g. to find the file a
collector's configuration names.
"""

from __future__ import annotations

from ._queue import (
    DatabaseLocation,
    DeadLetter,
    QueueSnapshot,
    QueueStatus,
    parse_database_path,
    read_queue_file,
)

__all__ = [
    "DatabaseLocation",
    "DeadLetter",
    "QueueSnapshot",
    "QueueStatus",
    "parse_database_path",
    "read_queue_file",
]
