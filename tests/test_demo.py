"""The main job: ``make demo`` / ``pyauditor demo`` (pyauditor._demo).

``make demo`` is checked from a fresh clone of the committed tree: ``git clone`` of HEAD into a
temporary directory, then ``make demo`` there.  The clone reuses this interpreter through the
Makefile's ``PYAUDITOR_PYTHON`` instead of creating a second virtualenv (which would download
every dependency again and take minutes); ``python -m pyauditor`` run in the clone imports the
clone's package, so the Makefile, the command and the demo code under test are the clone's.
What ``PYAUDITOR_PYTHON`` skips, creating ``.venv``, is checked with ``make -n``, and CI runs
the real thing: ``.ci/run`` runs ``make demo`` on its fresh clone after ``make test``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyauditor import Component, Meta, Record, Score
from pyauditor.cli._demo import DAY, DEMO_META_KEY, ID_PREFIX, make_jobs, run_demo, summarize
from pyauditor.testing import AuditorTestServer
from tests.cli.conftest import run

ROOT = Path(__file__).resolve().parent.parent


def table(output: str) -> dict[tuple[str, str], tuple[int, float, float]]:
    """The accounting table of the demo's output, parsed."""
    rows = {}
    for line in output.splitlines():
        match = re.fullmatch(r"(\S+)\s+(\S+)\s+([\d,]+)\s+([\d,.]+)\s+([\d,.]+)", line)
        if match:
            site, group, jobs, cores, hs06 = match.groups()
            rows[(site, group)] = (
                int(jobs.replace(",", "")),
                float(cores.replace(",", "")),
                float(hs06.replace(",", "")),
            )
    return rows


