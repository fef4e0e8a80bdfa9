"""Shared test configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

# Fixture/hook modules shared by the whole suite (see their docstrings).
pytest_plugins = ("tests.reference_harness", "tests.contract.openapi_traffic")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
