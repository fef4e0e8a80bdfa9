"""Kill -9 at random moments, restart on the same queue file, check nothing is lost or doubled.

One ``pyauditor.testing`` server process with a file database serves every child.  ``slots``
children run side by side, each on its own queue file; each is started ``kills`` times and
killed with SIGKILL after a random delay, which lands while it starts up or opens its queue,
while it enqueues, in the middle of a request, or between the server's answer and the commit
that removes the rows.  Then a clean child per queue drains it, and the checks run:

* every id whose ``add``/``bulk_insert`` returned is stored on the server (nothing lost);
* every stored id was attempted (nothing invented), and none is stored twice;
* every update whose ``update`` returned is applied; an update that was only attempted is
  either applied or not, never anything else;
* each queue file passes ``PRAGMA integrity_check`` and is empty, with no dead letters.

``make test`` runs a short version (``tests/queue/test_crash_safety.py``).  The long run::

    .venv/bin/python -m tests.queue.crash_harness --slots 3 --kills 1000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CHILD = "tests.queue.crash_child"


@dataclass
class Report:
    seed: int = 0
    kills: int = 0
    acked: set[str] = field(default_factory=set)
    attempted: set[str] = field(default_factory=set)
    updates_acked: set[str] = field(default_factory=set)
    updates_attempted: set[str] = field(default_factory=set)
    stored: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.kills} kills in {self.seconds:.1f} s: {len(self.acked)} records acknowledged, "
            f"{len(self.attempted)} attempted, {len(self.stored)} stored, "
            f"{len(self.updates_acked)} updates acknowledged; "
            f"{'OK' if not self.problems else '; '.join(self.problems[:5])}"
        )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


@contextlib.contextmanager
def server_process(db: Path) -> Iterator[str]:
    """``python -m pyauditor.testing`` on a free port with a file database; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pyauditor.testing", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(
                f"server did not start: {line!r} {process.stderr.read() if process.stderr else ''}"
            )
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(10)


def _slot(
    index: int,
    directory: Path,
    url: str,
    kills: int,
    rnd: random.Random,
    report: Report,
    lock: threading.Lock,
) -> None:
    queue = directory / f"queue-{index}.db"
    log = directory / f"log-{index}.txt"
    with open(directory / f"stderr-{index}.txt", "ab") as errors:
        for run in range(kills):
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    CHILD,
                    str(queue),
                    url,
                    str(log),
                    f"s{index}r{run}",
                    str(rnd.randrange(2**32)),
                ],
                env=_env(),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
            assert child.stdout is not None
            if rnd.random() < 0.15:
                # While it starts: imports, opening (and maybe migrating) the queue file.
                time.sleep(rnd.uniform(0.0, 0.4))
            else:
                # While it works: enqueueing, sending, committing verdicts, all interleaved.
                ready = child.stdout.readline()
                if ready != b"READY\n":
                    child.wait()
                    with lock:
                        report.problems.append(
                            f"child {index}/{run} failed (rc {child.returncode})"
                        )
                    continue
                time.sleep(rnd.uniform(0.0, 0.5))
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
            with lock:
                report.kills += 1


def _read_log(path: Path, report: Report) -> None:
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            continue  # cut off by the kill (writes of a line are atomic, but be safe)
        kind, *ids = line.split()
        if kind == "T":
            report.attempted.update(ids)
        elif kind == "A":
            report.acked.update(ids)
        elif kind == "TU":
            report.updates_attempted.update(ids)
        elif kind == "U":
            report.updates_acked.update(ids)


def _stored(url: str) -> list[dict[str, object]]:
    body = httpx.get(url + "/records", timeout=60).text
    decoder = json.JSONDecoder()
    records, position = [], 0
    while position < len(body):
        while position < len(body) and body[position].isspace():
            position += 1
        if position == len(body):
            break
        record, position = decoder.raw_decode(body, position)
        records.append(record)
    return records


def run(directory: Path, *, slots: int = 3, kills: int = 34, seed: int | None = None) -> Report:
    """Run the whole experiment in ``directory``; return what was seen (``problems`` empty: ok)."""
    from .crash_child import stop_time

    seed = random.randrange(2**32) if seed is None else seed
    rnd = random.Random(seed)
    report = Report(seed=seed)
    began = time.monotonic()
    lock = threading.Lock()
    with server_process(directory / "server.db") as url:
        threads = [
            threading.Thread(
                target=_slot,
                args=(i, directory, url, kills, random.Random(rnd.randrange(2**32)), report, lock),
            )
            for i in range(slots)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        drains = {
            index: subprocess.Popen(
                [sys.executable, "-m", CHILD, str(directory / f"queue-{index}.db"), url, "--drain"],
                env=_env(),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(slots)
            if (directory / f"queue-{index}.db").exists()
        }
        for index, drain in drains.items():
            _, errors = drain.communicate(timeout=300)
            if drain.returncode != 0:
                report.problems.append(f"draining queue {index} failed: {errors[-2000:]}")
            with contextlib.closing(sqlite3.connect(directory / f"queue-{index}.db")) as conn:
                check = conn.execute("PRAGMA integrity_check").fetchall()
                if check != [("ok",)]:
                    report.problems.append(f"queue {index}: integrity_check {check}")
        for index in range(slots):
            _read_log(directory / f"log-{index}.txt", report)
        report.stored = _stored(url)
    report.seconds = time.monotonic() - began

    ids = [str(r["record_id"]) for r in report.stored]
    stored = set(ids)
    if len(ids) != len(stored):
        report.problems.append(f"{len(ids) - len(stored)} record(s) stored twice")
    if lost := report.acked - stored:
        report.problems.append(f"{len(lost)} acknowledged record(s) lost, e.g. {sorted(lost)[:5]}")
    if invented := stored - report.attempted:
        report.problems.append(
            f"{len(invented)} stored record(s) never attempted: {sorted(invented)[:5]}"
        )
    by_id = {str(r["record_id"]): r for r in report.stored}
    for record_id in report.updates_attempted:
        stop = by_id.get(record_id, {}).get("stop_time")
        if record_id in report.updates_acked and stop != stop_time(record_id):
            report.problems.append(f"acknowledged update of {record_id} not applied ({stop!r})")
        elif stop not in (None, stop_time(record_id)):
            report.problems.append(f"update of {record_id} applied wrongly ({stop!r})")
    for record_id, record in by_id.items():
        if record_id not in report.updates_attempted and record.get("stop_time") is not None:
            report.problems.append(f"{record_id} has a stop time nobody sent")
    if not report.acked:
        report.problems.append("no record was acknowledged: the children never got to work")
    return report


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slots", type=int, default=3, help="children side by side (default 3)")
    parser.add_argument("--kills", type=int, default=300, help="kills per child (default 300)")
    parser.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    seed = random.randrange(2**32) if args.seed is None else args.seed
    print(f"seed {seed}", flush=True)
    directory = Path(tempfile.mkdtemp(prefix="pyauditor-crash-"))
    report = run(directory, slots=args.slots, kills=args.kills, seed=seed)
    print(report.summary())
    if args.keep:
        print(f"files kept in {directory}")
    else:
        import shutil

        shutil.rmtree(directory)
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