def expected_table(jobs: int) -> dict[tuple[str, str], tuple[int, float, float]]:
    """The same accounting, worked out from the generated jobs without any server."""
    totals: dict[tuple[str, str], list[float]] = {}
    for job in make_jobs(jobs, "x"):
        hours = (job.stop - job.start).total_seconds() / 3600
        entry = totals.setdefault((job.site, job.group), [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += job.cores * hours
        entry[2] += job.cores * job.hs06_per_core * hours
    return {k: (int(v[0]), round(v[1], 1), round(v[2], 1)) for k, v in totals.items()}


def test_the_demo_on_the_embedded_server() -> None:
    out = io.StringIO()
    assert run_demo(None, jobs=200, out=out) == 0
    text = out.getvalue()
    assert "embedded AUDITOR server at http://127.0.0.1:" in text
    assert "queued 200 job records" in text
    assert "the queue holds 0 inserts, 0 updates and 0 dead letters" in text
    assert "queried back 200 records that stopped on 2024-05-01" in text
    assert "GET /records?stop_time[lt]=2024-05-02T00%3A00%3A00%2B00%3A00&" in text
    assert table(text) == expected_table(200)
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[1] == "200"


def test_the_readme_shows_what_the_demo_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    sample = readme.split("```text\n", 1)[1].split("```", 1)[0]
    rows = table(sample)
    assert len(rows) >= 3
    expected = expected_table(600)
    assert {key: expected[key] for key in rows} == rows
    total = next(line for line in sample.splitlines() if line.startswith("total"))
    jobs, cores, _hs06 = total.split()[1:]
    assert int(jobs) == 600
    core_hours = sum(
        j.cores * (j.stop - j.start).total_seconds() / 3600 for j in make_jobs(600, "x")
    )
    assert cores == f"{core_hours:,.1f}"


def test_the_jobs_are_realistic_and_reproducible() -> None:
    jobs = make_jobs(600, "run1")
    assert [j._replace(record_id="") for j in jobs] == [
        j._replace(record_id="") for j in make_jobs(600, "run2")
    ]
    assert len({j.site for j in jobs}) == 3
    assert len({j.group for j in jobs}) == 4
    assert {j.cores for j in jobs} <= {1, 8, 16}
    assert all(DAY <= j.start < j.stop < DAY + dt.timedelta(days=1) for j in jobs)
    assert 0 < sum(j.running_at_first_report for j in jobs) < 60
    assert len({j.record_id for j in jobs}) == 600


def test_summarize_counts_cores_times_hepspec_per_core() -> None:
    start = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    record = (
        Record("a", start)
        .with_meta(Meta().insert("site_id", ["S"]).insert("group_id", ["G"]))
        .with_component(Component("cpu", 4).with_score(Score("HEPSPEC06", 10.0)))
        .with_component(Component("mem", 8000).with_score(Score("HEPSPEC06", 99.0)))
        .with_stop_time(start + dt.timedelta(hours=2))
    )
    usage = summarize([record, Record("b", start)])
    assert usage[("S", "G")] == (1, 8.0, 80.0)
    assert usage[("?", "?")] == (1, 0.0, 0.0)  # no meta, no stop time: counted, no hours


def test_the_demo_on_a_given_server_finds_only_its_own_records(
    auditor_server: AuditorTestServer,
) -> None:
    for _ in range(2):
        out = io.StringIO()
        assert run_demo(auditor_server.url, jobs=50, out=out) == 0
        assert "queried back 50 records" in out.getvalue()
        assert table(out.getvalue()) == expected_table(50)
    assert auditor_server.count() == 100


def test_pyauditor_demo_command_and_auditor_url(
    auditor_server: AuditorTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded = run("demo", "--jobs", "30")
    assert embedded.code == 0, embedded.err
    assert "embedded AUDITOR server" in embedded.out
    monkeypatch.setenv("AUDITOR_URL", auditor_server.url)
    given = run("demo", "--jobs", "30", "--write-test-data")
    assert given.code == 0, given.err
    assert f"AUDITOR server at {auditor_server.url}" in given.out
    assert auditor_server.count() == 30


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_a_real_server_needs_write_test_data(
    auditor_server: AuditorTestServer, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == "environment":
        monkeypatch.setenv("AUDITOR_URL", auditor_server.url)
        refused = run("demo")
    else:
        refused = run("demo", auditor_server.url)
    assert (refused.code, refused.out) == (2, "")
    [line] = refused.err.splitlines()
    assert line.startswith(
        f"pyauditor demo: error: not writing 600 made-up job records to {auditor_server.url}"
    )
    assert "AUDITOR cannot delete them" in line
    assert "add --write-test-data (make demo DEMO_ARGS=--write-test-data)" in line
    assert ("unset AUDITOR_URL" in line) == (where == "environment")
    assert auditor_server.requests == []  # not even a health check


def test_demo_records_are_unmistakably_demo_data(auditor_server: AuditorTestServer) -> None:
    assert run("demo", "--jobs", "40", "--write-test-data", auditor_server.url).code == 0
    records = auditor_server.records()
    assert len(records) == 40
    runs = set()
    for record in records:
        assert record["record_id"].startswith(ID_PREFIX)
        [run_id] = record["meta"][DEMO_META_KEY]
        runs.add(run_id)
        assert record["record_id"].startswith(f"{ID_PREFIX}{run_id}-")
        [site] = record["meta"]["site_id"]
        assert site.startswith("DEMO-")
        assert site.endswith(".invalid")  # RFC 6761: a name that never exists
    assert len(runs) == 1


def test_demo_json_summary() -> None:
    result = run("demo", "--jobs", "50", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["embedded"] is True
    assert (summary["jobs"], summary["records_back"]) == (50, 50)
    expected = expected_table(50)
    assert {
        (row["site"], row["group"]): (
            row["jobs"],
            round(row["core_hours"], 1),
            round(row["hepspec06_hours"], 1),
        )
        for row in summary["accounting"]
    } == expected


def test_the_demo_against_a_server_that_is_down() -> None:
    result = run(
        "demo", "--write-test-data", "--retries", "0", "--timeout", "2", "http://127.0.0.1:1"
    )
    assert result.code == 1
    [line] = result.err.splitlines()
    assert line.startswith(
        "pyauditor demo: error: the AUDITOR server at http://127.0.0.1:1 is not healthy: "
        "GET http://127.0.0.1:1/health_check failed: cannot connect"
    )


# -- make demo from a fresh clone ----------------------------------------------------------------


def _fresh_clone(tmp_path: Path) -> Path:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git and make")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-local", str(ROOT), str(clone)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return clone


def _environment() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in {"AUDITOR_URL", "PYAUDITOR_PYTHON", "MAKEFLAGS", "MAKELEVEL", "VIRTUAL_ENV"}
    }


def _make(
    clone: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_make_demo_runs_green_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path)
    env = _environment()
    env["PYAUDITOR_PYTHON"] = sys.executable
    result = _make(clone, env, "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{sys.executable} -m pyauditor demo" in result.stdout
    assert "queried back 600 records" in result.stdout
    assert table(result.stdout) == expected_table(600)
    assert not (clone / ".venv").exists()

    # Without PYAUDITOR_PYTHON, a fresh clone's `make demo` first creates .venv and installs
    # the project into it (shown, not run: that needs the network and takes minutes).
    dry = _make(clone, _environment(), "-n", "demo", timeout=60)
    assert dry.returncode == 0, dry.stderr
    commands = dry.stdout.splitlines()
    assert commands[0] == "test -x .venv/bin/python || python3 -m venv .venv"
    assert ".venv/bin/python -m pip install --quiet -e '.[dev]'" in commands
    assert commands[-1].rstrip() == ".venv/bin/python -m pyauditor demo"

    # AUDITOR_URL of a server that is not the embedded one: refused, before anything is sent.
    env["AUDITOR_URL"] = "http://auditor.example.invalid:8000"
    refused = _make(clone, env, "demo", timeout=120)
    assert refused.returncode != 0
    [line] = [line for line in refused.stderr.splitlines() if line.startswith("pyauditor")]
    assert "not writing 600 made-up job records to http://auditor.example.invalid:8000" in line
    assert "DEMO_ARGS=--write-test-data" in line
    confirmed = _make(clone, env, "demo", "DEMO_ARGS=--write-test-data --retries 0", timeout=120)
    assert confirmed.returncode != 0  # accepted, then failed: the host does not exist
    assert "auditor.example.invalid:8000 is not healthy" in confirmed.stderr
