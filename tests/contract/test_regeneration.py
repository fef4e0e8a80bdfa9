"""Regeneration reaches the facade: a change of openapi.yaml either flows into pyauditor or makes
``make test`` fail, naming the facade code to change.

The first tests check the facade against the generated package that is installed (normally the
committed ``generated/``): every field of the spec's ``Record`` has a getter, every field of the
request schemas is filled when records are sent, and every route the facade uses exists.  The
drill at the end runs ``generator/generate.py`` on a changed copy of the spec in a temporary
directory (an added optional field, an added route, a renamed route) and checks that each change
gives the signal it should: the new field is kept on decoded records and written by
``to_json``, the coverage tests above fail naming ``pyauditor/_record.py``, and
``mypy --strict``, ``import pyauditor`` and the route test fail naming the facade module that
takes its routes from the table (``pyauditor/_operations.py``), the route that is gone and the
facade function that uses it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import yaml
from pyauditor_api import routes, wire

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pyauditor"
CODEC = PACKAGE / "_record_codec.py"
# Which facade function builds which request struct from a record.
REQUEST_BUILDERS = {"RecordAdd": "_add_struct", "RecordUpdate": "_update_struct"}


def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise AssertionError(f"{CODEC.relative_to(ROOT)} has no function {name}()")


def test_every_record_field_of_the_spec_has_a_getter() -> None:
    # Imported here: the route test below must run even when a gone route breaks the import.
    from pyauditor import Record

    missing = [
        field
        for field in wire.FIELDS["Record"]
        if not isinstance(getattr(Record, field, None), property)
    ]
    assert not missing, (
        f"openapi.yaml's Record schema has field(s) {missing} that the facade does not expose: "
        "add a getter to class Record in pyauditor/_record.py (decoded records already keep "
        "the field in their wire struct, and to_json writes it)"
    )


@pytest.mark.parametrize(("schema", "builder"), sorted(REQUEST_BUILDERS.items()))
def test_every_request_field_is_sent(schema: str, builder: str) -> None:
    tree = ast.parse(CODEC.read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(_function(tree, builder))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == f"Wire{schema}"
    ]
    assert len(calls) == 1, f"{builder}() in {CODEC.name} should build one Wire{schema}"
    filled = {keyword.arg for keyword in calls[0].keywords}
    missing = [field for field in wire.FIELDS[schema] if field not in filled]
    assert not missing, (
        f"openapi.yaml's {schema} schema has field(s) {missing} that records do not send: "
        f"fill them in {builder}() in pyauditor/_record_codec.py"
    )


def _shape(schema: object) -> object:
    """A JSON Schema without its titles and descriptions (docstrings differ, shapes must not)."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in ("title", "description")}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


@pytest.mark.parametrize("name", ["Score", "Component"])
def test_the_facade_parts_are_the_generated_structs(name: str) -> None:
    # Score and Component are msgspec Structs that msgspec decodes answers into directly; their
    # fields are written in pyauditor/_parts.py, so they must stay the generated ones exactly
    # (a field the spec gains would otherwise be dropped from decoded records unnoticed).
    import pyauditor

    ours = _shape(msgspec.json.schema(getattr(pyauditor, name)))
    spec = _shape(msgspec.json.schema(getattr(wire, name)))
    assert ours == spec, (
        f"openapi.yaml's {name} schema differs from the fields of class {name} in "
        f"pyauditor/_parts.py: make them the same.\nspec:   {spec}\nfacade: {ours}"
    )


def test_the_facade_record_has_the_generated_fields() -> None:
    # Record declares the generated Record's fields under private names (a field it does not
    # declare is added by its metaclass); each must decode as the generated one does.  Only
    # meta differs: records keep it as JSON, checked against the generated type on decoding.
    from pyauditor import Record

    ours = {f.encode_name: f for f in msgspec.structs.fields(Record)}
    hints = typing.get_type_hints(Record, include_extras=True)
    spec_hints = typing.get_type_hints(wire.Record, include_extras=True)
    wrong = []
    for field in msgspec.structs.fields(wire.Record):
        if field.encode_name == "meta":
            continue
        mine = ours.get(field.encode_name)
        if (
            mine is None
            or mine.required != field.required
            or _shape(msgspec.json.schema(hints[mine.name]))
            != _shape(msgspec.json.schema(spec_hints[field.name]))
        ):
            wrong.append(field.encode_name)
    assert not wrong, (
        f"openapi.yaml's Record schema differs from class Record in pyauditor/_record.py in "
        f"field(s) {wrong}: make them the same"
    )


def _facade_functions(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """The module's functions and methods, by the name a reader looks for (nested ones are
    part of the function that defines them)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{node.name}.{item.name}", item


def _route_uses() -> Iterator[tuple[str, str, str]]:
    """(name imported from pyauditor_api.routes, facade file, function using it)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name: alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "pyauditor_api.routes"
            for alias in node.names
        }
        if not imported:
            continue
        for name, function in _facade_functions(tree):
            for node in ast.walk(function):
                if isinstance(node, ast.Name) and node.id in imported:
                    yield imported[node.id], str(path.relative_to(ROOT)), name


