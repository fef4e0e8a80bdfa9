"""``pyauditor send``: validate records from files and bulk insert them.

How records travel
    Records are read, validated and sent in batches of ``--batch-size`` records (default
    1,000, and at most AUDITOR's 2 MiB per request), so memory stays bounded however large the
    input.  An invalid record is reported and skipped; the rest are sent.

Duplicates
    AUDITOR stores a ``POST /records`` batch all-or-nothing: if one record id is already
    stored, the whole batch is refused with ``RECORD_EXISTS``.  ``send`` then asks the server
    which of the batch's records it has: one query for the records that started within the
    batch's start times (at most ten times the batch's size of them).  Those ids are
    *duplicates*; the rest of the batch is sent again.  If that is refused too (a stored
    record with the same id but another start time, or an id repeated within the input), the
    batch is split into 16 parts and those are sent, recursively, down to parts of at most 32
    records, which go record by record; a record answered ``RECORD_EXISTS`` on its own is a
    duplicate.  Every other record still lands, and running the same command again after an
    interruption is cheap and safe: a batch that got through the first time costs one refused
    request and one query, and its records are counted as duplicates.

    A server configured with ``ignore_record_exists_error`` answers a batch holding a
    duplicate with ``200`` and a warning but stores *none* of it; ``send`` recognises the
    warning and treats it like ``RECORD_EXISTS``, so no record is lost there either.

Rejected records
    A batch the server refuses as invalid (``400``) or too large (``413``) is bisected until
    the offending records are isolated; they are reported as rejected with the server's
    message and the others are stored.

Failures
    Anything else (no connection, a timeout, another ``5xx``) says nothing about a record: the
    command stops there and says how far it got.  Whether the batch in flight was stored is
    unknown; running the command again sorts that out (see Duplicates).  Ctrl-C stops the same
    way, with the same report.

What the user sees
    A summary on stdout (``--json``: one JSON object), the first :data:`SHOWN_PROBLEMS`
    invalid and rejected records with their reasons (``--errors FILE``: all of them, one JSON
    object per line), a warning on stderr for records that stop before they start
    (``--refuse-stop-before-start`` makes them invalid), and on a terminal a progress line in
    records, with the rate and the time left.

The interface between the two halves is narrow: the reading and reporting side hands
:class:`InputRecord` batches to :meth:`Sender.send`, which reports every record's outcome into
the :class:`SendSummary` (``sent``, ``duplicates``, ``rejected.add``, ``requests``) or raises
:class:`SendAborted`; the reporting side reads nothing else.

Exit status: 0 when every record was stored or already there; 1 when a record was rejected,
the input had invalid records, or the command stopped early; 130 after Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TextIO

import attrs

from .. import (
    APIStatusError,
    AuditorClientBlocking,
    AuditorError,
    BadRequestError,
    Operator,
    PayloadTooLargeError,
    QueryBuilder,
    RecordExistsError,
    Value,
)

# The sending core's private imports: the batch planner replaces them (issue 12).
from .._protocol import BODY_LIMIT, RECORD_EXISTS, batch_json_array, status_error
from .._records import record_wire_json
from ._common import UsageError, cli_words
from ._input import InputProblem, InputRecord, ParsedRecord, Position, read_records

__all__ = ["SendOptions", "SendSummary", "Sender", "run_send", "to_input_record"]

EXISTS_FANOUT = 16
"""Parts a batch answered RECORD_EXISTS is split into."""
ONE_BY_ONE = 2 * EXISTS_FANOUT
"""Parts this small that are answered RECORD_EXISTS go record by record."""
SHOWN_PROBLEMS = 20
"""Rejections listed with their reasons in the summary; the rest are counted."""


class _Duplicate(Exception):
    """A 2xx answer with AUDITOR's ``ignore_record_exists_error`` warning: nothing stored."""


class SendAborted(Exception):
    """Sending stopped: the server or the connection failed in a way no record explains."""

    def __init__(self, error: AuditorError) -> None:
        super().__init__(str(error))
        self.error = error


