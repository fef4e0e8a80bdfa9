"""Tables and documents made from benchmark results: ``python -m bench.report``.

:mod:`bench.run` writes ``bench/results/results.json``; everything a person reads is generated
from it here: the plain-text table ``make bench`` prints, ``bench/results/results.md`` and
``docs/benchmarks.md``.  Generating the documentation (instead of editing it) keeps the published
numbers those of a real run, with the machine and the commit they were measured on.

Run as a script it regenerates ``docs/benchmarks.md`` and ``results.md`` from the stored results.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DOCS_PATH",
    "RESULTS_DIR",
    "format_ratio",
    "format_value",
    "markdown_table",
    "notes",
    "render_docs",
    "render_results_markdown",
    "text_table",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DOCS_PATH = ROOT / "docs" / "benchmarks.md"

HEADERS = ("workload", "metric", "pyauditor", "reference", "ratio", "target", "verdict")


def format_value(value: float | None, unit: str, status: str = "ok") -> str:
    """A median for a table cell; a missing one says why it is missing, never a number."""
    if value is None:
        return {"unavailable": "not available", "error": "error"}.get(status, "—")
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "x":
        return f"{value:.2f} x"
    return f"{value:.3f} s"


def format_ratio(ratio: float | None) -> str:
    """Three significant digits: enough to tell 0.048 from 0.052 and 1.02 from 0.98."""
    return "—" if ratio is None else f"{ratio:.3g}"


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    return (
        row["title"],
        row["metric"],
        format_value(row["pyauditor"], row["unit"], row["pyauditor_status"]),
        format_value(row["reference"], row["unit"], row["reference_status"]),
        format_ratio(row["ratio"]),
        row["target"] or "—",
        row["verdict"],
    )


def text_table(rows: Sequence[dict[str, Any]]) -> str:
    """Fixed-width table for a terminal."""
    table = [HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """GitHub-flavoured Markdown table; missed targets are bold so they cannot be overlooked."""

    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    out = [
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * 3 + ["---"] * 2) + "|",
    ]
    for row in rows:
        cells = [escape(c) for c in _cells(row)]
        if row["verdict"] == "MISSED":
            cells[-1] = "**MISSED**"
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# The pages are for users, who cannot see the project's issue tracker: workload notes and commit
# subjects recorded in results.json may name an issue's targets, the pages say "the targets".
_ISSUE_TARGETS = re.compile(r"issue \d+'s targets")
_ISSUE_CITED = re.compile(r"issue \d+, ")


def _public(text: str) -> str:
    return _ISSUE_CITED.sub("", _ISSUE_TARGETS.sub("the targets", text))


def notes(results: dict[str, Any]) -> list[str]:
    """One line per fact a reader needs besides the medians: what was not available or failed,
    differing outputs, abnormal exits, how many requests a write took, the workload's method."""
    lines: list[str] = []
    for wl in results["workloads"]:
        prefix = f"{wl['title']}:"
        if wl.get("note"):
            lines.append(f"{prefix} {_public(wl['note'])}")
        for impl, data in wl["impls"].items():
            if data["status"] == "unavailable":
                lines.append(f"{prefix} {impl}: not available ({data['reason']})")
            elif data["errors"]:
                lines.append(
                    f"{prefix} {impl}: {len(data['errors'])} run(s) failed: {data['errors'][0]}"
                )
            abnormal = [c for c in data["exit_codes"] if c != 0]
            if abnormal and data["status"] != "unavailable":
                lines.append(
                    f"{prefix} {impl} exited abnormally in {len(abnormal)} of "
                    f"{len(data['exit_codes'])} runs (exit codes {sorted(set(abnormal))}; "
                    "measurements printed before the exit are kept)"
                )
            if data.get("requests"):
                lines.append(f"{prefix} {impl} sent {data['requests']} per run")
        for check in wl.get("checks", []):
            lines.append(f"{prefix} {check}")
    return lines


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def _machine_lines(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    start = ", ".join(f"{x:.2f}" for x in results["load_average_start"])
    end = ", ".join(f"{x:.2f}" for x in results["load_average_end"])
    return [
        f"- CPU: {m['cpu_model']}, `nproc` = {m['nproc']}",
        f"- Memory: {m['memory_gb']:.1f} GB",
        f"- OS: {m['os']}",
        f"- Python: {m['python']}",
        f"- Load average (1, 5, 15 min) at start: {start}; at end: {end} (the machine is shared: "
        "wall times include waiting for a CPU when the load exceeds the cores, client CPU does not)",
    ]


def _version_lines(results: dict[str, Any]) -> list[str]:
    ours, ref = results["pyauditor"], results["reference"]
    dirty = " (with uncommitted changes)" if ours["dirty"] else ""
    return [
        f"- pyauditor {ours['version']}: commit `{ours['commit']}`{dirty}; last change to "
        f"`pyauditor/` in `{_public(ours['package_commit'])}`",
        f"- reference: {ref['package']} from `{ref['path']}`",
    ]


def render_results_markdown(results: dict[str, Any]) -> str:
    """``bench/results/results.md``: the table and notes of one run, nothing else."""
    lines = [
        f"# Benchmark results, {results['finished_at']}",
        "",
        f"Command: `{results['command']}` ({_duration(results['duration_s'])}). "
        f"Runs per implementation: {results['settings']['runs']} measured after "
        f"{results['settings']['warmup']} warm-up, unless a note says otherwise.",
        "",
        *_version_lines(results),
        *_machine_lines(results),
        "",
        markdown_table(results["rows"]),
        "",
        *(f"- {line}" for line in notes(results)),
        "",
        *_profile_lines(results),
    ]
    return "\n".join(lines)


def render_docs(results: dict[str, Any]) -> str:
    """``docs/benchmarks.md``: how to reproduce, the method, the machine and the latest results."""
    targets = [r for r in results["rows"] if r["target"]]
    met = sum(r["verdict"] == "met" for r in targets)
    missed = sum(r["verdict"] == "MISSED" for r in targets)
    undecided = len(targets) - met - missed
    lines = [
        "# Benchmarks: pyauditor against python-auditor 0.11.2",
        "",
        "<!-- Generated by `python -m bench.report` from bench/results/results.json. "
        "Do not edit: run `make bench` and commit the result. -->",
        "",
        "pyauditor is a pure-Python replacement for the Rust/PyO3 client python-auditor 0.11.2. "
        "This page compares both, side by side, on the workloads under Results (rows starting "
        "with 'production:' use production-shaped data, no two records sharing a value). Every "
        "number comes from the run recorded in `bench/results/results.json`.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench",
        "```",
        "",
        "It creates `.venv` (pyauditor, editable) and `.reference/` (python-auditor 0.11.2, "
        "installed with `pip --target` because its import name is also `pyauditor`), runs "
        "`python -m bench.run`, prints the table, writes `bench/results/results.json` and "
        "`results.md`, and regenerates this page. The run below took "
        f"{_duration(results['duration_s'])}. "
        '`make bench BENCH_ARGS="--only get_async,query --runs 7"` runs a subset (written to '
        "`bench/results/partial.json`, leaving this page alone); `--profile NAME` writes a "
        "cProfile of pyauditor's side of a workload to `bench/results/profiles/` (`make bench` "
        "profiles every workload that misses a target); `--pyauditor DIR` measures the "
        "`pyauditor` package in `DIR` instead, e.g. a branch before it merges "
        "(`git archive BRANCH pyauditor | tar -x -C DIR`).",
        "",
        "## Method",
        "",
        "- Each workload runs on both implementations in the same invocation, alternately "
        "(pyauditor first in even rounds, the reference first in odd ones). Unless a workload's "
        f"note says otherwise: {results['settings']['warmup']} unmeasured warm-up run(s), then "
        f"{results['settings']['runs']} measured runs per implementation. The table shows "
        "medians.",
        "- Every run is a fresh child process (`bench/child.py`): pyauditor with the venv's "
        "python, the reference with `PYTHONPATH=.reference`; the child checks which `pyauditor` "
        "it imported. The same workload code runs on both, written against the reference's API; "
        "the record and query expressions are read verbatim from `perf_baseline` in "
        "`tests/data/python-auditor-0.11.2-vectors.json`.",
        "- Only the operation under test is timed: not interpreter start-up, imports, building "
        "the input records or clients, or checking the result. *wall* is `time.perf_counter()`, "
        "*client CPU* is `time.process_time()` of the client process (all threads, which counts "
        "the reference's tokio workers), *peak RSS* is `ru_maxrss` of the child process.",
        "- Servers are separate minimal stdlib processes (`bench/servers.py`), started once per "
        "workload: one reads and discards request bodies, answers 200 and counts requests and "
        "records (every write workload checks that all records arrived); one serves pre-built "
        "concatenated JSON records in AUDITOR's field order (249.9 bytes per record) from memory, "
        "chunked, for `GET /records`.",
        "- *ratio* = median pyauditor / median reference; lower is better. A target is met when "
        "the ratio is at most the limit (for the streaming row: when pyauditor's peak RSS is below "
        "the absolute limit). Rows without a target are informational.",
        "",
        "## Machine and versions",
        "",
        *_machine_lines(results),
        *_version_lines(results),
        f"- Run: `{results['command']}`, finished {results['finished_at']}, took "
        f"{_duration(results['duration_s'])}.",
        "",
        "## Results",
        "",
        f"Rows with a target: {len(targets)}. Met: {met}, missed: {missed}, not decidable "
        f"(pyauditor part not available, or a run failed): {undecided}.",
        "",
        markdown_table(results["rows"]),
        "",
        "### Notes",
        "",
        *(f"- {line}" for line in notes(results)),
        "",
        *_profile_lines(results),
    ]
    return "\n".join(lines)


def _profile_lines(results: dict[str, Any]) -> list[str]:
    profiles = results.get("profiles") or {}
    if not profiles:
        return []
    return [
        "### Profiles",
        "",
        "cProfile of pyauditor's side (measured block only, one extra run under the profiler) "
        "for every workload that missed a target:",
        "",
        *(f"- {name}: `{path}`" for name, path in sorted(profiles.items())),
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="regenerate docs/benchmarks.md and results.md")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "results.json")
    parser.add_argument("--docs", type=Path, default=DOCS_PATH)
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    args.docs.parent.mkdir(parents=True, exist_ok=True)
    args.docs.write_text(render_docs(results))
    # The results' own Markdown too, so both always follow the current formatting code.
    args.results.with_suffix(".md").write_text(render_results_markdown(results))
    for path in (args.docs, args.results.with_suffix(".md")):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
