"""Production-shaped benchmark data (issue 11): no two records share an id or a timestamp.

Every record has its own id, its own start and stop time (half of them with microseconds, which
the server writes in chrono's AutoSi form), meta ``site_id`` (3 values), ``group_id`` (10),
``user_id`` (1000) and ``queue`` (4), and three components: ``Cores`` (1-16, with the scores
``HEPSPEC06`` and ``HEPscore23``), ``Memory`` and ``TotalCPU``.  About 470 bytes per record on
the wire.

Standard library only, deterministic (a seeded generator): the records server, the child
processes of both implementations and the tests build exactly the same data.  Nothing here
imports pyauditor.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import NamedTuple

__all__ = ["Spec", "record_json", "records_body", "specs"]

UTC = dt.UTC
_BASE = dt.datetime(2024, 5, 1, tzinfo=UTC)
SITES = ("site-a", "site-b", "site-c")
GROUPS = tuple(f"group{i}" for i in range(10))
USERS = tuple(f"user{i:04d}" for i in range(1000))
QUEUES = ("short", "medium", "long", "gpu")
META_KEYS = ("site_id", "group_id", "user_id", "queue")


class Spec(NamedTuple):
    """The values of one record, from which both implementations build it."""

    record_id: str
    start: dt.datetime
    stop: dt.datetime
    site: str
    group: str
    user: str
    queue: str
    cores: int
    hepspec06: float
    hepscore23: float
    memory: int
    total_cpu: int


def specs(n: int, seed: int = 42) -> list[Spec]:
    """``n`` record specifications; the same ``n`` and ``seed`` give the same records."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        fraction = rng.randrange(1, 10**6) if i % 2 else 0
        start = _BASE + dt.timedelta(seconds=rng.randrange(0, 30 * 86400), microseconds=fraction)
        fraction = rng.randrange(1, 10**6) if i % 2 else 0
        stop = start + dt.timedelta(seconds=rng.randrange(60, 86400), microseconds=fraction)
        out.append(
            Spec(
                f"job-{i:07d}.{rng.randrange(10**9)}",
                start,
                stop,
                rng.choice(SITES),
                rng.choice(GROUPS),
                rng.choice(USERS),
                rng.choice(QUEUES),
                rng.randrange(1, 17),
                rng.uniform(5, 20),
                rng.uniform(5, 25),
                rng.randrange(1, 64_000_000),
                rng.randrange(1, 10**7),
            )
        )
    return out


def _autosi(moment: dt.datetime) -> str:
    """How AUDITOR writes a timestamp: UTC, ``Z``, a fraction of 0, 3 or 6 digits."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    micro = moment.microsecond
    if micro:
        text += f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    return text + "Z"


def _runtime(spec: Spec) -> int:
    delta = spec.stop - spec.start
    seconds = delta.days * 86400 + delta.seconds
    return seconds + 1 if seconds < 0 and delta.microseconds else seconds


def record_json(spec: Spec) -> str:
    """The record as the AUDITOR server returns it (struct field order, compact)."""
    return json.dumps(
        {
            "record_id": spec.record_id,
            "meta": {
                "site_id": [spec.site],
                "group_id": [spec.group],
                "user_id": [spec.user],
                "queue": [spec.queue],
            },
            "components": [
                {
                    "name": "Cores",
                    "amount": spec.cores,
                    "scores": [
                        {"name": "HEPSPEC06", "value": spec.hepspec06},
                        {"name": "HEPscore23", "value": spec.hepscore23},
                    ],
                },
                {"name": "Memory", "amount": spec.memory, "scores": []},
                {"name": "TotalCPU", "amount": spec.total_cpu, "scores": []},
            ],
            "start_time": _autosi(spec.start),
            "stop_time": _autosi(spec.stop),
            "runtime": _runtime(spec),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def records_body(count: int, seed: int = 42) -> bytes:
    """``count`` production records concatenated, as ``GET /records`` returns them."""
    return "".join([record_json(spec) for spec in specs(count, seed)]).encode()
