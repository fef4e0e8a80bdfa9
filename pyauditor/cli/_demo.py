"""The main job of ``make demo`` (``pyauditor demo``, ``python -m pyauditor demo``).

What a site's accounting looks like end to end, in a few seconds:

1. It starts the embedded server (:class:`pyauditor.testing.AuditorTestServer`).  Given a
   URL (or ``AUDITOR_URL``) it uses that server instead, but only with ``--write-test-data``:
   AUDITOR cannot delete records, so made-up jobs sent there by mistake would stay in a site's
   accounting for good (:func:`refuse_real_server` says so and how to confirm).
2. It makes a day of batch jobs at three sites for four VO groups: each job has a ``cpu``
   component (its cores, with the HEPSPEC06 score per core of the node type it ran on) and a
   ``mem`` component (MB), and ``site_id``, ``group_id`` and ``user_id`` meta, as the HTCondor
   and Slurm collectors write them.  Some jobs are still running when first reported.
3. It queues them through a :class:`~pyauditor.QueuedAuditorClient` (a SQLite file in a
   temporary directory), as a collector does, then the stop times of the running jobs as
   updates, and waits until the queue has delivered everything.
4. It queries the day back with the query DSL, streaming the result, and prints core-hours and
   HEPSPEC06-hours per site and group: what APEL reports for a site.

The jobs are the same in every run (a fixed seed and day), so the summary is too.  They are
unmistakably demo data wherever they end up: ids start with ``pyauditor-demo-``, every record
has the meta key ``demo`` (the run's id), and the sites are called ``DEMO-1.invalid`` and so
on (``.invalid`` is a name reserved never to exist).  The run's id is unique, so a server can
hold any number of runs and each finds exactly its own records.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import random
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TextIO

from .. import (
    APIConnectionError,
    AuditorClientBuilder,
    AuditorError,
    Component,
    Meta,
    MetaOperator,
    MetaQuery,
    Operator,
    QueryBuilder,
    QueuedAuditorClient,
    QueueStatus,
    Record,
    Score,
    Value,
)
from ._common import ENV_URL, health_failure, run_async, sigint_deferred

__all__ = [
    "DAY",
    "DEMO_META_KEY",
    "ID_PREFIX",
    "SITES",
    "Job",
    "make_jobs",
    "refuse_real_server",
    "run_demo",
    "summarize",
]

DAY = _dt.datetime(2024, 5, 1, tzinfo=_dt.UTC)
"""The accounting day the demo's jobs ran on."""

ID_PREFIX = "pyauditor-demo-"
"""How every demo record's id starts."""
DEMO_META_KEY = "demo"
"""The meta key every demo record has; its value is the run's id."""

SITES: dict[str, tuple[tuple[str, float], ...]] = {
    # site: node types as (name, HEPSPEC06 per core); the figures are typical of the CPUs.
    # The names end in .invalid, a name reserved never to exist (RFC 6761), so no report can
    # mistake them for a real site's.
    "DEMO-1.invalid": (("intel-xeon-e5-2630v4", 10.4), ("amd-epyc-7452", 13.1)),
    "DEMO-2.invalid": (("amd-epyc-7352", 12.6), ("intel-xeon-gold-6230", 11.2)),
    "DEMO-3.invalid": (("intel-xeon-e5-2640v4", 10.9), ("amd-epyc-7763", 14.8)),
}
GROUPS = ("atlas", "cms", "lhcb", "belle")
_GROUP_WEIGHTS = (0.45, 0.3, 0.15, 0.1)
_CORES = (1, 8, 16)
_CORE_WEIGHTS = (0.55, 0.4, 0.05)


class Job(NamedTuple):
    """One batch job of the demo."""

    record_id: str
    site: str
    group: str
    user: str
    cores: int
    hs06_per_core: float
    memory_mb: int
    start: _dt.datetime
    stop: _dt.datetime
    running_at_first_report: bool

    def record(self, run: str, *, with_stop: bool) -> Record:
        """The job as a record; without its stop time if it was reported while running."""
        meta = (
            Meta()
            .insert("site_id", [self.site])
            .insert("group_id", [self.group])
            .insert("user_id", [self.user])
            .insert(DEMO_META_KEY, [run])
        )
        record = (
            Record(self.record_id, self.start)
            .with_meta(meta)
            .with_component(
                Component("cpu", self.cores).with_score(Score("HEPSPEC06", self.hs06_per_core))
            )
            .with_component(Component("mem", self.memory_mb))
        )
        return record.with_stop_time(self.stop) if with_stop else record


