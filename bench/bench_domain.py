"""Domain-model benchmarks, pyauditor vs python-auditor 0.11.2, side by side.

    .venv/bin/python bench/bench_domain.py [--runs 5] [--n 100000] [workload ...]

Every measurement runs in a fresh process (the median of ``--runs`` is reported), the reference
with ``PYTHONPATH=.reference`` (``make reference`` installs it).  Workloads are those of the
reference's ``perf_baseline`` plus two that only pyauditor has a public-enough API for:

construct      100k records: 2 meta keys, 1 component with 1 score (the perf_baseline record)
to_json        Record.to_json() over those records
query          QueryBuilder: start gte + stop lt + meta contains + sort desc + limit, then build()
query_simple   QueryBuilder().build()
bulk_body      the POST /records body for 100k records (pyauditor only)
from_server    json.loads of 100k server records, one at a time, each wrapped as a Record
               (pyauditor only; the reference's get() of 100k over HTTP took 0.3 s)

A workload named ``X_distinct`` uses a different datetime and a different meta value per
record or query, which defeats pyauditor's formatting caches and shows the cost without them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import datetime as dt, json, sys, time
from pyauditor import *
UTC = dt.timezone.utc
t0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=UTC)
t1 = dt.datetime(2022, 8, 9, 11, 30, tzinfo=UTC)
mode, n = sys.argv[1], int(sys.argv[2])
distinct = mode.endswith("_distinct")
mode = mode.removesuffix("_distinct")
starts = [t0 + dt.timedelta(seconds=i) for i in range(n)] if distinct else [t0] * n

sites = [f"site{i}" for i in range(n)] if distinct else ["site1"] * n

def make(i, start):
    return (
        Record(f"record-{i}", start)
        .with_meta(Meta().insert("site_id", [sites[i]]).insert("group_id", ["group1"]))
        .with_component(Component("cpu", 4).with_score(Score("HEPSPEC06", 9.2)))
    )

if mode == "construct":
    begin = time.process_time()
    records = [make(i, starts[i]) for i in range(n)]
elif mode == "to_json":
    records = [make(i, starts[i]) for i in range(n)]
    begin = time.process_time()
    out = [r.to_json() for r in records]
elif mode == "query":
    ends = [s + dt.timedelta(days=1) for s in starts] if distinct else [t1] * n
    begin = time.process_time()
    for i in range(n):
        (
            QueryBuilder()
            .with_start_time(Operator().gte(Value.set_datetime(starts[i])))
            .with_stop_time(Operator().lt(Value.set_datetime(ends[i])))
            .with_meta_query(MetaQuery().meta_operator("site_id", MetaOperator().contains(["site1"])))
            .sort_by(SortBy().descending("stop_time"))
            .limit(500)
            .build()
        )
elif mode == "query_simple":
    begin = time.process_time()
    for i in range(n):
        QueryBuilder().build()
elif mode == "bulk_body":
    from pyauditor._record_codec import records_bulk_body
    records = [make(i, starts[i]) for i in range(n)]
    begin = time.process_time()
    body = records_bulk_body(records)
elif mode == "from_server":
    from pyauditor._record_codec import record_from_server
    texts = [
        json.dumps({"record_id": f"record-{i}", "meta": {"site_id": ["site1"], "group_id": ["group1"]},
                    "components": [{"name": "cpu", "amount": 4, "scores": [{"name": "HEPSPEC06", "value": 9.2}]}],
                    "start_time": "2022-08-08T11:30:00Z", "stop_time": "2022-08-09T11:30:00Z", "runtime": 86400},
                   separators=(",", ":"))
        for i in range(n)
    ]
    loads = json.loads
    begin = time.process_time()
    # As a streaming decoder delivers them: parse one record, wrap it, drop the parsed tree.
    records = [record_from_server(loads(text)) for text in texts]
else:
    raise SystemExit(f"unknown workload {mode}")
print(time.process_time() - begin)
"""

REFERENCE_WORKLOADS = {"construct", "to_json", "query", "query_simple"}
DEFAULT = [
    "construct",
    "construct_distinct",
    "to_json",
    "to_json_distinct",
    "query",
    "query_distinct",
    "query_simple",
    "bulk_body",
    "bulk_body_distinct",
    "from_server",
]


def measure(workload: str, n: int, runs: int, reference: bool) -> float:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if reference:
        env["PYTHONPATH"] = str(ROOT / ".reference")
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", WORKER, workload, str(n)],
            env=env,
            cwd="/" if reference else ROOT,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(f"{workload} failed:\n{out.stderr}")
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=DEFAULT)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    have_reference = (ROOT / ".reference" / "pyauditor").is_dir()
    results = {}
    print(
        f"{'workload':20s} {'pyauditor':>10s} {'reference':>10s} {'ratio':>7s}   (CPU s, N={args.n})"
    )
    for workload in args.workloads:
        ours = measure(workload, args.n, args.runs, reference=False)
        base = workload.removesuffix("_distinct")
        ref = None
        if have_reference and base in REFERENCE_WORKLOADS:
            ref = measure(workload, args.n, args.runs, reference=True)
        ratio = f"{ours / ref:7.2f}" if ref else "      -"
        ref_text = f"{ref:10.3f}" if ref else "         -"
        print(f"{workload:20s} {ours:10.3f} {ref_text} {ratio}")
        results[workload] = {"pyauditor": ours, "reference": ref}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
