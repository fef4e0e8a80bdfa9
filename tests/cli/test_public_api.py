"""The command is built on pyauditor's public API, and loads the embedded server only to run one.

A command that needs something private is a sign the library lacks it: what the command
needs, collectors need too (``send`` sends through the public ``pyauditor.bulk``).  Two parts
still import private modules, each for a reason: ``queue status``/``flush`` read the file
through the queue module's read-only report and its ``database_path`` parser
(pyauditor._queue), which are not public API yet; and the query options take their operators
and sort columns from the one internal table of the query language (pyauditor._grammar), so
that the DSL, the embedded server and the command cannot disagree.  Nothing else may.

``pyauditor.testing`` is a whole HTTP server; only ``serve`` and ``demo`` run one, so only they
may import it, and ``pyauditor send`` or ``query`` start without it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pyauditor.cli

CLI = Path(pyauditor.cli.__file__).parent
STILL_PRIVATE = {
    ("_queue.py", "pyauditor._queue"),
    ("_query.py", "pyauditor._grammar"),
}


def _imports(path: Path) -> set[str]:
    """The pyauditor modules ``path`` imports, as absolute names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                parts = ["pyauditor", "cli"][: 2 - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if base == "pyauditor")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("pyauditor")}


def _private(module: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in module.split("."))


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_the_command_imports_only_public_api(path: Path) -> None:
    private = {
        module
        for module in _imports(path)
        if _private(module) and not module.startswith("pyauditor.cli")
    }
    allowed = {module for name, module in STILL_PRIVATE if name == path.name}
    assert private <= allowed, f"{path.name} imports private modules: {sorted(private - allowed)}"


def test_the_allowance_is_still_needed() -> None:
    # Once the queue report or the grammar is public, its entry must go.
    for name, module in STILL_PRIVATE:
        assert module in _imports(CLI / name), f"{name} no longer imports {module}: drop it"


def _loads_the_server(*argv: str) -> bool:
    code = (
        "import sys, io\n"
        "from pyauditor.cli import main\n"
        f"main({list(argv)!r}, stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.BytesIO())\n"
        "print('pyauditor.testing' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "True"


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["health", "http://127.0.0.1:1", "--retries", "0"],
        ["send", "http://127.0.0.1:1", "--retries", "0"],
        ["query", "http://127.0.0.1:1", "--retries", "0"],
        ["get", "http://127.0.0.1:1", "job-1", "--retries", "0"],
        ["queue", "status", "/nonexistent"],
        ["queue", "flush", "/nonexistent", "http://127.0.0.1:1"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_only_serve_and_demo_load_the_embedded_server(argv: list[str]) -> None:
    assert not _loads_the_server(*argv)


def test_serve_and_demo_do_load_it() -> None:
    assert _loads_the_server("serve", "--help")
    assert _loads_the_server("demo", "--jobs", "3")
