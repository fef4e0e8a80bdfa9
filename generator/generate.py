"""Regenerate the low-level client from openapi.yaml, or check that the committed one is current.

    python generator/generate.py            # wipe generated/ and regenerate it
    python generator/generate.py --check    # regenerate into a temporary directory and diff
    python generator/generate.py --spec S --out D   # another spec into another directory

Two steps, both from the same spec: openapi-python-client with the custom templates in
generator/templates/ writes the client (models, one module per operation), then generator/wire.py
adds the msgspec wire structs (``wire.py``), the route table (``routes.py``) and the helpers the
templates call (``_support.py``).  The output is deterministic: the generator and ruff are pinned
(pyproject.toml, extra "dev") and ruff runs with --isolated.  generated/ is never edited by hand.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.yaml"
CONFIG = ROOT / "generator" / "config.yaml"
TEMPLATES = ROOT / "generator" / "templates"
PACKAGE = "pyauditor_api"
NOTICE = """\
# generated/

Produced by `make generate` from `openapi.yaml`: openapi-python-client with the custom templates
in `generator/templates/` writes the client, `generator/wire.py` adds the msgspec wire structs
(`pyauditor_api/wire.py`) and the route table (`pyauditor_api/routes.py`).  Do not edit:
`make check-generated` (part of `make test`) fails on any difference between this directory and
a fresh generation.
"""


def generate(out: Path, spec: Path = SPEC) -> None:
    """Write the generated package for ``spec`` into ``out`` (which is wiped first)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    bindir = Path(sys.executable).parent
    env = dict(os.environ)
    # The post-hooks call `ruff`; make sure it is the pinned one from this environment.
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    generator = bindir / "openapi-python-client"
    cmd = [
        str(generator) if generator.exists() else "openapi-python-client",
        "generate",
        "--path",
        str(spec),
        "--config",
        str(CONFIG),
        "--meta",
        "none",
        "--output-path",
        str(out / PACKAGE),
        "--fail-on-warning",
        "--custom-template-path",
        str(TEMPLATES),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"generation failed (exit {proc.returncode})")
    package = out / PACKAGE
    sys.path.insert(0, str(ROOT / "generator"))
    try:
        import wire
    finally:
        sys.path.pop(0)
    try:
        extra = wire.write(spec, package)
    except wire.SpecError as error:
        raise SystemExit(f"generation failed: {spec}: {error}") from None
    for hook in (
        ["check", "--isolated", "--fix-only", "--extend-select=I", "--no-cache"],
        ["format", "--isolated", "--no-cache"],
    ):
        proc = subprocess.run(
            [str(bindir / "ruff"), *hook, *map(str, extra)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"ruff failed on the generated wire modules (exit {proc.returncode})")
    for cache in out.rglob(".ruff_cache"):
        shutil.rmtree(cache)
    (out / PACKAGE / "py.typed").write_text("")
    (out / "README.md").write_text(NOTICE)


def tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def check(committed: Path, spec: Path = SPEC) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "generated"
        generate(fresh, spec)
        want, have = tree(fresh), tree(committed) if committed.exists() else {}
    if want == have:
        print("generated/ is up to date with openapi.yaml")
        return 0
    for name in sorted(set(want) | set(have)):
        a, b = have.get(name), want.get(name)
        if a == b:
            continue
        if a is None:
            print(f"missing from generated/: {name}")
        elif b is None:
            print(f"not produced by the generator (stale or hand-made): {name}")
        else:
            sys.stdout.writelines(
                difflib.unified_diff(
                    a.decode().splitlines(keepends=True),
                    b.decode().splitlines(keepends=True),
                    f"generated/{name} (committed)",
                    f"generated/{name} (fresh)",
                )
            )
    print("\ngenerated/ differs from a fresh generation: run `make generate` and commit the result")
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=ROOT / "generated")
    parser.add_argument("--spec", type=Path, default=SPEC)
    args = parser.parse_args()
    if args.check:
        return check(args.out, args.spec)
    generate(args.out, args.spec)
    print(
        f"regenerated {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