@attrs.define
class Problems:
    """How many records failed in one way, and the first few with their reasons.

    Only the first :data:`SHOWN_PROBLEMS` are kept, so a huge input of bad records does not
    fill memory with messages nobody reads; ``sink``, if set, is told about every one (for
    ``send --errors``).
    """

    count: int = 0
    shown: list[tuple[str, str]] = attrs.Factory(list)
    sink: Callable[[str, str], None] | None = None

    def add(self, where: str, reason: str) -> None:
        """Count one more, keeping its reason if it is among the first few."""
        self.count += 1
        if len(self.shown) < SHOWN_PROBLEMS:
            self.shown.append((where, reason))
        if self.sink is not None:
            self.sink(where, reason)


@attrs.define
class SendSummary:
    """What ``send`` did: counts, and reasons for the first rejections."""

    sent: int = 0
    duplicates: int = 0
    rejected: Problems = attrs.Factory(Problems)
    invalid: Problems = attrs.Factory(Problems)
    requests: int = 0

    @property
    def ok(self) -> bool:
        """True when every record of the input is stored (or was already)."""
        return not self.rejected.count and not self.invalid.count


class Sender:
    """Sends batches of validated records and classifies every record's outcome."""

    def __init__(self, client: AuditorClientBlocking, summary: SendSummary) -> None:
        self._client = client
        self._summary = summary

    def _post(self, items: Sequence[InputRecord]) -> None:
        """One ``POST /records`` of ``items``; raise what its answer means."""
        body = ("[" + ",".join(item.wire for item in items) + "]").encode("utf-8")
        self._summary.requests += 1
        status, answer = self._client._exchange("POST", "/records", body)
        url = self._client._url("/records")
        if not 200 <= status < 300:
            raise status_error(status, answer, "POST", url)
        text = answer.strip()
        if text == RECORD_EXISTS.encode():
            raise RecordExistsError(RECORD_EXISTS, status_code=status, body=RECORD_EXISTS)
        if text.startswith(b"{"):
            with contextlib.suppress(ValueError, AttributeError):
                if "warning" in json.loads(text):
                    raise _Duplicate(text.decode("utf-8", "replace"))

    def _stored_ids(self, items: Sequence[InputRecord]) -> set[str]:
        """The ids of ``items`` the server has, as far as one bounded query finds them.

        Only ids that are certainly stored are returned (an id the server has cannot be
        inserted again, whatever the record's other fields); a failed query returns none, so
        the caller falls back to narrowing down by splitting.
        """
        first = min(item.start_time for item in items)
        last = max(item.start_time for item in items)
        window = Operator().gte(Value.set_datetime(first)).lte(Value.set_datetime(last))
        query = QueryBuilder().with_start_time(window).limit(10 * len(items)).build()
        wanted = {item.record_id for item in items}
        found: set[str] = set()
        self._summary.requests += 1
        try:
            for record in self._client.iter_records(query):
                if record.record_id in wanted:
                    found.add(record.record_id)
        except AuditorError:
            return set()
        return found

    def send(self, items: Sequence[InputRecord]) -> None:
        """Deliver ``items`` (in bodies under the server's size limit).

        Raises:
            SendAborted: a failure that no record explains; the summary counts what got through.
        """
        texts = [item.wire for item in items]
        for start, stop, _body in batch_json_array(texts, BODY_LIMIT):
            self._deliver(items[start:stop])

    def _deliver(self, items: Sequence[InputRecord], *, asked: bool = False) -> None:
        summary = self._summary
        try:
            self._post(items)
        except (RecordExistsError, _Duplicate):
            if len(items) == 1:
                summary.duplicates += 1
                return
            stored = set() if asked else self._stored_ids(items)
            if stored:
                rest = [item for item in items if item.record_id not in stored]
                summary.duplicates += len(items) - len(rest)
                if rest:
                    self._deliver(rest, asked=True)
            elif len(items) <= ONE_BY_ONE:
                for item in items:
                    self._deliver([item], asked=True)
            else:
                for part in _split(items, EXISTS_FANOUT):
                    self._deliver(part, asked=True)
            return
        except (BadRequestError, PayloadTooLargeError) as error:
            if len(items) == 1:
                summary.rejected.add(items[0].where, _reason(error))
            else:
                for part in _split(items, 2):
                    self._deliver(part)
            return
        except AuditorError as error:
            raise SendAborted(error) from None
        summary.sent += len(items)