def test_every_route_the_facade_uses_is_in_the_spec() -> None:
    uses = sorted(set(_route_uses()))
    assert uses, "the facade takes its routes from pyauditor_api.routes"
    gone = [
        f"{name} (used by {where}: {function}())"
        for name, where, function in uses
        if not hasattr(routes, name)
    ]
    assert not gone, (
        "openapi.yaml no longer has these operations, which the facade uses: "
        + "; ".join(gone)
        + ". Change the facade function to the operation's new name (pyauditor_api.routes)"
    )


# -- the drill ---------------------------------------------------------------------------------


def _spec(tmp: Path, *, rename: bool) -> Path:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    if rename:
        # A renamed route.
        spec["paths"]["/record/{record_id}"]["get"]["operationId"] = "fetch_record"
    else:
        # An added optional field, and an added route.
        spec["components"]["schemas"]["Record"]["properties"]["site"] = {"type": "string"}
        spec["paths"]["/records/count"] = {
            "get": {
                "operationId": "count_records",
                "tags": ["records"],
                "summary": "Count the stored records.",
                "responses": {
                    "200": {
                        "description": "The count.",
                        "content": {"application/json": {"schema": {"type": "integer"}}},
                    }
                },
            }
        }
    path = tmp / "openapi.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _run(args: list[str], generated: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(generated), MYPYPATH=str(generated))
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _generate(tmp: Path, *, rename: bool) -> Path:
    tmp.mkdir()
    generated = tmp / "generated"
    spec = _spec(tmp, rename=rename)
    done = _run(
        [sys.executable, "generator/generate.py", "--spec", str(spec), "--out", str(generated)],
        generated,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return generated


def _this_module_tests(generated: Path, selection: str) -> subprocess.CompletedProcess[str]:
    """Run the tests of this module named by ``selection`` against ``generated``.

    Without the conftest and without pyauditor's pytest plugin: both import pyauditor, which a
    gone route breaks, and these tests read the facade's source instead.
    """
    return _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:pyauditor",
            "-q",
            "--noconftest",
            "tests/contract/test_regeneration.py",
            "-k",
            selection,
        ],
        generated,
    )


@pytest.mark.slow
def test_the_drill_added_field_and_route(tmp_path: Path) -> None:
    generated = _generate(tmp_path / "added", rename=False)
    package = generated / "pyauditor_api"
    # The added route reaches the public low-level client and the route table.
    assert (package / "api" / "records" / "count_records.py").exists()
    assert "COUNT_RECORDS" in (package / "routes.py").read_text()
    # The added field is kept on records decoded by pyauditor, written by to_json and sent
    # back on update where the request schema has it...
    probe = (
        "from pyauditor._record_codec import decode_record_body\n"
        'r = decode_record_body(b\'{"record_id":"r","start_time":"2022-01-01T00:00:00Z",'
        '"site":"s1"}\', \'GET /record/r\')\n'
        "assert r._wire_site == 's1'\n"
        'assert \'"site":"s1"\' in r.to_json(), r.to_json()\n'
        "print('kept')\n"
    )
    kept = _run([sys.executable, "-c", probe], generated)
    assert kept.stdout.strip() == "kept", kept.stdout + kept.stderr
    # ...and make test fails, naming the facade code that must give users a getter.
    tests = _this_module_tests(generated, "getter or is_sent or route_the_facade")
    output = tests.stdout + tests.stderr
    assert tests.returncode == 1, output
    assert "1 failed" in output
    assert "['site']" in output
    assert "add a getter to class Record in pyauditor/_record.py" in output


@pytest.mark.slow
def test_the_drill_renamed_route(tmp_path: Path) -> None:
    generated = _generate(tmp_path / "renamed", rename=True)
    assert "FETCH_RECORD" in (generated / "pyauditor_api" / "routes.py").read_text()
    # mypy --strict fails, naming the facade module and the route that is gone...
    checked = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "mypy"),
            "pyauditor",
        ],
        generated,
    )
    assert checked.returncode != 0
    assert 'Module "pyauditor_api.routes" has no attribute "GET_RECORD"' in checked.stdout
    assert "pyauditor/_operations.py" in checked.stdout
    # ...and so does importing pyauditor (every test), naming the same...
    imported = _run([sys.executable, "-c", "import pyauditor"], generated)
    assert imported.returncode != 0
    last = imported.stderr.strip().splitlines()[-1]
    assert "from 'pyauditor_api.routes'" in last
    assert "'GET_RECORD'" in last or "'get_record_path'" in last
    assert "pyauditor/_operations.py" in imported.stderr
    # ...and the route test names the facade function to change.
    tests = _this_module_tests(generated, "route_the_facade")
    output = tests.stdout + tests.stderr
    assert tests.returncode == 1, output
    assert "GET_RECORD (used by pyauditor/_operations.py: _single_record_flow())" in output
    assert "get_record_path (used by pyauditor/_operations.py: _single_record_flow())" in output
