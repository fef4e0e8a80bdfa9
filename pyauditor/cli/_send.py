"""``pyauditor send``: validate records from files and bulk insert them.

How records travel
    Records are read, validated and sent in batches of ``--batch-size`` records (default
    1,000, and at most AUDITOR's 2 MiB per request), so memory stays bounded however large the
    input.  An invalid record is reported and skipped; the rest are sent.  The sending is the
    library's :class:`pyauditor.bulk.BulkSender`: the batch planner that ``bulk_insert`` and
    the queued clients use, one per command, so what it learns about the server carries over
    from batch to batch.

Duplicates and conflicts
    AUDITOR stores a ``POST /records`` batch all-or-nothing: if one record id is already
    stored, the whole batch is refused with ``RECORD_EXISTS`` (or, on a server configured with
    ``ignore_record_exists_error``, answered ``200`` with a warning while storing *none* of it).
    The planner then asks the server which of the batch's records it has, with queries over the
    batch's start times, and sends the rest again.  A record the server holds identically is a
    *duplicate*; one whose id it holds with other content is a *conflict* (reported, never
    overwritten).  Once a batch had duplicates, later batches are looked up before they are
    sent, so running the same command again after an interruption costs about one query per
    batch.  What the queries cannot settle is narrowed down by splitting batches.

Rejected records
    A batch the server refuses as invalid (``400``) or too large (``413``) is bisected until
    the offending records are isolated; they are reported as rejected with the server's
    message and the others are stored.  So is a record the server answers with a ``5xx`` alone
    while it stores others, and one with a NUL character, which AUDITOR cannot store.  A
    record answered ``5xx`` alone with nothing stored after it is reported as *failed*: the
    server's trouble as much as the record's, so sending it again may work.

Failures
    Anything else (no connection, a timeout, the server failing every request) says nothing
    about a record: the command stops there and says how far it got.  Whether the records in
    flight were stored is unknown; running the command again sorts that out (see Duplicates).
    Ctrl-C stops the same way, with the same report.

What the user sees
    A summary on stdout (``--json``: one JSON object), the first :data:`SHOWN_PROBLEMS`
    invalid, rejected, conflicting and failed records with their reasons (``--errors FILE``:
    all of them, one JSON object per line), a warning on stderr for records that stop before
    they start (``--refuse-stop-before-start`` makes them invalid), and on a terminal a progress
    line in records, with the rate and the time left.

Exit status: 0 when every record was stored or already there; 1 when a record was invalid,
rejected, in conflict with a stored one or failed, or the command stopped early; 130 after
Ctrl-C.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TextIO

import attrs

from .. import AuditorClientBlocking, AuditorError
from ..bulk import BulkSender, Outcome, Verdict
from ._common import UsageError, cli_words
from ._input import InputProblem, ParsedRecord, Position, read_records

__all__ = ["SendOptions", "SendSummary", "Sender", "run_send"]

SHOWN_PROBLEMS = 20
"""Problems of each kind listed with their reasons in the summary; the rest are counted."""


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
        failed: Records the server failed on (a 5xx) while it answered otherwise.
        invalid: Records of the input that are not valid records (never sent).
        requests: Requests made (writes and queries).
    """

    sent: int = 0
    duplicates: int = 0
    conflicts: Problems = attrs.Factory(Problems)
    rejected: Problems = attrs.Factory(Problems)
    failed: Problems = attrs.Factory(Problems)
    invalid: Problems = attrs.Factory(Problems)
    requests: int = 0

    @property
    def ok(self) -> bool:
        """True when every record of the input is stored (or was already, identically)."""
        return not (self.unstored or self.invalid.count)

    @property
    def unstored(self) -> int:
        """Records sent that the server does not hold: conflicts, rejected and failed."""
        return self.conflicts.count + self.rejected.count + self.failed.count

    @property
    def settled(self) -> int:
        """Records with a final outcome so far (for progress displays)."""
        return self.sent + self.duplicates + self.unstored + self.invalid.count


Report = Callable[[str, ParsedRecord, str, "str | None"], None]
"""Told about every record sent but not stored: kind, the record, reason, the server's version."""


