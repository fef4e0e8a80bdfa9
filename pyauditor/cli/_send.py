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
    unknown; running the command again sorts that out (see Duplicates).

Exit status: 0 when every record was stored or already there; 1 when a record was rejected,
the input had invalid records, or the command stopped early.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO, TextIO

import attrs

from .._client import AuditorClientBlocking
from .._errors import (
    APIStatusError,
    AuditorError,
    BadRequestError,
    PayloadTooLargeError,
    RecordExistsError,
)
from .._protocol import BODY_LIMIT, RECORD_EXISTS, batch_json_array, status_error
from .._query import Operator, QueryBuilder, Value
from ._input import InputProblem, InputRecord, Position, read_records

__all__ = ["SendSummary", "Sender", "run_send"]

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
    print(
        f"sent {_plural(summary.sent, 'record')}, "
        f"{_plural(summary.duplicates, 'duplicate')} (already stored), "
        f"{summary.rejected.count:,} rejected by the server, "
        f"{summary.invalid.count:,} invalid (not sent)",
        file=out,
    )
    _print_problems("rejected by the server", summary.rejected, out)
    _print_problems("invalid, not sent", summary.invalid, out)


def _print_problems(title: str, problems: Problems, out: TextIO) -> None:
    if not problems.count:
        return
    print(f"{title}:", file=out)
    for where, reason in problems.shown:
        print(f"  {where}: {reason}", file=out)
    if problems.count > len(problems.shown):
        print(f"  ... and {problems.count - len(problems.shown):,} more", file=out)
