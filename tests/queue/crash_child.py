"""Child process of the kill -9 test: queues records and delivers them until it is killed.

Usage: ``python -m tests.queue.crash_child QUEUE URL LOG PREFIX SEED`` (or ``QUEUE URL --drain``).

It builds a QueuedAuditorClient on QUEUE the way a collector does and appends to LOG, one line
per event, flushed at once (a process kill loses nothing already written):

* ``T id id ...``  before ``add``/``bulk_insert`` is called: these ids were attempted;
* ``A id id ...``  after it returned: these must reach the server exactly once;
* ``TU id`` / ``U id``  the same for ``update`` (stop time: :func:`stop_time`).

With ``--drain`` it delivers the whole queue, checks that it is empty, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
from typing import IO

from pyauditor import AuditorClientBuilder, Component, Meta, QueuedAuditorClient, Record

START = dt.datetime(2022, 8, 8, 11, 30, tzinfo=dt.UTC)


def stop_time(record_id: str) -> str:
    """The stop time the child gives ``record_id``'s update, as the server returns it."""
    return f"2022-08-08T12:{int(record_id.rsplit('-', 1)[1]) % 60:02d}:00Z"


def record(record_id: str) -> Record:
    return (
        Record(record_id, START)
        .with_meta(Meta().insert("site", ["crash"]))
        .with_component(Component("cpu", 1))
    )


def finished(record_id: str) -> Record:
    stop = dt.datetime.fromisoformat(stop_time(record_id).replace("Z", "+00:00"))
    return record(record_id).with_stop_time(stop)


def log(out: IO[str], *words: str) -> None:
    out.write(" ".join(words) + "\n")
    out.flush()


async def build(queue: str, url: str) -> QueuedAuditorClient:
    return await (
        AuditorClientBuilder()
        .connection_string(url)
        .database_path(queue)
        .send_interval(0.02)
        .timeout(5)
        .build_queued()
    )


async def drain(queue: str, url: str) -> None:
    client = await build(queue, url)
    for _ in range(1000):
        status = await client.flush()
        if not status.queued:
            break
        await asyncio.sleep(0.05)  # the server hiccuped: try again
    assert status.queued == 0, status
    assert status.dead_letters == 0, await client.dead_letters()
    await client.stop()


async def work(queue: str, url: str, prefix: str, seed: int, out: IO[str]) -> None:
    client = await build(queue, url)
    print("READY", flush=True)
    rnd = random.Random(seed)
    acked: list[str] = []
    number = 0
    while True:
        if acked and rnd.random() < 0.2:
            record_id = acked.pop(rnd.randrange(len(acked)))
            log(out, "TU", record_id)
            await client.update(finished(record_id))
            log(out, "U", record_id)
            continue
        size = rnd.choice((1, 1, 1, 3, 40))
        ids = [f"{prefix}-{number + i}" for i in range(size)]
        number += size
        log(out, "T", *ids)
        if size == 1:
            await client.add(record(ids[0]))
        else:
            await client.bulk_insert([record(i) for i in ids])
        log(out, "A", *ids)
        acked.extend(ids)
        # Paced like a busy collector, so the sender keeps up and kills land in deliveries.
        await asyncio.sleep(rnd.choice((0, 0.001, 0.002, 0.005)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queue")
    parser.add_argument("url")
    parser.add_argument("log", nargs="?")
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("seed", nargs="?", type=int)
    parser.add_argument("--drain", action="store_true")
    args = parser.parse_args()
    if args.drain:
        asyncio.run(drain(args.queue, args.url))
        return
    # Opened before the loop runs: each line goes straight to the file (a kill loses nothing).
    with open(args.log, "a", encoding="utf-8") as out:
        asyncio.run(work(args.queue, args.url, args.prefix, args.seed, out))


if __name__ == "__main__":
    main()
