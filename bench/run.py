"""Run the side-by-side benchmark: ``python -m bench.run`` (what ``make bench`` does).

For every workload of :mod:`bench.workloads` it starts the server the workload needs (once, as a
separate process), then runs the workload alternately on pyauditor and on python-auditor 0.11.2,
each run a fresh ``bench/child.py`` process, a warm-up and then the measured runs.  It prints the
table of medians and ratios and writes ``bench/results/results.json`` and ``results.md`` (or
``partial.*`` when only some workloads ran or with fewer runs than the default, so a quick
experiment never overwrites the published results).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import report
from .workloads import IMPLS, WORKLOADS, Workload

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
REFERENCE_DIR = ROOT / ".reference"
PACKAGE_DIRS = {"pyauditor": ROOT / "pyauditor", "reference": REFERENCE_DIR / "pyauditor"}
"""Where each implementation's ``pyauditor`` package must come from (``--pyauditor`` changes the
first, to measure another checkout, e.g. ``git archive <branch> pyauditor | tar -x -C DIR``)."""
BUDGET_S = 600
CHILD_TIMEOUT_S = 600


def log(message: str) -> None:
    """Progress goes to stderr so that stdout carries only the final table."""
    print(message, file=sys.stderr, flush=True)


# --- environment facts ---------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def machine() -> dict[str, Any]:
    """What the numbers depend on: CPUs available to us, CPU model, memory, OS, Python."""
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    try:
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    except (OSError, ValueError):
        nproc = len(os.sched_getaffinity(0))
    return {
        "nproc": nproc,
        "cpu_model": cpu_model,
        "memory_gb": mem_kb / 2**20,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def versions() -> tuple[dict[str, Any], dict[str, Any]]:
    """The pyauditor commit measured and the reference package installed."""
    ours = {
        "commit": _git("rev-parse", "--short=12", "HEAD"),
        "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "package_commit": _git("log", "-1", "--format=%h %s", "--", "pyauditor"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", "pyauditor")),
        "version": "unknown",
    }
    match = re.search(
        r'^__version__\s*=\s*"([^"]+)"', (ROOT / "pyauditor" / "_version.py").read_text(), re.M
    )
    if match:
        ours["version"] = match.group(1)
    package = "python-auditor (not installed)"
    for meta in REFERENCE_DIR.glob("python_auditor-*.dist-info/METADATA"):
        found = re.search(r"^Version: (.+)$", meta.read_text(), re.MULTILINE)
        package = f"python-auditor {found.group(1) if found else '?'}"
    return ours, {"package": package, "path": str(REFERENCE_DIR.relative_to(ROOT))}


# --- processes -----------------------------------------------------------------------------------


@contextmanager
def server(workload: Workload) -> Iterator[int]:
    """Start the workload's server process and yield its port (0 when it needs none)."""
    if workload.server is None:
        yield 0
        return
    cmd = [sys.executable, str(BENCH / "servers.py"), workload.server]
    if workload.server == "records":
        cmd += ["--count", str(workload.n)]
        if workload.chunk_size is not None:
            cmd += ["--chunk-size", str(workload.chunk_size)]
        if workload.shape != "baseline":
            cmd += ["--shape", workload.shape]
    # stdin stays open as a lifeline: the server exits when it reads EOF, even if we are killed.
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"{workload.server} server did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def child_env(impl: str) -> dict[str, str]:
    """Environment that makes ``import pyauditor`` pick the wanted implementation.

    RUST_BACKTRACE is dropped because the reference's baseline was taken without it (it makes
    the reference capture a backtrace for every error it raises).
    """
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "RUST_BACKTRACE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    package_parent = PACKAGE_DIRS[impl].parent
    # The repo's own pyauditor is on sys.path through the editable install; anything else is put
    # in front of it.
    if package_parent != ROOT:
        env["PYTHONPATH"] = str(package_parent)
    return env


def run_child(
    impl: str, workload: Workload, port: int, profile: Path | None = None
) -> tuple[dict[str, Any], int]:
    """One run in a fresh process; returns its result line and its exit code."""
    cmd = [
        sys.executable,
        str(BENCH / "child.py"),
        workload.child,
        "--n",
        str(workload.n),
        "--port",
        str(port),
        "--expect",
        str(PACKAGE_DIRS[impl]),
    ]
    if impl in workload.modes:
        cmd += ["--mode", workload.modes[impl]]
    cmd += workload.child_args
    if profile:
        cmd += ["--profile", str(profile)]
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=child_env(impl),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {CHILD_TIMEOUT_S} s"}, -9
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result, proc.returncode
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    return {"status": "error", "reason": f"no result (exit {proc.returncode}): {tail}"}, (
        proc.returncode
    )


# --- one workload --------------------------------------------------------------------------------


def _requests_summary(result: dict[str, Any]) -> str | None:
    routes = result.get("server_routes")
    if not routes:
        return None
    total = sum(routes.values())
    detail = ", ".join(f"{route} x{count}" for route, count in sorted(routes.items()))
    return f"{total} request{'s' if total != 1 else ''} ({detail})"


