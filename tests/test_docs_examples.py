"""Every code block of README.md and docs/ runs, as written, against the embedded server.

Blocks are found by their fence, so a new block is picked up without touching this file:

* Every fenced block is tagged ``python``, ``sh`` (both run) or ``text`` (output and layout,
  not run); an untagged block fails the test, so no code can slip in unexecuted.
* A block that cannot run says why on the line before it: ``<!-- docs-test: skip (reason) -->``.
  That is for the few that change the environment (``pip install``); the test caps how many.

How the blocks run: the blocks of one document run in document order, in one temporary
directory, against one :class:`~pyauditor.testing.AuditorTestServer` (so a later block sees
what an earlier one stored, as a reader following along would).  ``http://localhost:8000`` and
``address("localhost", 8000)`` are pointed at that server; nothing else is rewritten.

* ``python`` blocks run in a fresh interpreter; a block that defines ``test_`` functions runs
  under pytest (with pyauditor's plugin, as a plugin author's tests would).
* ``sh`` blocks run in ``bash -euo pipefail``, so every command must succeed.  ``pyauditor`` is
  the installed command; ``pyauditor serve`` starts in the background on a free port (the
  documents run it in another terminal) and is stopped at the end of the block; ``make`` lines
  run as ``make -n`` in the repository (``make test`` would run this test again, ``make bench``
  takes minutes; ``make demo`` itself is run from a fresh clone by tests/test_demo.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from pyauditor.testing import AuditorTestServer

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [ROOT / "README.md", *(p for p in (ROOT / "docs").rglob("*.md") if "api" not in p.parts)],
    key=lambda p: str(p.relative_to(ROOT)),
)
LANGUAGES = {"python", "sh", "text"}
MAX_SKIPPED = 3
"""Blocks that may be skipped, across all documents: sparingly."""

_FENCE = re.compile(
    r"(?:^<!-- docs-test: skip \((?P<reason>[^)]+)\) -->\n)?^```(?P<lang>\S*)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


class Block(NamedTuple):
    document: str
    line: int
    language: str
    code: str
    skip: str | None

    def __str__(self) -> str:
        return f"{self.document}:{self.line} ({self.language})"


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    name = str(path.relative_to(ROOT))
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("lang")) + 1
        found.append(Block(name, line, match["lang"], match["code"], match["reason"]))
    return found


ALL_BLOCKS = [block for path in DOCUMENTS for block in blocks(path)]

# What some examples print, checked besides their running at all.  The first element is a line
# of the block (which must still exist), the second what the block prints.
EXPECTED_OUTPUT = {
    "print(found.record_id, found.runtime)      # job-4711 7200": "job-4711 7200\n",
    'print(client.get_single_record("job-7").start_time)': "2024-05-01 08:00:00\n",
    'print(f"{core_seconds / 3600:.1f} core-hours")': "16.0 core-hours\n",
    'print(result.count(Verdict.STORED), "stored,", result.count(Verdict.DUPLICATE), "duplicates")': (
        "3 stored, 2 duplicates\n['job-7'] CONFLICT\n"
    ),
}


def test_every_document_and_block_is_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in DOCUMENTS}
    assert {"README.md", "docs/migration.md", "docs/benchmarks.md"} <= names
    assert "docs/api-front/front.md" in names
    languages = {b.language for b in ALL_BLOCKS}
    assert {"python", "sh", "text"} <= languages


def test_every_block_is_tagged() -> None:
    untagged = [str(b) for b in ALL_BLOCKS if b.language not in LANGUAGES]
    assert not untagged, f"tag these blocks python, sh or text: {untagged}"


def test_skips_are_few_and_say_why() -> None:
    skipped = [b for b in ALL_BLOCKS if b.skip]
    assert len(skipped) <= MAX_SKIPPED, [str(b) for b in skipped]
    assert all(len(b.skip or "") > 10 for b in skipped)


def test_expected_outputs_name_existing_examples() -> None:
    code = "\n".join(b.code for b in ALL_BLOCKS)
    for line in EXPECTED_OUTPUT:
        assert line in code, f"the example with {line!r} is gone: update EXPECTED_OUTPUT"


def test_pages_for_users_name_no_internal_issues() -> None:
    # Readers cannot see the project's issue tracker; "issue 7's targets" tells them nothing.
    for path in [*DOCUMENTS, ROOT / "CHANGELOG.md"]:
        text = path.read_text()
        assert not re.search(r"\bissues? #?\d+|(?<![\w&])#\d+\b", text), path


def test_the_licences_the_package_declares_are_there() -> None:
    assert "MIT OR Apache-2.0" in (ROOT / "pyproject.toml").read_text()
    assert (ROOT / "LICENSE-MIT").read_text().startswith("MIT License")
    apache = (ROOT / "LICENSE-APACHE").read_text()
    assert "Apache License" in apache
    assert "Version 2.0, January 2004" in apache


def _rewrite(code: str, server: AuditorTestServer) -> str:
    return code.replace("http://localhost:8000", server.url).replace(
        'address("localhost", 8000)', f'address("127.0.0.1", {server.port})'
    )


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"AUDITOR_URL", "PYTEST_ADDOPTS"}}
    env.pop("PYAUDITOR_ALLOW_FORBIDDEN_CHARACTERS", None)
    return env


def _run_python(block: Block, code: str, workdir: Path, number: int) -> str:
    script = workdir / f"block_{number}_test.py"
    script.write_text(code)
    if re.search(r"^def test_", code, re.MULTILINE):
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", script.name]
    else:
        argv = [sys.executable, script.name]
    result = subprocess.run(
        argv, cwd=workdir, capture_output=True, text=True, timeout=300, env=_environment()
    )
    assert result.returncode == 0, f"{block} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


_SHELL_PRELUDE = r"""
set -euo pipefail
_serve_pid=""
trap '[ -n "$_serve_pid" ] && kill "$_serve_pid" 2>/dev/null; wait' EXIT
pyauditor() {
    if [ "${1-}" = serve ]; then
        # Another terminal in the documents; here in the background, on a free port.
        "$PYAUDITOR_EXE" "$@" --port 0 >serve.log 2>&1 &
        _serve_pid=$!
        for _ in $(seq 300); do
            grep -q "listening on" serve.log && return 0
            kill -0 "$_serve_pid" 2>/dev/null || { cat serve.log >&2; return 1; }
            sleep 0.1
        done
        return 1
    fi
    "$PYAUDITOR_EXE" "$@"
}
make() { command make --no-print-directory -n -C "$DOCS_ROOT" "$@" >/dev/null; }
"""


def _run_shell(block: Block, code: str, workdir: Path) -> str:
    env = _environment()
    env["PYAUDITOR_EXE"] = str(Path(sys.executable).with_name("pyauditor"))
    env["DOCS_ROOT"] = str(ROOT)
    result = subprocess.run(
        ["bash", "-c", _SHELL_PRELUDE + code],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, f"{block} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_the_code_blocks_run(
    document: Path, auditor_server: AuditorTestServer, tmp_path: Path
) -> None:
    ran = 0
    for number, block in enumerate(blocks(document)):
        if block.skip or block.language == "text":
            continue
        code = _rewrite(block.code, auditor_server)
        if block.language == "python":
            out = _run_python(block, code, tmp_path, number)
        else:
            out = _run_shell(block, code, tmp_path)
        for line, expected in EXPECTED_OUTPUT.items():
            if line in block.code:
                assert out == expected, f"{block} printed {out!r}"
        ran += 1
    assert ran > 0, f"{document} has no block that runs"


@pytest.mark.slow
def test_the_api_reference_front_page(tmp_path: Path) -> None:
    # As `make docs` builds it: the front page explains the layers and links every module.
    result = subprocess.run(
        [sys.executable, "-m", "pdoc", "--docformat", "google", "--template-directory",
         str(ROOT / "docs" / "api-front"), "--output-directory", str(tmp_path),
         "pyauditor", "pyauditor.bulk", "pyauditor.jsonstream", "pyauditor.queuefile",
         "pyauditor.query_language", "pyauditor.testing", "pyauditor.cli"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "index.html").read_text()
    assert "Where to start" in page
    assert "The layers" in page
    modules = (
        "pyauditor",
        "pyauditor/bulk",
        "pyauditor/jsonstream",
        "pyauditor/queuefile",
        "pyauditor/query_language",
        "pyauditor/testing",
    )
    for module in (*modules, "pyauditor/cli"):
        assert f'href="{module}.html"' in page
        assert (tmp_path / f"{module}.html").exists()
    assert 'href="pyauditor.html#QueuedAuditorClient"' in page
