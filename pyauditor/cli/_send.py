"""``pyauditor send``: validate records from files and bulk insert them.

How records travel
    Records are read, validated and sent in batches of ``--batch-size`` records (default
    1,000, and at most AUDITOR's 2 MiB per request), so memory stays bounded however large the
    input.  An invalid record is reported and skipped; the rest are sent.  The sending itself is
    the batch planner's (:mod:`pyauditor._delivery`), the same one ``bulk_insert`` and the
    queued clients use.

Duplicates
    AUDITOR stores a ``POST /records`` batch all-or-nothing: if one record id is already
    stored, the whole batch is refused with ``RECORD_EXISTS`` (or, on a server configured with
    ``ignore_record_exists_error``, answered ``200`` with a warning while storing *none* of it).
    ``send`` then asks the server which of the batch's records it has, with queries over the
    batch's start times, and sends the rest again.  A record the server holds identically is a
    *duplicate*; one whose id it holds with other content is a *conflict* (reported, never
    overwritten).  Once a batch had duplicates, later batches are looked up before they are
    sent, so running the same command again after an interruption costs about one query per
    batch.  What the queries cannot settle is narrowed down by splitting batches.

Rejected records
    A batch the server refuses as invalid (``400``) or too large (``413``) is bisected until
    the offending records are isolated; they are reported as rejected with the server's
    message and the others are stored.  So is a record the server answers with a ``5xx`` alone
    while it stores others, and one with a NUL character, which AUDITOR cannot store.

Failures
    Anything else (no connection, a timeout, the server failing every request) says nothing
    about a record: the command stops there and says how far it got.  Whether the batch in
    flight was stored is unknown; running the command again sorts that out (see Duplicates).

Exit status: 0 when every record was stored or already there; 1 when a record was rejected or
conflicts with a stored one, the input had invalid records, or the command stopped early.

The sending core (:class:`Sender`) reports through :class:`SendSummary` (counts and the first
problems) and, for displays that want more, a :class:`SendEvent` per verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO, TextIO

import attrs

from .._client import AuditorClientBlocking
from .._delivery import BatchPlanner, Settled, Verdict, drive_blocking
from .._errors import AuditorError
from ._input import InputProblem, InputRecord, Position, read_records

__all__ = ["SendEvent", "SendSummary", "Sender", "run_send"]

SHOWN_PROBLEMS = 20
"""Rejections listed with their reasons in the summary; the rest are counted."""


class SendAborted(Exception):
    """Sending stopped: the server or the connection failed in a way no record explains."""

    def __init__(self, error: AuditorError) -> None:
        super().__init__(str(error))
        self.error = error


@attrs.define
class Problems:
    """How many records failed in one way, and the first few with their reasons.

    Only the first :data:`SHOWN_PROBLEMS` are kept, so a huge input of bad records does not
    fill memory with messages nobody reads.
    """

    count: int = 0
    shown: list[tuple[str, str]] = attrs.Factory(list)

    def add(self, where: str, reason: str) -> None:
        """Count one more, keeping its reason if it is among the first few."""
        self.count += 1
        if len(self.shown) < SHOWN_PROBLEMS:
            self.shown.append((where, reason))


@attrs.define
class SendSummary:
    """What ``send`` did: counts, and reasons for the first problems.

    Attributes:
        sent: Records stored by this command.
        duplicates: Records the server already held, identically.
        conflicts: Records whose id the server holds with other content (not stored).
        rejected: Records the server refused (400, 413, a 5xx for it alone, a NUL).
        invalid: Records of the input that are not valid records (never sent).
        requests: Requests made (writes and queries).
    """

    sent: int = 0
    duplicates: int = 0
    conflicts: Problems = attrs.Factory(Problems)
    rejected: Problems = attrs.Factory(Problems)
    invalid: Problems = attrs.Factory(Problems)
    requests: int = 0

    @property
    def ok(self) -> bool:
        """True when every record of the input is stored (or was already, identically)."""
        return not (self.rejected.count or self.invalid.count or self.conflicts.count)

    @property
    def settled(self) -> int:
        """Records with a final outcome so far (for progress displays)."""
        return (
            self.sent
            + self.duplicates
            + self.conflicts.count
            + self.rejected.count
            + self.invalid.count
        )


@attrs.frozen
class SendEvent:
    """One verdict of the sender, for displays and error files.

    Attributes:
        verdict: ``STORED``, ``DUPLICATE``, ``CONFLICT``, ``REJECTED`` or ``FAILED`` (the
            records in flight when sending stopped: not stored as far as anyone knows).
        records: The records it concerns.
        reason: Why (the server's message with its status: ``HTTP 400: ...``), else ``""``.
        stored: For ``CONFLICT``: the server's version (``Record.to_json()``), if readable.
    """

    verdict: Verdict
    records: tuple[InputRecord, ...]
    reason: str = ""
    stored: str | None = None


def _describe(settled: Settled) -> str:
    if settled.status is None:
        return settled.reason
    return (
        f"HTTP {settled.status}: {settled.reason}" if settled.reason else f"HTTP {settled.status}"
    )


class Sender:
    """Sends batches of validated records through the batch planner; counts every outcome.

    One per command: what it learns about the server (which records it holds) carries over
    from batch to batch.

    Args:
        client: The client that sends.
        summary: Updated as verdicts come in.
        on_event: Called with every verdict (after the summary is updated).
    """

    def __init__(
        self,
        client: AuditorClientBlocking,
        summary: SendSummary,
        *,
        on_event: Callable[[SendEvent], None] | None = None,
    ) -> None:
        self._client = client
        self._summary = summary
        self._on_event = on_event
        self._planner = BatchPlanner(max_batch=None)

    def send(self, items: Sequence[InputRecord]) -> None:
        """Deliver ``items`` (in bodies under the server's size limit).

        Raises:
            SendAborted: a failure that no record explains; the summary counts what got through.
        """
        summary = self._summary

        def settle(settled: Settled) -> None:
            verdict = settled.verdict
            records = tuple(items[p] for p in settled.positions)
            reason = _describe(settled)
            if verdict is Verdict.STORED:
                summary.sent += len(records)
            elif verdict is Verdict.DUPLICATE:
                summary.duplicates += len(records)
            elif verdict is Verdict.CONFLICT:
                for record in records:
                    summary.conflicts.add(record.where, reason)
            elif verdict is Verdict.REJECTED or settled.isolated:
                for record in records:
                    summary.rejected.add(record.where, reason)
            if self._on_event is not None:
                self._on_event(SendEvent(verdict, records, reason, settled.stored))

        planner = self._planner
        before = planner.counts.requests
        halted = drive_blocking(
            planner.plan([i.record_id for i in items], [i.wire for i in items]),
            self._client,
            settle,
        )
        summary.requests += planner.counts.requests - before
        if halted is not None:
            raise SendAborted(halted)


class Progress:
    """A one-line progress display on a terminal; silent elsewhere.

    It appears only once sending has taken half a second, so small inputs print nothing but
    their summary.  With a known total size (files) it draws a bar; for stdin, counts.
    """

    DELAY = 0.5
    """Seconds of sending before the display appears."""
    INTERVAL = 0.1
    """Seconds between redraws at most."""

    def __init__(self, stream: TextIO, total_bytes: int | None, enabled: bool) -> None:
        self._stream = stream
        self._total = total_bytes
        self._enabled = enabled
        self._started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def update(self, records: int, bytes_read: int) -> None:
        """Redraw (at most ten times a second) with ``records`` done and ``bytes_read``."""
        if not self._enabled:
            return
        now = time.monotonic()
        elapsed = now - self._started
        if elapsed < self.DELAY or now - self._last < self.INTERVAL:
            return
        self._last = now
        rate = records / elapsed if elapsed > 0 else 0.0
        if self._total:
            fraction = min(bytes_read / self._total, 1.0)
            filled = int(fraction * 30)
            bar = "#" * filled + "." * (30 - filled)
            line = f"[{bar}] {fraction:4.0%}  {records:,} records  {rate:,.0f}/s"
        else:
            line = f"{records:,} records  {rate:,.0f}/s"
        self._stream.write("\r" + line + "\x1b[K")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        """Remove the progress line, so the summary starts on a clean line."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


@attrs.define
class _Source:
    name: str
    stream: BinaryIO
    close: bool


def _sources(paths: Sequence[str], stdin: BinaryIO) -> Iterator[_Source]:
    for path in paths or ["-"]:
        if path == "-":
            yield _Source("<stdin>", stdin, False)
            continue
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the caller after reading
        except OSError as error:
            raise OSError(f"cannot read {path}: {error.strerror or error}") from None
        yield _Source(path, handle, True)


def _total_size(paths: Sequence[str]) -> int | None:
    total = 0
    for path in paths or ["-"]:
        if path == "-":
            return None
        try:
            with open(path, "rb") as handle:
                handle.seek(0, 2)
                total += handle.tell()
        except OSError:
            return None
    return total


def _send_into(
    summary: SendSummary,
    client: AuditorClientBlocking,
    paths: Sequence[str],
    batch_size: int,
    stdin: BinaryIO,
    progress_stream: TextIO,
    show_progress: bool,
) -> None:
    sender = Sender(client, summary)
    progress = Progress(progress_stream, _total_size(paths), show_progress)
    done_bytes = 0
    position = Position()
    batch: list[InputRecord] = []
    try:
        for source in _sources(paths, stdin):
            position.bytes_read = 0
            try:
                for item in read_records(source.stream, source.name, position):
                    if isinstance(item, InputProblem):
                        summary.invalid.add(item.where, item.reason)
                        continue
                    batch.append(item)
                    if len(batch) >= batch_size:
                        sender.send(batch)
                        batch = []
                        progress.update(
                            summary.sent + summary.duplicates, done_bytes + position.bytes_read
                        )
            finally:
                if source.close:
                    source.stream.close()
            done_bytes += position.bytes_read
        if batch:
            sender.send(batch)
            progress.update(summary.sent + summary.duplicates, done_bytes)
    finally:
        progress.close()


def run_send(
    client: AuditorClientBlocking,
    paths: Sequence[str],
    *,
    batch_size: int,
    out: TextIO,
    err: TextIO,
    stdin: BinaryIO,
    show_progress: bool,
) -> int:
    """The ``send`` command: send, then print the summary; return the exit status."""
    summary = SendSummary()
    aborted: SendAborted | None = None
    try:
        _send_into(summary, client, paths, batch_size, stdin, err, show_progress)
    except SendAborted as error:
        aborted = error
    _print_summary(summary, out)
    if aborted is not None:
        print(
            f"pyauditor send: stopped: {aborted}; records after those counted above were not "
            "sent (the last batch may or may not be stored): run the same command again, "
            "records already stored are then counted as duplicates",
            file=err,
        )
        return 1
    return 0 if summary.ok else 1


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _print_summary(summary: SendSummary, out: TextIO) -> None:
    conflicts = summary.conflicts.count
    print(
        f"sent {_plural(summary.sent, 'record')}, "
        f"{_plural(summary.duplicates, 'duplicate')} (already stored), "
        f"{summary.rejected.count:,} rejected by the server, "
        + (f"{conflicts:,} in conflict with stored records, " if conflicts else "")
        + f"{summary.invalid.count:,} invalid (not sent)",
        file=out,
    )
    _print_problems("rejected by the server", summary.rejected, out)
    _print_problems("stored with other content (not overwritten)", summary.conflicts, out)
    _print_problems("invalid, not sent", summary.invalid, out)


def _print_problems(title: str, problems: Problems, out: TextIO) -> None:
    if not problems.count:
        return
    print(f"{title}:", file=out)
    for where, reason in problems.shown:
        print(f"  {where}: {reason}", file=out)
    if problems.count > len(problems.shown):
        print(f"  ... and {problems.count - len(problems.shown):,} more", file=out)
