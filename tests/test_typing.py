"""The public API is completely typed: ``pyright --verifytypes pyauditor`` scores 100 %.

pyright comes from PyPI (``pyright[nodejs]`` in the dev extra: the wrapper brings its own
Node.js, so a clean machine needs nothing else).  It runs from a temporary directory so that it
checks ``pyauditor`` as installed (as users import it), not the source tree as a project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_pyright_verifytypes_reports_a_complete_public_api(tmp_path: Path) -> None:
    pyright = shutil.which("pyright", path=str(BIN))
    assert pyright is not None, "pyright is part of the dev extra (pip install -e '.[dev]')"
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env["VIRTUAL_ENV"] = str(BIN.parent)
    done = subprocess.run(
        [pyright, "--verifytypes", "pyauditor", "--ignoreexternal", "--outputjson"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    completeness = report["typeCompleteness"]
    incomplete = [
        f"{symbol['name']}: {' / '.join(d['message'].splitlines()[0] for d in symbol['diagnostics'])}"
        for symbol in completeness["symbols"]
        if not symbol["isTypeKnown"] or symbol.get("isTypeAmbiguous")
    ]
    assert completeness["packageRootDirectory"], done.stdout[:2000]
    assert completeness["completenessScore"] == 1.0, "\n".join(incomplete)