class Sender:
    """Sends batches of records with :class:`~pyauditor.bulk.BulkSender`; counts every outcome.

    One per command.  Every record sent but not stored is counted in the summary and passed to
    ``report`` (``"conflict"``, ``"rejected"`` or ``"failed"``, with the server's version of a
    conflicting record).

    Args:
        client: The client that sends.
        summary: Updated as outcomes come in.
        report: Called with every record sent but not stored.
    """

    def __init__(
        self, client: AuditorClientBlocking, summary: SendSummary, report: Report | None = None
    ) -> None:
        self._summary = summary
        self._report = report
        self._sender = BulkSender(client, on_outcome=self._settle)
        self._batch: Sequence[ParsedRecord] = ()
        self._decided = bytearray()

    def unsent(self) -> list[ParsedRecord]:
        """The records of the batch being sent that have no outcome (after a stop, Ctrl-C)."""
        return [item for item, done in zip(self._batch, self._decided, strict=True) if not done]

    def send(self, items: Sequence[ParsedRecord]) -> None:
        """Deliver ``items``.

        Raises:
            SendAborted: a failure that no record explains; the summary counts what got through
                and :meth:`unsent` says what may not have.
        """
        self._batch, self._decided = items, bytearray(len(items))
        before = self._sender.requests
        try:
            result = self._sender.send([item.record for item in items])
        finally:
            self._summary.requests += self._sender.requests - before
        if result.stopped is not None:
            raise SendAborted(result.stopped)
        # Failures that did not stop the plan were the server's answer about those records.
        for outcome in result.outcomes:
            if outcome.verdict is Verdict.FAILED and not outcome.isolated:
                self._problem("failed", self._summary.failed, outcome)
        self._batch, self._decided = (), bytearray()

    def _settle(self, outcome: Outcome) -> None:
        verdict = outcome.verdict
        summary = self._summary
        if verdict is Verdict.STORED:
            summary.sent += len(outcome.indexes)
        elif verdict is Verdict.DUPLICATE:
            summary.duplicates += len(outcome.indexes)
        elif verdict is Verdict.CONFLICT:
            self._problem("conflict", summary.conflicts, outcome)
        elif verdict is Verdict.REJECTED or outcome.isolated:
            self._problem("rejected", summary.rejected, outcome)
        else:
            return  # FAILED: known once the batch's plan ends (see send)
        for index in outcome.indexes:
            self._decided[index] = 1

    def _problem(self, kind: str, problems: Problems, outcome: Outcome) -> None:
        reason = _describe(outcome)
        for index in outcome.indexes:
            item = self._batch[index]
            problems.add(item.where, reason)
            if self._report is not None:
                self._report(kind, item, reason, outcome.stored)


def _describe(outcome: Outcome) -> str:
    reason = " ".join(outcome.reason.split())  # a proxy's HTML page, say: one line
    if outcome.status is None:
        return reason
    return f"HTTP {outcome.status}: {reason}" if reason else f"HTTP {outcome.status}"


# -- what the user sees ------------------------------------------------------------------------