def make_jobs(count: int, run: str, seed: int = 2024) -> list[Job]:
    """``count`` jobs that started between 00:00 and 12:00 of :data:`DAY` and stopped that day.

    The same ``seed`` gives the same jobs; ``run`` only goes into their ids.
    """
    rng = random.Random(seed)
    jobs = []
    sites = list(SITES)
    for number in range(count):
        site = rng.choice(sites)
        _node, hs06 = rng.choice(SITES[site])
        group = rng.choices(GROUPS, _GROUP_WEIGHTS)[0]
        cores = rng.choices(_CORES, _CORE_WEIGHTS)[0]
        # Most jobs run for an hour or two; a few for most of a day (capped at 12 h, so that
        # every job of the day stops before midnight and is accounted for on that day).
        runtime = min(int(rng.lognormvariate(8.4, 0.9)), 12 * 3600 - 1)
        start = DAY + _dt.timedelta(seconds=rng.randrange(12 * 3600))
        jobs.append(
            Job(
                record_id=f"{ID_PREFIX}{run}-{number:05d}",
                site=site,
                group=group,
                user=f"{group}{rng.randrange(1, 40):03d}",
                cores=cores,
                hs06_per_core=hs06,
                memory_mb=cores * rng.choice((2000, 2500, 4000)),
                start=start,
                stop=start + _dt.timedelta(seconds=max(runtime, 60)),
                running_at_first_report=rng.random() < 0.05,
            )
        )
    return jobs


class Usage(NamedTuple):
    """Accounted usage of one site and group."""

    jobs: int
    core_hours: float
    hs06_hours: float


def summarize(records: list[Record]) -> dict[tuple[str, str], Usage]:
    """Core-hours and HEPSPEC06-hours per (site, group), from records as the server sent them.

    HEPSPEC06-hours are cores x HEPSPEC06 per core x runtime, as APEL accounts them.
    """
    totals: dict[tuple[str, str], list[float]] = {}
    for record in records:
        meta = record.meta
        site = ((meta.get("site_id") if meta else None) or ["?"])[0]
        group = ((meta.get("group_id") if meta else None) or ["?"])[0]
        hours = (record.runtime or 0) / 3600
        entry = totals.setdefault((site, group), [0, 0.0, 0.0])
        entry[0] += 1
        for component in record.components or ():
            if component.name != "cpu":
                continue
            entry[1] += component.amount * hours
            for score in component.scores:
                if score.name == "HEPSPEC06":
                    entry[2] += component.amount * score.value * hours
    return {key: Usage(int(v[0]), v[1], v[2]) for key, v in sorted(totals.items())}


def format_summary(usage: dict[tuple[str, str], Usage]) -> list[str]:
    """The summary as table lines, with a total."""
    header = ("site", "group", "jobs", "core-hours", "HEPSPEC06-hours")
    rows = [
        (site, group, f"{u.jobs:,}", f"{u.core_hours:,.1f}", f"{u.hs06_hours:,.1f}")
        for (site, group), u in usage.items()
    ]
    total = (
        "total",
        "",
        f"{sum(u.jobs for u in usage.values()):,}",
        f"{sum(u.core_hours for u in usage.values()):,.1f}",
        f"{sum(u.hs06_hours for u in usage.values()):,.1f}",
    )
    table = [header, *rows, total]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        left = [row[i].ljust(widths[i]) for i in (0, 1)]
        right = [row[i].rjust(widths[i]) for i in (2, 3, 4)]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(header))
    return [line(header), rule, *(line(r) for r in rows), rule, line(total)]


async def _deliver(client: QueuedAuditorClient, deadline: float) -> QueueStatus:
    """Flush the queued client until nothing is queued (or the deadline passes)."""
    while True:
        status = await client.flush()
        if status.queued == 0:
            return status
        if time.monotonic() > deadline:
            raise AuditorError(
                f"the queue still holds {status.inserts} inserts and {status.updates} updates "
                "after the demo's time limit; is the server reachable?"
            )
        await asyncio.sleep(0.1)