def measure(workload: Workload, runs: int, warmup: int) -> dict[str, Any]:
    """Run ``workload`` alternately on both implementations and collect every run's result."""
    impls: dict[str, dict[str, Any]] = {
        impl: {"status": "ok", "reason": None, "runs": [], "errors": [], "exit_codes": []}
        for impl in IMPLS
    }
    with server(workload) as port:
        for rnd in range(warmup + runs):
            measured = rnd >= warmup
            # Alternate who goes first, so neither side always runs right after the other's
            # cache and page-cache effects.
            for impl in IMPLS if rnd % 2 == 0 else IMPLS[::-1]:
                state = impls[impl]
                if state["status"] == "unavailable":
                    continue
                result, code = run_child(impl, workload, port)
                state["version"] = result.get("version")
                label = "warm-up" if not measured else f"run {rnd - warmup + 1}/{runs}"
                if result["status"] == "unavailable":
                    state["status"], state["reason"] = "unavailable", result["reason"]
                    log(f"  {workload.name:14} {impl:9} not available ({result['reason']})")
                    continue
                if measured:
                    state["exit_codes"].append(code)
                if result["status"] != "ok":
                    state["errors"].append(result["reason"])
                    log(f"  {workload.name:14} {impl:9} {label}: FAILED {result['reason']}")
                    if result.get("traceback"):
                        log(result["traceback"])
                    continue
                if measured:
                    state["runs"].append(result)
                rss = f" rss {result['peak_rss_mb']:7.1f} MB" if "peak_rss_mb" in result else ""
                log(
                    f"  {workload.name:14} {impl:9} {label:9} wall {result['wall']:8.3f} s "
                    f"cpu {result['cpu']:8.3f} s{rss}" + (f" exit {code}" if code else "")
                )
    for state in impls.values():
        if state["status"] == "ok" and not state["runs"]:
            state["status"] = "error"
            state["reason"] = state["errors"][0] if state["errors"] else "no measured run"
        if state["runs"]:
            keys = [k for k, v in state["runs"][0].items() if isinstance(v, int | float)]
            state["median"] = {
                k: statistics.median(r[k] for r in state["runs"] if k in r) for k in keys
            }
            state["requests"] = _requests_summary(state["runs"][-1])
    return {
        "name": workload.name,
        "title": workload.title,
        "n": workload.n,
        "runs": runs,
        "warmup": warmup,
        "note": workload.note,
        "impls": impls,
        "checks": _output_checks(workload, impls),
    }


def _output_checks(workload: Workload, impls: dict[str, dict[str, Any]]) -> list[str]:
    """Compare what both implementations produced where the output is meant to be identical."""
    samples = {i: s["runs"][0].get("sample") for i, s in impls.items() if s["runs"]}
    if len(samples) < 2 or None in samples.values():
        return []
    ours, ref = samples["pyauditor"], samples["reference"]
    if ours == ref:
        return ["output byte-identical on both implementations (last item compared)"]
    return [f"OUTPUT DIFFERS: pyauditor {ours!r} vs reference {ref!r}"]