@attrs.frozen
class SendOptions:
    """How ``send`` reads, sends and reports (its command-line options)."""

    batch_size: int = 1000
    as_json: bool = False
    errors_path: str | None = None
    refuse_stop_before_start: bool = False
    show_progress: bool = False


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class Progress:
    """A one-line progress display in records on a terminal; silent elsewhere.

    It appears only once sending has taken half a second, so small inputs print nothing but
    their summary.  It counts the records done (stored, duplicates, rejected and invalid) and
    their rate; when the input's size is known (files, not stdin) it also estimates the total
    number of records from the bytes read so far, and from that the time left.
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

    def update(self, done: int, records_read: int, bytes_read: int) -> None:
        """Redraw (at most ten times a second).

        Args:
            done: Records whose outcome is known.
            records_read: Records read from the input so far.
            bytes_read: How far into the input those are.
        """
        if not self._enabled:
            return
        now = time.monotonic()
        elapsed = now - self._started
        if elapsed < self.DELAY or now - self._last < self.INTERVAL:
            return
        self._last = now
        rate = done / elapsed if elapsed > 0 else 0.0
        line = f"{done:,} records  {rate:,.0f} records/s"
        if self._total and bytes_read > 0 and records_read > 0:
            estimate = max(records_read * self._total // bytes_read, records_read, done)
            fraction = min(done / estimate, 1.0)
            filled = int(fraction * 20)
            left = (estimate - done) / rate if rate > 0 else None
            eta = f"  ETA {_clock(left)}" if left is not None else ""
            line = (
                f"[{'#' * filled}{'.' * (20 - filled)}] {fraction:4.0%}  {done:,} of "
                f"~{estimate:,} records  {rate:,.0f}/s{eta}"
            )
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


@attrs.define
class _Run:
    """How far a ``send`` got: what was read, and what is in flight."""

    read: int = 0
    batch: list[ParsedRecord] = attrs.Factory(list)
    in_flight: Sequence[ParsedRecord] = ()
    sender: Sender | None = None
    finished_reading: bool = False
    backwards: int = 0
    backwards_shown: list[str] = attrs.Factory(list)
    stopped: str | None = None
    interrupted: bool = False


class _ErrorsFile:
    """``--errors FILE``: every record not stored, one JSON object per line.

    Each line has ``kind`` (``invalid``, ``rejected``, ``conflict``, ``failed``), ``where``,
    ``record_id``, ``reason``, ``record`` (the JSON object as read, so it can be fixed and sent
    again) and ``stored`` (for a conflict: the record the server holds under that id).
    """

    def __init__(self, path: str | None) -> None:
        self._file: TextIO | None = None
        if path is None:
            return
        try:
            self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise UsageError(f"--errors {path}: {error.strerror or error}") from None

    def write(
        self,
        kind: str,
        where: str,
        reason: str,
        record_id: object,
        value: object,
        stored: str | None = None,
    ) -> None:
        if self._file is None:
            return
        line = {
            "kind": kind,
            "where": where,
            "record_id": record_id if isinstance(record_id, str) else None,
            "reason": reason,
            "record": value,
            "stored": None if stored is None else json.loads(stored),
        }
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")

    def unstored(self, kind: str, item: ParsedRecord, reason: str, stored: str | None) -> None:
        """A record sent but not stored (a :data:`Report`)."""
        self.write(kind, item.where, reason, item.record.record_id, item.value, stored)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _send_into(
    summary: SendSummary,
    state: _Run,
    client: AuditorClientBlocking,
    paths: Sequence[str],
    options: SendOptions,
    stdin: BinaryIO,
    progress: Progress,
    errors: _ErrorsFile,
) -> None:
    sender = state.sender = Sender(client, summary, errors.unstored)
    done_bytes = 0
    position = Position()

    def seen() -> int:  # values read from the input, valid or not
        return state.read + summary.invalid.count

    def flush() -> None:
        state.in_flight, state.batch = state.batch, []
        sender.send(state.in_flight)
        state.in_flight = ()
        progress.update(summary.settled, seen(), done_bytes + position.bytes_read)

    for source in _sources(paths, stdin):
        position.bytes_read = 0
        try:
            for item in read_records(source.stream, source.name, position):
                if isinstance(item, InputProblem):
                    value = item.value
                    record_id = value.get("record_id") if isinstance(value, dict) else None
                    errors.write("invalid", item.where, item.reason, record_id, value)
                    summary.invalid.add(item.where, item.reason)
                    continue
                if item.stops_before_start:
                    state.backwards += 1
                    if len(state.backwards_shown) < 3:
                        state.backwards_shown.append(item.where)
                    if options.refuse_stop_before_start:
                        reason = "stops before it starts (--refuse-stop-before-start)"
                        errors.write(
                            "invalid", item.where, reason, item.record.record_id, item.value
                        )
                        summary.invalid.add(item.where, reason)
                        continue
                state.read += 1
                state.batch.append(item)
                if len(state.batch) >= options.batch_size:
                    flush()
        finally:
            if source.close:
                source.stream.close()
        done_bytes += position.bytes_read
    state.finished_reading = True
    if state.batch:
        flush()
    progress.update(summary.settled, seen(), done_bytes)


def run_send(
    client: AuditorClientBlocking,
    paths: Sequence[str],
    options: SendOptions,
    *,
    out: TextIO,
    err: TextIO,
    stdin: BinaryIO,
) -> int:
    """The ``send`` command: send, then report; return the exit status."""
    errors = _ErrorsFile(options.errors_path)
    state = _Run()
    summary = SendSummary()
    progress = Progress(err, _total_size(paths), options.show_progress)
    try:
        _send_into(summary, state, client, paths, options, stdin, progress, errors)
    except SendAborted as error:
        state.stopped = cli_words(str(error))
    except KeyboardInterrupt:
        state.interrupted = True
    finally:
        progress.close()
        errors.close()
    if state.backwards:
        was = "was" if state.backwards == 1 else "were"
        what = f"{was} not sent" if options.refuse_stop_before_start else f"{was} sent anyway"
        examples = ", ".join(state.backwards_shown)
        more = ", ..." if state.backwards > len(state.backwards_shown) else ""
        verb = "stops before it starts" if state.backwards == 1 else "stop before they start"
        print(
            f"pyauditor send: warning: {_plural(state.backwards, 'record')} {verb} (a negative "
            f"runtime) and {what}: {examples}{more}",
            file=err,
        )
    if options.as_json:
        _print_json(summary, state, options, out)
    else:
        _print_summary(summary, options, out)
    if state.stopped is not None or state.interrupted:
        _print_unsent(state, err)
        return 130 if state.interrupted else 1
    if not summary.ok:
        where = f" (all of them are in {options.errors_path})" if options.errors_path else ""
        print(
            f"pyauditor send: error: not stored: {summary.invalid.count:,} invalid, "
            f"{_unstored_counts(summary)}{where}",
            file=err,
        )
        return 1
    return 0


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _unsent(state: _Run) -> str:
    """What an early stop left unsent, in one sentence."""
    unsent = state.sender.unsent() if state.sender is not None and state.in_flight else []
    after = "" if state.finished_reading else ", and the records after it were not sent"
    if unsent:
        what = (
            f"the batch of {_plural(len(unsent), 'record')} being sent"
            if len(unsent) == len(state.in_flight)
            else f"{_plural(len(unsent), 'record')} of the batch being sent"
        )
        return f"{what} (from {unsent[0].where}) may or may not be stored{after}"
    if state.batch:
        return f"records from {state.batch[0].where} on were not sent"
    return "records after those counted above were not sent"


def _print_unsent(state: _Run, err: TextIO) -> None:
    why = "interrupted" if state.interrupted else f"stopped: {state.stopped}"
    print(
        f"pyauditor send: {why}; {_unsent(state)}. Run the same command again to send the "
        "rest: records already stored are then counted as duplicates",
        file=err,
    )


def _kinds(summary: SendSummary) -> list[tuple[str, str, Problems]]:
    """The problems of each kind: their name in JSON, their title, the problems."""
    return [
        ("rejected", "rejected by the server", summary.rejected),
        ("conflict", "stored with other content (not overwritten)", summary.conflicts),
        ("failed", "failed on the server (not stored; sending again may work)", summary.failed),
        ("invalid", "invalid, not sent", summary.invalid),
    ]


def _print_json(summary: SendSummary, state: _Run, options: SendOptions, out: TextIO) -> None:
    answer: dict[str, Any] = {
        "sent": summary.sent,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected.count,
        "conflicts": summary.conflicts.count,
        "failed": summary.failed.count,
        "invalid": summary.invalid.count,
        "stop_before_start": state.backwards,
        "requests": summary.requests,
        "complete": summary.ok and state.stopped is None and not state.interrupted,
        "stopped": state.stopped,
        "interrupted": state.interrupted,
        "unsent": _unsent(state) if state.stopped is not None or state.interrupted else None,
        "errors_file": options.errors_path,
        "problems": [
            {"kind": kind, "where": where, "reason": reason}
            for kind, _title, problems in _kinds(summary)
            for where, reason in problems.shown
        ],
    }
    out.write(json.dumps(answer, indent=2) + "\n")


def _unstored_counts(summary: SendSummary) -> str:
    """The records sent but not stored, by kind; conflicts and failures only if any."""
    conflicts, failed = summary.conflicts.count, summary.failed.count
    return ", ".join(
        [f"{summary.rejected.count:,} rejected by the server"]
        + ([f"{conflicts:,} in conflict with stored records"] if conflicts else [])
        + ([f"{failed:,} failed on the server"] if failed else [])
    )


def _print_summary(summary: SendSummary, options: SendOptions, out: TextIO) -> None:
    print(
        f"sent {_plural(summary.sent, 'record')}, "
        f"{_plural(summary.duplicates, 'duplicate')} (already stored), "
        f"{_unstored_counts(summary)}, {summary.invalid.count:,} invalid (not sent)",
        file=out,
    )
    for _kind, title, problems in _kinds(summary):
        _print_problems(title, problems, options, out)


def _print_problems(title: str, problems: Problems, options: SendOptions, out: TextIO) -> None:
    if not problems.count:
        return
    print(f"{title}:", file=out)
    for where, reason in problems.shown:
        print(f"  {where}: {reason}", file=out)
    if problems.count > len(problems.shown):
        where = (
            f"all of them are in {options.errors_path}"
            if options.errors_path
            else "--errors FILE lists them all"
        )
        print(f"  ... and {problems.count - len(problems.shown):,} more ({where})", file=out)