class _Report:
    """The demo's progress lines (text mode) and its summary (``--json``)."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.summary: dict[str, object] = {}

    def say(self, line: str = "") -> None:
        if not self.as_json:
            print(line, file=self.out)


async def _demo(
    url: str,
    *,
    jobs: int,
    report: _Report,
    make_builder: Callable[[str], AuditorClientBuilder],
    workdir: Path,
) -> int:
    run = secrets.token_hex(4)
    started = time.monotonic()
    reader = make_builder(url).build()
    with health_failure() as failure:
        healthy = await reader.health_check()
    if not healthy:
        raise APIConnectionError(
            f"the AUDITOR server at {url} is not healthy: {failure.reason}", url=url
        )
    report.say("server health: ok")

    all_jobs = make_jobs(jobs, run)
    running = [job for job in all_jobs if job.running_at_first_report]
    queue_file = workdir / "auditor-queue.db"
    queued = await make_builder(url).database_path(queue_file).send_interval(60).build_queued()
    async with queued:
        await queued.bulk_insert(
            [job.record(run, with_stop=not job.running_at_first_report) for job in all_jobs]
        )
        report.say(
            f"queued {len(all_jobs):,} job records ({len(running)} still running) "
            f"in {queue_file.name}"
        )
        for job in running:
            await queued.update(job.record(run, with_stop=True))
        report.say(f"queued {len(running)} updates with the stop times of the running jobs")
        sending = time.monotonic()
        status = await _deliver(queued, sending + 60)
    report.say(
        f"delivered in {time.monotonic() - sending:.2f} s: the queue holds {status.inserts} "
        f"inserts, {status.updates} updates and {status.dead_letters} dead letters"
    )

    window = (
        Operator().gte(Value.set_datetime(DAY)).lt(Value.set_datetime(DAY + _dt.timedelta(days=1)))
    )
    query = (
        QueryBuilder()
        .with_stop_time(window)
        .with_meta_query(MetaQuery().meta_operator(DEMO_META_KEY, MetaOperator().contains([run])))
        .build()
    )
    records = [record async for record in reader.iter_records(query)]
    await reader.aclose()
    report.say(f"queried back {len(records):,} records that stopped on {DAY:%Y-%m-%d}:")
    report.say(f"  GET /records?{query}")
    report.say()
    usage = summarize(records)
    report.say(f"Accounting for {DAY:%Y-%m-%d} (jobs that stopped that day)")
    for text in format_summary(usage):
        report.say(text)
    report.say()
    report.say(
        f"demo records: ids {ID_PREFIX}{run}-*, meta {DEMO_META_KEY}={run}, sites DEMO-*.invalid"
    )
    report.say(f"done in {time.monotonic() - started:.2f} s")
    report.summary.update(
        run=run,
        jobs=len(all_jobs),
        records_back=len(records),
        query=query,
        accounting=[
            {
                "site": site,
                "group": group,
                "jobs": u.jobs,
                "core_hours": round(u.core_hours, 3),
                "hepspec06_hours": round(u.hs06_hours, 3),
            }
            for (site, group), u in usage.items()
        ],
    )
    return 0 if len(records) == len(all_jobs) else 1


def refuse_real_server(url: str, jobs: int, *, from_env: bool) -> str:
    """Why the demo does not write to ``url`` unconfirmed, and how to confirm: one line."""
    source = f" (from ${ENV_URL})" if from_env else ""
    embedded = f"unset {ENV_URL}" if from_env else "leave the URL out"
    return (
        f"not writing {jobs:,} made-up job records to {url}{source}: AUDITOR cannot delete "
        f"them. To run the demo on an embedded server, {embedded}; to write them to this "
        "server anyway, add --write-test-data (make demo DEMO_ARGS=--write-test-data)"
    )


def run_demo(
    url: str | None,
    *,
    jobs: int = 600,
    out: TextIO,
    as_json: bool = False,
    make_builder: Callable[[str], AuditorClientBuilder] | None = None,
) -> int:
    """Run the demo against ``url``, or against an embedded server when ``url`` is None.

    Writing to a real server is the caller's decision: ``pyauditor demo`` asks for
    ``--write-test-data`` before it passes a URL here.

    Args:
        url: The AUDITOR server to use; ``None`` starts :class:`~pyauditor.testing.AuditorTestServer`.
        jobs: How many jobs to send.
        out: Where the report goes.
        as_json: Write one JSON object with the results instead of the text report.
        make_builder: A configured :class:`AuditorClientBuilder` for a URL (TLS, timeout);
            default: ``AuditorClientBuilder().connection_string(url)``.

    Returns:
        0 when every record came back, 1 otherwise.

    Raises:
        AuditorError: the server failed.
    """
    factory = make_builder or (lambda u: AuditorClientBuilder().connection_string(u))
    report = _Report(out, as_json)
    with tempfile.TemporaryDirectory(prefix="pyauditor-demo-") as tmp:
        workdir = Path(tmp)
        if url is not None:
            report.say(f"pyauditor demo: AUDITOR server at {url} (--write-test-data)")
            report.summary.update(server=url, embedded=False)
            status = run_async(
                lambda: _demo(url, jobs=jobs, report=report, make_builder=factory, workdir=workdir)
            )
        else:
            from ..testing import AuditorTestServer

            with sigint_deferred():  # a server interrupted while starting would be left running
                server = AuditorTestServer(db=workdir / "server.db").start()
            try:
                report.say(
                    f"pyauditor demo: embedded AUDITOR server at {server.url} "
                    "(pyauditor.testing; its records are deleted at the end)"
                )
                report.summary.update(server=server.url, embedded=True)
                status = run_async(
                    lambda: _demo(
                        server.url, jobs=jobs, report=report, make_builder=factory, workdir=workdir
                    )
                )
            finally:
                with sigint_deferred():
                    server.stop()
    if as_json:
        out.write(json.dumps(report.summary, indent=2) + "\n")
    return status