def _split(items: Sequence[InputRecord], parts: int) -> Iterator[Sequence[InputRecord]]:
    size = -(-len(items) // parts)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reason(error: APIStatusError) -> str:
    body = " ".join(error.body.split())
    return f"HTTP {error.status_code}: {body}" if body else f"HTTP {error.status_code}"


def to_input_record(parsed: ParsedRecord) -> InputRecord:
    """A record read from the input, in the form :class:`Sender` sends."""
    record = parsed.record
    start = record.start_time
    assert start is not None  # validated
    wire = record_wire_json(record)
    return InputRecord(parsed.where, record.record_id, start.replace(tzinfo=_dt.UTC), wire)


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
    batch: list[InputRecord] = attrs.Factory(list)
    in_flight: Sequence[InputRecord] = ()
    backwards: int = 0
    backwards_shown: list[str] = attrs.Factory(list)
    stopped: str | None = None
    interrupted: bool = False


class _ErrorsFile:
    """``--errors FILE``: every invalid and rejected record, one JSON object per line."""

    def __init__(self, path: str | None) -> None:
        self._file: TextIO | None = None
        if path is None:
            return
        try:
            self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise UsageError(f"--errors {path}: {error.strerror or error}") from None

    def write(self, kind: str, where: str, reason: str, record_id: object, value: object) -> None:
        if self._file is None:
            return
        line = {
            "kind": kind,
            "where": where,
            "record_id": record_id if isinstance(record_id, str) else None,
            "reason": reason,
            "record": value,
        }
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")

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
    sender = Sender(client, summary)
    done_bytes = 0
    position = Position()

    def done() -> int:
        return summary.sent + summary.duplicates + summary.rejected.count + summary.invalid.count

    def seen() -> int:  # values read from the input, valid or not
        return state.read + summary.invalid.count

    def flush() -> None:
        state.in_flight, state.batch = state.batch, []
        sender.send(state.in_flight)
        state.in_flight = ()
        progress.update(done(), seen(), done_bytes + position.bytes_read)

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
                state.batch.append(to_input_record(item))
                if len(state.batch) >= options.batch_size:
                    flush()
        finally:
            if source.close:
                source.stream.close()
        done_bytes += position.bytes_read
    if state.batch:
        flush()
    progress.update(done(), seen(), done_bytes)


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
    in_flight: dict[str, InputRecord] = {}

    def rejected(where: str, reason: str) -> None:
        # The sending core names a rejected record by where it came from; it is in the
        # batch in flight.
        if not in_flight or where not in in_flight:
            in_flight.clear()
            in_flight.update((item.where, item) for item in state.in_flight)
        item = in_flight.get(where)
        value = json.loads(item.wire) if item is not None else None
        record_id = item.record_id if item is not None else None
        errors.write("rejected", where, reason, record_id, value)

    summary.rejected.sink = rejected
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
            f"{summary.rejected.count:,} rejected by the server{where}",
            file=err,
        )
        return 1
    return 0


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _unsent(state: _Run) -> str:
    """What an early stop left unsent, in one sentence."""
    flight = state.in_flight
    if flight:
        return (
            f"the batch of {_plural(len(flight), 'record')} being sent (from {flight[0].where}) "
            "may or may not be stored, and the records after it were not sent"
        )
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


def _print_json(summary: SendSummary, state: _Run, options: SendOptions, out: TextIO) -> None:
    answer: dict[str, Any] = {
        "sent": summary.sent,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected.count,
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
            for kind, problems in (("rejected", summary.rejected), ("invalid", summary.invalid))
            for where, reason in problems.shown
        ],
    }
    out.write(json.dumps(answer, indent=2) + "\n")


def _print_summary(summary: SendSummary, options: SendOptions, out: TextIO) -> None:
    print(
        f"sent {_plural(summary.sent, 'record')}, "
        f"{_plural(summary.duplicates, 'duplicate')} (already stored), "
        f"{summary.rejected.count:,} rejected by the server, "
        f"{summary.invalid.count:,} invalid (not sent)",
        file=out,
    )
    _print_problems("rejected by the server", summary.rejected, options, out)
    _print_problems("invalid, not sent", summary.invalid, options, out)


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