def rows(workload: Workload, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows of one workload: one per metric, with ratio and verdict."""
    ours, ref = data["impls"]["pyauditor"], data["impls"]["reference"]
    out = []
    for metric in workload.metrics:
        ours_v = ours.get("median", {}).get(metric.key)
        ref_v = ref.get("median", {}).get(metric.key)
        ratio = ours_v / ref_v if ours_v is not None and ref_v else None
        if ours_v is None:
            verdict = "not available" if ours["status"] == "unavailable" else "error"
        elif metric.target is None:
            verdict = "info"
        else:
            met = metric.target.met(ours_v, ratio)
            verdict = "no reference" if met is None else ("met" if met else "MISSED")
        out.append(
            {
                "workload": workload.name,
                "title": workload.title,
                "metric": metric.label,
                "key": metric.key,
                "unit": metric.unit,
                "pyauditor": ours_v,
                "reference": ref_v,
                "pyauditor_status": ours["status"],
                "reference_status": ref["status"],
                "ratio": ratio,
                "target": metric.target.text(metric.unit) if metric.target else None,
                "verdict": verdict,
            }
        )
    return out


def _profile_text(prof: Path, text: Path, title: str) -> None:
    """Write the top functions of a cProfile dump, by own time and by cumulative time."""
    with text.open("w") as f:
        f.write(title + "\n")
        for order in ("tottime", "cumulative"):
            f.write(f"\n=== top 30 by {order} ===\n")
            stats = pstats.Stats(str(prof), stream=f)
            stats.sort_stats(order).print_stats(30)
    # Paths are the same for every reader; shorten them so the summary fits a review.
    text.write_text(text.read_text().replace(str(ROOT) + os.sep, ""))
    log(f"  profile written to {_shown(text)}")


def profile(workload: Workload, port: int, out_dir: Path) -> dict[str, str]:
    """cProfile pyauditor's side of ``workload`` into text summaries; returns label -> path.

    The measured block is profiled; for get() workloads also the reading of every record's
    fields that follows it (lazy decoding shows up there).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    prof = out_dir / f"{workload.name}.prof"
    read_prof = out_dir / f"{workload.name}.read.prof"
    for stale in (prof, read_prof):
        stale.unlink(missing_ok=True)
    result, _ = run_child("pyauditor", workload, port, profile=prof)
    if result["status"] != "ok" or not prof.exists():
        log(f"  profile of {workload.name} failed: {result.get('reason')}")
        return {}
    done = {}
    text = out_dir / f"{workload.name}.txt"
    _profile_text(
        prof,
        text,
        f"cProfile of pyauditor, workload {workload.name} ({workload.title}), measured block "
        f"only; wall {result['wall']:.3f} s under the profiler.",
    )
    done[workload.name] = _shown(text)
    if read_prof.exists():
        text = out_dir / f"{workload.name}.read.txt"
        _profile_text(
            read_prof,
            text,
            f"cProfile of pyauditor, workload {workload.name}: reading every record's fields "
            f"after get(); wall {result['read_wall']:.3f} s under the profiler.",
        )
        done[f"{workload.name} (reading fields)"] = _shown(text)
    return done


# --- main ----------------------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """A path relative to the repository when it is inside it (results are committed)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _select(only: str | None) -> list[Workload]:
    if not only:
        return list(WORKLOADS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = {w.name: w for w in WORKLOADS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]


def _write(path: Path, text: str) -> None:
    """Write via a temporary file, so an interrupted run never leaves half a results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per implementation")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up runs per implementation")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--profile", default="", help="workloads to cProfile (pyauditor side)")
    parser.add_argument(
        "--profile-missed",
        action="store_true",
        help="also profile every workload where pyauditor misses a target",
    )
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR)
    parser.add_argument(
        "--docs", action="store_true", help="regenerate docs/benchmarks.md after a full run"
    )
    parser.add_argument(
        "--pyauditor",
        type=Path,
        help="measure the pyauditor package in this directory instead of the repository's "
        "(results go to partial.*)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")

    if args.pyauditor:
        PACKAGE_DIRS["pyauditor"] = (args.pyauditor.resolve() / "pyauditor").resolve()
        if not (PACKAGE_DIRS["pyauditor"] / "__init__.py").is_file():
            parser.error(f"no pyauditor package in {args.pyauditor}")
    selected = _select(args.only)
    to_profile = {n.strip() for n in args.profile.split(",") if n.strip()}
    # Only a complete run of the repository's own pyauditor may replace the published results.
    full = args.only is None and args.runs >= 5 and args.warmup >= 1 and not args.pyauditor
    started = time.perf_counter()
    ours_version, ref_version = versions()
    if args.pyauditor:
        ours_version = {
            "commit": "n/a",
            "branch": "n/a",
            "package_commit": f"package from {PACKAGE_DIRS['pyauditor']}",
            "dirty": False,
            "version": "unknown",
        }
    results: dict[str, Any] = {
        "schema": 1,
        # make bench names itself; a direct invocation records its own command line.
        "command": os.environ.get("BENCH_COMMAND", "").strip()
        or shlex.join(["python", "-m", "bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        # Other processes share the machine; the load average tells a reader how quiet it was.
        "load_average_start": os.getloadavg(),
        "pyauditor": ours_version,
        "reference": ref_version,
        "settings": {"runs": args.runs, "warmup": args.warmup},
        "workloads": [],
        "rows": [],
        "profiles": {},
    }
    log(f"pyauditor {ours_version['commit']} vs {ref_version['package']}")
    for workload in selected:
        runs = workload.runs if workload.runs is not None else args.runs
        warmup = workload.warmup if workload.warmup is not None else args.warmup
        log(f"{workload.name}: {workload.title} ({warmup} warm-up + {runs} runs each)")
        data = measure(workload, runs, warmup)
        workload_rows = rows(workload, data)
        results["workloads"].append(data)
        results["rows"].extend(workload_rows)
        missed = any(r["verdict"] == "MISSED" for r in workload_rows)
        if workload.name in to_profile or (args.profile_missed and missed):
            with server(workload) as port:
                results["profiles"].update(profile(workload, port, args.out / "profiles"))

    results["duration_s"] = time.perf_counter() - started
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["load_average_end"] = os.getloadavg()
    print(report.text_table(results["rows"]))
    print()
    for line in report.notes(results):
        print(f"- {line}")
    for name, path in results["profiles"].items():
        print(f"- profile of pyauditor's {name}: {path}")
    print(f"\nTotal {results['duration_s']:.0f} s (budget {BUDGET_S} s).")
    if results["duration_s"] > BUDGET_S:
        print(f"WARNING: over the {BUDGET_S} s budget: reduce workload sizes or runs.")

    args.out.mkdir(parents=True, exist_ok=True)
    stem = "results" if full else "partial"
    _write(args.out / f"{stem}.json", json.dumps(results, indent=1) + "\n")
    _write(args.out / f"{stem}.md", report.render_results_markdown(results))
    log(f"wrote {args.out / stem}.json and .md")
    # Only a complete run may become the published page; a subset would hide rows.
    if args.docs and full:
        _write(report.DOCS_PATH, report.render_docs(results))
        log(f"wrote {_shown(report.DOCS_PATH)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
