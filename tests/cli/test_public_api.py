"""The command is built on pyauditor's public API, and loads the embedded server only to run one.

A command that needs something private is a sign the library lacks it: what the command
needs, collectors need too.  So ``send`` sends through the public ``pyauditor.bulk``, ``queue
status`` reads the file through ``pyauditor.queuefile``, and ``query`` takes its operators and
sort columns from ``pyauditor.query_language`` (the one table the DSL and the embedded server
use too).

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
    assert not private, f"{path.name} imports private modules: {sorted(private)}"


def test_the_public_modules_the_command_uses_are_the_library_s_own_tables_and_readers() -> None:
    # Public names, not copies: the command and the library cannot drift apart.
    from pyauditor import _grammar, _queue, query_language, queuefile

    for name in query_language.__all__:
        assert getattr(query_language, name) is getattr(_grammar, name), name
    assert set(query_language.__all__) == {name for name in vars(_grammar) if name.isupper()}
    for name in queuefile.__all__:
        assert getattr(queuefile, name) is getattr(_queue, name), name


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
