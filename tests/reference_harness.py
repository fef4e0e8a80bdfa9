"""Run code in the reference client python-auditor 0.11.2 (import name ``pyauditor``).

The reference is installed by ``make reference`` (and ``make test``) into ``<repo>/.reference``
with ``pip --target``.  Its import name clashes with ours, so it is never imported into the test
process: everything runs in a subprocess of the current interpreter (the venv's Python) with
``PYTHONPATH=<repo>/.reference`` and ``-P`` (so neither the working directory nor a script's
directory can put our ``pyauditor`` in front).  The child imports ``pyauditor`` first and exits
with a loud error if it did not come from ``.reference``.

Public helpers (this module is also a pytest plugin, registered in ``tests/conftest.py``):

* :func:`reference_available`, :func:`require_reference`
* :func:`run_reference_script` for free-form scripts (use ``asyncio.run`` for async code)
* :func:`eval_reference` for many expressions in one process, returning :class:`ReferenceResult`
* :func:`load_vectors`, :func:`vector_prelude`, :func:`assert_result_matches` for the golden
  vectors in ``tests/data/python-auditor-0.11.2-vectors.json``
* fixtures ``reference_dir`` and ``reference_vectors``; tests marked ``@pytest.mark.reference``
  **fail** (never skip) when the reference is not installed, because ``make test`` always
  installs it and a skip would hide regressions in CI.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import pytest

from tests import _reference_child

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO_ROOT / ".reference"
VECTORS_PATH = REPO_ROOT / "tests" / "data" / "python-auditor-0.11.2-vectors.json"
_CHILD = Path(_reference_child.__file__).resolve()

# Environment variables never inherited by the child: RUST_BACKTRACE appends a Rust stack trace to
# every error message of the reference; the PYTHON* ones could change which pyauditor is imported
# or how output is encoded.  A caller can still set any of them explicitly through ``env=``.
_STRIPPED_ENV = ("RUST_BACKTRACE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH")

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None


class ReferenceUnavailableError(RuntimeError):
    """``.reference`` does not hold an installed python-auditor (run ``make reference``)."""


class ReferenceHarnessError(RuntimeError):
    """The reference subprocess did not behave: wrong package imported, crash, timeout, ..."""


def reference_available() -> bool:
    """True if ``<repo>/.reference`` holds the reference package (its compiled extension)."""
    package = REFERENCE_DIR / "pyauditor"
    return (package / "__init__.py").is_file() and any(package.glob("pyauditor*.so"))


def _unavailable_message() -> str:
    return (
        f"The reference package python-auditor 0.11.2 is not installed in {REFERENCE_DIR}. "
        "Run `make reference` (`make test` does it automatically). Tests that need it fail "
        "instead of skipping so that a broken CI set-up cannot hide regressions."
    )


def require_reference() -> None:
    """Fail the current test (``pytest.fail``, not skip) if the reference is not installed."""
    if not reference_available():
        pytest.fail(_unavailable_message(), pytrace=False)


def reference_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a reference subprocess: ours minus ``_STRIPPED_ENV``, plus ``env``."""
    result = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    result.update(
        PYTHONPATH=str(REFERENCE_DIR),
        PYAUDITOR_REFERENCE_DIR=str(REFERENCE_DIR),
        PYTHONIOENCODING="utf-8",
        PYTHONDONTWRITEBYTECODE="1",  # keep .reference exactly as pip left it
    )
    if env:
        result.update(env)
    return result


