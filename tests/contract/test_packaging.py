"""`pip install .` into a fresh virtualenv gives importable pyauditor and pyauditor_api packages."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = wheels.glob("pyauditor_client-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    environ = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    environ["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, env=environ
    )
    probe = (
        "import pathlib, pyauditor, pyauditor_api, pyauditor_api.models as m;"
        "assert 'site-packages' in pyauditor.__file__, pyauditor.__file__;"
        "assert (pathlib.Path(pyauditor.__file__).parent / 'py.typed').exists();"
        "assert (pathlib.Path(pyauditor_api.__file__).parent / 'py.typed').exists();"
        "print(pyauditor.__version__, m.Record.__name__)"
    )
    out = subprocess.run(
        [str(python), "-c", probe],
        check=True,
        env=environ,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.stdout.split() == [__import__("pyauditor").__version__, "Record"]
    # The console script is installed and works with the runtime dependencies alone.
    script = subprocess.run(
        [str(env_dir / "bin" / "pyauditor"), "--version"],
        check=True,
        env=environ,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert script.stdout.strip() == f"pyauditor {__import__('pyauditor').__version__}"
