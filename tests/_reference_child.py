"""Child side of tests/reference_harness.py: runs inside the reference environment.

This file is executed by path (``python -P tests/_reference_child.py MODE ...``) in a subprocess
whose ``PYTHONPATH`` is ``<repo>/.reference``.  It must only import the standard library and the
reference ``pyauditor``: the test package and our own ``pyauditor`` must never be imported here.

Modes:
    script SOURCE_FILE [ARGS...]
        Execute SOURCE_FILE as ``__main__`` (tracebacks point into it; ``sys.argv[1:]`` = ARGS).
    eval PAYLOAD_JSON RESULTS_JSONL
        PAYLOAD_JSON holds ``{"prelude": str, "expressions": [str, ...]}``.  The prelude runs once,
        then every expression is evaluated in the prelude's namespace; one JSON line per expression
        is appended (and flushed) to RESULTS_JSONL, so the parent can tell which expression was
        running if the interpreter dies (the reference aborts the process on some panics).
        Top-level ``await`` is allowed in the prelude and in expressions; all of them share one
        event loop, so clients built in the prelude can be used by later expressions.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import sys
import traceback
from typing import Any

# Exit status and stderr marker the parent looks for when the import check fails.
WRONG_PACKAGE_EXIT = 86
WRONG_PACKAGE_MARKER = "REFERENCE-HARNESS: wrong pyauditor"
PRELUDE_FAILED_EXIT = 87


def _check_reference_package() -> None:
    """Import ``pyauditor`` and make sure it is the reference, not our own package."""
    reference_dir = os.path.realpath(os.environ["PYAUDITOR_REFERENCE_DIR"])
    import pyauditor

    location = os.path.realpath(getattr(pyauditor, "__file__", None) or "<namespace package>")
    if not location.startswith(reference_dir + os.sep):
        sys.stderr.write(
            f"{WRONG_PACKAGE_MARKER}: imported {location!r}, expected a module under "
            f"{reference_dir!r}; sys.path = {sys.path!r}\n"
        )
        sys.exit(WRONG_PACKAGE_EXIT)


def _jsonable(value: Any, depth: int = 0) -> tuple[bool, Any]:
    """Return ``(True, json_form)`` for str/bool/int/float/None and lists, tuples and str-keyed
    dicts of those; ``(False, None)`` for anything else (the repr is always recorded)."""
    if depth > 50:
        return False, None
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, str):
        return True, str(value)
    if isinstance(value, int):
        return True, int(value)
    if isinstance(value, float):
        return True, float(value)
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            ok, form = _jsonable(item, depth + 1)
            if not ok:
                return False, None
            items.append(form)
        return True, items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        mapping = {}
        for key, item in value.items():
            ok, form = _jsonable(item, depth + 1)
            if not ok:
                return False, None
            mapping[str(key)] = form
        return True, mapping
    return False, None


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:
        return f"<repr() raised {type(exc).__name__}: {exc}>"


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception as inner:
        return f"<str() raised {type(inner).__name__}: {inner}>"


class _Evaluator:
    """Runs code objects (which may contain top-level ``await``) on one shared event loop."""

    FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__reference_eval__"}
        self._runner: asyncio.Runner | None = None

    def run(self, source: str, mode: str, filename: str) -> Any:
        code = compile(source, filename, mode, flags=self.FLAGS)
        result = eval(code, self.namespace)
        if code.co_flags & inspect.CO_COROUTINE:
            if self._runner is None:
                self._runner = asyncio.Runner()
            result = self._runner.run(result)
        return result

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


def _eval_mode(payload_path: str, results_path: str) -> int:
    with open(payload_path, encoding="utf-8") as fh:
        payload = json.load(fh)
    evaluator = _Evaluator()
    with open(results_path, "w", encoding="utf-8") as out:
        try:
            evaluator.run(payload["prelude"], "exec", "<prelude>")
        except BaseException:
            out.write(json.dumps({"prelude_error": traceback.format_exc()}) + "\n")
            out.flush()
            return PRELUDE_FAILED_EXIT
        for index, expression in enumerate(payload["expressions"]):
            record: dict[str, Any] = {"index": index}
            try:
                value = evaluator.run(expression, "eval", f"<expression {index}>")
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                # BaseException: pyo3_runtime.PanicException is not an Exception subclass.
                record.update(
                    raised=True,
                    exception_type=type(exc).__name__,
                    exception_module=type(exc).__module__,
                    message=_safe_str(exc),
                )
            else:
                is_jsonable, form = _jsonable(value)
                record.update(
                    raised=False, repr=_safe_repr(value), jsonable=is_jsonable, value=form
                )
            # ensure_ascii keeps lone surrogates and control characters intact through the file.
            out.write(json.dumps(record, ensure_ascii=True, allow_nan=True) + "\n")
            out.flush()
        evaluator.close()
    return 0


def _script_mode(source_path: str, args: list[str]) -> None:
    with open(source_path, encoding="utf-8") as fh:
        source = fh.read()
    code = compile(source, source_path, "exec")
    sys.argv = [source_path, *args]
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": source_path}
    exec(code, namespace)


def main() -> None:
    _check_reference_package()
    mode, *rest = sys.argv[1:]
    if mode == "script":
        _script_mode(rest[0], rest[1:])
    elif mode == "eval":
        sys.exit(_eval_mode(rest[0], rest[1]))
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