def _run_child(
    args: Sequence[str], *, timeout: float, env: Mapping[str, str] | None, cwd: Path | None
) -> subprocess.CompletedProcess[str]:
    if not reference_available():
        raise ReferenceUnavailableError(_unavailable_message())
    command = [sys.executable, "-P", str(_CHILD), *args]
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="backslashreplace",
            timeout=timeout,
            env=reference_env(env),
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ReferenceHarnessError(
            f"reference subprocess timed out after {timeout} s\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        ) from None
    if proc.returncode == _reference_child.WRONG_PACKAGE_EXIT and (
        _reference_child.WRONG_PACKAGE_MARKER in proc.stderr
    ):
        raise ReferenceHarnessError(proc.stderr.strip())
    return proc


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data


def run_reference_script(
    source: str,
    *,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as ``__main__`` in a fresh reference interpreter and return the result.

    ``stdout``/``stderr`` are text (UTF-8).  The exit status is whatever the script produced
    (an uncaught exception gives 1 and a traceback on stderr); it is not checked here.  Async
    code must call ``asyncio.run`` itself.  ``env`` entries are added to the inherited
    environment (``RUST_BACKTRACE`` is removed unless given here); ``args`` become
    ``sys.argv[1:]``.  The working directory defaults to ours (``-P`` keeps it off ``sys.path``).

    Raises :class:`ReferenceUnavailableError` if ``.reference`` is missing and
    :class:`ReferenceHarnessError` on a timeout or if the wrong ``pyauditor`` was imported.

    Example::

        proc = run_reference_script("import pyauditor; print(pyauditor.Record.__module__)")
        assert proc.returncode == 0 and proc.stdout == "builtins\\n"
    """
    with tempfile.TemporaryDirectory(prefix="reference-script-") as tmp:
        script = Path(tmp) / "reference_script.py"
        script.write_text(source, encoding="utf-8")
        return _run_child(["script", str(script), *args], timeout=timeout, env=env, cwd=cwd)


@dataclass(frozen=True)
class ReferenceResult:
    """The outcome of one expression evaluated by :func:`eval_reference`.

    Either ``raised`` is False and ``repr`` (always) and ``value`` (only if ``jsonable``: str,
    bool, int, float, None and lists/tuples/str-keyed dicts of those; tuples become lists) hold
    the value, or ``raised`` is True and ``exception_type`` (``type(e).__name__``, e.g.
    ``"RuntimeError"`` or ``"PanicException"``), ``exception_module`` and ``message``
    (``str(e)``) describe the exception.
    """

    expression: str
    raised: bool
    repr: str | None = None
    jsonable: bool = False
    value: JSONValue = None
    exception_type: str | None = None
    exception_module: str | None = None
    message: str | None = None

    def unwrap(self) -> JSONValue:
        """The JSON-able value; AssertionError if the expression raised or is not JSON-able."""
        if self.raised:
            raise AssertionError(
                f"{self.expression!r} raised {self.exception_type}: {self.message}"
            )
        if not self.jsonable:
            raise AssertionError(f"{self.expression!r} returned a non-JSON value: {self.repr}")
        return self.value

    def describe(self) -> str:
        """``'raised T: msg'`` or ``'returned <repr>'``, for assertion messages."""
        if self.raised:
            return f"raised {self.exception_type}: {self.message!r}"
        return f"returned {self.repr}"


def eval_reference(
    expressions: Sequence[str],
    prelude: str = "from pyauditor import *\n",
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> list[ReferenceResult]:
    """Evaluate every expression in ONE reference subprocess and return one result each.

    ``prelude`` is executed once first (e.g. :func:`vector_prelude`); every expression is then
    evaluated in the prelude's namespace, in order, so side effects of one expression are
    visible to the next.  Top-level ``await`` works in the prelude and in expressions (one event
    loop is shared).  Exceptions (``BaseException`` included, so Rust panics too) are captured
    per expression.  Raises :class:`ReferenceHarnessError` if the prelude fails or the process
    dies (the message names the expression that was running).

    Example::

        [r] = eval_reference(["QueryBuilder().limit(5).build()"])
        assert r.unwrap() == "limit=5"
    """
    expressions = list(expressions)
    with tempfile.TemporaryDirectory(prefix="reference-eval-") as tmp:
        payload = Path(tmp) / "payload.json"
        results_path = Path(tmp) / "results.jsonl"
        payload.write_text(
            json.dumps({"prelude": prelude, "expressions": expressions}), encoding="utf-8"
        )
        proc = _run_child(
            ["eval", str(payload), str(results_path)], timeout=timeout, env=env, cwd=Path(tmp)
        )
        lines = (
            results_path.read_text(encoding="utf-8").splitlines() if results_path.exists() else []
        )
    records = [json.loads(line) for line in lines if line.strip()]
    if records and "prelude_error" in records[0]:
        raise ReferenceHarnessError(
            f"the prelude failed in the reference:\n{records[0]['prelude_error']}"
        )
    if proc.returncode != 0 or len(records) != len(expressions):
        running = expressions[len(records)] if len(records) < len(expressions) else "<none>"
        raise ReferenceHarnessError(
            f"reference process exited with status {proc.returncode} after {len(records)} of "
            f"{len(expressions)} expressions; it was evaluating {running!r}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return [
        ReferenceResult(
            expression=expression,
            raised=record["raised"],
            repr=record.get("repr"),
            jsonable=record.get("jsonable", False),
            value=record.get("value"),
            exception_type=record.get("exception_type"),
            exception_module=record.get("exception_module"),
            message=record.get("message"),
        )
        for expression, record in zip(expressions, records, strict=True)
    ]


@functools.cache
def _load_vectors_cached(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def load_vectors() -> dict[str, Any]:
    """The golden vectors captured from python-auditor 0.11.2 (parsed once; do not mutate)."""
    return _load_vectors_cached(VECTORS_PATH)


def vector_prelude() -> str:
    """The prelude every vector expression runs after (``generated_with.prelude``)."""
    prelude: str = load_vectors()["generated_with"]["prelude"]
    return prelude


def assert_result_matches(result: ReferenceResult, vector: Mapping[str, Any], field: str) -> None:
    """Assert that ``result`` reproduces a vector entry.

    ``field`` names the entry's result field (``"query"``, ``"json"``, ``"result_repr"``, ...).
    Entries with ``exception``/``message`` must raise exactly that; ``result_repr`` is compared
    with ``repr``, any other field with the JSON value.  Entries flagged
    ``nondeterministic_order`` (HashMap order in the reference) are compared as sets of
    ``&``-separated query pairs.
    """
    where = f"vector {vector['python']!r}"
    if "exception" in vector:
        assert result.raised, f"{where}: expected {vector['exception']}, but {result.describe()}"
        assert (result.exception_type, result.message) == (
            vector["exception"],
            vector["message"],
        ), (
            f"{where}: expected {vector['exception']}: {vector['message']!r}, but {result.describe()}"
        )
        return
    assert not result.raised, f"{where}: expected {vector[field]!r}, but {result.describe()}"
    if field == "result_repr":
        assert result.repr == vector[field], (
            f"{where}: expected {vector[field]}, {result.describe()}"
        )
        return
    actual = result.unwrap()
    if vector.get("nondeterministic_order"):
        assert isinstance(actual, str)
        assert sorted(actual.split("&")) == sorted(vector[field].split("&")), (
            f"{where}: expected the pairs of {vector[field]!r}, got {actual!r}"
        )
        return
    assert actual == vector[field], f"{where}: expected {vector[field]!r}, got {actual!r}"


# ------------------------------------------------------------------------------------------------
# pytest integration


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``<repo>/.reference``; fails (never skips) the test when the reference is missing."""
    require_reference()
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def reference_vectors() -> dict[str, Any]:
    """The parsed golden vectors file (shared; do not mutate)."""
    return load_vectors()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``reference`` fail up front, with a clear message, without the reference."""
    if item.get_closest_marker("reference") is not None:
        require_reference()
