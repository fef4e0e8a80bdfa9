"""The README's quickstarts run, against the embedded server.

Each Python block of the "Quickstart" and "Streaming" sections runs as written, except that
the server address (``http://localhost:8000``, ``address("localhost", 8000)``) points at a
``pyauditor.testing`` server and the queue file at a temporary directory.  The shell examples
of "The pyauditor command" are checked to use only options the command has.
"""

from __future__ import annotations

import datetime as dt
import re
import runpy
import shlex
from pathlib import Path

import pytest

from pyauditor import AuditorClientBuilder, Component, Meta, Record
from pyauditor.cli import _parser
from pyauditor.testing import AuditorTestServer

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    """The README's text from the heading ``title`` to the next heading of the same level."""
    level = title.split(" ", 1)[0]
    start = README.index(f"\n{title}\n")
    end = README.find(f"\n{level} ", start + len(title) + 2)
    return README[start : end if end != -1 else None]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


QUICKSTARTS = {
    "async": section("### Async: `AuditorClient`"),
    "blocking": section("### Blocking: `AuditorClientBlocking`"),
    "queued": section("### Queued: `QueuedAuditorClient`"),
    "streaming": section("## Streaming large results"),
}


@pytest.mark.parametrize("name", sorted(QUICKSTARTS))
def test_quickstart_runs(
    name: str,
    auditor_server: AuditorTestServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if name == "streaming":
        start = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
        job = (
            Record("job-1", start)
            .with_meta(Meta().insert("site_id", ["UNI-FREIBURG"]))
            .with_component(Component("cpu", 8))
            .with_stop_time(start + dt.timedelta(hours=2))
        )
        AuditorClientBuilder().connection_string(auditor_server.url).build_blocking().add(job)
    [code] = blocks(QUICKSTARTS[name], "python")
    code = (
        code.replace("http://localhost:8000", auditor_server.url)
        .replace('address("localhost", 8000)', f'address("127.0.0.1", {auditor_server.port})')
        .replace("/var/lib/collector/", f"{tmp_path}/")
    )
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    if name == "async":
        assert out == "job-4711 7200\n"
        assert auditor_server.record("job-4711")["runtime"] == 7200  # type: ignore[index]
    elif name == "blocking":
        assert auditor_server.count() == 1000
        assert out == "2024-05-01 08:00:00\n"
    elif name == "queued":
        assert out.startswith("QueueStatus(inserts=1, updates=0")
        assert auditor_server.record("job-4712") is not None
        assert (tmp_path / "auditor-queue.db").exists()
    else:
        assert out == "16.0 core-hours\n"


def test_every_cli_example_parses() -> None:
    text = section("## The `pyauditor` command")
    [shell] = blocks(text, "sh")
    lines = shell.replace("\\\n", " ").splitlines()
    # Without comments and output redirections.
    commands = [
        shlex.split(line.split("  #", 1)[0].split(" > ", 1)[0])
        for line in lines
        if line.startswith("pyauditor")
    ]
    assert len(commands) == 8
    for argv in commands:
        assert argv[0] == "pyauditor"
        args = _parser().parse_args(argv[1:])  # raises on an unknown option
        assert args.command in {"serve", "health", "send", "query", "get", "queue", "demo"}
