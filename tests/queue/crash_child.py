"""Child process of the kill -9 test: queues records and delivers them until it is killed.

Usage: ``python -m tests.queue.crash_child QUEUE URL LOG PREFIX SEED`` (or ``--drain``).

It appends to LOG, one line each, flushed at once (a process kill loses nothing written):

* ``T id id ...``  before ``add``/``bulk_insert`` is called: these ids were attempted;
* ``A id id ...``  after it returned: these must reach the server exactly once;
* ``TU id stop`` / ``U id stop``  the same for ``update``.

With ``--drain`` it delivers the whole queue, checks that it is empty, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import random
from typing import IO

import httpx

from pyauditor._errors import APIConnectionError, APITimeoutError
from pyauditor._protocol import check_write_answer
from pyauditor._queue import QueueStore, parse_database_path
from pyauditor._sender import AsyncSender

START = "2022-08-08T11:30:00Z"


def stop_time(record_id: str) -> str:
    return f"2022-08-08T12:{int(record_id.rsplit('-', 1)[1]) % 60:02d}:00Z"


def insert_body(record_id: str) -> str:
    return (
        f'{{"record_id":"{record_id}","meta":{{"site":["crash"]}},'
        f'"components":[{{"name":"cpu","amount":1,"scores":[]}}],'
        f'"start_time":"{START}","stop_time":null}}'
    )


def update_body(record_id: str) -> str:
    return insert_body(record_id).replace(
        '"stop_time":null', f'"stop_time":"{stop_time(record_id)}"'
    )


class HttpSender:
    """``_send_body`` over httpx, mapped to pyauditor's exceptions."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=5)

    async def _send_body(self, method: str, path: str, body: bytes) -> None:
        url = str(self.http.base_url) + path
        try:
            response = await self.http.request(
                method, path, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException as error:
            raise APITimeoutError(str(error), method=method, url=url) from error
        except httpx.HTTPError as error:
            raise APIConnectionError(str(error), method=method, url=url) from error
        check_write_answer(response.status_code, response.content, method, url)


def log(out: IO[str], *words: str) -> None:
    out.write(" ".join(words) + "\n")
    out.flush()


async def work(args: argparse.Namespace, out: IO[str] | None) -> None:
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    store = await asyncio.get_running_loop().run_in_executor(
        executor, QueueStore, parse_database_path(args.queue)
    )
    sender = AsyncSender(HttpSender(args.url), store, executor, send_interval=0.02)
    if args.drain:
        for _ in range(1000):
            if await sender.flush() is None:
                break
            await asyncio.sleep(0.05)  # the server hiccuped: try again
        status = store.status()
        assert status.queued == 0, status
        assert status.dead_letters == 0, store.dead_letters()
        await sender.stop(5)
        return
    print("READY", flush=True)
    assert out is not None
    rnd = random.Random(args.seed)
    acked: list[str] = []
    number = 0
    while True:
        if acked and rnd.random() < 0.2:
            record_id = acked.pop(rnd.randrange(len(acked)))
            log(out, "TU", record_id)
            await sender.store_call(store.enqueue, [("update", record_id, update_body(record_id))])
            log(out, "U", record_id)
            continue
        size = rnd.choice((1, 1, 1, 3, 40))
        ids = [f"{args.prefix}-{number + i}" for i in range(size)]
        number += size
        log(out, "T", *ids)
        await sender.store_call(store.enqueue, [("insert", i, insert_body(i)) for i in ids])
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
        asyncio.run(work(args, None))
        return
    # Opened before the loop runs: line writes go straight to the file (a kill loses nothing).
    with open(args.log, "a", encoding="utf-8") as out:
        asyncio.run(work(args, out))


if __name__ == "__main__":
    main()
